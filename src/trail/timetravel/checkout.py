"""Going back to a step: its exact code in a new linked worktree, never in the user's own.

libgit2 can only add a worktree on a branch, which would create one in the user's namespace; `git worktree add
--detach` checks the step out with no branch at all, so the git binary does this job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from trail.errors import TrailError
from trail.gitcli import run_git
from trail.repo import TrailRepo
from trail.store.steps import Step


def checkout_step(repo: TrailRepo, step: Step, directory: str | os.PathLike[str] | None = None) -> Path:
    """Create a linked worktree holding `step`'s tree (detached HEAD) and return its path."""
    if directory is None:
        prefix = f"trail-{step.session_id[:8]}-{step.n}-"
        target = Path(tempfile.mkdtemp(prefix=prefix))
    else:
        target = Path(directory).absolute()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise TrailError(f"{target} already exists and is not empty; name a new folder (or leave it out)")
    run_git(["worktree", "add", "--detach", "--quiet", os.fspath(target), step.commit], cwd=repo.workdir)
    return target

"""Running the `git` binary, for the few jobs libgit2 does not do the way a user expects.

Inherited `GIT_*` variables are dropped first: inside a git hook they point at the hook's repository and index,
and would make git act on the wrong one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from trail.errors import TrailError

_KEEP = (
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_SYSTEM",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_TRACE",
)


def _arg(value: str | os.PathLike[str]) -> str:
    return os.fspath(value)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP}


def run_git(args: Sequence[str | os.PathLike[str]], cwd: str | os.PathLike[str] | Path) -> str:
    """Run `git ARGS` in `cwd` and return its standard output; a failure raises TrailError with git's words."""
    if shutil.which("git") is None:
        raise TrailError("the git command was not found: install git and make sure it is on PATH")
    result = subprocess.run(
        ["git", *map(_arg, args)],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise TrailError(f"git {' '.join(map(_arg, args[:2]))} failed: {detail}")
    return result.stdout

"""One session as a file: a git bundle of the session and its subagent sessions, and its import on the other side.

The bundle holds every object the sessions need above the commits they began on, which it names as prerequisites:
a teammate who has the repository has them (`git bundle verify` says which are missing otherwise). `full` puts the
whole history in instead, for someone who has nothing. Importing goes through the same safe intake as a fetch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2

from trail.errors import TrailError
from trail.gitcli import run_git
from trail.share.remote import STAGING, TransferResult, integrate, with_children
from trail.store.steps import REF_PREFIX, Store, session_ref


def export_bundle(store: Store, session_ids: list[str], path: Path, full: bool = False) -> list[str]:
    """Write the sessions (with their subagents) to `path`; returns the sessions written."""
    sessions = with_children(store, session_ids)
    args = ["bundle", "create", "-q", os.fspath(path), *(session_ref(s) for s in sessions)]
    if not full:
        bases: set[str] = set()
        for sid in sessions:
            first = store.step_at(sid, 1)
            bases.update(first.parents[:1])
            for step in store.walk(sid):
                bases.update(step.recorded_commits)  # the person's commits: in the repository, not the bundle
        args += [f"^{base}" for base in sorted(bases) if _exists(store, base)]
    if path.exists():
        raise TrailError(f"{path} exists already; name a new file")
    run_git(args, cwd=store.repo.workdir)
    return sessions


def import_bundle(store: Store, path: Path) -> TransferResult:
    """Take in the sessions of a bundle made by `trail export --bundle` (or any bundle of session refs)."""
    if not path.is_file():
        raise TrailError(f"{path}: no such file")
    try:
        run_git(["bundle", "verify", "-q", os.fspath(path)], cwd=store.repo.workdir)
    except TrailError as e:
        raise TrailError(
            f"{path} cannot be imported here: {e}. A bundle names the commits its sessions began on; this "
            "repository must have them (fetch its branches first), or ask for a bundle made with --full"
        ) from None
    staging = f"{STAGING}bundle/"
    run_git(["fetch", "--no-tags", "--quiet", os.fspath(path), f"+{REF_PREFIX}*:{staging}*"], cwd=store.repo.workdir)
    return integrate(store, staging, os.fspath(path))


def _exists(store: Store, oid: str) -> bool:
    try:
        store.git[oid].peel(pygit2.Commit)
        return True
    except (KeyError, ValueError, pygit2.GitError):
        return False

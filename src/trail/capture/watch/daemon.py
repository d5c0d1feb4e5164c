"""Managing a watcher from the outside: is one running, start one detached, stop it.

Kept apart from the server so that hooks and `trail record` can start and stop watchers without importing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trail.capture.watch import client as watchclient
from trail.errors import TrailError
from trail.repo import TrailRepo

LOCK_NAME = "watch.lock"
LOG_NAME = "watch.log"


def paths(repo: TrailRepo) -> tuple[Path, Path, Path]:
    folder = repo.worktree_trail_dir
    return folder / watchclient.SOCKET_NAME, folder / LOCK_NAME, folder / LOG_NAME


def read_pid(lock_path: Path) -> int | None:
    try:
        return int(lock_path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def watcher_status(repo: TrailRepo) -> dict[str, Any] | None:
    sock, _, _ = paths(repo)
    try:
        reply = watchclient.request(sock, {"op": "status"}, timeout=5)
    except watchclient.WatcherGone:
        return None
    return reply if reply and reply.get("ok") else None


def start_daemon(repo: TrailRepo, wait: float = 30.0) -> dict[str, Any]:
    """Start a detached watcher for `repo` and wait until it answers; returns its status."""
    running = watcher_status(repo)
    if running is not None:
        return running
    repo.ensure_dirs()
    _, _, log_path = paths(repo)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            # -P and a folder outside the working tree: a `trail/` package in the repository must never be what
            # runs (python -m puts the current folder first on the import path otherwise).
            [sys.executable, "-P", "-m", "trail.cli", "-C", str(repo.workdir), "watch"],
            cwd=os.fspath(repo.gitdir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached from the terminal: Ctrl-C there does not reach it
            close_fds=True,
        )
    if wait <= 0:
        return {"pid": proc.pid, "starting": True}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = watcher_status(repo)
        if status is not None:
            return status
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise TrailError("the watcher did not start: " + (" / ".join(tail) or f"exit {proc.returncode}"))
        time.sleep(0.05)
    raise TrailError(f"the watcher did not answer within {wait:.0f} s; see {log_path}")


def stop_daemon(repo: TrailRepo, wait: float = 10.0) -> bool:
    """Ask the watcher to stop (SIGTERM if it does not answer); False if none was running."""
    sock, lock_path, _ = paths(repo)
    try:
        reply = watchclient.request(sock, {"op": "stop"}, timeout=5)
    except watchclient.WatcherGone:
        reply = None
    pid = read_pid(lock_path)
    if reply is None:
        if pid is None or not _lock_held(lock_path):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _lock_held(lock_path):
        time.sleep(0.05)
    return True


def _lock_held(lock_path: Path) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)

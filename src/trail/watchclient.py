"""Talking to a running watcher (`trail watch`), with the standard library only.

Hooks go through here before importing anything heavy: when a watcher answers, it does the work and the hook
process never loads pygit2. When none answers, callers do the work themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

SOCKET_NAME = "watch.sock"
DISABLED = False  # set in the watcher itself, which must never wait on its own socket
_MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; longer paths go through /proc/self/fd


class WatcherGone(Exception):
    """The watcher stopped answering in the middle of a request."""


def find_gitdir(start: str | os.PathLike[str]) -> Path | None:
    """The git directory of the working tree containing `start`, found without libgit2: the nearest `.git`
    folder, or the folder a `.git` file (linked worktree, submodule) points to."""
    path = Path(os.path.abspath(start))
    for folder in (path, *path.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            with contextlib.suppress(OSError, ValueError):
                text = dot_git.read_text().strip()
                if text.startswith("gitdir:"):
                    target = Path(text[len("gitdir:") :].strip())
                    return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


def socket_path(start: str | os.PathLike[str]) -> Path | None:
    gitdir = find_gitdir(start)
    if gitdir is None:
        return None
    path = gitdir / "trail" / SOCKET_NAME
    return path if path.exists() else None


def request(path: Path, message: dict[str, Any], timeout: float = 25.0) -> dict[str, Any] | None:
    """Send one request; None if no watcher listens there. Raises WatcherGone if it stopped mid-way (the
    request may or may not have been carried out)."""
    if DISABLED:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            _connect(sock, path)
        except OSError:
            return None
        try:
            sock.sendall(json.dumps(message).encode())
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError as e:
            raise WatcherGone(str(e)) from None
        if not chunks:
            raise WatcherGone("the watcher closed the connection without answering")
        try:
            reply = json.loads(b"".join(chunks))
        except ValueError:
            raise WatcherGone("the watcher's answer was cut short") from None
        return reply if isinstance(reply, dict) else None
    finally:
        sock.close()


def _connect(sock: socket.socket, path: Path) -> None:
    name = os.fsencode(path)
    if len(name) <= _MAX_SUN_PATH:
        sock.connect(name)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)


def bind(sock: socket.socket, path: Path) -> None:
    """Bind a listening socket at `path`, readable and writable by its owner only."""
    old = os.umask(0o177)
    try:
        name = os.fsencode(path)
        if len(name) <= _MAX_SUN_PATH:
            sock.bind(name)
        else:
            folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.bind(f"/proc/self/fd/{folder}/{path.name}")
            finally:
                os.close(folder)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)

"""Talking to a running watcher (`trail watch`), with the standard library only.

Hooks go through here before importing anything heavy: when a watcher answers, it does the work and the hook
process never loads pygit2. When none answers, callers do the work themselves.
"""

from __future__ import annotations

import json
import os
import socket

from trail.gitdir import find_gitdir

TYPE_CHECKING = False  # pathlib and typing would cost the hook's fast path more than the rest of it
if TYPE_CHECKING:
    from typing import Any

SOCKET_NAME = "watch.sock"
DISABLED = False  # set in the watcher itself, which must never wait on its own socket
_MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; longer paths go through /proc/self/fd


class WatcherGone(Exception):
    """The watcher stopped answering in the middle of a request."""


def socket_path(start: str) -> str | None:
    gitdir = find_gitdir(start)
    if gitdir is None:
        return None
    path = os.path.join(gitdir, "trail", SOCKET_NAME)
    return path if os.path.exists(path) else None


def request(path: str | os.PathLike[str], message: dict[str, Any], timeout: float = 25.0) -> dict[str, Any] | None:
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


def _connect(sock: socket.socket, path: str | os.PathLike[str]) -> None:
    _at(path, sock.connect)


def bind(sock: socket.socket, path: str | os.PathLike[str]) -> None:
    """Bind a listening socket at `path`, readable and writable by its owner only."""
    old = os.umask(0o177)
    try:
        _at(path, sock.bind)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def _at(path: str | os.PathLike[str], call: Any) -> None:
    """`call` the socket's address `path`, through /proc/self/fd when it is longer than sockaddr_un allows."""
    name = os.fsencode(path)
    if len(name) <= _MAX_SUN_PATH:
        call(name)
        return
    folder = os.open(os.path.dirname(name), os.O_RDONLY | os.O_DIRECTORY)
    try:
        call(f"/proc/self/fd/{folder}/".encode() + os.path.basename(name))
    finally:
        os.close(folder)

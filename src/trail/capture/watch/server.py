"""`trail watch`: one process per working tree that keeps the repository open and records for hooks.

It listens on a Unix socket in the worktree's `.git/trail/` (mode 0600) and answers one request at a time:
a snapshot (for the SDK), a whole hook payload (for `trail-hook`, which then needs no pygit2), its status, or
stop. A lock held for the process's lifetime keeps a second watcher out; the kernel drops it if the process dies.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from trail.capture.watch import client as watchclient
from trail.capture.watch.daemon import paths, read_pid
from trail.capture.watch.watcher import Watcher
from trail.errors import TrailError
from trail.repo import TrailRepo

log = logging.getLogger("trail.watch")


class WatchServer:
    def __init__(self, repo: TrailRepo, watcher: Watcher | None = None) -> None:
        self.repo = repo
        self.socket_path, self.lock_path, self.log_path = paths(repo)
        self.watcher = watcher or Watcher(repo)
        self.started = time.time()
        self.requests = 0
        self.last_request_ms: float | None = None
        self._stop = False
        self._lock_fd: int | None = None

    def run(self) -> None:
        """Serve until asked to stop (a `stop` request, SIGTERM, or Ctrl-C)."""
        self.repo.ensure_dirs()
        self._take_lock()
        watchclient.DISABLED = True  # this process is the watcher: never ask ourselves
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.socket_path.unlink(missing_ok=True)  # left by a watcher that was killed
            self.watcher.start()
            watchclient.bind(listener, self.socket_path)
            listener.listen(64)
            listener.settimeout(0.5)
            self._install_signals()
            log.info("watching %s (%s)", self.repo.workdir, self.watcher.mode)
            while not self._stop:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    if not self.repo.workdir.is_dir() or not self.socket_path.exists():
                        log.info("the working tree or the socket is gone: stopping")
                        break
                    continue
                except InterruptedError:
                    continue
                with conn:
                    self._serve(conn)
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                self.socket_path.unlink()
            self.watcher.stop()
            self._release_lock()
            log.info("stopped")

    def stop(self) -> None:
        self._stop = True

    # -- one request ---------------------------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            chunks = []
            while chunk := conn.recv(1 << 20):
                chunks.append(chunk)
            message = json.loads(b"".join(chunks))
            started = time.perf_counter()
            reply = self.handle(message if isinstance(message, dict) else {})
            if message.get("op") not in ("ping", "status"):
                self.last_request_ms = _ms(started)
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the watcher
            log.exception("request failed")
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode())

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        op = message.get("op")
        started = time.perf_counter()
        if op in ("ping", "status"):
            return {"ok": True, **self.status()}
        if op == "stop":
            self.stop()
            return {"ok": True, "stopping": True}
        if op == "snapshot":
            snap = self.watcher.snapshot()
            return {
                "ok": True,
                "tree": str(snap.tree),
                "omitted": [[o.path, o.size] for o in snap.omitted],
                "elapsed_ms": _ms(started),
            }
        if op == "hook":
            from trail.capture import hook

            cwd = str(message.get("cwd") or self.repo.workdir)
            if message.get("source") == "claude":
                raw = base64.b64decode(str(message.get("payload") or ""))
                hook.run_claude(raw, cwd, snapshotter=self._snapshotter_for)
            elif message.get("source") == "git-post-commit":
                hook.run_git_post_commit(cwd, snapshotter=self._snapshotter_for)
            else:
                return {"ok": False, "error": f"unknown hook source {message.get('source')!r}"}
            return {"ok": True, "elapsed_ms": _ms(started), "snapshot_ms": self.watcher.stats["last_snapshot_ms"]}
        return {"ok": False, "error": f"unknown request {op!r}"}

    def _snapshotter_for(self, repo: TrailRepo) -> Any:
        """The watcher's snapshots serve the repository it watches, and no other."""
        same = os.path.samefile(repo.gitdir, self.repo.gitdir) and os.path.samefile(repo.workdir, self.repo.workdir)
        return self.watcher.snapshot if same else None

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "workdir": str(self.repo.workdir),
            "started": self.started,
            "requests": self.requests,
            "last_request_ms": self.last_request_ms,
            **self.watcher.status(),
        }

    # -- the lock ------------------------------------------------------------------------------------------------

    def _take_lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.lock_path)
            raise TrailError(
                f"a watcher already runs for {self.repo.workdir}"
                + (f" (pid {pid})" if pid else "")
                + "; `trail watch --stop` stops it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():  # only there may signals be handled
            signal.signal(signal.SIGTERM, lambda *_: self.stop())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

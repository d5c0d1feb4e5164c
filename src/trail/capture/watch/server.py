"""`trail watch`: one process per working tree that keeps the repository open and records for hooks.

It listens on a Unix socket in the worktree's `.git/trail/` (mode 0600) and serves each connection in a thread of
its own: a snapshot (for the SDK), a whole hook payload (for `trail-hook`, which then needs no pygit2), its status,
or stop. A hook is answered within its budget whatever happens: past it, the payload is kept (pending/) and the
work goes on; so a slow session never holds up another, nor `--status`. It stops by itself once the sessions it
served have ended, or after `watch.idleMinutes` without a request. A lock held for the process's lifetime keeps a
second watcher out; the kernel drops it if the process dies.
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


# A hook waits at most this long for its answer (Claude Code gives it 30 s). The environment variables are for
# tests, which cannot wait that long to see what happens past them.
BUDGET_SECONDS = float(os.environ.get("TRAIL_WATCH_BUDGET", "8"))
# After the last session ended, in case the person starts another at once.
ENDED_GRACE_SECONDS = float(os.environ.get("TRAIL_WATCH_GRACE", "30"))


class WatchServer:
    def __init__(self, repo: TrailRepo, watcher: Watcher | None = None, idle_minutes: float | None = None) -> None:
        self.repo = repo
        self.socket_path, self.lock_path, self.log_path = paths(repo)
        self.watcher = watcher or Watcher(repo)
        self.started = time.time()
        self.requests = 0
        self.in_flight = 0
        self.last_request_ms: float | None = None
        self.last_activity = time.monotonic()
        self.sessions: set[str] = set()  # sessions this watcher recorded for that have not ended
        self.served_any = False
        self.ended_at: float | None = None
        if idle_minutes is None:
            idle_minutes = repo.config.get_number("watch.idleMinutes")
        self.idle_seconds = idle_minutes * 60
        self._stop = False
        self._lock_fd: int | None = None
        self._state_lock = threading.Lock()
        self._index_wanted = threading.Event()

    def run(self) -> None:
        """Serve until asked to stop (a `stop` request, SIGTERM, SIGHUP, Ctrl-C), idle, or done."""
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
            threading.Thread(target=self._keep_index_current, name="trail-watch-index", daemon=True).start()
            log.info("watching %s (%s)", self.repo.workdir, self.watcher.mode)
            checked = time.monotonic()
            while not self._stop:
                try:
                    conn, _ = listener.accept()
                    threading.Thread(target=self._serve, args=(conn,), name="trail-watch-request", daemon=True).start()
                except (TimeoutError, InterruptedError):
                    pass
                if time.monotonic() - checked >= 0.5:  # also between requests: `--status` polls must not keep it
                    checked = time.monotonic()
                    reason = self._reason_to_stop()
                    if reason:
                        log.info("%s: stopping", reason)
                        break
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                self.socket_path.unlink()
            self.watcher.stop()
            self._release_lock()
            log.info("stopped")

    def stop(self) -> None:
        self._stop = True

    def _reason_to_stop(self) -> str | None:
        if not self.repo.workdir.is_dir() or not self.socket_path.exists():
            return "the working tree or the socket is gone"
        with self._state_lock:
            if self.in_flight:
                return None
            now = time.monotonic()
            ended = self.served_any and not self.sessions and self.ended_at is not None
            if ended and now - (self.ended_at or now) > ENDED_GRACE_SECONDS:
                return "every session it recorded for has ended"
            if now - self.last_activity > self.idle_seconds:
                return f"no request for {self.idle_seconds / 60:g} minutes"
        return None

    # -- one request ---------------------------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        with conn:
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
        op = message.get("op")
        started = time.perf_counter()
        if op in ("ping", "status"):
            return {"ok": True, **self.status()}
        with self._state_lock:
            self.requests += 1
            self.last_activity = time.monotonic()
        if op == "stop":
            self.stop()
            return {"ok": True, "stopping": True}
        if op == "snapshot":
            snap = self.watcher.snapshot()
            return {
                "ok": True,
                "tree": str(snap.tree),
                "omitted": [[o.path, o.size, o.reason] for o in snap.omitted],
                "elapsed_ms": _ms(started),
            }
        if op == "hook":
            from trail.capture.sources import SOURCES

            source = str(message.get("source"))
            if source not in SOURCES:
                return {"ok": False, "error": f"unknown hook source {source!r}"}
            cwd = str(message.get("cwd") or self.repo.workdir)
            raw = base64.b64decode(str(message.get("payload") or ""))
            kept = self._within_budget(source, raw, cwd)
            return {
                "ok": True,
                "elapsed_ms": _ms(started),
                "snapshot_ms": self.watcher.stats["last_snapshot_ms"],
                **({"kept": kept} if kept else {}),
            }
        return {"ok": False, "error": f"unknown request {op!r}"}

    def _within_budget(self, source: str, raw: bytes, cwd: str) -> str | None:
        """Record the hook in a thread of its own; past the budget, keep the payload (pending/) and answer, while
        the thread goes on (it removes what was kept if it finishes after all). Returns where it was kept."""
        from trail.capture import handlers, keep
        from trail.capture.sources import SOURCES, function, payload_session

        spec = SOURCES[source]
        run = function(spec.run)
        done = threading.Event()
        kept: list[Any] = []
        guard = threading.Lock()
        session, ended = payload_session(spec, raw)

        def work() -> None:
            with self._state_lock:
                self.in_flight += 1
            try:
                run(raw, cwd, snapshotter=self._snapshotter_for)
            finally:
                with guard:
                    done.set()
                    if kept and kept[0] is not None:
                        kept[0].unlink(missing_ok=True)  # recorded after all
                with self._state_lock:
                    self.in_flight -= 1
                    self._note_session(session, ended)
                self._index_wanted.set()

        threading.Thread(target=work, name="trail-watch-hook", daemon=True).start()
        if done.wait(BUDGET_SECONDS):
            return None
        with guard:
            if done.is_set():
                return None
            repo = handlers.find_repo(handlers.payload_cwd(raw, spec.cwd_key) or cwd)
            path = (
                keep.keep(repo, source, raw, cwd, "still being recorded when the hook's budget ran out")
                if repo
                else None
            )
            kept.append(path)
        log.warning(
            "a %s hook took longer than %g s; its payload is kept in %s meanwhile", source, BUDGET_SECONDS, path
        )
        return str(path) if path else None

    def _keep_index_current(self) -> None:
        """Search's index takes in new steps here, a moment after they are recorded, off every hook's path (a
        search would catch up by itself; this makes it instant)."""
        from trail.search.index import SearchIndex
        from trail.store.steps import Store

        index = SearchIndex(self.repo.commondir, open_store=lambda: Store(self.repo))
        while not self._stop:
            if not self._index_wanted.wait(timeout=1.0):
                continue
            time.sleep(1.0)  # a burst of hooks: one update for all of them
            self._index_wanted.clear()
            try:
                index.update()
            except Exception:  # noqa: BLE001 - a cache: the next search catches up
                log.exception("updating the search index failed")

    def _note_session(self, session: str | None, ended: bool) -> None:
        if session is None:
            return
        self.served_any = True
        if ended:
            self.sessions.discard(session)
            if not self.sessions:
                self.ended_at = time.monotonic()
        else:
            self.sessions.add(session)

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
            "in_flight": self.in_flight,
            "sessions": sorted(self.sessions),
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
            signal.signal(signal.SIGHUP, lambda *_: self.stop())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

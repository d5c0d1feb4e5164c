"""`trail record -- CMD ARGS…`: record an agent that has no hooks, from the outside.

The command runs in the terminal as if trail were not there. Each burst of file changes (once the tree has been
quiet for a moment) becomes a `file_edit` step with the code of that moment; the command line opens the session
and its exit status closes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from trail.capture.recorder import Recorder
from trail.capture.watch.daemon import start_daemon, stop_daemon, watcher_status
from trail.capture.watch.watcher import EVENTS
from trail.errors import TrailError
from trail.events import FILE_EDIT, Event

QUIET_SECONDS = 0.3
KILL_AFTER_SECONDS = 10.0  # after passing on SIGHUP or SIGTERM, how long the command has to exit
_MAX_LISTED = 200


@dataclass(frozen=True)
class RecordResult:
    session_id: str
    exit_code: int
    steps: int


class _Changes(FileSystemEventHandler):
    """Which paths changed, and when the last one did: only to know when a burst is over."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.lock = threading.Lock()
        self.paths: set[str] = set()
        self.last = 0.0

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            rel = os.path.relpath(os.fsdecode(raw), self.workdir).replace(os.sep, "/")
            if rel == ".git" or rel.startswith((".git/", "../")) or rel == ".":
                continue
            with self.lock:
                self.paths.add(rel)
                self.last = time.monotonic()

    def take_if_quiet(self, quiet: float) -> list[str] | None:
        with self.lock:
            if not self.paths or time.monotonic() - self.last < quiet:
                return None
            paths, self.paths = sorted(self.paths), set()
            return paths


def record_command(path: str | os.PathLike[str], argv: Sequence[str], quiet: float = QUIET_SECONDS) -> RecordResult:
    if not argv:
        raise TrailError("give the command to record after --, for example: trail record -- aider --yes")
    rec = Recorder(path, agent=Path(argv[0]).name)
    repo = rec.repo
    interrupted = threading.Event()
    terminated: list[tuple[int, float]] = []  # (signal, when)
    children: list[subprocess.Popen[bytes]] = []

    def terminate(signum: int, _frame: object) -> None:
        # The terminal closed (SIGHUP) or someone asked us to stop (SIGTERM): pass it on, then end the session and
        # the watcher properly once the command has gone, rather than dying with both left open.
        terminated.append((signum, time.monotonic()))
        for child in children:
            with contextlib.suppress(OSError):
                child.send_signal(signum)

    # Ctrl-C goes to the whole foreground group, so the command gets it too: let it finish on its own terms, as a
    # shell would, and record that it was interrupted. Installed first: a signal may come at any moment.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: interrupted.set()),
        signal.SIGTERM: signal.signal(signal.SIGTERM, terminate),
        signal.SIGHUP: signal.signal(signal.SIGHUP, terminate),
    }
    started_watcher = False
    observer = None
    steps = 0
    try:
        started_watcher = watcher_status(repo) is None
        if started_watcher:
            start_daemon(repo)
        changes = _Changes(repo.workdir)
        observer = Observer()
        observer.schedule(changes, os.fspath(repo.workdir), recursive=True, event_filter=EVENTS)
        observer.start()
        rec.start(command=list(argv), cwd=os.getcwd())
        steps += 1
        code: int | None = None
        if not terminated:
            try:
                # The command's own trail sessions (an agent using trail.Recorder) hang from this session's
                # start, as a child process of a recorder's does.
                env = {**os.environ, **{k: v for k, v in rec._environment().items() if v is not None}}
                children.append(subprocess.Popen(list(argv), env=env))
            except OSError as e:
                rec.end(reason=f"could not start: {e}", exit_code=127)
                raise TrailError(f"cannot run {argv[0]!r}: {e.strerror or e}") from None
            child = children[0]
            while code is None:
                try:
                    code = child.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    if terminated and time.monotonic() - terminated[0][1] > KILL_AFTER_SECONDS:
                        child.kill()
                    steps += _record_burst(rec, changes, quiet)
        time.sleep(quiet)  # the last writes' events
        steps += _record_burst(rec, changes, 0.0)
        if terminated:
            reason = f"terminated ({signal.Signals(terminated[0][0]).name})"
            code = code if code is not None else 128 + terminated[0][0]
        else:
            assert code is not None
            reason = "interrupted" if interrupted.is_set() or code == -signal.SIGINT else "exit"
        rec.end(reason=reason, exit_code=code, command=list(argv))
        steps += 1
        return RecordResult(rec.session_id, code, steps)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if started_watcher:
            stop_daemon(repo)


def _record_burst(rec: Recorder, changes: _Changes, quiet: float) -> int:
    paths = changes.take_if_quiet(quiet)
    if not paths:
        return 0
    text = f"{len(paths)} path{'s' if len(paths) != 1 else ''} changed: " + ", ".join(paths[:5])
    if len(paths) > 5:
        text += ", …"
    payload: dict[str, object] = {"text": text, "paths": paths[:_MAX_LISTED]}
    if len(paths) > _MAX_LISTED:
        payload["more"] = len(paths) - _MAX_LISTED
    writer = rec.writer
    with writer.session_lock(rec.session_id):
        snap = writer.snapshot()
        info = rec.store.session(rec.session_id)
        if info is not None and info.tip.tree == str(snap.tree):
            return 0  # only ignored files, or changed and changed back
        writer.write(Event(kind=FILE_EDIT, payload=payload, session_id=rec.session_id, agent=rec.agent), snap)
    return 1

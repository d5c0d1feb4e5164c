"""The watcher's memory: which paths changed since the last snapshot, and the tree that snapshot made.

watchdog reports file events on its own thread. A snapshot first waits until every event that happened before it
has arrived (a barrier: an event trail causes inside the watched working tree, which comes after all earlier ones
since one watch delivers its events in order), then rewrites only the trees above the changed paths. In a main
worktree the barrier is a file created in `.git/trail/` under a name used once (events are not counted: a write
raises one event or two, and a late event of an earlier barrier must never pass for this one's). A linked
worktree's git directory is outside its working tree, and watchdog delivers the events of two watches in no
common order, so there the barrier is the `.git` file git keeps in the working tree, its mode set to the mode it
has: an attribute event, and nothing changed. Whenever the
event stream cannot be trusted (overflow, the person switched branches, ignore rules changed, watches refused),
the next snapshot is a full scan, whose result is the same tree by construction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from trail.repo import TrailRepo
from trail.store.snapshot import Snapshot, snapshot_worktree
from trail.store.treeedit import NeedsFullScan, TreeEditor, TreeState

log = logging.getLogger("trail.watch")
# watchdog warns when a directory comes back at a path it watched before; it re-watches it, which is what we want.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning, module="watchdog")
# No open or read events: every process reading files (git status, the agent itself) would flood the queue.
EVENTS = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
BARRIER_NAME = "watch-barrier"
BARRIER_TIMEOUT = 2.0


class Watcher(FileSystemEventHandler):
    """Keeps the dirty paths of one working tree and makes snapshots from them."""

    def __init__(self, repo: TrailRepo, observer_factory: Callable[[], Any] = Observer) -> None:
        self.repo = repo
        self.workdir = repo.workdir
        self.gitdir = repo.gitdir
        self._observer_factory = observer_factory
        self._observer: Any = None
        self._lock = threading.Lock()  # guards the fields below, shared with watchdog's thread
        self._dirty: set[str] = set()
        self._rescan = True
        self._rescan_reason = "start"
        self._barrier_serial = 0
        self._barrier_wanted: str | None = None  # the path whose event this snapshot waits for, as watchdog names it
        self._barrier_stale = False  # a barrier timed out: its event may come late and pass for the next one's
        self._barrier_cond = threading.Condition(self._lock)
        self._snapshot_lock = threading.Lock()
        self._state: TreeState | None = None
        self._git: pygit2.Repository | None = None
        self._editor_cache: TreeEditor | None = None
        self._config_stamp: tuple[float, int] | None = None
        self.fallback: str | None = None  # why events are not used, when they are not
        self.stats: dict[str, Any] = {"snapshots": 0, "full_scans": 0, "last_snapshot_ms": None}
        self._linked = not _inside(self.gitdir, self.workdir)
        self._barrier_folder, self._barrier_prefix = self._choose_barrier()
        self._overflow_handler = _OverflowLog(self._on_overflow)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.fallback is None:
            try:
                observer = self._observer_factory()
                observer.schedule(self, os.fspath(self.workdir), recursive=True, event_filter=EVENTS)
                if self._linked:
                    # A linked worktree: its HEAD lives outside the working tree (a branch switch makes the next
                    # snapshot a full scan; the files it changed are seen in the working tree anyway).
                    observer.schedule(self, os.fspath(self.gitdir), recursive=False, event_filter=EVENTS)
                observer.start()
                self._observer = observer
            except OSError as e:
                self.fallback = f"the system refused file watches ({e}); every snapshot is a full scan"
                log.warning("%s", self.fallback)
        for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
            logging.getLogger(name).addHandler(self._overflow_handler)
        self.snapshot()  # the first full scan, so that the first request is fast

    def stop(self) -> None:
        for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
            logging.getLogger(name).removeHandler(self._overflow_handler)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    @property
    def mode(self) -> str:
        return f"full scans: {self.fallback}" if self.fallback else "file events (inotify)"

    # -- events (watchdog's thread) ------------------------------------------------------------------------------

    def dispatch(self, event: FileSystemEvent) -> None:
        paths = [event.src_path]
        if getattr(event, "dest_path", ""):
            paths.append(event.dest_path)
        with self._lock:
            for raw in paths:
                self._note(os.fsdecode(raw), event)

    def _note(self, path: str, event: FileSystemEvent) -> None:
        if path == self._barrier_wanted and isinstance(event, FileAttribEvent if self._linked else FileCreatedEvent):
            self._barrier_wanted = None
            self._barrier_cond.notify_all()
            return
        if path.startswith(self._barrier_prefix):
            return
        rel = os.path.relpath(path, self.workdir)
        if rel == "." or rel.startswith(".."):
            if os.path.basename(path) == "HEAD":  # a linked worktree's HEAD: the person switched branches
                self._mark_rescan("HEAD moved")
            return
        rel = rel.replace(os.sep, "/")
        if rel == ".git" or rel.startswith(".git/"):
            self._note_git(rel[5:])
            return
        if os.path.basename(rel) in (".gitignore", ".gitattributes"):
            # What is ignored, or how files are filtered into blobs, changed for a whole folder.
            self._mark_rescan(f"{rel} changed")
            return
        self._dirty.add(rel)

    def _note_git(self, inside: str) -> None:
        moved_worktree_head = inside.startswith("worktrees/") and inside.endswith("/HEAD")
        if inside in ("HEAD", "info/exclude", "info/attributes") or moved_worktree_head:
            self._mark_rescan(f".git/{inside} changed")
        elif inside.startswith("modules/"):
            self._mark_rescan("a submodule moved")

    def _mark_rescan(self, reason: str) -> None:
        self._rescan = True
        self._rescan_reason = reason

    def _on_overflow(self) -> None:
        with self._lock:
            self._mark_rescan("the event queue overflowed")

    # -- snapshots (the server's thread) -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._snapshot_lock:
            started = time.perf_counter()
            self._check_health()
            self._wait_for_events()
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                rescan, self._rescan = self._rescan or self.fallback is not None, False
                reason = self._rescan_reason
            if self._config_changed():
                rescan, reason = True, "trail's config changed"
            state = self._state
            if not rescan and state is not None:
                try:
                    state = self._editor().apply(state, dirty) if dirty else state
                except NeedsFullScan as e:
                    rescan, reason = True, str(e)
            if rescan or state is None:
                state = self._full_scan(reason)
            self._state = state
            self.stats["snapshots"] += 1
            self.stats["last_snapshot_ms"] = round((time.perf_counter() - started) * 1000, 3)
            return Snapshot(tree=pygit2.Oid(hex=state.tree), omitted=state.omitted_list())

    def _full_scan(self, reason: str) -> TreeState:
        log.info("full scan: %s", reason)
        self.stats["full_scans"] += 1
        self.stats["last_full_scan"] = reason
        self._git = pygit2.Repository(os.fspath(self.gitdir))  # fresh ignore rules and config
        self._editor_cache = None
        snap = snapshot_worktree(self.repo)
        return TreeState(
            str(snap.tree), {o.path: o.size for o in snap.omitted}, {o.path: o.reason for o in snap.omitted if o.reason}
        )

    def _editor(self) -> TreeEditor:
        if self._editor_cache is None:
            git = self._git or pygit2.Repository(os.fspath(self.gitdir))
            config = self.repo.config
            self._editor_cache = TreeEditor(git, self.repo, config.max_file_size, config.sensitive_files)
        return self._editor_cache

    def _wait_for_events(self) -> None:
        """Return once every file event that happened before this call has been noted."""
        if self._observer is None:
            return
        with self._lock:
            self._barrier_serial += 1
            if self._linked:
                path = self.workdir / ".git"
                self._barrier_wanted = os.path.join(os.fspath(self.workdir), ".git")
            else:
                name = f"{BARRIER_NAME}.{os.getpid()}.{self._barrier_serial}"
                path = self._barrier_folder / name
                self._barrier_wanted = self._barrier_prefix + name[len(BARRIER_NAME) :]
        try:
            if self._linked:
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode):
                    raise OSError(f"{path} is not git's file")
                os.chmod(path, stat.S_IMODE(mode))
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except OSError:
            with self._lock:
                self._barrier_wanted = None
                self._mark_rescan("trail could not raise its barrier event")
            return
        try:
            with self._barrier_cond:
                arrived = self._barrier_cond.wait_for(lambda: self._barrier_wanted is None, timeout=BARRIER_TIMEOUT)
                if not arrived or self._barrier_stale:
                    # Late events: this snapshot, and the next (whose barrier a late event may pass for), scan.
                    self._barrier_wanted = None
                    self._barrier_stale = not arrived
                    self._mark_rescan("file events stopped arriving in time")
        finally:
            if not self._linked:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _check_health(self) -> None:
        observer = self._observer
        if observer is not None and not observer.is_alive():
            self.fallback = "the file watcher stopped (the system may have refused more watches)"
            log.warning("%s; every snapshot is a full scan from now on", self.fallback)
            self._observer = None

    def _config_changed(self) -> bool:
        path = self.repo.trail_dir / "config"
        try:
            st = path.stat()
            stamp: tuple[float, int] | None = (st.st_mtime, st.st_size)
        except OSError:
            stamp = None
        changed = stamp != self._config_stamp
        self._config_stamp = stamp
        if changed:
            self.repo.__dict__.pop("config", None)  # TrailRepo caches it
        return changed and self._state is not None

    def _choose_barrier(self) -> tuple[Path, str]:
        """The folder of trail's barrier files in this worktree's git directory, and their names' beginning as
        watchdog will name them. Barrier files a killed watcher left behind are removed."""
        folder = self.gitdir / "trail"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(BARRIER_NAME + "*"):
            with contextlib.suppress(OSError):
                old.unlink()
        dot_git = self.workdir / ".git"
        if dot_git.is_dir() and _inside(self.gitdir, self.workdir):
            return folder, os.fspath(dot_git / "trail" / BARRIER_NAME)
        return folder, os.fspath(folder / BARRIER_NAME)

    def status(self) -> dict[str, Any]:
        with self._lock:
            dirty = len(self._dirty)
        return {"mode": self.mode, "dirty": dirty, **self.stats}


class _OverflowLog(logging.Handler):
    """watchdog says that the kernel dropped events only in a log message: listen for it."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.callback()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False

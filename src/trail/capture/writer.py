"""The one path by which anything is recorded: redact the event, then append it with a tree.

Every source (the SDK, agent hooks, transcript import) writes through a StepWriter, so redaction can never be
skipped by a new adapter.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pygit2

from trail.capture.redact import Redactor
from trail.capture.watch import client as watchclient
from trail.config import log_problems
from trail.events import SESSION_END, SESSION_START, Event
from trail.repo import TrailRepo
from trail.store.bulk import BulkWriter
from trail.store.snapshot import OmittedFile, Snapshot, snapshot_worktree
from trail.store.steps import SESSION_ID_RE, Step, Store

FORKS = "forks"  # under .git/trail/: sessions `trail resume` prepared, by the id their agent will record them with


class StepWriter:
    """`snapshotter`, when given, makes the snapshots (the watcher passes its own); otherwise a running watcher
    is asked, and without one the working tree is scanned in this process. The tree is the same either way."""

    def __init__(self, repo: TrailRepo, snapshotter: Callable[[], Snapshot] | None = None) -> None:
        self.repo = repo
        self.snapshotter = snapshotter
        self.store = Store(repo)
        config = repo.config
        log_problems(repo)  # a value it cannot use is its default here: say so once, in errors.log
        self.redactor = Redactor.with_extra_patterns(config.redact_patterns) if config.redact_enabled else None

    def snapshot(self) -> Snapshot:
        if self.snapshotter is not None:
            return self.snapshotter()
        return watcher_snapshot(self.repo) or snapshot_worktree(self.repo)

    def session_lock(self, session_id: str) -> Any:
        return self.store.session_lock(session_id)

    def redact(self, event: Event) -> tuple[Event, dict[str, int]]:
        """`event` with every secret in it replaced, and how many of each kind were."""
        if self.redactor is None:
            return event, {}
        payload, counts = self.redactor.redact_value(event.payload)
        extra, extra_counts = self.redactor.redact_value(event.extra)
        if not counts and not extra_counts:
            return event, {}
        counts.update(extra_counts)
        redacted = Event(
            kind=event.kind,
            payload=payload,
            session_id=event.session_id,
            time=event.time,
            step=event.step,
            agent=event.agent,
            schema=event.schema,
            extra=extra,
        )
        return redacted, dict(counts)

    def write(
        self,
        event: Event,
        snapshot: Snapshot | None,
        extra_parents: tuple[str, ...] = (),
        tree_source: str | None = None,
        tree: str | None = None,
    ) -> Step:
        """Append `event` to its session. `snapshot` None (and no `tree`) keeps the previous step's tree: the
        step changed no code. Callers hold the session's lock."""
        event, fork = fork_link(self.repo, event, lambda sid: self.store.tip_commit(sid) is None)
        event, redacted = self.redact(event)
        if snapshot is not None:
            step = self.store.append(
                event, snapshot.tree, snapshot.omitted, redacted, extra_parents, tree_source=tree_source
            )
        else:
            step = self.store.append(event, tree, (), redacted, extra_parents, tree_source=tree_source)
        if fork is not None:
            fork.unlink(missing_ok=True)
        if step.kind == SESSION_END:
            self._sign_session(step)
            self._pack_session(step)
        return step

    def _sign_session(self, step: Step) -> None:
        """With `trail config sign true`, a session that ended is signed in the background (store/sign.py)."""
        try:
            if self.repo.config.sign:
                from trail.store.maintenance import sign_session_async

                sign_session_async(self.repo.commondir, self.repo.trail_dir, step.session_id, step.commit)
        except Exception:  # noqa: BLE001 - signing must never fail a recording
            pass

    def _pack_session(self, step: Step) -> None:
        """A session that ended is packed in the background: its loose objects become one pack file."""
        try:
            from trail.store.maintenance import pack_session_async

            first = self.store.step_at(step.session_id, 1)
            base = first.parents[0] if first.parents else None
            pack_session_async(self.repo.commondir, self.repo.trail_dir, step.session_id, base)
        except Exception:  # noqa: BLE001 - an optimisation must never fail a recording
            pass

    def bulk(self) -> BulkStepWriter:
        """Many steps at once (imports): written as one pack, each session's ref moved once; see store/bulk.py."""
        return BulkStepWriter(self)


class BulkStepWriter:
    """`with writer.bulk() as bulk: bulk.write(event, tree=...)`: redacted like every step, written on leaving."""

    def __init__(self, writer: StepWriter) -> None:
        self.writer = writer
        self.bulk = BulkWriter(writer.store)
        self.forks: list[Path] = []

    def tip(self, session_id: str) -> Step | None:
        return self.bulk.session(session_id).tip

    @property
    def packs(self) -> list[Path]:
        return self.bulk.packs

    def write(
        self,
        event: Event,
        tree: str | None = None,
        tree_source: str | None = None,
        extra_parents: tuple[str, ...] = (),
    ) -> Step:
        event, fork = fork_link(self.writer.repo, event, lambda sid: self.bulk.session(sid).tip is None)
        if fork is not None:
            self.forks.append(fork)
        event, redacted = self.writer.redact(event)
        batch = self.bulk.session(event.session_id or "")
        return batch.append(event, tree, (), redacted, extra_parents, tree_source)

    def __enter__(self) -> BulkStepWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bulk.__exit__(exc_type, exc, tb)
        if exc_type is None:
            for fork in self.forks:
                fork.unlink(missing_ok=True)


def fork_record(repo: TrailRepo, session_id: str) -> Path:
    """Where `trail resume` leaves word that the session `session_id`, when its agent starts recording it, is a fork
    of another session's step (timetravel/resume.py writes it)."""
    return repo.trail_dir / FORKS / f"{session_id}.json"


def fork_link(repo: TrailRepo, event: Event, first: Callable[[str], bool]) -> tuple[Event, Path | None]:
    """`event` naming the step it forked from, when it is the first step of a session `trail resume` prepared; and
    the record to remove once it is written. A session's own start event carries the link (as a subagent's does),
    so every source that records the new session links it, whichever agent runs it."""
    sid = event.session_id
    if event.kind != SESSION_START or not sid or not SESSION_ID_RE.match(sid) or "parent_session" in event.payload:
        return event, None
    path = fork_record(repo, sid)
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return event, None
    if not isinstance(record, dict) or not isinstance(record.get("parent_session"), str) or not first(sid):
        return event, None
    link = {
        "parent_session": record["parent_session"],
        "parent_step": record.get("parent_step"),
        "forked_from": {key: record.get(key) for key in ("commit", "agent")},
    }
    return dataclasses.replace(event, payload={**event.payload, **link}), path


def watcher_snapshot(repo: TrailRepo) -> Snapshot | None:
    """A snapshot from the watcher of this worktree, or None when none is running (or it went away)."""
    sock = repo.worktree_trail_dir / watchclient.SOCKET_NAME
    if not sock.exists():
        return None
    try:
        reply = watchclient.request(sock, {"op": "snapshot"})
    except watchclient.WatcherGone:
        return None
    if not reply or not reply.get("ok"):
        return None
    omitted = [OmittedFile(str(item[0]), int(item[1]), *item[2:3]) for item in reply.get("omitted") or []]
    return Snapshot(tree=pygit2.Oid(hex=str(reply["tree"])), omitted=omitted)

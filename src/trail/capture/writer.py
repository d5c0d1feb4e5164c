"""The one path by which anything is recorded: redact the event, then append it with a tree.

Every source (the SDK, agent hooks, transcript import) writes through a StepWriter, so redaction can never be
skipped by a new adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pygit2

from trail.capture.redact import Redactor
from trail.capture.watch import client as watchclient
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.snapshot import OmittedFile, Snapshot, snapshot_worktree
from trail.store.steps import Step, Store


class StepWriter:
    """`snapshotter`, when given, makes the snapshots (the watcher passes its own); otherwise a running watcher
    is asked, and without one the working tree is scanned in this process. The tree is the same either way."""

    def __init__(self, repo: TrailRepo, snapshotter: Callable[[], Snapshot] | None = None) -> None:
        self.repo = repo
        self.snapshotter = snapshotter
        self.store = Store(repo)
        config = repo.config
        self.redactor = Redactor.with_extra_patterns(config.redact_patterns) if config.redact_enabled else None

    def snapshot(self) -> Snapshot:
        if self.snapshotter is not None:
            return self.snapshotter()
        return watcher_snapshot(self.repo) or snapshot_worktree(self.repo)

    def session_lock(self, session_id: str) -> Any:
        return self.store.session_lock(session_id)

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
        redacted: dict[str, int] = {}
        if self.redactor is not None:
            payload, counts = self.redactor.redact_value(event.payload)
            extra, extra_counts = self.redactor.redact_value(event.extra)
            counts.update(extra_counts)
            event = Event(
                kind=event.kind,
                payload=payload,
                session_id=event.session_id,
                time=event.time,
                step=event.step,
                agent=event.agent,
                schema=event.schema,
                extra=extra,
            )
            redacted = dict(counts)
        if snapshot is not None:
            return self.store.append(
                event, snapshot.tree, snapshot.omitted, redacted, extra_parents, tree_source=tree_source
            )
        return self.store.append(event, tree, (), redacted, extra_parents, tree_source=tree_source)


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
    omitted = [OmittedFile(str(path), int(size)) for path, size in reply.get("omitted") or []]
    return Snapshot(tree=pygit2.Oid(hex=str(reply["tree"])), omitted=omitted)

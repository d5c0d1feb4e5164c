"""The one path by which anything is recorded: redact the event, then append it with a tree.

Every source (the SDK, agent hooks, transcript import) writes through a StepWriter, so redaction can never be
skipped by a new adapter.
"""

from __future__ import annotations

from typing import Any

from .events import Event
from .redact import Redactor
from .repo import TrailRepo
from .snapshot import Snapshot, snapshot_worktree
from .store import Step, Store


class StepWriter:
    def __init__(self, repo: TrailRepo) -> None:
        self.repo = repo
        self.store = Store(repo)
        config = repo.config
        self.redactor = Redactor.with_extra_patterns(config.redact_patterns) if config.redact_enabled else None

    def snapshot(self) -> Snapshot:
        return snapshot_worktree(self.repo)

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

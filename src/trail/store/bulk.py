"""Appending many steps at once: commits built in memory, written as one pack, each session's ref moved once.

The invariant is Store.append's, in bulk: objects first (the whole pack, renamed into place), then each session's
ref by compare-and-swap from the tip it had when its batch began. Memory is bounded: when the queued objects pass
`limit` bytes, what is queued is written and the refs move to the steps reached so far, which are complete chains.
A crash leaves every ref at a complete step; an import run again continues from there.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pygit2
from pygit2.enums import ObjectType

from trail.errors import TrailError
from trail.events import Event
from trail.store import bodies
from trail.store.format import OmittedFile
from trail.store.pack import PackWriter
from trail.store.steps import Step, Store, check_session_id

DEFAULT_LIMIT = 32 * 1024 * 1024


class SessionBatch:
    """The steps being appended to one session."""

    def __init__(self, bulk: BulkWriter, session_id: str) -> None:
        self.bulk = bulk
        self.session_id = check_session_id(session_id)
        store = bulk.store
        self.previous: Step | None = store.previous(self.session_id)
        self.flushed = self.previous.commit if self.previous is not None else None  # where the ref is
        self.written: list[str] = []  # commits queued since the last flush, oldest first
        self.base: str | None = None
        if self.previous is None:
            head = store.repo.head_commit()
            self.base = str(head.id) if head is not None else None

    @property
    def tip(self) -> Step | None:
        return self.previous

    def append(
        self,
        event: Event,
        tree: pygit2.Oid | str | None,
        omitted: list[OmittedFile] | tuple[OmittedFile, ...] = (),
        redacted: dict[str, int] | None = None,
        extra_parents: tuple[str, ...] = (),
        tree_source: str | None = None,
    ) -> Step:
        """Queue `event` as the next step; returns it (readable once the batch is flushed)."""
        store = self.bulk.store
        side: list[tuple[ObjectType, bytes]] = []
        raw, step = store.next_commit(
            event,
            self.previous,
            str(tree) if tree is not None else None,
            omitted,
            redacted,
            extra_parents,
            tree_source,
            self.base,
            side,
            self.bulk.has_blob,
        )
        for kind, data in side:
            self.bulk.pack.add(kind, data)
        step.commit = self.bulk.pack.add(ObjectType.COMMIT, raw)
        self.previous = step
        self.written.append(step.commit)
        # A step with large values (store/bodies.py) is written at once: its event is read back from its blobs.
        spilled = step.stored_record.get(bodies.FIELD)
        if spilled or self.bulk.pack.size >= self.bulk.limit:
            self.bulk.flush()
        return self.previous


class BulkWriter:
    """with BulkWriter(store) as bulk: batch = bulk.session(sid); batch.append(...) — written on leaving."""

    def __init__(self, store: Store, limit: int = DEFAULT_LIMIT) -> None:
        self.store = store
        self.limit = limit
        self.pack = PackWriter(store.repo.commondir / "objects")
        self.batches: dict[str, SessionBatch] = {}
        self.packs: list[Path] = []  # the packs written so far
        self.blobs: set[str] = set()  # attachment blobs queued by write_blob

    def write_blob(self, data: bytes) -> str:
        """Queue `data` as a blob (an attachment) in the pack its steps go into; returns its id."""
        blob = self.pack.add(ObjectType.BLOB, data)
        self.blobs.add(blob)
        return blob

    def has_blob(self, blob: str) -> bool:
        return blob in self.blobs or self.store.git.odb.exists(blob)

    def session(self, session_id: str) -> SessionBatch:
        batch = self.batches.get(session_id)
        if batch is None:
            batch = self.batches[session_id] = SessionBatch(self, session_id)
        return batch

    def flush(self) -> None:
        """Write what is queued, then move each session's ref to its newest queued step."""
        pack = self.pack.finish()
        if pack is not None:
            self.packs.append(pack)
        stale = []
        for batch in self.batches.values():
            if not batch.written or batch.previous is None:
                continue
            new = batch.previous.commit
            if self.store.compare_and_swap(batch.session_id, new, batch.flushed, message="trail: record steps"):
                first = batch.previous.n - len(batch.written) + 1
                self.store.index.appended(batch.session_id, batch.written, first, batch.flushed)
                batch.flushed = new
            else:
                stale.append(batch.session_id)
            batch.written = []
        if stale:
            raise TrailError(
                f"session {', '.join(stale)} changed while trail was writing to it; nothing of this run was added "
                "to it (run the import again)"
            )

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.flush()
        else:
            self.pack.discard()

"""The step index: step N of a session found without reading the steps between it and the tip.

A derived, rebuildable file per session, `.git/trail/steps/<session>`: the binary ids of the commits of steps
1, 2, ... k, 20 bytes each. The invariant that makes it safe to trust: the file is used only when its last
record is the session's tip; otherwise it is brought up to date by walking from the tip down to its last record
(the common case: steps were appended since), or rebuilt from the tip when that record is not on the chain (the
session was rewritten). A record is checked against the commit it names (its step number) before use.
Writers append their new step's record while they hold the session lock, so readers rarely walk at all; a
record lost to a race only makes the file stale, never wrong.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

from trail.store.format import MalformedStep

if TYPE_CHECKING:
    from trail.store.steps import Step, Store

RECORD = 20


class Commits(Sequence[str]):
    """The commit ids of steps 1..n, as hex, from the packed records."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __len__(self) -> int:
        return len(self._data) // RECORD

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._data[i * RECORD : (i + 1) * RECORD].hex()


class StepIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.folder = store.repo.trail_dir / "steps"

    def path(self, session_id: str) -> str:
        return os.fspath(self.folder / session_id)

    def step(self, session_id: str, n: int, tip: Step) -> Step:
        """Step `n` of the session whose newest step is `tip`."""
        from trail.store.steps import BrokenSessionError

        for attempt in range(2):
            commit = self._record_if_current(session_id, n, tip) if attempt == 0 else None
            if commit is None:
                commit = self.commits(session_id, tip, rebuild=attempt > 0)[n - 1]
            try:
                step = self.store.load(commit, session_id)
            except MalformedStep:
                step = None
            if step is not None and step.n == n:
                return step
        raise BrokenSessionError(f"step {n} of session {session_id} cannot be found from its tip")

    def commits(self, session_id: str, tip: Step, rebuild: bool = False) -> Commits:
        """The commits of steps 1..tip.n, brought up to date with `tip` first."""
        data = b"" if rebuild else self._read(session_id)
        k = len(data) // RECORD
        if k == tip.n and data[-RECORD:] == bytes.fromhex(tip.commit):
            return Commits(data)
        if 0 < k < tip.n:
            newer = self._walk(session_id, tip, stop_after=k + 1)
            below = newer[-1].parents[0] if newer[-1].parents else None
            if below is not None and bytes.fromhex(below) == data[(k - 1) * RECORD : k * RECORD]:
                data = data[: k * RECORD] + b"".join(bytes.fromhex(s.commit) for s in reversed(newer))
                self._write(session_id, data)
                return Commits(data)
        steps = self._walk(session_id, tip, stop_after=1)
        data = b"".join(bytes.fromhex(s.commit) for s in reversed(steps))
        self._write(session_id, data)
        return Commits(data)

    def appended(self, session_id: str, commits: Sequence[str], first: int, previous: str | None) -> None:
        """A writer moved the session's ref from `previous` to the last of `commits` (steps `first`, `first`+1, …):
        keep the file current."""
        records = b"".join(bytes.fromhex(c) for c in commits)
        try:
            if first == 1:
                self._write(session_id, records)
                return
            fd = os.open(self.path(session_id), os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError:
            return
        try:
            size = os.fstat(fd).st_size
            if (
                previous is not None
                and size == (first - 1) * RECORD
                and os.pread(fd, RECORD, size - RECORD) == bytes.fromhex(previous)
            ):
                os.write(fd, records)
        except OSError:
            pass
        finally:
            os.close(fd)

    def retipped(self, session_id: str, n: int, old: str, new: str) -> None:
        """The session's ref moved from its tip `old` (step `n`) to `new`, the same step rewritten (signed): keep
        the file current instead of leaving it to be rebuilt from the tip."""
        try:
            fd = os.open(self.path(session_id), os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return
        try:
            size = os.fstat(fd).st_size
            if n >= 1 and size == n * RECORD and os.pread(fd, RECORD, size - RECORD) == bytes.fromhex(old):
                os.pwrite(fd, bytes.fromhex(new), size - RECORD)
        except OSError:
            pass
        finally:
            os.close(fd)

    def forget(self, session_id: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path(session_id))

    # -- inside --------------------------------------------------------------------------------------------------

    def _record_if_current(self, session_id: str, n: int, tip: Step) -> str | None:
        """Record n, read alone, when the file ends at `tip`; None when it must be brought up to date first."""
        try:
            fd = os.open(self.path(session_id), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            size = os.fstat(fd).st_size
            if size != tip.n * RECORD or os.pread(fd, RECORD, size - RECORD) != bytes.fromhex(tip.commit):
                return None
            return os.pread(fd, RECORD, (n - 1) * RECORD).hex()
        except OSError:
            return None
        finally:
            os.close(fd)

    def _walk(self, session_id: str, tip: Step, stop_after: int) -> list[Step]:
        """Steps from `tip` down to step `stop_after`, newest first."""
        out = []
        for step in self.store.walk(session_id, start=tip):
            out.append(step)
            if step.n <= stop_after:
                break
        return out

    def _read(self, session_id: str) -> bytes:
        try:
            with open(self.path(session_id), "rb") as f:
                data = f.read()
        except OSError:
            return b""
        return data[: len(data) - len(data) % RECORD]

    def _write(self, session_id: str, data: bytes) -> None:
        path = self.path(session_id)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:  # a derived cache: readers still get the right answer, only more slowly
            with contextlib.suppress(OSError):
                os.unlink(tmp)

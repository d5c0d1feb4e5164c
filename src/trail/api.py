"""The read API: recorded sessions and their steps, for the command line, the viewer, search and scripts.

    import trail

    history = trail.open(".")                 # any folder inside a repository
    for session in history.sessions():        # most recently active first
        print(session.handle, session.title, session.steps)
    step = history.step("SESSION@4")           # also @4, @-1, a session handle, a commit id
    step.event.payload, step.tree
    for change in history.changes(step):      # what the step changed
        print(change.status, change.path, change.additions, change.deletions)

Steps are read as they are used: a listing reads each step's small summary, the full event is parsed when asked
for, and step N of a session is found without reading the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

import pygit2

from trail.repo import TrailRepo
from trail.store.address import resolve, resolve_session
from trail.store.handles import Handles
from trail.store.steps import REF_PREFIX, Problem, SessionInfo, Step, Store

if TYPE_CHECKING:
    from trail.tracetree import TraceTree

__all__ = ["FileChange", "History", "Session", "Step", "open"]


def open(path: str | os.PathLike[str] = ".") -> History:  # noqa: A001 - trail.open(), as the docs say
    """The recorded history of the repository containing `path`."""
    return History(TrailRepo.discover(path))


@dataclass(frozen=True)
class FileChange:
    """One file a change touched: status A (added), M (modified), D (deleted), R (renamed), C (copied),
    T (type changed); `old_path` for renames and copies."""

    status: str
    path: str
    old_path: str | None
    additions: int
    deletions: int
    binary: bool

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "path": self.path,
            "old_path": self.old_path,
            "additions": self.additions,
            "deletions": self.deletions,
            "binary": self.binary,
        }


class History:
    """Every session recorded in one repository."""

    def __init__(self, repo: TrailRepo) -> None:
        self.repo = repo
        self.store = Store(repo)

    @cached_property
    def handles(self) -> Handles:
        return Handles(self.store.session_ids())

    def handle(self, session_id: str) -> str:
        """The short name trail shows for a session (see store/address.py)."""
        return self.handles.handle(session_id)

    # -- sessions ------------------------------------------------------------------------------------------------

    def scan(
        self, archived: bool = True, archived_since: datetime | None = None
    ) -> tuple[list[Session], list[Problem]]:
        """Every readable session (most recently active first), and the refs that could not be read; archived
        sessions all, or with `archived` False those of the months since `archived_since` (store.scan)."""
        infos, problems = self.store.scan(archived, archived_since)
        return [Session(self, info) for info in infos], problems

    def sessions(self, since: datetime | None = None) -> list[Session]:
        found = self.scan()[0]
        return [s for s in found if since is None or s.updated >= since]

    def session(self, name: str) -> Session:
        """A session by its id, a unique prefix of it, or its handle."""
        sid = resolve_session(self.store, name, self.handles)
        return Session(self, self.store.info(sid))

    def latest(self) -> Session:
        return self.session(self.store.latest_session())

    # -- steps ---------------------------------------------------------------------------------------------------

    def resolve(self, address: str) -> tuple[Session, Step | None]:
        """What `address` names: a session, and one of its steps when the address names one."""
        target = resolve(self.store, address, self.handles)
        tip = (
            target.step
            if target.step is not None and target.step.commit == self.store.tip_commit(target.session_id)
            else None
        )
        info = self.store.info(target.session_id) if tip is None else SessionInfo(target.session_id, tip)
        session = Session(self, info)
        return session, target.step

    def step(self, address: str) -> Step:
        """The step `address` names (`SESSION@N`, `@N`, `@-K`, a commit); a session alone names its last step."""
        session, step = self.resolve(address)
        return step if step is not None else session.tip

    # -- changes -------------------------------------------------------------------------------------------------

    def diff(self, old: Step | str | None, new: Step | str) -> pygit2.Diff:
        """From `old` to `new` (steps or commit ids); with no `old`, the change `new` made."""
        return self.store.diff(old, new)

    def changes(self, step: Step, old: Step | str | None = None) -> list[FileChange]:
        """The files `step` changed (or that changed from `old` to `step`)."""
        return file_changes(self.diff(old, step))


class Session:
    """One recorded session, as its newest step describes it."""

    def __init__(self, history: History, info: SessionInfo) -> None:
        self.history = history
        self.info = info

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.steps} steps>"

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def ref(self) -> str:
        return REF_PREFIX + self.id

    @property
    def handle(self) -> str:
        return self.history.handle(self.id)

    @property
    def tip(self) -> Step:
        return self.info.tip

    @property
    def steps(self) -> int:
        return self.info.steps

    @property
    def agent(self) -> str | None:
        return self.info.agent

    @property
    def model(self) -> str | None:
        return self.info.model

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def started(self) -> datetime:
        return self.info.started

    @property
    def updated(self) -> datetime:
        return self.info.updated

    @property
    def ended(self) -> bool:
        return self.info.ended

    @property
    def parent(self) -> tuple[str, int | None] | None:
        return self.info.parent

    @property
    def trace_id(self) -> str | None:
        """The W3C trace the session belongs to (see `trail.traceids`); None for sessions recorded without one."""
        return self.info.trace_id

    def tree(self) -> TraceTree:
        """The tree of sessions this one is part of, across processes: each under the step that started it."""
        from trail.tracetree import trace_tree

        return trace_tree(self.history, self)

    def to_json(self) -> dict[str, object]:
        return {**self.info.to_json(), "handle": self.handle}

    def step(self, n: int) -> Step:
        """Step `n`; 0 and negative numbers count back from the last step."""
        if n <= 0:
            n += self.steps
        return self.history.store.step_at(self.id, n)

    def iter_steps(
        self,
        newest_first: bool = False,
        start: Step | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        full: bool = False,
    ) -> Iterator[Step]:
        """The steps, each read as it is reached: oldest first, or newest first. `start` is the last step to
        include (a session's history up to that step, as `git log <commit>` shows), `since`/`until` bound their
        times, `limit` their number."""
        store = self.history.store
        top = start.n if start is not None else self.steps
        if newest_first:
            first = start if start is not None else self.tip
            steps: Iterator[Step] = store.walk(self.id, start=first, full=full)
        else:
            steps = store.iter_steps(self.id, 1, top)
        count = 0
        for step in steps:
            if until is not None and step.time > until:
                continue
            if since is not None and step.time < since:
                if newest_first and step.kind != "user_commit":
                    break  # steps are recorded in time order: nothing older can be newer than `since`
                continue
            if full and not newest_first:
                step = store.load(step.commit, self.id, full=True)
            yield step
            count += 1
            if limit is not None and count >= limit:
                return

    @property
    def base(self) -> str | None:
        """The commit the session started from (its first step's parent); None when it started from nothing."""
        return self.history.store.base(self.id)

    @property
    def start_tree(self) -> str:
        """The working tree when the session began (its first step's tree): the commit it started from, plus
        whatever was uncommitted then."""
        return self.history.store.step_at(self.id, 1).tree

    def diff(self) -> pygit2.Diff:
        """What changed during the session: from the working tree it began with to its last step. What was already
        uncommitted when it began is not in it (`uncommitted_at_start`), nor are trail's own entries in an agent's
        hook settings file (installing the hooks is not the agent's change)."""
        from trail.install.owned import without_trails_changes

        start = self.start_tree
        return self.history.store.diff(start, without_trails_changes(self.history.repo.git, start, self.tip.tree))

    def uncommitted_at_start(self) -> pygit2.Diff:
        """What was already changed, and not committed, when the session began: from the commit it started from
        (nothing, on an unborn branch) to its first step's tree, trail's hook entries left out."""
        from trail.install.owned import without_trails_changes

        git = self.history.repo.git
        base = self.base
        old = str(git[base].peel(pygit2.Tree).id) if base is not None else str(git.TreeBuilder().write())
        return self.history.store.diff(old, without_trails_changes(git, old, self.start_tree))

    def diff_from_base(self) -> pygit2.Diff:
        """Everything from the commit the session started from to its last step: what was uncommitted when it
        began and what changed during it (`git diff BASE TIP`)."""
        git = self.history.repo.git
        base = self.base
        old = str(git[base].peel(pygit2.Tree).id) if base is not None else str(git.TreeBuilder().write())
        return self.history.store.diff(old, self.tip.tree)


_STATUS = {
    pygit2.enums.DeltaStatus.ADDED: "A",
    pygit2.enums.DeltaStatus.DELETED: "D",
    pygit2.enums.DeltaStatus.MODIFIED: "M",
    pygit2.enums.DeltaStatus.RENAMED: "R",
    pygit2.enums.DeltaStatus.COPIED: "C",
    pygit2.enums.DeltaStatus.TYPECHANGE: "T",
}


def file_changes(diff: pygit2.Diff) -> list[FileChange]:
    out = []
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        status = _STATUS.get(delta.status, "M")
        _, additions, deletions = patch.line_stats
        old_path = delta.old_file.path if status in ("R", "C") else None
        out.append(FileChange(status, delta.new_file.path, old_path, additions, deletions, bool(delta.is_binary)))
    return out

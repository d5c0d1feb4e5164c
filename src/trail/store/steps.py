"""Sessions as git refs, steps as commits: reading and appending them.

A step is a commit on `refs/trail/sessions/<id>` whose tree is the working tree of that moment (format.py has its
bytes). The ref name decides which session a step belongs to; a ref that does not hold a readable chain of steps
is reported as a problem and skipped, never allowed to break the rest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pygit2
from pygit2.enums import ObjectType

from trail import events as ev
from trail import traceids
from trail.errors import StepNotFoundError, TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store import attachments, bodies, objectsize, pack
from trail.store import format as fmt
from trail.store.format import MalformedStep, OmittedFile, ParsedCommit
from trail.store.locking import file_lock

REF_PREFIX = "refs/trail/sessions/"
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CAS_ATTEMPTS = 200
STALE_LOCK_SECONDS = 2.0


class BrokenSessionError(TrailError):
    """A session ref whose history is not a readable chain of steps."""


class Step:
    """One recorded step: where it is in git and what happened.

    Listings read only the step's summary; `event` (the full payload) is parsed on first use.
    """

    __slots__ = (
        "session_id",
        "n",
        "commit",
        "parents",
        "tree",
        "facts",
        "_parsed",
        "_record",
        "_resolved",
        "_time",
        "_store",
    )

    def __init__(
        self,
        session_id: str,
        n: int,
        commit: str,
        parents: tuple[str, ...],
        tree: str,
        facts: dict[str, Any],
        parsed: ParsedCommit | bytes | None = None,
        record: dict[str, Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.session_id = session_id
        self.n = n
        self.commit = commit
        self.parents = parents
        self.tree = tree
        self.facts = facts
        self._parsed = parsed
        self._record = record
        self._resolved: dict[str, Any] | None = None
        self._time: datetime | None = None
        self._store = store

    def __repr__(self) -> str:
        return f"<Step {self.address} {self.kind} {self.commit[:10]}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Step) and (other.commit, other.session_id) == (self.commit, self.session_id)

    def __hash__(self) -> int:
        return hash((self.commit, self.session_id))

    # -- what listings need (the summary) ------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.facts.get("kind") or "note")

    @property
    def time(self) -> datetime:
        if self._time is None:
            stamp = self.facts.get("time")
            try:
                self._time = datetime.fromisoformat(stamp) if isinstance(stamp, str) else ev.now()
            except ValueError:
                self._time = ev.now()
        return self._time

    @property
    def summary(self) -> str:
        return str(self.facts.get("summary") or self.kind)

    @property
    def agent(self) -> str | None:
        agent = self.facts.get("agent") or self.session.get("agent")
        return agent if isinstance(agent, str) else None

    @property
    def model(self) -> str | None:
        model = self.facts.get("model")
        return model if isinstance(model, str) else None

    @property
    def tokens_in(self) -> int | None:
        return _int(self.facts.get("tokens_in"))

    @property
    def tokens_out(self) -> int | None:
        return _int(self.facts.get("tokens_out"))

    @property
    def tool(self) -> str | None:
        tool = self.facts.get("tool")
        return tool if isinstance(tool, str) else None

    @property
    def failed(self) -> bool:
        return bool(self.facts.get("error"))

    @property
    def session(self) -> dict[str, Any]:
        """The session as this step describes it (started, agent, model, title, ended, worktree, parent)."""
        info = self.facts.get("session_info")
        return info if isinstance(info, dict) else {}

    @property
    def tree_source(self) -> str | None:
        source = self.facts.get("tree_source")
        return source if isinstance(source, str) else None

    @property
    def address(self) -> str:
        return f"{self.session_id}@{self.n}"

    # -- the full record (parsed on first use) -------------------------------------------------------------------

    @property
    def record(self) -> dict[str, Any]:
        """The full `trail-event` record, its large values (store/bodies.py) read back from their blobs."""
        if self._resolved is None:
            stored = self.stored_record
            if not stored.get(bodies.FIELD):
                return stored
            if self._store is None:
                raise MalformedStep(f"step {self.address} was read without its store")
            try:
                self._resolved = bodies.resolve(stored, self._store.body_blob)
            except MalformedStep as e:
                raise MalformedStep(f"step {self.address}: {e}") from None
        return self._resolved

    @property
    def stored_record(self) -> dict[str, Any]:
        """The record as its commit holds it: large values are references to their blobs."""
        if self._record is None:
            parsed = self._parsed
            if isinstance(parsed, bytes):  # the commit this process just wrote
                parsed = ParsedCommit(parsed)
            if parsed is None:
                if self._store is None:
                    raise MalformedStep(f"step {self.address} was read without its store")
                parsed = self._store.parse(self.commit)
            self._record = parsed.record()
            self._parsed = None  # the raw bytes are no longer needed
        return self._record

    @property
    def event(self) -> Event:
        event = Event.from_dict(self.record["event"])
        event.session_id = self.session_id
        event.step = self.n
        return event

    @property
    def omitted(self) -> tuple[OmittedFile, ...]:
        if not self.facts.get("omitted"):
            return ()
        return tuple(
            OmittedFile(str(o.get("path")), int(o.get("size") or 0), o.get("reason"))
            for o in self.stored_record.get("omitted") or ()
            if isinstance(o, dict)
        )

    @property
    def attachments(self) -> list[dict[str, Any]]:
        """The binary attachments the step carries ({"blob", "media_type", "size"}); `Store.attachment` reads one."""
        items = self.stored_record["event"].get(attachments.FIELD)
        return [dict(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    @property
    def attachments_commit(self) -> str | None:
        """The parent that keeps the step's attachments and large values reachable (store/attachments.py,
        store/bodies.py): not a commit of yours, not a step; None when the step has neither."""
        found = self.stored_record.get("attachments_commit")
        return found if isinstance(found, str) else None

    @property
    def recorded_commits(self) -> tuple[str, ...]:
        """The commits of yours the step records (a `user_commit`'s, an agent's own commit): its parents after the
        first, but for its attachments commit."""
        side = self.attachments_commit
        return tuple(p for p in self.parents[1:] if p != side)

    @property
    def redacted(self) -> dict[str, int]:
        if not self.facts.get("redacted"):
            return {}
        return dict(self.stored_record.get("redacted") or {})

    def to_json(self, full: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "session": self.session_id,
            "n": self.n,
            "kind": self.kind,
            "time": self.time.isoformat(),
            "commit": self.commit,
            "parents": list(self.parents),
            "tree": self.tree,
            "summary": self.summary,
            "tree_source": self.tree_source,
        }
        if full:
            data["omitted"] = [o.to_json() for o in self.omitted]
            data["redacted"] = self.redacted
            data["event"] = self.event.to_dict()
        else:
            data.update({k: self.facts[k] for k in ("model", "tokens_in", "tokens_out", "tool") if k in self.facts})
        return data


@dataclass(frozen=True)
class SessionInfo:
    """A session as its newest step describes it."""

    id: str
    tip: Step
    held_by: str = ""  # the ref that holds its tip when not its own: an archive ref (store/archive.py)

    @property
    def steps(self) -> int:
        return self.tip.n

    @property
    def agent(self) -> str | None:
        return self.tip.session.get("agent") or self.tip.agent

    @property
    def model(self) -> str | None:
        return self.tip.session.get("model") or self.tip.model

    @property
    def started(self) -> datetime:
        started = self.tip.session.get("started")
        try:
            return datetime.fromisoformat(started) if isinstance(started, str) else self.tip.time
        except ValueError:
            return self.tip.time

    @property
    def updated(self) -> datetime:
        return self.tip.time

    @property
    def title(self) -> str:
        return str(self.tip.session.get("title") or "")

    @property
    def ended(self) -> bool:
        return bool(self.tip.session.get("ended"))

    @property
    def parent(self) -> tuple[str, int | None] | None:
        """The session and step that started this one (a subagent, a forked or linked session)."""
        parent = self.tip.session.get("parent_session")
        if not isinstance(parent, str):
            return None
        return parent, _int(self.tip.session.get("parent_step"))

    @property
    def trace_id(self) -> str | None:
        """The W3C trace the session belongs to (None for sessions recorded without one)."""
        found = self.tip.session.get("trace_id")
        return found if traceids.is_trace_id(found) else None

    @property
    def parent_span_id(self) -> str | None:
        """The span that started the session, in its trace: a step of another session, or of a process trail did
        not record."""
        found = self.tip.session.get("parent_span_id")
        return found if traceids.is_span_id(found) else None

    @property
    def ref(self) -> str:
        """Where git holds the session's tip: its own ref, or the archive ref it was rolled into."""
        return self.held_by or REF_PREFIX + self.id

    @property
    def tip_commit(self) -> str:
        return self.tip.commit

    def summary(self) -> dict[str, Any]:
        """What a listing shows of the session: kept in an archive's index, so that listing reads no tip."""
        data = {k: v for k, v in self.to_json().items() if k not in ("session", "ref", "tip")}
        data["parent_span_id"] = self.parent_span_id
        return data

    def to_json(self) -> dict[str, Any]:
        parent = self.parent
        return {
            "session": self.id,
            "ref": self.ref,
            "agent": self.agent,
            "model": self.model,
            "steps": self.steps,
            "started": self.started.isoformat(),
            "updated": self.updated.isoformat(),
            "title": self.title,
            "ended": self.ended,
            "tip": self.tip_commit,
            "parent_session": parent[0] if parent else None,
            "parent_step": parent[1] if parent else None,
            "trace_id": self.trace_id,
        }


class ListedSession(SessionInfo):
    """An archived session as its archive's index describes it (SessionInfo.summary): listed without reading its
    tip, which is loaded only when asked for."""

    _commit: str
    _summary: dict[str, Any]
    _store: Store

    def __init__(self, session_id: str, tip: str, summary: dict[str, Any], held_by: str, store: Store) -> None:
        object.__setattr__(self, "id", session_id)
        object.__setattr__(self, "held_by", held_by)
        object.__setattr__(self, "_commit", tip)
        object.__setattr__(self, "_summary", summary)
        object.__setattr__(self, "_store", store)

    @cached_property
    def tip(self) -> Step:
        return self._store.load(self._commit, self.id)

    @property
    def tip_commit(self) -> str:
        return str(self._commit)

    @property
    def steps(self) -> int:
        return _int(self._summary.get("steps")) or 0

    @property
    def agent(self) -> str | None:
        return _str(self._summary.get("agent"))

    @property
    def model(self) -> str | None:
        return _str(self._summary.get("model"))

    @property
    def started(self) -> datetime:
        return _time(self._summary.get("started")) or self.updated

    @property
    def updated(self) -> datetime:
        return _time(self._summary.get("updated")) or datetime.fromtimestamp(0, UTC)

    @property
    def title(self) -> str:
        return _str(self._summary.get("title")) or ""

    @property
    def ended(self) -> bool:
        return bool(self._summary.get("ended"))

    @property
    def parent(self) -> tuple[str, int | None] | None:
        parent = self._summary.get("parent_session")
        return (parent, _int(self._summary.get("parent_step"))) if isinstance(parent, str) else None

    @property
    def trace_id(self) -> str | None:
        found = self._summary.get("trace_id")
        return found if traceids.is_trace_id(found) else None

    @property
    def parent_span_id(self) -> str | None:
        found = self._summary.get("parent_span_id")
        return found if traceids.is_span_id(found) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Problem:
    """A ref under refs/trail/sessions/ that trail cannot read as a session."""

    ref: str
    reason: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.reason}"


def session_ref(session_id: str) -> str:
    return REF_PREFIX + session_id


def check_session_id(session_id: str) -> str:
    if (
        not isinstance(session_id, str)
        or not SESSION_ID_RE.match(session_id)
        or ".." in session_id
        or session_id.endswith((".lock", "."))
    ):
        raise TrailError(
            f"{session_id!r} cannot be a session id: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit, no '..', not ending in '.lock')"
        )
    return session_id


class Store:
    """Reads and appends steps in one repository."""

    def __init__(self, repo: TrailRepo) -> None:
        self.repo = repo
        self.git = repo.git
        self._index: Any = None
        self._identity: tuple[str, str] | None = None

    @property
    def index(self) -> Any:
        """The derived step index (store/lookup.py): step N of a session without reading the others."""
        if self._index is None:
            from trail.store.lookup import StepIndex

            self._index = StepIndex(self)
        return self._index

    # -- reading one commit --------------------------------------------------------------------------------------

    def parse(self, commit: pygit2.Oid | str) -> ParsedCommit:
        """The commit's parts; MalformedStep if it is not a commit or its trail headers cannot be read."""
        try:
            kind, raw = self.git.odb.read(commit)
        except (KeyError, ValueError, pygit2.GitError):
            raise MalformedStep(f"{commit} is not in the repository") from None
        if kind != ObjectType.COMMIT:
            raise MalformedStep(f"{commit} is not a commit")
        return ParsedCommit(raw)

    def load(self, commit: pygit2.Oid | str, session_id: str | None = None, full: bool = False) -> Step:
        """The step stored in `commit`, as a member of `session_id` when read through that session's ref.

        Raises MalformedStep when it is not a readable step.
        """
        parsed = self.parse(commit)
        if not parsed.is_step:
            raise MalformedStep(f"{str(commit)[:12]} is not a trail step")
        record = None
        facts = parsed.summary
        if facts is None or full:
            record = parsed.record()
            if facts is None:
                try:
                    facts = fmt.summary_from_record(record)
                except (ValueError, TypeError, KeyError) as e:
                    raise MalformedStep(f"its trail-event cannot be read ({e})") from None
        n = facts.get("step")
        if not isinstance(n, int) or n < 1:
            raise MalformedStep(f"{str(commit)[:12]} has no step number")
        sid = session_id if session_id is not None else facts.get("session")
        if not isinstance(sid, str):
            raise MalformedStep(f"{str(commit)[:12]} names no session")
        return Step(
            sid,
            n,
            str(commit),
            tuple(parsed.parents),
            parsed.tree,
            facts,
            parsed=None if record is not None else parsed,
            record=record,
            store=self,
        )

    def read_step(self, commit: pygit2.Oid | str, full: bool = False) -> Step | None:
        """The step stored in `commit` (its own header names the session), or None if it is not a readable step."""
        try:
            return self.load(commit, full=full)
        except MalformedStep:
            return None

    # -- sessions ------------------------------------------------------------------------------------------------

    def session_ids(self) -> list[str]:
        """Every session: those with a ref and those rolled into an archive (store/archive.py)."""
        from trail.store.archive import archived_ids

        ids = {name[len(REF_PREFIX) :] for name in self.git.references if name.startswith(REF_PREFIX)}
        ids.update(archived_ids(self))
        return sorted(ids)

    def tip_commit(self, session_id: str) -> str | None:
        """The session's newest step: its ref's target, or for an archived session the tip its archive names."""
        try:
            target = self.git.references[session_ref(session_id)].target
        except KeyError:
            from trail.store.archive import archived_tip

            return archived_tip(self, session_id)
        except (pygit2.GitError, pygit2.InvalidSpecError, ValueError):
            return None
        return str(target) if isinstance(target, pygit2.Oid) else None

    def tip(self, session_id: str) -> Step:
        """The newest step of a session; BrokenSessionError if its ref does not hold one."""
        target = self.tip_commit(session_id)
        if target is None:
            raise StepNotFoundError(f"no session {session_id!r}; `trail sessions` lists them")
        try:
            step = self.load(target, session_id)
        except MalformedStep as e:
            raise BrokenSessionError(f"{session_ref(session_id)} does not point to a trail step: {e}") from None
        claimed = step.facts.get("session")
        if isinstance(claimed, str) and claimed != session_id:
            step.facts = {**step.facts, "claimed_session": claimed}
        return step

    def info(self, session_id: str) -> SessionInfo:
        """The session as its newest step describes it, with the archive ref that holds it if it has no ref."""
        tip = self.tip(session_id)
        held_by = ""
        if session_ref(session_id) not in self.git.references:
            from trail.store.archive import archived_where

            held_by = archived_where(self, session_id) or ""
        return SessionInfo(session_id, tip, held_by)

    def session(self, session_id: str) -> SessionInfo | None:
        """The session, or None when there is none by that id or its ref cannot be read."""
        try:
            return self.info(session_id)
        except TrailError:
            return None

    def scan(
        self, archived: bool = True, archived_since: datetime | None = None
    ) -> tuple[list[SessionInfo], list[Problem]]:
        """Every readable session, most recently active first, and a problem for each ref that is not one.

        Archived sessions come from their archives' index (no tip is read): all of them, or with `archived` False
        only those of the months since `archived_since` (none without it)."""
        found: list[SessionInfo] = []
        problems: list[Problem] = []
        ids = sorted(name[len(REF_PREFIX) :] for name in self.git.references if name.startswith(REF_PREFIX))
        if archived or archived_since is not None:
            from trail.store.archive import listed_sessions

            found += listed_sessions(self, set(ids), None if archived else archived_since)
        for sid in ids:
            ref = session_ref(sid)
            try:
                check_session_id(sid)
                tip = self.tip(sid)
            except TrailError as e:
                problems.append(Problem(ref, str(e).removeprefix(ref + " ").removeprefix(": ")))
                continue
            claimed = tip.facts.get("claimed_session")
            if claimed:
                problems.append(
                    Problem(ref, f"its steps say they belong to session {claimed!r}; listed under the ref's name")
                )
            found.append(SessionInfo(sid, tip))
        found.sort(key=lambda info: info.updated, reverse=True)
        return found, problems

    def sessions(self) -> list[SessionInfo]:
        """Every readable session, most recently active first."""
        return self.scan()[0]

    def latest_session(self) -> str:
        sessions = self.scan(archived=False)[0] or self.sessions()  # the newest has a ref, unless all are archived
        if not sessions:
            raise StepNotFoundError(
                "no sessions recorded in this repository yet; record one with the SDK or try `trail demo`"
            )
        return sessions[0].id

    # -- steps ---------------------------------------------------------------------------------------------------

    def walk(self, session_id: str, start: Step | None = None, full: bool = False) -> Iterator[Step]:
        """The steps of a session, newest first, from its tip (or from `start`) down to step 1.

        Each step is read as it is reached, so a caller that stops early reads only what it used.
        """
        step = start if start is not None else self.tip(session_id)
        if full:
            step = self.load(step.commit, session_id, full=True)
        while True:
            yield step
            if step.n <= 1:
                return
            if not step.parents:
                raise BrokenSessionError(f"step {session_id}@{step.n} has no parent: its history is cut short")
            try:
                previous = self.load(step.parents[0], session_id, full=full)
            except MalformedStep as e:
                raise BrokenSessionError(f"the step before {session_id}@{step.n} cannot be read: {e}") from None
            if previous.n != step.n - 1:
                raise BrokenSessionError(
                    f"the step before {session_id}@{step.n} says it is step {previous.n}: the session's history "
                    "is not a chain of steps"
                )
            step = previous

    def steps(self, session_id: str, full: bool = False) -> list[Step]:
        """The steps of a session, oldest first."""
        return list(reversed(list(self.walk(session_id, full=full))))

    def step_at(self, session_id: str, n: int) -> Step:
        """Step `n` of a session, found through the step index: its cost does not depend on the session's length."""
        tip = self.tip(session_id)
        if not 1 <= n <= tip.n:
            raise StepNotFoundError(f"session {session_id} has steps 1 to {tip.n}, not {n}")
        if n == tip.n:
            return tip
        return self.index.step(session_id, n, tip)

    def iter_steps(self, session_id: str, first: int = 1, last: int | None = None) -> Iterator[Step]:
        """Steps `first` to `last` (default: the tip) oldest first, each read as it is reached."""
        tip = self.tip(session_id)
        last = tip.n if last is None else min(last, tip.n)
        commits = self.index.commits(session_id, tip)
        for n in range(max(first, 1), last + 1):
            yield self.load(commits[n - 1], session_id)

    def base(self, session_id: str) -> str | None:
        """The commit the session started from (the parent of its first step), None if it started from nothing."""
        first = self.step_at(session_id, 1)
        return first.parents[0] if first.parents else None

    def diff(self, old: Step | str | None, new: Step | str) -> pygit2.Diff:
        """The change from `old` to `new` (steps or commits); with no `old`, the change `new` made (from its first
        parent)."""
        new_commit = new.commit if isinstance(new, Step) else new
        new_tree = self.git[new_commit].peel(pygit2.Tree)
        if old is not None:
            old_tree: pygit2.Tree | None = self.git[old.commit if isinstance(old, Step) else old].peel(pygit2.Tree)
        else:
            parents = (
                new.parents
                if isinstance(new, Step)
                else [str(p) for p in self.git[new_commit].peel(pygit2.Commit).parent_ids]
            )
            old_tree = self.git[parents[0]].peel(pygit2.Tree) if parents else None
        diff = old_tree.diff_to_tree(new_tree) if old_tree is not None else new_tree.diff_to_tree(swap=True)
        diff.find_similar()
        return diff

    # -- writing -------------------------------------------------------------------------------------------------

    def session_lock(self, session_id: str) -> Any:
        """Serializes the writers of one session across threads, processes and worktrees."""
        locks = self.repo.trail_dir / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return file_lock(locks / f"{check_session_id(session_id)}.lock")

    def previous(self, session_id: str) -> Step | None:
        """The tip a new step goes on top of; TrailError if the ref holds something else."""
        target = self.tip_commit(session_id)
        if target is None:
            return None
        try:
            return self.load(target, session_id)
        except MalformedStep as e:
            raise TrailError(
                f"{session_ref(session_id)} points to {target}, which is not a trail step ({e}); refusing to extend it"
            ) from None

    def next_commit(
        self,
        event: Event,
        previous: Step | None,
        tree: str | None,
        omitted: list[OmittedFile] | tuple[OmittedFile, ...] = (),
        redacted: dict[str, int] | None = None,
        extra_parents: tuple[pygit2.Oid | str, ...] = (),
        tree_source: str | None = None,
        base: str | None = None,
        side_objects: list[tuple[ObjectType, bytes]] | None = None,
        blob_exists: Callable[[str], bool] | None = None,
    ) -> tuple[bytes, Step]:
        """The raw commit of `event` as the step after `previous` (or the first step, on top of `base`), and the
        step it holds (its commit id filled in by the caller once written). Nothing is written.

        An event with attachments (store/attachments.py) needs `side_objects`: the objects that keep its blobs
        reachable are added to it, for the caller to write before the step's commit. `blob_exists` says whether
        a blob is already written (default: in the object database)."""
        session_id = check_session_id(event.session_id or "")
        if previous is not None:
            parents = [previous.commit]
            n = previous.n + 1
            session = dict(previous.session)
        else:
            parents = [base] if base else []
            n = 1
            session = {"started": event.time.isoformat(), "agent": event.agent}
        parents += [str(p) for p in extra_parents if str(p) not in parents]
        attached = attachments.declared(event)
        if attached and side_objects is None:
            raise TrailError("this step has attachments, and its writer has no way to write them")
        if tree is None:
            tree = previous.tree if previous is not None else self._base_tree(parents)
        session.setdefault("worktree", self.worktree)
        if event.model:
            session["model"] = event.model  # the author of later steps without a model of their own
        title = event.payload.get("session_title")
        if isinstance(title, str) and title.strip():
            session["title"] = ev.one_line(title)  # the name the agent or the person gave the session
        elif not session.get("title") and event.kind == ev.PROMPT:
            session["title"] = event.summary()
        if event.kind == ev.SESSION_END:
            session["ended"] = True
        elif event.kind == ev.SESSION_START:
            session.pop("ended", None)
        if event.kind == ev.SESSION_START or event.payload.get("links_parent") is True:
            # A start names the session's parent; so does a later link (a subagent imported before its parent).
            for key in ("parent_session", "parent_step"):
                if event.payload.get(key) is not None:
                    session[key] = event.payload[key]
        trace = event.payload.get("trace_id")
        if event.kind == ev.SESSION_START and "trace_id" not in session and traceids.is_trace_id(trace):
            # A session belongs to the one trace its first start names, with the span that started it.
            session["trace_id"] = trace
            if traceids.is_span_id(event.payload.get("parent_span_id")):
                session["parent_span_id"] = event.payload["parent_span_id"]
        if traceids.is_span_id(event.payload.get("span_id")):
            session["given_span_ids"] = True
        stamped = Event(
            kind=event.kind,
            payload=event.payload,
            session_id=session_id,
            time=event.time,
            step=n,
            agent=event.agent,
            schema=event.schema,
            extra=event.extra,
        )
        record: dict[str, Any] = {
            "format": fmt.FORMAT_VERSION,
            "event": stamped.to_dict(),
            "omitted": [o.to_json() for o in omitted],
            "redacted": dict(redacted or {}),
            "session": session,
        }
        if tree_source:
            record["tree_source"] = tree_source
        header = self.event_header(stamped, record, parents, attached, side_objects, blob_exists, self.identity)
        raw, facts = fmt.encode_commit(stamped, record, str(tree), parents, self.identity, header)
        # The step reads its event back from the bytes written, as it will be read from git (not from `record`,
        # whose values may be Python objects that JSON turned into strings).
        return raw, Step(session_id, n, "", tuple(parents), str(tree), facts, parsed=raw, store=self)

    def event_header(
        self,
        event: Event,
        record: dict[str, Any],
        parents: list[str],
        attached: list[dict[str, Any]],
        side_objects: list[tuple[ObjectType, bytes]] | None,
        blob_exists: Callable[[str], bool] | None,
        committer: tuple[str, str],
    ) -> str:
        """The `trail-event` header of `record`, with its large values taken out (store/bodies.py). When the step
        has attachments or large values, the objects that keep them reachable are added to `side_objects`, the
        last of them to `parents` and to `record` as `attachments_commit`."""
        header = ev.dumps(record)
        spilled = bodies.spill(record, header, self.max_object_size)
        if not attached and spilled is None:
            return header
        if side_objects is None:
            raise TrailError("this step has large values, and its writer has no way to write them")
        n, session_id = record["event"]["step"], record["event"]["session"]
        top = None
        if attached:
            objects = attachments.side_commit(
                attached, session_id, n, event.time, committer, blob_exists or self.git.odb.exists
            )
            side_objects += objects
            top = pack.object_id(*objects[-1]).hex()
        if spilled is not None:
            objects = bodies.side_chain(spilled.blobs, self.max_object_size, session_id, n, event.time, committer, top)
            side_objects += objects
            top = pack.object_id(*objects[-1]).hex()
        assert top is not None
        parents.append(top)
        record["attachments_commit"] = top
        if spilled is None:
            return ev.dumps(record)
        spilled.record["attachments_commit"] = top
        return ev.dumps(spilled.record)

    @cached_property
    def max_object_size(self) -> int:
        """The largest object a step may write (store.maxObjectSize; store/objectsize.py)."""
        return objectsize.max_object_size(self.repo.config)

    def body_blob(self, blob: str) -> bytes:
        """One blob of a step's large value (store/bodies.py)."""
        try:
            kind, data = self.git.odb.read(blob)
        except (KeyError, ValueError, pygit2.GitError):
            raise MalformedStep(f"blob {blob} of a large value is not in this repository") from None
        if kind != ObjectType.BLOB:
            raise MalformedStep(f"{blob} is not a blob")
        return bytes(data)

    @cached_property
    def worktree(self) -> str:
        return str(self.repo.workdir)

    @property
    def identity(self) -> tuple[str, str]:
        """The committer of steps: the user's git identity, read once."""
        if self._identity is None:
            self._identity = self.repo.user_identity()
        return self._identity

    def append(
        self,
        event: Event,
        tree: pygit2.Oid | str | None,
        omitted: list[OmittedFile] | tuple[OmittedFile, ...] = (),
        redacted: dict[str, int] | None = None,
        extra_parents: tuple[pygit2.Oid | str, ...] = (),
        tree_source: str | None = None,
    ) -> Step:
        """Write `event` as the next step of its session and move the session ref to it.

        `tree` None keeps the previous step's tree (a step that changed no code). `tree_source`, when the tree
        is not the working tree of that moment, says what it is instead (shown as a `Trail-Tree` trailer).

        Objects are written first and the ref moves last, by compare-and-swap: a concurrent writer never loses a
        step, and a crash leaves the ref at a complete commit. Callers hold `session_lock` to keep step numbers
        dense; the swap alone still keeps every step if they do not.
        """
        session_id = check_session_id(event.session_id or "")
        for _ in range(_CAS_ATTEMPTS):
            previous = self.previous(session_id)
            base = None
            if previous is None:
                head = self.repo.head_commit()
                base = str(head.id) if head is not None else None
            side: list[tuple[ObjectType, bytes]] = []
            raw, step = self.next_commit(
                event,
                previous,
                str(tree) if tree is not None else None,
                omitted,
                redacted,
                extra_parents,
                tree_source,
                base,
                side,
            )
            for kind, data in side:
                self._write_object(data, kind)
            step.commit = self._write_object(raw)
            old = previous.commit if previous is not None else None
            if self.compare_and_swap(session_id, step.commit, old):
                self.index.appended(session_id, [step.commit], step.n, old)
                if step.n == 1:
                    self._mark_recorded_here(session_id)
                return step
        raise TrailError(f"could not update {session_ref(session_id)}: it kept changing under trail; try again")

    def write_blob(self, data: bytes) -> str:
        """Write `data` as a blob (an attachment, before the step that names it); returns its id."""
        return self._write_object(data, ObjectType.BLOB)

    def attachment(self, blob: str) -> bytes:
        """The bytes of an attachment blob a step lists (`Step.attachments`)."""
        try:
            kind, data = self.git.odb.read(blob)
        except (KeyError, ValueError, pygit2.GitError):
            raise TrailError(f"attachment {blob} is not in this repository") from None
        if kind != ObjectType.BLOB:
            raise TrailError(f"{blob} is not an attachment blob")
        return bytes(data)

    def _write_object(self, raw: bytes, kind: ObjectType = ObjectType.COMMIT) -> str:
        """Write an object. `git prune-packed` (run by `git gc`) may remove the fan-out folder libgit2 has just
        made for it, failing the write: the folder is made again on the next try, as git's own writer does."""
        for attempt in range(3):
            try:
                return str(self.git.odb.write(kind, raw))
            except OSError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def recorded_here(self, session_id: str) -> bool:
        """Whether the session began in this repository (not fetched from someone else's)."""
        return (self.repo.trail_dir / "local" / session_id).exists()

    def forget_recorded_here(self, session_id: str) -> None:
        (self.repo.trail_dir / "local" / session_id).unlink(missing_ok=True)

    def _mark_recorded_here(self, session_id: str) -> None:
        folder = self.repo.trail_dir / "local"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / session_id).touch()
        except OSError:
            pass

    def _base_tree(self, parents: list[str]) -> str:
        if parents:
            return str(self.git[parents[0]].peel(pygit2.Commit).tree_id)
        return str(self.git.TreeBuilder().write())  # the empty tree

    def compare_and_swap(self, session_id: str, new: str, old: str | None, message: str = "trail: record step") -> bool:
        """Move the session's ref from `old` (None: it must not exist) to `new`; False if it was elsewhere."""
        ref = session_ref(session_id)
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.git.transaction() as tx:
                    tx.lock_ref(ref)
                    if self.tip_commit(session_id) != old:
                        raise _RefMoved  # leaving by an exception frees the lock without committing
                    tx.set_target(ref, pygit2.Oid(hex=new), message=message)
                return True
            except _RefMoved:
                return False
            except pygit2.GitError as e:
                # Someone else (git itself, another worktree) holds the ref's lock file: wait our turn, unless
                # its holder is dead.
                if "lock" not in str(e) or time.monotonic() > deadline:
                    raise
                if not self._clear_stale_lock(ref):
                    time.sleep(0.005)

    def _clear_stale_lock(self, ref: str) -> bool:
        """Remove `<ref>.lock` if it was left by a writer that died (a kill during a ref update): True if so.

        git and libgit2 hold a ref's lock for the instant of the update, and trail's own writers of a session
        take the session's lock first; a lock file older than STALE_LOCK_SECONDS has no live holder. Its age is
        checked twice, on the same file, so that a lock taken again meanwhile is never removed.
        """
        path = self.repo.commondir / (ref + ".lock")
        try:
            first = path.stat()
        except OSError:
            return False
        if time.time() - first.st_mtime < STALE_LOCK_SECONDS:
            return False
        try:
            again = path.stat()
            if (again.st_ino, again.st_mtime_ns) != (first.st_ino, first.st_mtime_ns):
                return False
            path.unlink()
        except OSError:
            return False
        return True

    def move_refs(self, moves: dict[str, tuple[str | None, str | None]], message: str) -> bool:
        """Move several session refs together, each from its old target to its new one (new None: delete the ref);
        False, and nothing moved, if any of them was no longer at its old target.

        Every ref is locked before any is checked, so no writer can slip a step in between the check and the move
        of any of them (a step written meanwhile makes the whole move fail instead of being lost)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.git.transaction() as tx:
                    for session_id in moves:
                        tx.lock_ref(session_ref(session_id))
                    for session_id, (old, _) in moves.items():
                        if self.tip_commit(session_id) != old:
                            raise _RefMoved
                    for session_id, (_, new) in moves.items():
                        if new is None:
                            tx.remove(session_ref(session_id))
                        else:
                            tx.set_target(session_ref(session_id), pygit2.Oid(hex=new), message=message)
                return True
            except _RefMoved:
                return False
            except pygit2.GitError as e:
                if "lock" not in str(e) or time.monotonic() > deadline:
                    raise
                if not any(self._clear_stale_lock(session_ref(sid)) for sid in moves):
                    time.sleep(0.005)

    def children(self, session_id: str) -> list[str]:
        """The sessions a session started (its subagents, `<id>.agent-<x>`, and theirs), by id."""
        prefix = session_id + ".agent-"
        return [sid for sid in self.session_ids() if sid.startswith(prefix)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _RefMoved(Exception):
    pass

"""Sessions as git refs, steps as commits: the storage contract every other part relies on.

A step is a commit on `refs/trail/sessions/<id>` whose tree is the working tree of that moment. Its message is
for people (subject, readable body, `Trail-*` trailers); the full event travels losslessly as one line of JSON in
a `trail-event` header of the commit object itself, where no user text can reach. Only this module reads or
writes that header.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pygit2
from pygit2.enums import ObjectType

from trail import events as ev
from trail.errors import AmbiguousStepError, StepNotFoundError, TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.locking import file_lock
from trail.store.snapshot import OmittedFile

REF_PREFIX = "refs/trail/sessions/"
HEADER = b"trail-event"
FORMAT_VERSION = 1
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_BODY_LIMIT = 20_000
_CAS_ATTEMPTS = 200


@dataclass(frozen=True)
class Step:
    """One recorded step: where it is in git and what happened."""

    session_id: str
    n: int
    commit: str
    event: Event
    parents: tuple[str, ...] = ()
    tree: str = ""
    omitted: tuple[OmittedFile, ...] = ()
    redacted: dict[str, int] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    tree_source: str | None = None

    @property
    def kind(self) -> str:
        return self.event.kind

    @property
    def time(self) -> datetime:
        return self.event.time

    @property
    def summary(self) -> str:
        return self.event.summary()

    @property
    def address(self) -> str:
        return f"{self.session_id}@{self.n}"

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "n": self.n,
            "kind": self.kind,
            "time": self.time.isoformat(),
            "commit": self.commit,
            "parents": list(self.parents),
            "tree": self.tree,
            "summary": self.summary,
            "omitted": [{"path": o.path, "size": o.size} for o in self.omitted],
            "redacted": self.redacted,
            "tree_source": self.tree_source,
            "event": self.event.to_dict(),
        }


@dataclass(frozen=True)
class SessionInfo:
    """A session as its newest step describes it."""

    id: str
    tip: Step

    @property
    def steps(self) -> int:
        return self.tip.n

    @property
    def agent(self) -> str | None:
        return self.tip.session.get("agent") or self.tip.event.agent

    @property
    def started(self) -> datetime:
        started = self.tip.session.get("started")
        return datetime.fromisoformat(started) if isinstance(started, str) else self.tip.time

    @property
    def updated(self) -> datetime:
        return self.tip.time

    @property
    def title(self) -> str:
        return str(self.tip.session.get("title") or "")

    @property
    def ended(self) -> bool:
        return bool(self.tip.session.get("ended"))

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.id,
            "ref": REF_PREFIX + self.id,
            "agent": self.agent,
            "steps": self.steps,
            "started": self.started.isoformat(),
            "updated": self.updated.isoformat(),
            "title": self.title,
            "ended": self.ended,
            "tip": self.tip.commit,
        }


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
            "(at most 128, starting with a letter or digit)"
        )
    return session_id


class Store:
    """Reads and appends steps in one repository."""

    def __init__(self, repo: TrailRepo) -> None:
        self.repo = repo
        self.git = repo.git

    # -- writing -----------------------------------------------------------------------------------------------

    def session_lock(self, session_id: str) -> Any:
        """Serializes the writers of one session across threads, processes and worktrees."""
        locks = self.repo.trail_dir / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return file_lock(locks / f"{check_session_id(session_id)}.lock")

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
        ref = session_ref(session_id)
        for _ in range(_CAS_ATTEMPTS):
            old = self._ref_target(ref)
            previous = self.read_step(old) if old is not None else None
            if old is not None and previous is None:
                raise TrailError(f"{ref} points to {old}, which is not a trail step; refusing to extend it")
            if previous is not None:
                parents = [previous.commit]
                n = previous.n + 1
                session = dict(previous.session)
            else:
                head = self.repo.head_commit()
                parents = [str(head.id)] if head is not None else []
                n = 1
                session = {"started": event.time.isoformat(), "agent": event.agent}
            parents += [str(p) for p in extra_parents if str(p) not in parents]
            step_tree = str(tree) if tree is not None else (previous.tree if previous else self._base_tree(parents))
            session.setdefault("worktree", str(self.repo.workdir))
            if event.model:
                session["model"] = event.model  # the author of later steps without a model of their own
            if not session.get("title") and event.kind == ev.PROMPT:
                session["title"] = event.summary()
            if event.kind == ev.SESSION_END:
                session["ended"] = True
            elif event.kind == ev.SESSION_START:
                session.pop("ended", None)
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
            record = {
                "format": FORMAT_VERSION,
                "event": stamped.to_dict(),
                "omitted": [{"path": o.path, "size": o.size} for o in omitted],
                "redacted": dict(redacted or {}),
                "session": session,
            }
            if tree_source:
                record["tree_source"] = tree_source
            raw = self._commit_bytes(stamped, record, step_tree, parents, omitted, redacted or {})
            oid = self.git.odb.write(ObjectType.COMMIT, raw)
            if self._compare_and_swap(ref, oid, old):
                step = self.read_step(oid)
                assert step is not None
                return step
        raise TrailError(f"could not update {ref}: it kept changing under trail; try again")

    def _base_tree(self, parents: list[str]) -> str:
        if parents:
            return str(self.git[parents[0]].peel(pygit2.Commit).tree_id)
        return str(self.git.TreeBuilder().write())  # the empty tree

    def _ref_target(self, ref: str) -> pygit2.Oid | None:
        try:
            target = self.git.references[ref].target
        except KeyError:
            return None
        return target if isinstance(target, pygit2.Oid) else None

    def _compare_and_swap(self, ref: str, new: pygit2.Oid, old: pygit2.Oid | None) -> bool:
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.git.transaction() as tx:
                    tx.lock_ref(ref)
                    if self._ref_target(ref) != old:
                        raise _RefMoved  # leaving by an exception frees the lock without committing
                    tx.set_target(ref, new, message="trail: record step")
                return True
            except _RefMoved:
                return False
            except pygit2.GitError as e:
                # Someone else (git itself, another worktree) holds the ref's lock file: wait our turn.
                if "lock" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _commit_bytes(
        self,
        event: Event,
        record: dict[str, Any],
        tree: str,
        parents: list[str],
        omitted: list[OmittedFile] | tuple[OmittedFile, ...],
        redacted: dict[str, int],
    ) -> bytes:
        model = event.model or record["session"].get("model")
        author_name = f"{event.agent or 'agent'} ({model})" if model else (event.agent or "agent")
        author = _signature(author_name, f"{_slug(event.agent or 'agent')}@agents.trail.invalid", event.time)
        name, email = self.repo.user_identity()
        committer = _signature(name, email, event.time)
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        lines += [f"author {author}", f"committer {committer}"]
        head = "\n".join(lines).encode() + b"\n" + HEADER + b" " + ev.dumps(record).encode("ascii") + b"\n"
        message = format_message(event, omitted, redacted, record.get("tree_source"))
        return head + b"\n" + message.encode("utf-8", "replace")

    # -- reading -----------------------------------------------------------------------------------------------

    def read_step(self, commit: pygit2.Oid | str) -> Step | None:
        """The step stored in `commit`, or None if it is not a trail step."""
        try:
            kind, raw = self.git.odb.read(commit)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        if kind != ObjectType.COMMIT:
            return None
        headers, _, _ = raw.partition(b"\n\n")
        parents: list[str] = []
        tree = ""
        payload = None
        for line in headers.split(b"\n"):
            if line.startswith(b"parent "):
                parents.append(line[7:].decode("ascii"))
            elif line.startswith(b"tree "):
                tree = line[5:].decode("ascii")
            elif line.startswith(HEADER + b" "):
                payload = line[len(HEADER) + 1 :]
        if payload is None:
            return None
        record = json.loads(payload)
        event = Event.from_dict(record["event"])
        return Step(
            session_id=str(event.session_id),
            n=int(event.step or 0),
            commit=str(commit),
            event=event,
            parents=tuple(parents),
            tree=tree,
            omitted=tuple(OmittedFile(o["path"], int(o["size"])) for o in record.get("omitted", [])),
            redacted=dict(record.get("redacted") or {}),
            session=dict(record.get("session") or {}),
            tree_source=record.get("tree_source"),
        )

    def session_ids(self) -> list[str]:
        return sorted(name[len(REF_PREFIX) :] for name in self.git.references if name.startswith(REF_PREFIX))

    def session(self, session_id: str) -> SessionInfo | None:
        target = self._ref_target(session_ref(session_id))
        tip = self.read_step(target) if target is not None else None
        return SessionInfo(session_id, tip) if tip is not None else None

    def sessions(self) -> list[SessionInfo]:
        """Every recorded session, most recently active first."""
        found = [info for sid in self.session_ids() if (info := self.session(sid)) is not None]
        found.sort(key=lambda info: info.updated, reverse=True)
        return found

    def walk(self, session_id: str) -> Iterator[Step]:
        """The steps of a session, newest first."""
        target = self._ref_target(session_ref(session_id))
        step = self.read_step(target) if target is not None else None
        while step is not None and step.session_id == session_id:
            yield step
            if step.n <= 1 or not step.parents:
                return
            step = self.read_step(step.parents[0])

    def steps(self, session_id: str) -> list[Step]:
        """The steps of a session, oldest first."""
        return list(reversed(list(self.walk(session_id))))

    def steps_leading_to(self, rev: str) -> list[tuple[SessionInfo, list[Step]]]:
        """Sessions in which the person made commit `rev`: for each, the steps from the one after their previous
        commit (or the session's start) to the step recording this one."""
        try:
            commit = str(self.git.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise StepNotFoundError(f"{rev!r} names no commit") from None
        found = []
        for info in self.sessions():
            steps = self.steps(info.id)
            start = 0
            for i, step in enumerate(steps):
                if step.kind == "user_commit" and commit in step.parents[1:]:
                    found.append((info, steps[start : i + 1]))
                    break
                if step.kind == "user_commit":
                    start = i + 1
        return found

    def diff(self, old: Step | None, new: Step) -> pygit2.Diff:
        """The change from `old` to `new`; with no `old`, the change `new` made (from its first parent)."""
        new_tree = self.git[new.tree].peel(pygit2.Tree)
        if old is not None:
            old_tree: pygit2.Tree | None = self.git[old.tree].peel(pygit2.Tree)
        elif new.parents:
            old_tree = self.git[new.parents[0]].peel(pygit2.Tree)
        else:
            old_tree = None
        diff = old_tree.diff_to_tree(new_tree) if old_tree is not None else new_tree.diff_to_tree(swap=True)
        diff.find_similar()
        return diff

    # -- addresses ---------------------------------------------------------------------------------------------

    def resolve_session(self, text: str) -> str:
        """A session id from itself or a unique prefix of it."""
        ids = self.session_ids()
        if text in ids:
            return text
        matches = [sid for sid in ids if sid.startswith(text)]
        if len(matches) > 1:
            # A parent and its subagents share a prefix: the prefix means the parent.
            parents = [sid for sid in matches if ".agent-" not in sid[len(text) :]]
            if len(parents) == 1 and all(m == parents[0] or m.startswith(parents[0] + ".") for m in matches):
                matches = parents
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
            raise AmbiguousStepError(f"{text!r} matches {len(matches)} sessions ({shown}); give more characters")
        raise StepNotFoundError(f"no session matches {text!r}; `trail sessions` lists them")

    def latest_session(self) -> str:
        sessions = self.sessions()
        if not sessions:
            raise StepNotFoundError(
                "no sessions recorded in this repository yet; record one with the SDK or try `trail demo`"
            )
        return sessions[0].id

    def step_at(self, session_id: str, n: int) -> Step:
        info = self.session(session_id)
        if info is None:
            raise StepNotFoundError(f"no session {session_id!r}")
        if not 1 <= n <= info.steps:
            raise StepNotFoundError(f"session {session_id} has steps 1 to {info.steps}, not {n}")
        for step in self.walk(session_id):
            if step.n == n:
                return step
        raise StepNotFoundError(f"step {n} of session {session_id} is missing from its history")

    def resolve(self, address: str) -> Step:
        """A step from `SESSION@N`, `@N` (latest session), `SESSION` or a session prefix (its last step), or
        any revision git understands that names a step commit."""
        address = address.strip()
        if not address:
            raise StepNotFoundError("empty step address; use SESSION@N, @N, SESSION or a commit id")
        if "@" in address and not address.startswith("@{"):
            session_text, _, number = address.rpartition("@")
            if number.lstrip("-").isdigit():
                named = self.resolve_session(session_text) if session_text else self.latest_session()
                n = int(number)
                if n <= 0:  # @0 is the last step, @-1 the one before it
                    found = self.session(named)
                    n = (found.steps if found else 0) + n
                return self.step_at(named, n)
        commit_step = self._commit_step(address)
        try:
            sid: str | None = self.resolve_session(address)
        except StepNotFoundError:
            sid = None
        except AmbiguousStepError:
            if commit_step is None:
                raise
            sid = None
        if sid is not None:
            info = self.session(sid)
            assert info is not None
            if commit_step is not None and commit_step.commit != info.tip.commit and address != sid:
                raise AmbiguousStepError(
                    f"{address!r} is both a prefix of session {sid} and of commit {commit_step.commit}; "
                    "give more characters"
                )
            return info.tip
        if commit_step is not None:
            return commit_step
        try:
            self.git.revparse_single(address)
        except (KeyError, ValueError, pygit2.GitError):
            raise StepNotFoundError(
                f"{address!r} names no step: use SESSION@N, @N, a session id (or prefix) or a step's commit id; "
                "`trail sessions` and `trail log` list them"
            ) from None
        raise StepNotFoundError(f"{address!r} is a commit, but not one trail recorded")

    def _commit_step(self, text: str) -> Step | None:
        try:
            obj = self.git.revparse_single(text)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None
        return self.read_step(commit.id)


# -- the commit message (for people; trail itself never parses it) ------------------------------------------------


def format_message(
    event: Event,
    omitted: list[OmittedFile] | tuple[OmittedFile, ...] = (),
    redacted: dict[str, int] | None = None,
    tree_source: str | None = None,
) -> str:
    p = event.payload
    sections = [f"{label}:\n{ev.indent(text)}" if label else text for label, text in ev.sections(event, _BODY_LIMIT)]
    if omitted:
        sections.append(
            "Left out of this step's tree (over the size limit):\n"
            + "\n".join(f"  - {o.path} ({o.size} bytes)" for o in omitted)
        )
    trailers = [
        ("Trail-Session", event.session_id),
        ("Trail-Step", event.step),
        ("Trail-Kind", event.kind),
        ("Trail-Agent", event.agent),
        ("Trail-Model", p.get("model")),
        ("Trail-Tokens-In", p.get("tokens_in")),
        ("Trail-Tokens-Out", p.get("tokens_out")),
        ("Trail-Tool", p.get("name") if event.kind == ev.TOOL_CALL else None),
        ("Trail-Duration-Ms", p.get("duration_ms")),
        ("Trail-Parent-Session", p.get("parent_session")),
        ("Trail-Redacted", sum(redacted.values()) if redacted else None),
        ("Trail-Omitted", len(omitted) or None),
        ("Trail-Tree", tree_source),
        ("Trail-Format", FORMAT_VERSION),
    ]
    trailer_block = "\n".join(f"{k}: {_trailer_value(v)}" for k, v in trailers if v not in (None, ""))
    body = "\n\n".join(s for s in sections if s.strip())
    subject = f"{event.kind}: {event.summary()}"
    parts = [subject] + ([body] if body else []) + [trailer_block]
    return "\n\n".join(parts).replace("\0", "\ufffd") + "\n"


def _trailer_value(value: Any) -> str:
    return " ".join(str(value).split())[:200]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "agent"


def _signature(name: str, email: str, when: datetime) -> str:
    clean_name = re.sub(r"[<>\n\r\0]", "", name).strip() or "unknown"
    clean_email = re.sub(r"[<>\n\r\0\s]", "", email) or "unknown"
    offset = when.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    tz = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    seconds = int(when.astimezone(UTC).timestamp())
    return f"{clean_name} <{clean_email}> {seconds} {tz}"


class _RefMoved(Exception):
    pass

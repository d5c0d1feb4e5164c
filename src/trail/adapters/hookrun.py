"""What every agent's hook adapter shares: recording a payload safely, and the work of one call on one session.

The rules of `capture.handlers.run_claude`, for any adapter: the payload's folder decides the repository; a failure is
logged to `.git/trail/errors.log` and the payload kept (pending/) for a later hook or `trail doctor --fix`; a payload
that cannot be read becomes a note holding every byte of it. Nothing here writes to stdout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trail.capture import keep
from trail.capture.handlers import Snapshotter, autostart_watcher, find_repo, parse_payload
from trail.capture.writer import StepWriter
from trail.events import NOTE, Event
from trail.repo import TrailRepo
from trail.store.snapshot import Snapshot
from trail.store.steps import SESSION_ID_RE, Step

EXTERNAL_CHANGE = "external_change"
_KEPT_RAW = 1 << 20  # bytes of an unreadable payload kept in its note


class HookPayloadError(ValueError):
    """The payload is not one of the agent's hook payloads that trail can route."""


@dataclass(frozen=True)
class HookSource:
    """An agent's hook adapter, as the runner needs it. Its module names `run` and `record` for capture/sources.py."""

    source: str  # `trail-hook SOURCE`
    title: str  # the agent as people call it
    agent: str  # the steps' agent
    session_key: str  # the payload's key holding the session id
    start_events: tuple[str, ...]  # events after which the watcher starts (watch.auto)
    where: Callable[[bytes], str | None]  # the folder a raw payload is about
    handler: Callable[[TrailRepo, Callable[[], Snapshot] | None], HookHandler]  # handles one payload

    def run(self, raw: bytes, process_cwd: str, snapshotter: Snapshotter | None = None) -> None:
        """`trail-hook SOURCE`: record one payload; never raises: a failure is logged and the payload kept for
        later."""
        where = self.where(raw) or process_cwd
        repo = find_repo(where)
        if repo is None:
            sys.stderr.write(f"trail: {where} is not in a git repository; nothing recorded\n")
            return
        try:
            self.record(repo, raw, snapshotter)
        except Exception as e:  # noqa: BLE001
            keep.log_error(repo, f"{self.source} session={_session(self, raw) or '?'}", e)
            keep.keep(repo, self.source, raw, where, f"{type(e).__name__}: {e}")

    def record(self, repo: TrailRepo, raw: bytes, snapshotter: Snapshotter | None = None) -> None:
        """Record one payload (a kept one, or through `run`); raises when it cannot."""
        payload, problem = parse_payload(raw)
        if payload is not None and problem is None:
            try:
                self.handler(repo, snapshotter(repo) if snapshotter else None).handle(payload)
            except HookPayloadError as e:
                problem = str(e)
            else:
                if payload.get("hook_event_name") in self.start_events and snapshotter is None:
                    autostart_watcher(repo)
                return
        _record_malformed(self, repo, raw, problem or "unreadable payload")


def _record_malformed(spec: HookSource, repo: TrailRepo, raw: bytes, problem: str) -> None:
    """A payload trail cannot route becomes a note (every byte of it, redacted as every step is), in the session it
    names if one can be read from it."""
    session_id = _session(spec, raw) or f"{spec.source}-unrouted"
    payload: dict[str, Any] = {
        "text": f"A {spec.title} hook payload trail could not read: {problem}",
        "raw": raw[:_KEPT_RAW].decode("utf-8", "surrogateescape"),
    }
    if len(raw) > _KEPT_RAW:
        payload.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), cut_at=_KEPT_RAW)
    writer = StepWriter(repo)
    with writer.session_lock(session_id):
        writer.write(Event(kind=NOTE, payload=payload, session_id=session_id, agent=spec.agent), None)
    keep.log_error(repo, f"{spec.source} malformed payload session={session_id}", ValueError(problem), trace=False)


def _session(spec: HookSource, raw: bytes) -> str | None:
    found = re.search(rb'"' + spec.session_key.encode() + rb'"\s*:\s*"([A-Za-z0-9][A-Za-z0-9._-]{0,127})"', raw[:65536])
    return found.group(1).decode() if found else None


def event_and_session(payload: dict[str, Any], session_key: str) -> tuple[str, str]:
    """The payload's hook event and session id; HookPayloadError when either is missing or unusable."""
    name = payload.get("hook_event_name")
    session_id = payload.get(session_key)
    if not isinstance(name, str) or not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
        raise HookPayloadError(f"the payload has no usable hook_event_name and {session_key}")
    return name, session_id


def trusted_file(path: Path, roots: Iterable[Path], missing_ok: bool = False) -> bool:
    """A regular file (or, with `missing_ok`, none yet) under one of `roots`, links resolved: a payload naming
    /etc/passwd, a FIFO or /dev/zero gets its own step recorded and nothing read."""
    real = Path(os.path.realpath(path))
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            return False
    except OSError:
        if not missing_ok:
            return False
    for root in roots:
        with contextlib.suppress(ValueError):
            real.relative_to(os.path.realpath(root))
            return True
    return False


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class HookHandler:
    """Handles one hook call for one repository: one writer, and the working tree taken once for all its steps."""

    def __init__(self, repo: TrailRepo, snapshotter: Callable[[], Snapshot] | None = None) -> None:
        self.repo = repo
        self.writer = StepWriter(repo, snapshotter)
        self.store = self.writer.store
        self._snapshot: Snapshot | None = None

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        """Record one payload's steps; HookPayloadError when trail cannot route it."""
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        """The working tree now; taken once per hook call, however many steps it records."""
        if self._snapshot is None:
            self._snapshot = self.writer.snapshot()
        return self._snapshot


class SessionCall:
    """One hook call's work on one session (the caller holds its lock): the steps it records, and what is saved for
    the session between calls, in `.git/trail/SOURCE/SESSION.json` (when `source` is set)."""

    agent = ""  # the steps' agent
    source = ""  # the folder of the saved state, and the name errors are logged under
    consumed: AbstractSet[str] = frozenset()  # payload fields that become the step; the rest is kept under "hook"
    changed_outside = "The working tree changed outside the agent's tool calls"

    def __init__(
        self, handler: HookHandler, session_id: str, payload: dict[str, Any], parent: str | None = None
    ) -> None:
        self.handler = handler
        self.writer = handler.writer
        self.session_id = session_id
        self.payload = payload
        self.parent = parent  # a subagent's session: its parent's id
        self.state_path = handler.repo.trail_dir / self.source / f"{session_id}.json"
        self.state = self._load() if self.source else {}
        self.steps: list[Step] = []

    def start_fields(self, source: str, **more: Any) -> dict[str, Any]:
        """A session_start step's fields: where the code stood, and, for a subagent, whose it is."""
        repo = self.handler.repo
        head = repo.head_commit()
        fields: dict[str, Any] = {
            "source": source,
            **more,
            "head": str(head.id) if head is not None else None,
            "branch": repo.head_branch(),  # rewinding checks it: a step's code belongs on its branch
        }
        if self.parent is not None:
            parent_tip = self.handler.store.session(self.parent)
            fields.update(
                parent_session=self.parent,
                parent_step=parent_tip.steps if parent_tip else None,
                agent_id=self.payload.get("agent_id"),
                agent_type=self.payload.get("agent_type"),
            )
        return fields

    def external_change(self) -> None:
        """Code that changed since the last step, not by the agent: the person's edits, or a tool no hook saw.
        Recorded as a step of its own so that the agent's next step is not blamed for it."""
        info = self.handler.store.session(self.session_id)
        snapshot = self.handler.snapshot()
        if info is not None and info.tip.tree != str(snapshot.tree):
            self.write(EXTERNAL_CHANGE, {"text": self.changed_outside}, snapshot)

    def same_text(self, a: str, b: str) -> bool:
        """The same words, once redacted: saved state holds redacted text, a payload or a transcript does not."""
        if a.split() == b.split():
            return True
        redactor = self.writer.redactor
        return redactor is not None and redactor.redact_text(a)[0].split() == redactor.redact_text(b)[0].split()

    def write(
        self, kind: str, fields: dict[str, Any], snapshot: Snapshot | None, tree_source: str | None = None
    ) -> Step:
        """A step of the hook's own: `fields` (those not None), and the payload's fields no step holds as `hook`."""
        payload = {k: v for k, v in fields.items() if v is not None}
        extra = {k: v for k, v in self.payload.items() if k not in self.consumed}
        self.lift(kind, payload, extra)
        if extra:
            payload["hook"] = extra
        event = Event(kind=kind, payload=payload, session_id=self.session_id, agent=self.agent)
        return self.append(event, snapshot, tree_source)

    def lift(self, kind: str, payload: dict[str, Any], extra: dict[str, Any]) -> None:
        """Move into a step of `kind` what an agent's payload holds only for some kinds (none, unless overridden)."""

    def append(self, event: Event, snapshot: Snapshot | None, tree_source: str | None = None) -> Step:
        event.session_id = self.session_id
        event.agent = self.agent
        step = self.writer.write(event, snapshot, tree_source=tree_source)
        self.steps.append(step)
        return step

    def transcript(self) -> str | None:
        """The file the payload names (`transcript_path`), remembered for the session's calls that name none."""
        given = self.payload.get("transcript_path")
        if isinstance(given, str) and given:
            self.state["transcript_path"] = given
        saved = self.state.get("transcript_path")
        return saved if isinstance(saved, str) and saved else None

    def not_read(self, path: Path, what: str, roots: str) -> None:
        """Log, once for the session, that the payload names a file trail does not read."""
        if self.state.get("warned"):
            return
        self.state["warned"] = True
        error = PermissionError(f"{what} {path} is not a file under {roots}; not read")
        keep.log_error(self.handler.repo, f"{self.source} session={self.session_id}", error, trace=False)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_state(self, redacted: bool = True) -> None:
        """Written for its owner only; `redacted` where it holds texts and tool results not recorded yet."""
        state = self.state
        if redacted and self.writer.redactor is not None:
            state, _ = self.writer.redactor.redact_value(state)
        path = keep.private_dir(self.state_path.parent) / self.state_path.name
        keep.write_private(path, json.dumps(state).encode())

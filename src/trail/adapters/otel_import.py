"""Recording OTLP spans as steps (`trail otel serve`, `trail import otlp FILE`): each span placed in a session and
written through the StepWriter under the locks of the sessions it touches.

A span goes to the session of its enclosing span when that one is known; otherwise to the session of its
`gen_ai.conversation.id` (else of its trace). A nested `invoke_agent` span (one inside another GenAI span) starts a
child session `<parent>.agent-<span id>` linked to the step of its enclosing span. Steps are immutable: spans are
placed as they arrive (within a batch, by start time), a span whose enclosing span arrives only later is placed by
its own conversation or trace, and a span already recorded (by span id) is skipped, so a retried export or a
re-import adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters import otel
from trail.adapters.formats import ImportResult
from trail.adapters.otel import AGENT_OPERATION, CHAT_OPERATIONS, TOOL_OPERATION, OtelSpan, compact
from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import SESSION_ID_RE, Step, check_session_id

TREE_SOURCE = "HEAD when the session began (OpenTelemetry spans carry no code state)"
BULK_STEPS = 32  # a batch of at least this many steps is written as one pack; smaller ones as loose objects
_MEMORY_LIMIT = 1_000_000  # spans remembered across batches before the memory is dropped (and reloaded as needed)
_ATTEMPTS = 8

TITLE = "OTLP trace data in JSON (an ExportTraceServiceRequest, or JSON lines of them as a collector writes)"
LOCATION = "nowhere: OTLP files are wherever you saved them (the collector's file exporter, an export)"
HELP = """Record OpenTelemetry GenAI traces saved as OTLP JSON.

A file holds one ExportTraceServiceRequest in JSON, or JSON lines of them (what the OpenTelemetry collector's file
exporter writes). Each gen_ai.conversation.id (else each trace) becomes a session: chat spans become a prompt (the
new user messages of gen_ai.input.messages) and a response (text, tool calls, model, tokens), execute_tool spans
tool calls, nested invoke_agent spans linked subagent sessions, and other spans notes (or nothing, with
`trail config otel.otherSpans skip`). Each step keeps its trace_id, span_id and parent_span_id. Importing again adds
only spans not recorded yet. `trail otel serve` records the same spans live, as an OTLP/HTTP receiver.

\b
Examples:
  trail import otlp traces.json
  trail import otlp /var/lib/otelcol/traces.jsonl    what the collector's file exporter wrote
"""


@dataclass(frozen=True)
class Place:
    """Where a span went: its session, the step it became (or the nearest step of an enclosing span), whether it
    or an enclosing span is a GenAI span, and whether it is itself a recorded step."""

    session: str
    step: int | None
    genai: bool
    recorded: bool


@dataclass
class RecordResult:
    spans: int = 0
    steps: list[Step] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # touched, in the order first written
    new_sessions: int = 0
    duplicates: int = 0  # spans recorded before
    skipped: int = 0  # non-GenAI spans left out (otel.otherSpans skip, or a trace with no GenAI span)
    packs: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.spans} spans: {len(self.steps)} steps in {len(self.sessions)} sessions"]
        if self.new_sessions:
            parts.append(f"{self.new_sessions} new")
        if self.duplicates:
            parts.append(f"{self.duplicates} already recorded")
        if self.skipped:
            parts.append(f"{self.skipped} not GenAI, skipped")
        return ", ".join(parts)


class _Memory:
    """What a recorder knows of the sessions it has seen: each recorded span's place, each trace's top session,
    each session's tip when read. Read from the repository on first use and kept up to date by the recorder's own
    writes; a session whose tip moved under another writer is read again."""

    def __init__(self) -> None:
        self.spans: dict[str, Place] = {}
        self.traces: dict[str, str] = {}
        self.tips: dict[str, tuple[str | None, int]] = {}  # session -> (tip commit, step count) when read
        self.agents: dict[str, str | None] = {}
        self.foreign: set[str] = set()  # sessions not started from OpenTelemetry: never appended to
        self.children_read: set[str] = set()
        self.system: dict[str, str] = {}  # session -> digest of the system instructions last recorded

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


class OtelRecorder:
    """Records batches of spans into one repository; safe to share between the threads of a server."""

    def __init__(self, repo: TrailRepo, other: str | None = None, bulk_steps: int = BULK_STEPS) -> None:
        self.writer = StepWriter(repo)
        self.store = self.writer.store
        self.other = other if other is not None else repo.config.otel_other_spans
        self.bulk_steps = bulk_steps
        self.memory = _Memory()
        self._lock = threading.Lock()

    def record(self, spans: list[OtelSpan]) -> RecordResult:
        """Place and write `spans`. Placing reads sessions without their locks; the writes happen under the locks of
        every session touched, once each one's tip is checked to be the one placing read (else it is read again)."""
        with self._lock:
            if len(self.memory.spans) > _MEMORY_LIMIT:
                self.memory.clear()
            for _ in range(_ATTEMPTS):
                placer = _Placer(self, spans)
                placer.run()
                with ExitStack() as stack:
                    for sid in sorted(placer.sessions):
                        stack.enter_context(self.writer.session_lock(sid))
                    moved = [sid for sid in placer.sessions if self.store.tip_commit(sid) != self.memory.tips[sid][0]]
                    if not moved:
                        return self._write(placer)
                self.memory.clear()
            raise TrailError("the sessions these spans belong to kept changing under trail; send them again")

    def _write(self, placer: _Placer) -> RecordResult:
        result = placer.result
        written: list[Step] = []
        if len(placer.events) >= self.bulk_steps:
            with self.writer.bulk() as bulk:
                written = [bulk.write(event, None, TREE_SOURCE) for event in placer.events]
            result.packs = list(bulk.packs)
        else:
            written = [self.writer.write(event, None, tree_source=TREE_SOURCE) for event in placer.events]
        for event, step in zip(placer.events, written, strict=True):
            if step.n != event.step:
                raise TrailError(f"session {step.session_id}: step {step.n} was written where {event.step} was meant")
        memory = self.memory
        memory.spans.update(placer.places)
        memory.traces.update(placer.traces)
        memory.agents.update(placer.agents)
        memory.system.update(placer.system)
        for step in written:
            memory.tips[step.session_id] = (step.commit, step.n)
        result.steps = written
        result.sessions = list(dict.fromkeys(step.session_id for step in written))
        return result

    # -- reading what is recorded ---------------------------------------------------------------------------------

    def load(self, session_id: str) -> None:
        """Read a session's recorded spans into memory (once, until its tip moves)."""
        memory = self.memory
        if session_id in memory.tips:
            return
        tip = self.store.tip_commit(session_id)
        if tip is None:
            memory.tips[session_id] = (None, 0)
            return
        steps = self.store.steps(session_id, full=True)
        first = steps[0].event
        if first.kind != ev.SESSION_START or first.payload.get("source") != "otel":
            memory.foreign.add(session_id)
        memory.agents[session_id] = steps[-1].session.get("agent") or first.agent
        child = isinstance(steps[-1].session.get("parent_session"), str)
        for step in steps:
            payload = step.event.payload
            span_id = payload.get("span_id")
            if isinstance(span_id, str):
                # A note of a span that was not GenAI says no operation: what is inside it is not a subagent.
                genai = step.kind != ev.NOTE or "operation" in payload
                memory.spans[span_id] = Place(session_id, step.n, genai, True)
            trace_id = payload.get("trace_id")
            if isinstance(trace_id, str) and not child:
                memory.traces.setdefault(trace_id, session_id)
        memory.tips[session_id] = (steps[-1].commit, steps[-1].n)

    def load_children(self, session_id: str) -> None:
        if session_id in self.memory.children_read:
            return
        self.memory.children_read.add(session_id)
        for child in self.store.children(session_id):
            self.load(child)


class _Placer:
    """One batch placed: the events to write, in order, with their step numbers."""

    def __init__(self, recorder: OtelRecorder, spans: list[OtelSpan]) -> None:
        self.recorder = recorder
        self.memory = recorder.memory
        self.spans = sorted(spans, key=lambda s: (s.start_ns, -s.end_ns))
        self.batch = {s.span_id: s for s in spans}
        self.places: dict[str, Place] = {}
        self.traces: dict[str, str] = {}
        self.agents: dict[str, str | None] = {}
        self.system: dict[str, str] = {}
        self.next_n: dict[str, int] = {}
        self.sessions: set[str] = set()
        self.events: list[Event] = []
        self.result = RecordResult(spans=len(spans))
        self._resolving: set[str] = set()
        self._done: set[int] = set()
        # A trace with a GenAI span in this batch is one whose other spans are worth a note: its session, by the
        # first conversation id the batch gives it.
        self._genai_traces: dict[str, str | None] = {}
        for span in self.spans:
            if span.operation is not None:
                conv = _conversation(span)
                if self._genai_traces.get(span.trace_id) is None:
                    self._genai_traces[span.trace_id] = conv

    def run(self) -> None:
        for span in self.spans:
            self.place(span)

    # -- placing -----------------------------------------------------------------------------------------------

    def place(self, span: OtelSpan) -> Place | None:
        if id(span) in self._done:
            return self.places.get(span.span_id)
        known = self.places.get(span.span_id) or self.memory.spans.get(span.span_id)
        if known is not None and known.recorded:
            self._done.add(id(span))
            return self._duplicate(span, known)
        if span.span_id in self._resolving:
            return None  # a cycle of parents: placed by its own conversation or trace
        self._resolving.add(span.span_id)
        try:
            parent = self._parent_place(span)
        finally:
            self._resolving.discard(span.span_id)
        self._done.add(id(span))
        op = span.operation
        conv = _conversation(span)
        if op == AGENT_OPERATION and parent is not None and parent.genai:
            return self._child_agent(span, parent, conv)
        if parent is not None and (parent.genai or not conv):
            session = parent.session
        elif op is None and not conv:
            top = self.traces.get(span.trace_id) or self.memory.traces.get(span.trace_id)
            if top is None and span.trace_id in self._genai_traces:
                top = self._top_session(self._genai_traces[span.trace_id] or span.trace_id)
            if top is None:
                self.result.skipped += 1
                return None
            session = top
        else:
            session = self._top_session(conv or span.trace_id)
            self.traces.setdefault(span.trace_id, session)
        self.recorder.load(session)
        if span.span_id in self.memory.spans:
            return self._duplicate(span, self.memory.spans[span.span_id])
        if op is None:
            return self._other(span, session, parent)
        if op == AGENT_OPERATION and self._steps_of(session) == 0:
            return self._start(session, span, None, agent_span=True)
        self._ensure_started(session, span)
        if op in CHAT_OPERATIONS:
            return self._chat(span, session)
        if op == TOOL_OPERATION:
            return self._add(span, session, ev.TOOL_CALL, otel.tool_fields(span))
        text = f"{op} {span.attributes.get('gen_ai.agent.name') or ''}".strip()
        return self._add(span, session, ev.NOTE, {"text": text, "operation": op, **otel.agent_fields(span)})

    def _duplicate(self, span: OtelSpan, place: Place) -> Place:
        """A span recorded before: nothing to write, and its place for the spans inside it."""
        self.result.duplicates += 1
        self.places[span.span_id] = place
        return place

    def _parent_place(self, span: OtelSpan) -> Place | None:
        pid = span.parent_span_id
        if pid is None:
            return None
        parent = self.batch.get(pid)
        if parent is not None and parent is not span:
            return self.place(parent)
        found = self.places.get(pid) or self.memory.spans.get(pid)
        if found is not None:
            return found
        # Recorded by an earlier batch this process has not seen (another process, or before a restart)?
        top = self._top_session(_conversation(span) or span.trace_id)
        self.recorder.load(top)
        self.recorder.load_children(top)
        return self.memory.spans.get(pid)

    def _top_session(self, key: str) -> str:
        """The session of a conversation id (or trace id): the id itself when it is a valid session id of a session
        OpenTelemetry started (or of none yet), else a stable `otel-<hash>`; the original is kept in the payload."""
        if _valid(key) and ".agent-" not in key:
            self.recorder.load(key)
            if key not in self.memory.foreign:
                return key
        return "otel-" + hashlib.sha256(f"otel-conversation\0{key}".encode()).hexdigest()[:32]

    def _child_agent(self, span: OtelSpan, parent: Place, conv: str | None) -> Place:
        """A nested invoke_agent: a child session linked to the step of its enclosing span (as subagents are)."""
        prefix = f"{parent.session}.agent-"
        if conv and conv.startswith(prefix) and _valid(conv):
            session = conv
        else:
            session = prefix + span.span_id
            if not _valid(session):
                digest = hashlib.sha256(f"otel-agent\0{parent.session}\0{span.span_id}".encode()).hexdigest()
                session = "otel-" + digest[:32]
        self.recorder.load(session)
        if span.span_id in self.memory.spans:
            return self._duplicate(span, self.memory.spans[span.span_id])
        if self._steps_of(session) == 0:
            link = {"parent_session": parent.session, "parent_step": parent.step}
            return self._start(session, span, link, agent_span=True)
        fields = {"text": span.name, "operation": AGENT_OPERATION, **otel.agent_fields(span)}
        return self._add(span, session, ev.NOTE, fields)

    # -- events ------------------------------------------------------------------------------------------------

    def _steps_of(self, session: str) -> int:
        if session not in self.next_n:
            self.recorder.load(session)
            self.next_n[session] = self.memory.tips[session][1] + 1
        return self.next_n[session] - 1

    def _emit(self, session: str, kind: str, span: OtelSpan, payload: dict[str, Any], agent: str | None) -> int:
        n = self._steps_of(session) + 1
        self.next_n[session] = n + 1
        self.sessions.add(session)
        self.events.append(
            Event(kind=kind, payload=compact(payload), session_id=session, time=span.start, step=n, agent=agent)
        )
        return n

    def _agent(self, session: str) -> str | None:
        if session in self.agents:
            return self.agents[session]
        return self.memory.agents.get(session)

    def _start(self, session: str, span: OtelSpan, link: dict[str, Any] | None, agent_span: bool) -> Place:
        """The first step of a new session: from its invoke_agent span, or made up from the first span it got."""
        fields = otel.agent_fields(span) if agent_span else {"conversation_id": _conversation(span)}
        service = span.resource.get("service.name")
        if not isinstance(service, str) or service.startswith("unknown_service"):
            service = None
        agent = fields.get("agent_name") or (self._agent(link["parent_session"]) if link else None) or service
        payload: dict[str, Any] = {
            "source": "otel",
            **(otel.common_fields(span) if agent_span else {"trace_id": span.trace_id}),
            **fields,
            **(link or {}),
            "service": service,
            "resource": span.resource or None,
            "scope": span.scope or None,
        }
        if link:
            payload["agent_type"] = fields.get("agent_name")
        self.agents[session] = agent or otel.AGENT
        self.result.new_sessions += 1
        n = self._emit(session, ev.SESSION_START, span, payload, self.agents[session])
        place = Place(session, n, True, agent_span)
        if agent_span:
            self.places[span.span_id] = place
        return place

    def _ensure_started(self, session: str, span: OtelSpan) -> None:
        if self._steps_of(session) == 0:
            self._start(session, span, None, agent_span=False)

    def _add(self, span: OtelSpan, session: str, kind: str, fields: dict[str, Any]) -> Place:
        self._ensure_started(session, span)
        n = self._emit(session, kind, span, {**otel.common_fields(span), **fields}, self._agent(session))
        place = Place(session, n, True, True)
        self.places[span.span_id] = place
        return place

    def _chat(self, span: OtelSpan, session: str) -> Place:
        """A model call: a prompt step when its input has new user text, then the response."""
        trailing = otel.new_input(otel.messages(span.attributes.get("gen_ai.input.messages")))
        text = otel.prompt_text(trailing)
        system = otel.system_instructions(span)
        prompt: dict[str, Any] = {}
        if system:
            digest = hashlib.sha256(json.dumps(system, sort_keys=True, default=str).encode()).hexdigest()
            last = self.system.get(session) or self.memory.system.get(session)
            if digest != last:
                prompt["system_instructions"] = system
                self.system[session] = digest
        if text:
            ids = {"trace_id": span.trace_id, "span_id": span.span_id, "parent_span_id": span.parent_span_id}
            self._emit(
                session, ev.PROMPT, span, {"source": "otel", **ids, "text": text, **prompt}, self._agent(session)
            )
            prompt = {}
        fields = otel.chat_fields(span)
        if trailing and any(m.get("role") != "user" or not otel.part_texts(m) for m in trailing):
            fields["input_messages"] = trailing  # tool results, images: what the call got besides a prompt
        return self._add(span, session, ev.RESPONSE, {**fields, **prompt})

    def _other(self, span: OtelSpan, session: str, parent: Place | None) -> Place | None:
        """A span that is not GenAI, inside a GenAI trace: a note, or (otel.otherSpans skip) only a place for the
        spans inside it."""
        genai = parent.genai if parent is not None else False
        if self.recorder.other == "skip":
            self.result.skipped += 1
            place = Place(session, parent.step if parent is not None else None, genai, False)
            self.places[span.span_id] = place
            return place
        place = self._add(span, session, ev.NOTE, {"text": span.name})
        place = Place(session, place.step, genai, True)
        self.places[span.span_id] = place
        return place


def _conversation(span: OtelSpan) -> str | None:
    value = span.attributes.get("gen_ai.conversation.id")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value else None


def _valid(session_id: str) -> bool:
    try:
        check_session_id(session_id)
    except TrailError:
        return False
    return bool(SESSION_ID_RE.match(session_id))


# -- `trail import otlp` ------------------------------------------------------------------------------------------


def sniff(head: bytes, path: Path) -> bool:
    """A JSON object whose first key is resourceSpans (OTLP JSON; resource_spans in protobuf's own JSON names)."""
    import re

    return re.match(rb'\s*\{\s*"resource_?[sS]pans"\s*:', head) is not None


def find_all(repo: TrailRepo) -> list[Path]:
    return []


def read_file(path: Path) -> list[OtelSpan]:
    """The spans of an OTLP JSON file: one request, or JSON lines of them."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        whole = json.loads(data)
    except ValueError:
        whole = None
    spans: list[OtelSpan] = []
    if whole is not None:
        return otel.spans_of(otel.request_from_dict(whole))
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            spans += otel.spans_of(otel.parse_json(line))
        except otel.OtlpError as e:
            raise otel.OtlpError(f"{path}, line {number}: {e}") from None
    return spans


def import_path(repo: TrailRepo, path: Path) -> ImportResult:
    spans = read_file(path)
    # One batch: the whole file is known, so every span finds its enclosing span wherever it is in the file.
    result = OtelRecorder(repo, bulk_steps=1).record(spans)
    sessions = result.sessions
    shown = ", ".join(sessions[:3]) + (f" and {len(sessions) - 3} more" if len(sessions) > 3 else "")
    if not result.steps:
        note = f"already imported ({result.duplicates} spans)" if result.duplicates else "no GenAI spans in the file"
        return ImportResult(path, shown or "(no session)", 0, note)
    return ImportResult(path, shown, len(result.steps), "", packs=tuple(result.packs))

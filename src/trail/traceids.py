"""W3C trace context (`traceparent`) and the span ids trail gives its steps, shared by the recorder, OpenTelemetry
in and out, and the cross-process tree.

A session belongs to one trace: a session started with a `traceparent` (argument or the `TRACEPARENT` variable)
joins that trace, any other starts one of its own. Each step is a span of that trace: its id is a hash of the
session id and the step's number (`step_span_id`), so it needs no storage and is the same on every clone; a step
taken in from OpenTelemetry keeps the span id it came with (`span_id` in its payload). A `traceparent` is
`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (w3.org/TR/trace-context, version 00). Beside TRACEPARENT,
a recorder passes its child processes TRAIL_PARENT_STEP (`<session>@<n>`): a session started there links to that
very step, once its span id is checked against the traceparent's.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

ENV = "TRACEPARENT"  # the variable OpenTelemetry and many CLIs pass a trace context to child processes with
# trail's own companion of TRACEPARENT: `<session>@<n>`, the step whose span TRACEPARENT names (see `incoming`).
PARENT_STEP_ENV = "TRAIL_PARENT_STEP"
_SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # as store/steps.py checks session ids
_RAW_LIMIT = 256  # a longer (future-version) traceparent is recorded in its version-00 form
_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")


@dataclass(frozen=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex digits, never all zero
    span_id: str  # 16 lowercase hex digits, never all zero
    flags: str = "01"  # sampled

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse(value: Any) -> TraceParent | None:
    """The trace context in a `traceparent` value, or None when it is not a valid one (as the W3C spec says a
    receiver must treat it: ignored, never an error)."""
    if not isinstance(value, str):
        return None
    match = _RE.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or (version == "00" and len(value.strip()) != 55):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceParent(trace_id, span_id, flags)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def step_span_id(session_id: str, n: int) -> str:
    """The span id of step `n` of `session_id`: the same wherever it is computed."""
    digest = hashlib.sha256(f"trail-step\0{session_id}\0{n}".encode()).hexdigest()[:16]
    return digest if digest != "0" * 16 else "0" * 15 + "1"


def span_of(session_id: str, n: int, payload: dict[str, Any]) -> str:
    """A step's span id: the one it came with from OpenTelemetry, else its own."""
    given = payload.get("span_id")
    if isinstance(given, str) and re.fullmatch(r"[0-9a-f]{16}", given) and given != "0" * 16:
        return given
    return step_span_id(session_id, n)


def is_trace_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) is not None and value != "0" * 32


def is_span_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{16}", value) is not None and value != "0" * 16


def parent_step_value(session_id: str, n: int) -> str:
    """The value of TRAIL_PARENT_STEP for step `n` of `session_id`."""
    return f"{session_id}@{n}"


def parse_parent_step(value: Any) -> tuple[str, int] | None:
    """The session and step number a TRAIL_PARENT_STEP value names, or None when it names none."""
    if not isinstance(value, str):
        return None
    session, at, number = value.strip().rpartition("@")
    if not at or not _SESSION_RE.match(session) or not number.isdigit() or len(number) > 9 or int(number) < 1:
        return None
    return session, int(number)


@dataclass(frozen=True)
class Incoming:
    """What a session that starts learns from the trace context it was given: the trace it joins, the span that
    started it, and, when trail's TRAIL_PARENT_STEP agrees with that span, the step of the session that did."""

    trace_id: str
    parent: TraceParent | None = None
    raw: str | None = None
    parent_session: str | None = None
    parent_step: int | None = None

    def fields(self) -> dict[str, Any]:
        """The fields of the session's `session_start` payload that say so."""
        out: dict[str, Any] = {"trace_id": self.trace_id}
        if self.parent is not None:
            out["parent_span_id"] = self.parent.span_id
            out["traceparent"] = self.raw
        if self.parent_session is not None:
            out["parent_session"] = self.parent_session
            out["parent_step"] = self.parent_step
        return out


def incoming(traceparent: Any, parent_step: Any = None) -> Incoming:
    """The trace context a session starts with, from a `traceparent` value and a TRAIL_PARENT_STEP value (either
    may be missing or garbled).

    A valid `traceparent` makes the session a child span of it, in its trace; anything else is ignored and the
    session starts a trace of its own. TRAIL_PARENT_STEP names the exact step only when that step's span id is
    the one `traceparent` carries: a process in between that changed TRACEPARENT (a non-trail tool starting spans
    of its own) leaves it stale, and then only the trace ids link the two sessions.
    """
    parent = parse(traceparent)
    if parent is None:
        return Incoming(new_trace_id())
    raw = traceparent.strip() if isinstance(traceparent, str) and len(traceparent.strip()) <= _RAW_LIMIT else None
    named = parse_parent_step(parent_step)
    if named is not None and step_span_id(*named) == parent.span_id:
        return Incoming(parent.trace_id, parent, raw or str(parent), named[0], named[1])
    return Incoming(parent.trace_id, parent, raw or str(parent))

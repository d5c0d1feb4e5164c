"""W3C trace context (`traceparent`) and the span ids trail gives its steps, shared by the recorder, OpenTelemetry
in and out, and the cross-process tree.

A session belongs to one trace: a session started with a `traceparent` (argument or the `TRACEPARENT` variable)
joins that trace, any other starts one of its own. Each step is a span of that trace: its id is a hash of the
session id and the step's number (`step_span_id`), so it needs no storage and is the same on every clone; a step
taken in from OpenTelemetry keeps the span id it came with (`span_id` in its payload). A `traceparent` is
`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (w3.org/TR/trace-context, version 00).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

ENV = "TRACEPARENT"  # the variable OpenTelemetry and many CLIs pass a trace context to child processes with
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

"""The bytes of a step commit: how a step is encoded into a git commit object, and parsed back out of one.

A step commit carries two extra headers after `committer`, each one line of ASCII-only JSON that no user text can
reach: `trail-summary`, small (what listings need: kind, time, one-line summary, tokens, the session's own
description), and `trail-event`, the full event. Listings parse the first alone, so their cost per step does not
grow with the size of a tool's output. Steps written before `trail-summary` existed (format 1) are read through
their `trail-event`. The message is for people and is never parsed.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trail import events as ev
from trail import traceids
from trail.events import Event

EVENT_HEADER = b"trail-event"
SUMMARY_HEADER = b"trail-summary"
FORMAT_VERSION = 2  # 2: the trail-summary header; 1: trail-event alone
_BODY_LIMIT = 20_000
_EVENT_PREFIX = EVENT_HEADER + b" "
_SUMMARY_PREFIX = SUMMARY_HEADER + b" "
# Fields of the session description carried from step to step that listings show.
SESSION_FIELDS = (
    "started",
    "agent",
    "model",
    "title",
    "ended",
    "worktree",
    "parent_session",
    "parent_step",
    "trace_id",  # the W3C trace the session belongs to (traceids.py), and the span that started it, if any
    "parent_span_id",
    "given_span_ids",  # true when some step came with a span id of its own (OpenTelemetry), not its hashed one
)


@dataclass(frozen=True)
class OmittedFile:
    """A file of the working tree left out of a step's tree, and why (None: over the size limit)."""

    path: str  # as git names it, decoded with os.fsdecode (non-UTF-8 bytes survive as surrogate escapes)
    size: int
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"path": self.path, "size": self.size}
        if self.reason:
            data["reason"] = self.reason
        return data


class MalformedStep(ValueError):
    """A commit that carries trail headers which cannot be read."""


class ParsedCommit:
    """The parts of a commit object trail reads, found without copying the (possibly large) event header."""

    __slots__ = ("raw", "tree", "parents", "summary", "_event_span")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.summary: dict[str, Any] | None = None
        self._event_span: tuple[int, int] | None = None
        end = raw.find(b"\n\n")  # the headers end there; the message (user text) must never be searched
        if end < 0:
            end = len(raw)
        line_end = raw.find(b"\n", 0, end + 1)
        self.tree = raw[5:line_end].decode("ascii") if raw.startswith(b"tree ") else ""
        self.parents: list[str] = []
        pos = line_end + 1
        while raw.startswith(b"parent ", pos):
            line_end = raw.find(b"\n", pos, end + 1)
            self.parents.append(raw[pos + 7 : line_end].decode("ascii"))
            pos = line_end + 1
        start = raw.find(b"\n" + _SUMMARY_PREFIX, pos - 1, end)
        if start >= 0:
            start += 1 + len(_SUMMARY_PREFIX)
            try:
                summary = json.loads(raw[start : raw.find(b"\n", start, end + 1)])
            except ValueError as e:
                raise MalformedStep(f"its trail-summary header is not JSON ({e})") from None
            if not isinstance(summary, dict):
                raise MalformedStep("its trail-summary header is not a JSON object")
            self.summary = summary
        start = raw.find(b"\n" + _EVENT_PREFIX, pos - 1, end)
        if start >= 0:
            start += 1 + len(_EVENT_PREFIX)
            self._event_span = (start, raw.find(b"\n", start, end + 1))

    @property
    def is_step(self) -> bool:
        return self._event_span is not None

    def record(self) -> dict[str, Any]:
        """The full `trail-event` record."""
        if self._event_span is None:
            raise MalformedStep("it has no trail-event header")
        start, end = self._event_span
        try:
            record = json.loads(self.raw[start:end])
        except (ValueError, RecursionError) as e:
            raise MalformedStep(f"its trail-event header is not JSON ({e})") from None
        if not isinstance(record, dict) or not isinstance(record.get("event"), dict):
            raise MalformedStep("its trail-event header holds no event")
        return record


def summarize(record: dict[str, Any], event: Event, line: str | None = None) -> dict[str, Any]:
    """The `trail-summary` of a step: everything a listing prints, and nothing large."""
    p = event.payload
    summary: dict[str, Any] = {
        "session": event.session_id,
        "step": event.step,
        "kind": event.kind,
        "time": event.time.isoformat(),
        "summary": line if line is not None else event.summary(),
    }
    optional = {
        "agent": event.agent,
        "model": event.model,
        "tokens_in": p.get("tokens_in") if isinstance(p.get("tokens_in"), int) else None,
        "tokens_out": p.get("tokens_out") if isinstance(p.get("tokens_out"), int) else None,
        "tool": p.get("name") if event.kind == ev.TOOL_CALL and isinstance(p.get("name"), str) else None,
        "duration_ms": p.get("duration_ms") if isinstance(p.get("duration_ms"), int | float) else None,
        "error": True if event.kind == ev.TOOL_CALL and p.get("error") not in (None, "", False) else None,
        "omitted": len(record.get("omitted") or ()) or None,
        "redacted": sum((record.get("redacted") or {}).values()) or None,
        "tree_source": record.get("tree_source"),
        "span_id": p.get("span_id") if traceids.is_span_id(p.get("span_id")) else None,
    }
    summary.update({k: v for k, v in optional.items() if v is not None})
    usage = _numbers(p.get("usage"))
    if usage:
        summary["usage"] = usage
    session = record.get("session") or {}
    summary["session_info"] = {k: session[k] for k in SESSION_FIELDS if session.get(k) is not None}
    return summary


def _numbers(usage: Any, limit: int = 24) -> dict[str, int | float]:
    """The numbers of a provider's usage object, nested objects flattened one level (`cache_creation.x`)."""
    if not isinstance(usage, dict):
        return {}
    out: dict[str, int | float] = {}
    for key, value in usage.items():
        if isinstance(value, dict):
            for inner, number in value.items():
                if isinstance(number, int | float) and not isinstance(number, bool):
                    out[f"{key}.{inner}"] = number
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = value
        if len(out) >= limit:
            break
    return out


def summary_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """What a format-1 step (no trail-summary header) would have had in one."""
    return summarize(record, Event.from_dict(record["event"]))


def encode_commit(
    event: Event,
    record: dict[str, Any],
    tree: str,
    parents: list[str],
    committer: tuple[str, str],
    event_header: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The raw commit object of a step, and its summary. `event` is already stamped with its session and step
    number. `event_header`, when given, is the `trail-event` JSON to write instead of `record`'s own (the record
    with its large values taken out, store/bodies.py): the summary and the message are made from `event`."""
    model = event.model or record["session"].get("model")
    author_name = f"{event.agent or 'agent'} ({model})" if model else (event.agent or "agent")
    author = signature(author_name, f"{_slug(event.agent or 'agent')}@agents.trail.invalid", event.time)
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author}", f"committer {signature(committer[0], committer[1], event.time)}"]
    head = "\n".join(lines).encode("utf-8", "replace") + b"\n"  # names are for display; the event keeps them whole
    line = event.summary()
    summary = summarize(record, event, line)
    head += _SUMMARY_PREFIX + ev.dumps(summary).encode("ascii") + b"\n"
    header = event_header if event_header is not None else ev.dumps(record)
    head += _EVENT_PREFIX + header.encode("ascii") + b"\n"
    message = format_message(event, record, line)
    return head + b"\n" + message.encode("utf-8", "replace"), summary


def format_message(event: Event, record: dict[str, Any], line: str | None = None) -> str:
    """The commit message: for people, never parsed by trail (a prompt saying `Trail-Kind: x` changes nothing)."""
    p = event.payload
    omitted = record.get("omitted") or []
    redacted = record.get("redacted") or {}
    sections = [f"{label}:\n{ev.indent(text)}" if label else text for label, text in ev.sections(event, _BODY_LIMIT)]
    if omitted:
        sections.append(
            "Left out of this step's tree:\n"
            + "\n".join(f"  - {o['path']} ({o['size']} bytes{_reason(o)})" for o in omitted)
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
        ("Trail-Tree", record.get("tree_source")),
        ("Trail-Format", record.get("format")),
    ]
    trailer_block = "\n".join(f"{k}: {_trailer_value(v)}" for k, v in trailers if v is not None and v != "")
    body = "\n\n".join(s for s in sections if s.strip())
    subject = f"{event.kind}: {line if line is not None else event.summary()}"
    parts = [subject] + ([body] if body else []) + [trailer_block]
    return "\n\n".join(parts).replace("\0", "\ufffd") + "\n"


@functools.lru_cache(maxsize=64)
def _identity(name: str, email: str) -> tuple[str, str]:
    return (
        re.sub(r"[<>\n\r\0]", "", name).strip() or "unknown",
        re.sub(r"[<>\n\r\0\s]", "", email) or "unknown",
    )


def _reason(omitted: dict[str, Any]) -> str:
    reason = omitted.get("reason")
    return f", {reason}" if reason else ", over the size limit"


def _trailer_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) <= 200 and text.isprintable() and "  " not in text and text.strip() == text:
        return text
    return " ".join(text[:400].split())[:200]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "agent"


def signature(name: str, email: str, when: datetime) -> str:
    clean_name, clean_email = _identity(name, email)
    return f"{clean_name} <{clean_email}> {int(when.timestamp())} {_zone(when.utcoffset() or timedelta(0))}"


@functools.lru_cache(maxsize=64)
def _zone(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"

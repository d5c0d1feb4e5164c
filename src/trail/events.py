"""The normalized event every source (SDK, agent hooks, transcripts) turns into.

An event is plain data with a lossless JSON form: fields this version does not know are kept in `extra` and
written back unchanged, so a newer trail's events survive a round trip through an older one.
"""

from __future__ import annotations

import json
import os
import re
import time as _time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1

SESSION_START = "session_start"
PROMPT = "prompt"
RESPONSE = "response"
TOOL_CALL = "tool_call"
DECISION = "decision"
FILE_EDIT = "file_edit"
NOTE = "note"
SESSION_END = "session_end"
# A command the person gave the agent's program (a slash command: `name`, `args`, its `output`), not a prompt: it
# never becomes the session's title.
COMMAND = "command"
# A tool's result that arrived after its call was recorded without one (steps are immutable): `completes_step` is
# the call's step, `tool_use_id` the call's id; `output` or `error` as a tool_call has them.
TOOL_RESULT = "tool_result"
KINDS = (SESSION_START, PROMPT, RESPONSE, TOOL_CALL, TOOL_RESULT, COMMAND, DECISION, FILE_EDIT, NOTE, SESSION_END)

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KNOWN_KEYS = ("schema", "kind", "time", "session", "step", "agent", "payload")
_SUMMARY_WIDTH = 72
# Keys of a tool's input that name what the call is about, best first.
_TOOL_SUBJECT_KEYS = (
    "file_path",
    "path",
    "command",
    "cmd",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
)


def now() -> datetime:
    return datetime.now(UTC)


def new_session_id() -> str:
    """A new time-sortable session id (a UUID version 7: 48 bits of milliseconds, then randomness)."""
    ms = _time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass
class Event:
    """One thing that happened in an agent session.

    `payload` holds the kind's own fields (see KINDS and README's event table); `extra` holds top-level fields
    written by a newer schema, kept so they are written back unchanged, and `attachments`, the blobs an adapter
    wrote for the event (store/attachments.py): beside the payload, where no agent's text can put anything.
    """

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    time: datetime = field(default_factory=now)
    step: int | None = None
    agent: str | None = None
    schema: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not _KIND_RE.match(self.kind):
            raise ValueError(f"event kind must be lower_snake_case, got {self.kind!r}")
        if self.time.tzinfo is None:
            self.time = self.time.astimezone()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": self.schema,
            "kind": self.kind,
            "time": self.time.isoformat(),
            "session": self.session_id,
            "step": self.step,
            "agent": self.agent,
            "payload": self.payload,
        }
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError("an event must be a JSON object with a 'kind'")
        time = data.get("time")
        return cls(
            kind=data["kind"],
            payload=dict(data.get("payload") or {}),
            session_id=data.get("session"),
            time=datetime.fromisoformat(time) if isinstance(time, str) else now(),
            step=data.get("step"),
            agent=data.get("agent"),
            schema=int(data.get("schema", SCHEMA_VERSION)),
            extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        )

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        return cls.from_dict(json.loads(text))

    @property
    def model(self) -> str | None:
        model = self.payload.get("model")
        return model if isinstance(model, str) else None

    def summary(self) -> str:
        """One line saying what happened, for log listings and commit subjects."""
        p = self.payload
        if self.kind == TOOL_CALL:
            text = f"{p.get('name') or 'tool'} {_tool_subject(p.get('input'))}".strip()
            if p.get("error") not in (None, "", False):
                text += " (failed)"
        elif self.kind == TOOL_RESULT:
            text = f"{p.get('name') or 'tool'} result of step {p.get('completes_step')}"
            if p.get("error") not in (None, "", False):
                text += " (failed)"
        elif self.kind == COMMAND and p.get("name"):
            text = f"{_text(p.get('name'))} {_text(p.get('args'))}"
        elif self.kind == DECISION:
            text = _text(p.get("choice"))
        elif self.kind == SESSION_START:
            text = " ".join(x for x in (self.agent or "agent", "session started", _paren(self.model)) if x)
        elif self.kind == SESSION_END:
            text = _text(p.get("reason")) or "session ended"
        elif self.kind == FILE_EDIT:
            text = _text(p.get("path")) or _text(p.get("text"))
        elif self.kind == RESPONSE and not _text(p.get("text")) and p.get("thinking"):
            text = "(thinking) " + _text(p.get("thinking"))
        elif self.kind == RESPONSE and not _text(p.get("text")) and p.get("text_recorded_at"):
            text = f"(the answer of step {p['text_recorded_at']}, with its token usage)"
        elif self.kind == RESPONSE and not _text(p.get("text")):
            calls = [str(u.get("name")) for u in p.get("tool_uses") or [] if isinstance(u, dict)]
            text = f"(calls {', '.join(calls)})" if calls else "(token usage only)"
        else:
            text = _text(p.get("text")) or _text(p.get("summary"))
        return one_line(text or self.kind)


def sections(event: Event, limit: int | None = None) -> list[tuple[str, str]]:
    """The readable parts of an event, as (label, text) pairs; label "" for the main text.

    Long texts are cut at `limit` characters with a note saying how much was left out.
    """
    p = event.payload
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value in (None, "", [], {}):
            return
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
        text = text.rstrip()
        if limit is not None and len(text) > limit:
            text = text[:limit] + f"\n[… {len(text) - limit} more characters; `trail show` prints all of it]"
        out.append((label, text))

    if event.kind in (PROMPT, NOTE):
        add("", p.get("text"))
    elif event.kind == RESPONSE:
        add("", p.get("text"))
        add("Thinking", p.get("thinking"))
    elif event.kind in (TOOL_CALL, TOOL_RESULT):
        add("Input", p.get("input"))
        add("Output", p.get("output"))
        add("Error", p.get("error"))
    elif event.kind == COMMAND:
        add("", f"{_text(p.get('name'))} {_text(p.get('args'))}".strip() or p.get("text"))
        add("Output", p.get("output"))
    elif event.kind == DECISION:
        add("", "Chose: " + _text(p.get("choice")))
        add("Reasoning", p.get("reasoning"))
        alternatives = p.get("alternatives")
        if alternatives:
            items = alternatives if isinstance(alternatives, list) else [alternatives]
            add("Alternatives", "\n".join("- " + _text(a) for a in items))
    else:
        add("", {k: v for k, v in p.items() if v not in (None, "", [], {})})
    return out


def dumps(value: Any) -> str:
    """Compact, ASCII-only JSON: no newline can appear in it, and any Python string (even a lone surrogate)
    survives the round trip."""
    return _ENCODER.encode(value)


def indent(text: str) -> str:
    """`text` indented by four spaces, blank lines left empty: how sections nest under their label."""
    return "\n".join(("    " + line) if line.strip() else "" for line in text.split("\n"))


def one_line(text: str, width: int = _SUMMARY_WIDTH) -> str:
    # Only the start can show: a megabyte of tool output is not split into words to keep its first 72 characters.
    line = " ".join(text[: width * 8].split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def _json_fallback(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return dumps(value)


def _paren(value: str | None) -> str:
    return f"({value})" if value else ""


def _tool_subject(tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for key in _TOOL_SUBJECT_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return dumps(tool_input) if tool_input else ""
    return _text(tool_input)


# One encoder for every call: json.dumps with options builds a new one each time, which costs more than the
# encoding of a small event.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_json_fallback)

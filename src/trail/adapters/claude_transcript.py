"""Claude Code's transcript (JSONL, written as the session goes) read incrementally and turned into events.

The format is internal to Claude Code and changes between versions: unknown line types are skipped, unknown
fields are kept, a truncated last line waits for the rest. One API response is split over several lines that
share `message.id` and repeat its usage, so tokens are counted once per message (the largest value seen).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.events import Event

AGENT = "claude-code"
USAGE_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
# System lines worth a note; the rest (turn_duration, …) are bookkeeping.
_NOTED_SYSTEM_SUBTYPES = ("compact_boundary", "local_command", "api_error", "informational")
_MAX_REMEMBERED_MESSAGES = 500


@dataclass
class Line:
    """One transcript line: its JSON (None if it does not parse) and its raw bytes."""

    data: dict[str, Any] | None
    raw: bytes


READ_LIMIT = 16 << 20  # bytes of a transcript one hook call reads; the rest waits for the next call
LINE_LIMIT = 128 << 20  # a line longer than this is skipped (and said so), not read into memory


def open_regular(path: str | Path) -> int:
    """A descriptor on `path` if it is a regular file. Opened without blocking and checked after opening, so that
    a FIFO or a device (named by a hostile payload, or swapped in meanwhile) never hangs or floods the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_lines(path: str | Path, offset: int, final: bool = False, limit: int = READ_LIMIT) -> tuple[list[Line], int]:
    """Complete lines from byte `offset` on (at most about `limit` bytes of them), and the offset after them. A last
    line with no newline yet is left for the next read, unless `final` (the file is finished: it is returned, and
    will not parse). Only regular files are read."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        f.seek(offset)
        data = f.read(limit)
        if len(data) == limit and b"\n" not in data:
            # One line longer than the limit: read on to its end, up to LINE_LIMIT, else skip past it.
            more = f.read(LINE_LIMIT - limit)
            data += more
            end = data.find(b"\n")
            if end < 0:
                skipped = len(data)
                while chunk := f.read(1 << 20):
                    cut = chunk.find(b"\n")
                    skipped += len(chunk) if cut < 0 else cut + 1
                    if cut >= 0:
                        break
                note = json.dumps({"type": "trail-skipped-line", "bytes": skipped}).encode()
                return [Line(None, note[:200])], offset + skipped
            data = data[: end + 1]
        eof = not f.read(1)
    if not data:
        return [], offset
    pieces = data.split(b"\n")
    tail = pieces.pop()  # b"" when the data ends with a newline
    consumed = len(data) - len(tail)
    if final and eof and tail.strip():
        pieces.append(tail)
        consumed = len(data)
    return _parse_lines(pieces), offset + consumed


def iter_lines(path: str | Path, offset: int = 0, chunk: int = 4 << 20) -> Iterator[list[Line]]:
    """A whole file's lines from byte `offset`, in lists of about `chunk` bytes, so that memory stays bounded
    however large the file is. A last line without a newline is included (it will not parse)."""
    with os.fdopen(open_regular(path), "rb") as f:
        f.seek(offset)
        rest = b""
        while True:
            data = f.read(chunk)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield _parse_lines(data[:cut].split(b"\n"))
        if rest.strip():
            yield _parse_lines([rest])


def _parse_lines(pieces: list[bytes]) -> list[Line]:
    lines = []
    for raw in pieces:
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            parsed = None
        lines.append(Line(parsed if isinstance(parsed, dict) else None, raw))
    return lines


@dataclass
class Cursor:
    """How far a session's transcript has been recorded; saved between hook calls."""

    offset: int = 0
    counted: dict[str, dict[str, int]] = field(default_factory=dict)  # message id -> tokens already counted
    recorded_tools: set[str] = field(default_factory=set)
    tool_uses: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool_use id -> name, input
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)  # results no hook has recorded yet
    last_text: str | None = None
    fallback: dict[str, Any] | None = None  # a response recorded from the Stop hook before the transcript had it
    last_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "counted": dict(list(self.counted.items())[-_MAX_REMEMBERED_MESSAGES:]),
            "recorded_tools": sorted(self.recorded_tools),
            "tool_uses": self.tool_uses,
            "deferred": self.deferred,
            "last_text": self.last_text,
            "fallback": self.fallback,
            "last_time": self.last_time,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        return cls(
            offset=int(data.get("offset", 0)),
            counted=dict(data.get("counted") or {}),
            recorded_tools=set(data.get("recorded_tools") or ()),
            tool_uses=dict(data.get("tool_uses") or {}),
            deferred=dict(data.get("deferred") or {}),
            last_text=data.get("last_text"),
            fallback=data.get("fallback"),
            last_time=data.get("last_time"),
        )


@dataclass
class _Pending:
    """Text and thinking of one API response not yet recorded."""

    message: dict[str, Any]
    line: dict[str, Any]
    texts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_uses: list[dict[str, str]] = field(default_factory=list)


class TranscriptConverter:
    """Turns transcript lines into events for one session.

    `prompts`: record the person's messages (import, subagents) or leave them to the UserPromptSubmit hook.
    `defer_tools`: leave tool calls to the PostToolUse hooks, keeping results no hook recorded for `deferred()`.
    """

    def __init__(
        self,
        session_id: str,
        cursor: Cursor,
        prompts: bool,
        defer_tools: bool,
        agent: str = AGENT,
        same_text: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.same_text = same_text or _same_words
        self.session_id = session_id
        self.cursor = cursor
        self.prompts = prompts
        self.defer_tools = defer_tools
        self.agent = agent
        self._pending: _Pending | None = None
        self._out: list[Event] = []

    def feed(self, lines: list[Line], flush: bool = True) -> list[Event]:
        """Events for `lines`, in transcript order. Text not followed by a tool call yet is flushed at the end,
        unless `flush` is False (more lines of the same file follow: `finish()` flushes it)."""
        self._out = []
        for line in lines:
            if line.data is None:
                self._flush()
                self._emit(
                    ev.NOTE,
                    {"text": "A transcript line that is not JSON (kept as it was)", "raw": _raw_text(line.raw)},
                    None,
                )
                continue
            try:
                self._line(line.data)
            except (TypeError, AttributeError, ValueError) as e:  # a shape this version does not know
                self._flush()
                self._emit(
                    ev.NOTE,
                    {"text": f"A transcript line trail could not read ({e})", "raw": _raw_text(line.raw)},
                    line.data,
                )
        if flush:
            self._flush()
        return self._out

    def finish(self) -> list[Event]:
        """The response still pending at the end of the lines fed."""
        self._out = []
        self._flush()
        return self._out

    def deferred(self) -> list[Event]:
        """Tool calls the transcript shows but no hook recorded: at the end of a turn, record them from here."""
        self._out = []
        for tool_id, result in sorted(self.cursor.deferred.items(), key=lambda item: item[1].get("time") or ""):
            if tool_id not in self.cursor.recorded_tools:
                self._tool_event(tool_id, result, result.get("line") or {})
        self.cursor.deferred.clear()
        return self._out

    def unresolved(self, skip: set[str] = frozenset()) -> list[Event]:  # type: ignore[assignment]
        """Tool calls the model made whose result never reached the transcript (interrupted, or the session
        ended): recorded with their input, so that no call the model made is missing."""
        self._out = []
        for tool_id, use in list(self.cursor.tool_uses.items()):
            if tool_id in self.cursor.recorded_tools or tool_id in skip:
                continue
            self.cursor.recorded_tools.add(tool_id)
            payload = {
                "name": use.get("name") or "unknown",
                "input": use.get("input"),
                "tool_use_id": tool_id,
                "status": "no result in the transcript",
                "source": "transcript",
            }
            self._emit(ev.TOOL_CALL, payload, None)
        self.cursor.tool_uses.clear()
        return self._out

    # -- lines ---------------------------------------------------------------------------------------------------

    def _line(self, line: dict[str, Any]) -> None:
        kind = line.get("type")
        if isinstance(line.get("timestamp"), str):
            self.cursor.last_time = line["timestamp"]
        if kind == "assistant":
            self._assistant(line)
        elif kind == "user":
            self._user(line)
        elif kind == "system" and line.get("subtype") in _NOTED_SYSTEM_SUBTYPES:
            self._flush()
            text = line.get("content") or line.get("subtype")
            payload: dict[str, Any] = {"text": str(text), "subtype": line.get("subtype")}
            if line.get("compactMetadata"):
                payload["compact"] = line["compactMetadata"]
            self._emit(ev.NOTE, payload, line)

    def _assistant(self, line: dict[str, Any]) -> None:
        message = line.get("message") or {}
        message_id = message.get("id") or line.get("uuid") or ""
        if self._pending is not None and self._pending.message.get("id", "") != message_id:
            self._flush()
        if self._pending is None:
            self._pending = _Pending(message=message, line=line)
        self._pending.message = {
            **message,
            "usage": _max_usage(self._pending.message.get("usage"), message.get("usage")),
        }
        self._pending.line = line
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}] if content else []
        tool_blocks = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                self._pending.texts.append(str(block["text"]))
            elif block.get("type") == "thinking" and block.get("thinking"):
                self._pending.thinking.append(str(block["thinking"]))
            elif block.get("type") == "tool_use":
                tool_blocks.append(block)
        if tool_blocks:
            for block in tool_blocks:
                tool_id = str(block.get("id") or "")
                self._pending.tool_uses.append({"id": tool_id, "name": str(block.get("name") or "")})
                self.cursor.tool_uses[tool_id] = {"name": block.get("name"), "input": block.get("input")}
            self._flush(keep_message=True)  # what the model said before a tool call is recorded before it

    def _user(self, line: dict[str, Any]) -> None:
        message = line.get("message") or {}
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts = []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                self._flush()
                self._tool_result(block, line)
            elif isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
                texts.append(str(block["text"]))
            elif isinstance(block, dict) and block.get("type") == "image":
                texts.append("[image]")
            elif isinstance(block, str):
                texts.append(block)
        if not texts:
            return
        self._flush()
        text = "\n".join(texts)
        if line.get("isCompactSummary"):
            self._emit(ev.NOTE, {"text": text, "compact_summary": True}, line)
        elif line.get("isMeta"):
            self._emit(ev.NOTE, {"text": text, "meta": True}, line)
        elif self.prompts:
            self._emit(ev.PROMPT, {"text": text}, line)

    def _tool_result(self, block: dict[str, Any], line: dict[str, Any]) -> None:
        tool_id = str(block.get("tool_use_id") or "")
        if tool_id in self.cursor.recorded_tools:
            return
        result = {
            "output": _content_text(block.get("content")),
            "is_error": bool(block.get("is_error")),
            "result": line.get("toolUseResult"),
            "time": line.get("timestamp"),
            "line": {k: line.get(k) for k in ("uuid", "timestamp") if line.get(k)},
        }
        if self.defer_tools:
            self.cursor.deferred[tool_id] = result
        else:
            self._tool_event(tool_id, result, line)

    def _tool_event(self, tool_id: str, result: dict[str, Any], line: dict[str, Any]) -> None:
        use = self.cursor.tool_uses.pop(tool_id, {})
        payload: dict[str, Any] = {"name": use.get("name") or "unknown", "input": use.get("input")}
        if result.get("is_error"):
            payload["error"] = result.get("output")
        else:
            payload["output"] = result.get("output")
        payload["tool_use_id"] = tool_id
        if result.get("result") is not None:
            payload["result"] = result["result"]
        payload["source"] = "transcript"
        self.cursor.recorded_tools.add(tool_id)
        self._emit(ev.TOOL_CALL, payload, line)

    # -- responses -----------------------------------------------------------------------------------------------

    def _flush(self, keep_message: bool = False) -> None:
        pending = self._pending
        if pending is None:
            return
        message = pending.message
        message_id = str(message.get("id") or "")
        usage: dict[str, Any] = message["usage"] if isinstance(message.get("usage"), dict) else {}
        counted = self.cursor.counted.setdefault(message_id, {})
        delta = {}
        for name in USAGE_FIELDS:
            value = usage.get(name)
            if isinstance(value, int) and value > counted.get(name, 0):
                delta[name] = value - counted.get(name, 0)
                counted[name] = value
        text = "\n\n".join(pending.texts)
        thinking = "\n\n".join(pending.thinking)
        if text or thinking or delta:
            payload: dict[str, Any] = {}
            fallback = self.cursor.fallback
            if text and fallback and self.same_text(text, str(fallback.get("text", ""))):
                payload["text_recorded_at"] = fallback.get("step")  # the Stop hook already recorded this text
                self.cursor.fallback = None
            elif text:
                payload["text"] = text
                self.cursor.last_text = text
            if thinking:
                payload["thinking"] = thinking
            payload["model"] = message.get("model")
            if delta:
                payload["tokens_in"] = sum(delta.get(n, 0) for n in USAGE_FIELDS[:3])
                payload["tokens_out"] = delta.get("output_tokens", 0)
                payload["usage"] = delta
            payload["stop_reason"] = message.get("stop_reason")
            if pending.tool_uses:
                payload["tool_uses"] = pending.tool_uses
            payload["message_id"] = message_id or None
            payload["request_id"] = pending.line.get("requestId")
            self._emit(ev.RESPONSE, {k: v for k, v in payload.items() if v is not None}, pending.line)
        if keep_message:
            self._pending = _Pending(message=message, line=pending.line)
        else:
            self._pending = None

    def _emit(self, kind: str, payload: dict[str, Any], line: dict[str, Any] | None) -> None:
        if line and line.get("uuid"):
            payload["transcript_uuid"] = line["uuid"]
        stamp = line.get("timestamp") if line else None
        self._out.append(
            Event(
                kind=kind,
                payload=payload,
                session_id=self.session_id,
                time=_time(stamp or self.cursor.last_time),
                agent=self.agent,
            )
        )


def _same_words(a: str, b: str) -> bool:
    return a.split() == b.split()


def _max_usage(old: Any, new: Any) -> dict[str, Any]:
    merged = dict(old) if isinstance(old, dict) else {}
    for key, value in new.items() if isinstance(new, dict) else ():
        if isinstance(value, int) and isinstance(merged.get(key), int):
            merged[key] = max(merged[key], value)
        else:
            merged[key] = value
    return merged


def _content_text(content: Any) -> Any:
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "image":
                parts.append("[image]")
            else:
                parts.append(json.dumps(block, ensure_ascii=False) if not isinstance(block, str) else block)
        return "\n".join(parts)
    return content


def _raw_text(raw: bytes) -> str:
    # surrogateescape keeps every byte: JSON stores the lone surrogates, and encoding back gives the bytes.
    return raw.decode("utf-8", "surrogateescape")


def _time(stamp: Any) -> datetime:
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp)
        except ValueError:
            pass
    return ev.now()


def transcript_session(lines: list[Line]) -> tuple[str | None, str | None]:
    """The session id and, for a subagent's transcript, its agent id, from the first lines that say."""
    for line in lines:
        if line.data and line.data.get("sessionId"):
            return str(line.data["sessionId"]), line.data.get("agentId")
    return None, None

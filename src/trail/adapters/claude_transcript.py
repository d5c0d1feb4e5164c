"""Claude Code's transcript (JSONL, written as the session goes) read incrementally and turned into events.

The format is internal to Claude Code and changes between versions. Everything the model saw or said is kept:
messages block by block (text, thinking with its signature, tool calls and results, images as git blobs), the
context Claude Code added (attachment lines, hook output, reminders), queued prompts, slash commands,
interruptions, titles and summaries, and each line's place in the `parentUuid` tree. What is not kept is
Claude Code's bookkeeping (README.md lists it): `progress` lines, which repeat subagent transcripts and tool
output as it streams, `file-history-snapshot` lines, its index of file backups, `last-prompt` and
`turn_duration` lines; of those that have a uuid, the link in the tree is kept (`links`) so the tree stays whole.

One API response is split over several lines that share `message.id` and repeat its usage, so tokens are counted
once per message (the largest value seen). Since 2.1.97 a tool's result may be written before the line that calls
the tool: results are paired with their calls by `tool_use_id`, whatever the order.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trail import events as ev
from trail.adapters.claude_lines import LINE_LIMIT as LINE_LIMIT
from trail.adapters.claude_lines import READ_LIMIT as READ_LIMIT
from trail.adapters.claude_lines import Line as Line
from trail.adapters.claude_lines import iter_lines as iter_lines
from trail.adapters.claude_lines import open_regular as open_regular
from trail.adapters.claude_lines import read_lines as read_lines
from trail.events import Event
from trail.store import attachments

AGENT = "claude-code"
USAGE_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
# Lines that are Claude Code's bookkeeping, not anything the model saw: not recorded (their tree links are).
BOOKKEEPING_TYPES = frozenset(("progress", "file-history-snapshot", "last-prompt"))
BOOKKEEPING_SYSTEM = frozenset(("turn_duration",))
# Top-level fields every line repeats, or that the event holds elsewhere (the session start keeps the first
# line's cwd, branch and version): the rest of a line's fields are kept with its event, under `line`.
LINE_STANDARD = frozenset(
    (
        "parentUuid",
        "uuid",
        "type",
        "message",
        "timestamp",
        "sessionId",
        "cwd",
        "gitBranch",
        "version",
        "userType",
        "entrypoint",
        "slug",
        "isSidechain",
        "agentId",
        "requestId",
        "toolUseResult",
    )
)
_MESSAGE_STANDARD = frozenset(("model", "id", "type", "role", "content", "usage", "stop_reason"))
_MAX_REMEMBERED_MESSAGES = 500
_MAX_LINKS = 2000  # tree links waiting for the next event; past this the oldest go (only the tree loses them)
_MAX_HOOK_COMMANDS = 50
_COMMAND_NAME = re.compile(r"<command-name>(.*?)</command-name>", re.S)
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)
_COMMAND_MESSAGE = re.compile(r"<command-message>(.*?)</command-message>", re.S)
_COMMAND_OUTPUT = re.compile(r"\A\s*<local-command-(stdout|stderr)>(.*)</local-command-\1>\s*\Z", re.S)
_INTERRUPTED = "[Request interrupted by user"
# A slash command as a person types it: `/name` and arguments (a path such as /etc/hosts is not one).
SLASH_COMMAND = re.compile(r"\A\s*(/[A-Za-z][\w:.-]*)(?:\s+(.*))?\Z", re.S)


@dataclass
class Cursor:
    """How far a session's transcript has been recorded, and what is waiting for a later line; saved between hook
    calls (and rebuilt by an import run again, from the lines it recorded before)."""

    offset: int = 0
    counted: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> usage numbers counted
    recorded_tools: set[str] = field(default_factory=set)
    tool_uses: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool_use id -> name, input
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)  # results no hook has recorded yet
    orphans: dict[str, dict[str, Any]] = field(default_factory=dict)  # results written before their call
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)  # calls recorded with no result: id -> step
    links: list[list[Any]] = field(default_factory=list)  # [uuid, parentUuid, type] of lines not recorded
    hook_commands: list[str] = field(default_factory=list)  # slash commands a hook recorded, not yet seen here
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
            "orphans": self.orphans,
            "waiting": self.waiting,
            "links": self.links[-_MAX_LINKS:],
            "hook_commands": self.hook_commands[-_MAX_HOOK_COMMANDS:],
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
            orphans=dict(data.get("orphans") or {}),
            waiting=dict(data.get("waiting") or {}),
            links=list(data.get("links") or []),
            hook_commands=list(data.get("hook_commands") or []),
            last_text=data.get("last_text"),
            fallback=data.get("fallback"),
            last_time=data.get("last_time"),
        )


@dataclass
class _Pending:
    """The blocks of one API response not yet recorded."""

    message_id: str
    message: dict[str, Any]
    line: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)
    content: list[dict[str, Any]] = field(default_factory=list)  # one entry per block, in order
    texts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_uses: list[dict[str, str]] = field(default_factory=list)
    attached: list[dict[str, Any]] = field(default_factory=list)


class TranscriptConverter:
    """Turns transcript lines into events for one session.

    `prompts`: record the person's messages (import, subagents) or leave them to the UserPromptSubmit hook.
    `defer_tools`: leave tool calls to the PostToolUse hooks, keeping results no hook recorded for `deferred()`.
    `blob_sink`: writes an attachment's bytes as a git blob and returns its id (store/attachments.py); without
    one, images stay in the payload as the base64 text the transcript has.

    Where the events' payloads keep what the rebuild (claude_rebuild.py) needs: every event made from a line has
    `transcript_uuid` and `parent_uuid`; a response lists its blocks in `content` (a text or thinking block's
    words are in `text`/`thinking` when the response has one such block, in the entry itself otherwise); a user
    message given as a list keeps the list (`content`); a tool result keeps the form of its content.
    """

    def __init__(
        self,
        session_id: str,
        cursor: Cursor,
        prompts: bool,
        defer_tools: bool,
        agent: str = AGENT,
        same_text: Callable[[str, str], bool] | None = None,
        blob_sink: Callable[[bytes], str] | None = None,
    ) -> None:
        self.same_text = same_text or _same_words
        self.session_id = session_id
        self.cursor = cursor
        self.prompts = prompts
        self.defer_tools = defer_tools
        self.agent = agent
        self.blob_sink = blob_sink
        self._pending: _Pending | None = None
        self._out: list[Event] = []
        self._binary = False  # the line being read may hold base64 data

    def feed(self, lines: list[Line], flush: bool = True) -> list[Event]:
        """Events for `lines`, in transcript order. Text not followed by a tool call yet is flushed at the end,
        unless `flush` is False (more lines of the same file follow: `finish()` flushes it)."""
        self._out = []
        if self.cursor.last_time is None:
            # A line with no time of its own takes the time of the line before it; at the start of the file, of
            # the first line that has one (so that an import run twice makes the same steps).
            self.cursor.last_time = next(
                (ln.data["timestamp"] for ln in lines if ln.data and isinstance(ln.data.get("timestamp"), str)), None
            )
        for line in lines:
            if line.data is None:
                self._flush()
                self._emit(
                    ev.NOTE,
                    {"text": "A transcript line that is not JSON (kept as it was)", "raw": _raw_text(line.raw)},
                    None,
                )
                continue
            self._binary = b"base64" in line.raw
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
                self._tool_event(tool_id, result)
        self.cursor.deferred.clear()
        return self._out

    def unresolved(self, skip: set[str] = frozenset()) -> list[Event]:  # type: ignore[assignment]
        """Tool calls the model made whose result never reached the transcript (interrupted, or the session
        ended), and results whose call never did: recorded as they are, so that nothing the model did is missing.
        A call recorded here and completed later gets a `tool_result` step naming it (steps are immutable)."""
        self._out = []
        done = self.cursor.recorded_tools | set(self.cursor.waiting) | set(skip)
        for tool_id, use in list(self.cursor.tool_uses.items()):
            if tool_id in done:
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
        for tool_id, result in list(self.cursor.orphans.items()):
            if tool_id in done:
                continue
            self._tool_event(tool_id, {**result, "status": "its call is not in the transcript"})
        self.cursor.tool_uses.clear()
        self.cursor.orphans.clear()
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
        elif kind in BOOKKEEPING_TYPES or (kind == "system" and line.get("subtype") in BOOKKEEPING_SYSTEM):
            self._link(line)
        else:
            self._flush()
            self._context(line)

    def _link(self, line: dict[str, Any]) -> None:
        """A line not recorded still has its place in the tree: kept for the next event to carry."""
        uuid = line.get("uuid")
        if isinstance(uuid, str):
            kind = str(line.get("type"))
            if line.get("subtype"):
                kind += f":{line['subtype']}"
            self.cursor.links.append([uuid, line.get("parentUuid"), kind])
            if len(self.cursor.links) > _MAX_LINKS:
                del self.cursor.links[0]

    def _assistant(self, line: dict[str, Any]) -> None:
        message = line.get("message") or {}
        if not isinstance(message, dict):
            raise TypeError("its message is not an object")
        message_id = str(message.get("id") or line.get("uuid") or "")
        if self._pending is not None and self._pending.message_id != message_id:
            self._flush()
        pending = self._pending
        if pending is None:
            pending = self._pending = _Pending(message_id, message, line)
        pending.usage = _max_usage(pending.usage, message.get("usage"))
        pending.message = message
        pending.line = line
        content = message.get("content")
        as_string = isinstance(content, str)
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}] if as_string else []
        fields = _line_fields(line)
        calls = []
        for block in blocks:
            entry: dict[str, Any] = {"uuid": line.get("uuid"), "parent_uuid": line.get("parentUuid")}
            if fields:
                entry["line"] = self._external(fields, pending.attached)
                fields = {}
            if not isinstance(block, dict):
                entry["type"] = None
                entry["block"] = block
                pending.content.append(entry)
                continue
            kind = block.get("type")
            entry["type"] = kind
            rest = {k: v for k, v in block.items() if k not in _BLOCK_OWN.get(str(kind), ("type",))}
            if kind == "text":
                text = block.get("text")
                entry["text"] = text if isinstance(text, str) else ""
                pending.texts.append(entry["text"])
                if as_string:
                    entry["as_string"] = True
            elif kind == "thinking":
                thinking = block.get("thinking")
                entry["thinking"] = thinking if isinstance(thinking, str) else ""
                pending.thinking.append(entry["thinking"])
                if "signature" in block:
                    entry["signature"] = block["signature"]
            elif kind == "tool_use":
                tool_id = str(block.get("id") or "")
                entry["id"] = tool_id
                entry["name"] = block.get("name")
                pending.tool_uses.append({"id": tool_id, "name": str(block.get("name") or "")})
                self.cursor.tool_uses[tool_id] = {"name": block.get("name"), "input": block.get("input")}
                calls.append(tool_id)
            if rest:
                entry["block"] = self._external(rest, pending.attached)
            pending.content.append(entry)
        if calls:
            self._flush(keep_message=True)  # what the model said before a tool call is recorded before it
            for tool_id in calls:
                result = self.cursor.orphans.pop(tool_id, None)
                if result is not None:  # its result was written first: it comes after the call now
                    self._resolved(tool_id, result)

    def _user(self, line: dict[str, Any]) -> None:
        message = line.get("message") or {}
        if not isinstance(message, dict):
            raise TypeError("its message is not an object")
        content = message.get("content")
        listed = isinstance(content, list)
        blocks: list[Any] = content if isinstance(content, list) else [content]
        several = listed and len(blocks) > 1
        rest: list[int] = []
        for i, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "tool_result":
                self._tool_result(block, line, i if several else None)
            else:
                rest.append(i)
        if not rest:
            return
        self._flush()
        self._said(line, [blocks[i] for i in rest], listed, rest if len(rest) != len(blocks) else None)

    def _said(self, line: dict[str, Any], blocks: list[Any], listed: bool, at: list[int] | None) -> None:
        """What a user line says besides tool results: a prompt, a slash command and its output, an interruption,
        or text Claude Code added (isMeta, a compaction's summary)."""
        texts = [str(b.get("text") or "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        texts += [b for b in blocks if isinstance(b, str)]
        text = "\n".join(texts)
        attached: list[dict[str, Any]] = []
        payload: dict[str, Any] = {"text": text, "role": "user"}
        if listed:
            payload["content"] = self._external(blocks, attached)
            if at is not None:
                payload["content_at"] = at
        elif blocks[0] is None:
            payload["content"] = None
        fields = _line_fields(line)
        if fields:
            payload["line"] = self._external(fields, attached)
        binary = any(isinstance(b, dict) and b.get("type") not in ("text", None) for b in blocks)
        output = _COMMAND_OUTPUT.match(text) if not binary else None
        typed_command = not binary and text.lstrip().startswith(("<command-name>", "<command-message>"))
        name = _COMMAND_NAME.search(text) if typed_command else None
        if line.get("isCompactSummary"):
            self._emit(ev.NOTE, {**payload, "compact_summary": True}, line, attached)
        elif line.get("isMeta"):
            self._emit(ev.NOTE, {**payload, "meta": True}, line, attached)
        elif name is not None:
            command = _command(text) or {"name": name.group(1).strip()}
            if not self._hook_recorded(command["name"]):
                self._emit(ev.COMMAND, {**payload, **command}, line, attached)
        elif output is not None:
            self._emit(ev.NOTE, {**payload, "command_output": output.group(1)}, line, attached)
        elif text.lstrip().startswith(_INTERRUPTED) and not binary:
            self._emit(ev.NOTE, {**payload, "interrupted": True}, line, attached)
        elif not text.strip() and not binary:
            self._emit(ev.NOTE, {**payload, "empty": True}, line, attached)
        elif self.prompts:
            self._emit(ev.PROMPT, payload, line, attached)
        elif binary:
            # The UserPromptSubmit hook recorded the words; the images pasted with them come from here.
            self._emit(ev.NOTE, {**payload, "prompt_content": True}, line, attached)

    def _hook_recorded(self, name: str) -> bool:
        """Whether the UserPromptSubmit hook recorded this slash command already (live): then the transcript's copy
        is not recorded again."""
        typed = "/" + name.lstrip("/")
        if self.prompts or typed not in self.cursor.hook_commands:
            return False
        self.cursor.hook_commands.remove(typed)
        return True

    def _context(self, line: dict[str, Any]) -> None:
        """A line that is not a message: context Claude Code gave the model (attachments: hook output, `@`-file
        contents, reminders), queued prompts, titles and summaries, system notices, and lines of kinds this
        version does not know, each kept whole (but for the fields every line repeats)."""
        kind = str(line.get("type"))
        attached: list[dict[str, Any]] = []
        rest = {k: v for k, v in line.items() if k not in LINE_STANDARD}
        payload: dict[str, Any] = {"text": _describe(kind, line), "transcript_type": kind}
        if rest:
            payload["line"] = self._external(rest, attached)
        if kind == "system":
            payload["subtype"] = line.get("subtype")
            if line.get("compactMetadata"):
                payload["compact"] = line["compactMetadata"]
            said = line.get("content")
            command = _command(said) if isinstance(said, str) else None
            output = _COMMAND_OUTPUT.match(said) if isinstance(said, str) else None
            if command is not None:  # a local command, as versions before 2.1 wrote it
                if not self._hook_recorded(command["name"]):
                    self._emit(ev.COMMAND, {**payload, **command}, line, attached)
                return
            if output is not None:
                payload["command_output"] = output.group(1)
        elif kind == "summary" and isinstance(line.get("summary"), str):
            payload["session_title"] = line["summary"]
        elif kind == "custom-title" and isinstance(line.get("customTitle"), str):
            payload["session_title"] = line["customTitle"]
        self._emit(ev.NOTE, payload, line, attached)

    def _tool_result(self, block: dict[str, Any], line: dict[str, Any], index: int | None) -> None:
        tool_id = str(block.get("tool_use_id") or "")
        if tool_id in self.cursor.recorded_tools:
            return
        attached: list[dict[str, Any]] = []
        content = block.get("content")
        result: dict[str, Any] = {
            "output": _content_text(content),
            "is_error": bool(block.get("is_error")),
            "time": line.get("timestamp"),
            "line": {k: line[k] for k in ("uuid", "parentUuid", "timestamp") if k in line},
        }
        if line.get("toolUseResult") is not None:
            result["result"] = self._external(line["toolUseResult"], attached)
        if isinstance(content, list):
            result["content"] = self._external(content, attached)
        elif "content" not in block:
            result["no_content"] = True
        own = {k: v for k, v in block.items() if k not in ("type", "tool_use_id", "content")}
        if own:
            result["block"] = own
        if index is not None:
            result["index"] = index
        fields = _line_fields(line)
        if fields:
            result["fields"] = self._external(fields, attached)
        if attached:
            result["attachments"] = attached
        if tool_id not in self.cursor.tool_uses and tool_id not in self.cursor.waiting:
            self.cursor.orphans[tool_id] = result  # its call comes on a later line
            return
        self._resolved(tool_id, result)

    def _resolved(self, tool_id: str, result: dict[str, Any]) -> None:
        if self.defer_tools:
            self.cursor.deferred[tool_id] = result
        else:
            self._flush()
            self._tool_event(tool_id, result)

    def _tool_event(self, tool_id: str, result: dict[str, Any]) -> None:
        use = self.cursor.tool_uses.pop(tool_id, None)
        waiting = self.cursor.waiting.pop(tool_id, None)
        payload: dict[str, Any] = {}
        name = (use or {}).get("name") or (waiting or {}).get("name")
        if name:
            payload["name"] = name
        if use is not None:
            payload["input"] = use.get("input")
        if result.get("is_error"):
            payload["error"] = result.get("output")
        else:
            payload["output"] = result.get("output")
        payload["tool_use_id"] = tool_id
        if result.get("result") is not None:
            payload["result"] = result["result"]
        for key, name_in_payload in (
            ("content", "content"),
            ("block", "result_block"),
            ("index", "result_index"),
            ("fields", "line"),
            ("no_content", "no_content"),
            ("status", "status"),
        ):
            if key in result:
                payload[name_in_payload] = result[key]
        payload["source"] = "transcript"
        kind = ev.TOOL_CALL
        if waiting is not None:
            kind = ev.TOOL_RESULT
            payload["completes_step"] = waiting.get("step")
        self.cursor.recorded_tools.add(tool_id)
        self._emit(kind, payload, result.get("line") or {}, result.get("attachments"))

    # -- responses -----------------------------------------------------------------------------------------------

    def _flush(self, keep_message: bool = False) -> None:
        pending = self._pending
        if pending is None:
            return
        message = pending.message
        counted = self.cursor.counted.setdefault(pending.message_id, {})
        usage, added = _usage_delta(pending.usage, counted)
        if pending.content or added:
            payload: dict[str, Any] = {}
            text = "\n\n".join(pending.texts)
            thinking = "\n\n".join(pending.thinking)
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
            if added:
                payload["tokens_in"] = sum(usage.get(n, 0) for n in USAGE_FIELDS[:3])
                payload["tokens_out"] = usage.get("output_tokens", 0)
                payload["usage"] = usage
            payload["stop_reason"] = message.get("stop_reason")
            if pending.tool_uses:
                payload["tool_uses"] = pending.tool_uses
            payload["message_id"] = pending.message_id or None
            payload["request_id"] = pending.line.get("requestId")
            rest = {k: v for k, v in message.items() if k not in _MESSAGE_STANDARD and v is not None}
            if rest:
                payload["message"] = self._external(rest, pending.attached)
            if pending.content:
                payload["content"] = _blocks_without_repeats(pending.content)
            self._emit(ev.RESPONSE, {k: v for k, v in payload.items() if v is not None}, pending.line, pending.attached)
        if keep_message:
            self._pending = _Pending(pending.message_id, message, pending.line, pending.usage)
        else:
            self._pending = None

    def _emit(
        self,
        kind: str,
        payload: dict[str, Any],
        line: dict[str, Any] | None,
        attached: list[dict[str, Any]] | None = None,
    ) -> None:
        if line and line.get("uuid"):
            payload["transcript_uuid"] = line["uuid"]
            if line.get("parentUuid") is not None:
                payload["parent_uuid"] = line["parentUuid"]
        if self.cursor.links:
            payload["links"] = self.cursor.links
            self.cursor.links = []
        stamp = line.get("timestamp") if line else None
        event = Event(
            kind=kind,
            payload=payload,
            session_id=self.session_id,
            time=_time(stamp or self.cursor.last_time),
            agent=self.agent,
        )
        if attached:
            attachments.attach(event, attached)
        self._out.append(event)

    def _external(self, value: Any, attached: list[dict[str, Any]]) -> Any:
        """`value` with each base64 body (an image or a document, in a message or a tool's result) written as a
        blob and named by its id (`trail_blob`) instead: the bytes are kept exactly, outside the commit headers,
        and redaction (which reads text) never sees them."""
        if self.blob_sink is None or not self._binary:
            return value
        if isinstance(value, list):
            return [self._external(v, attached) for v in value]
        if not isinstance(value, dict):
            return value
        for key, kind_key in (("data", "media_type"), ("base64", "type")):
            body, media_type = value.get(key), value.get(kind_key)
            if not isinstance(body, str) or not isinstance(media_type, str) or "/" not in media_type:
                continue
            if key == "data" and value.get("type") != "base64":
                continue
            data = _base64_bytes(body)
            if data is None:
                continue
            blob = self.blob_sink(data)
            attached.append(attachments.entry(blob, media_type, len(data)))
            out = {k: self._external(v, attached) for k, v in value.items() if k != key}
            out["trail_blob"] = blob
            out["trail_blob_key"] = key
            return out
        return {k: self._external(v, attached) for k, v in value.items()}


# The keys of a block kept in its own fields of a content entry (the rest go under `block`); a tool call's input
# is in its tool_call step.
_BLOCK_OWN = {
    "text": ("type", "text"),
    "thinking": ("type", "thinking", "signature"),
    "tool_use": ("type", "id", "name", "input"),
}


def _blocks_without_repeats(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's content entries, the words of its only text block and of its only thinking block left out
    (they are the payload's `text` and `thinking`); with two or more, each entry keeps its own."""
    texts = sum(1 for e in content if e.get("type") == "text")
    thoughts = sum(1 for e in content if e.get("type") == "thinking")
    out = []
    for entry in content:
        if (entry.get("type") == "text" and texts == 1) or (entry.get("type") == "thinking" and thoughts == 1):
            entry = {k: v for k, v in entry.items() if k not in ("text", "thinking")}
        out.append({k: v for k, v in entry.items() if v is not None or k == "type"})
    return out


def _describe(kind: str, line: dict[str, Any]) -> str:
    """One line on what a context line is, for people (the line itself is kept whole beside it)."""
    if kind == "attachment":
        found = line.get("attachment")
        item: dict[str, Any] = found if isinstance(found, dict) else {}
        name = str(item.get("type") or "attachment")
        words = next(
            (
                str(item[k])
                for k in ("content", "prompt", "stdout", "snippet", "filename")
                if isinstance(item.get(k), str)
            ),
            "",
        )
        return ev.one_line(f"Context the model saw ({name}): {words}".rstrip(": "), 200)
    if kind == "queue-operation":
        operation = line.get("operation")
        content = line.get("content")
        if operation == "enqueue":
            return f"Typed while the agent was busy (queued): {content}"
        if operation == "dequeue":
            return "The queued prompt was sent"
        if operation == "remove":
            return "A queued prompt was taken mid-turn or cancelled" + (f": {content}" if content else "")
        return f"Queue: {operation}" + (f": {content}" if content else "")
    if kind == "summary":
        return f"Session summary: {line.get('summary')}"
    if kind == "custom-title":
        return f"Session title: {line.get('customTitle')}"
    if kind == "pr-link":
        return f"Pull request: {line.get('prUrl') or line.get('prNumber')}"
    if kind == "permission-mode":
        return f"Permission mode: {line.get('permissionMode')}"
    if kind == "agent-name":
        return f"Agent name: {line.get('agentName') or line.get('name')}"
    if kind == "system":
        return str(line.get("content") or line.get("subtype") or "system")
    return f"A transcript line of type {kind!r} (kept as it was)"


def _command(text: str) -> dict[str, Any] | None:
    """A slash command's name, arguments and message, as Claude Code writes them (`<command-name>/x</command-name>`)."""
    name = _COMMAND_NAME.search(text)
    if name is None:
        return None
    args = _COMMAND_ARGS.search(text)
    said = _COMMAND_MESSAGE.search(text)
    out = {"name": name.group(1).strip(), "args": args.group(1).strip() if args else ""}
    if said:
        out["message"] = said.group(1).strip()
    return out


def _line_fields(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in LINE_STANDARD}


def _same_words(a: str, b: str) -> bool:
    return a.split() == b.split()


def _max_usage(old: Any, new: Any) -> dict[str, Any]:
    """Two copies of one message's usage merged: each number the larger (they only grow), the rest the newer."""
    merged = dict(old) if isinstance(old, dict) else {}
    for key, value in new.items() if isinstance(new, dict) else ():
        if _number(value) and _number(merged.get(key)):
            merged[key] = max(merged[key], value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _max_usage(merged[key], value)
        else:
            merged[key] = value
    return merged


def _usage_delta(usage: dict[str, Any], counted: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], bool]:
    """The provider's usage object with each number replaced by what it adds to what `counted` has of the same
    message (updated), so that the steps of a message add up to its usage; the rest (service tier, …) as is. And
    whether anything was added."""
    out: dict[str, Any] = {}
    added = False
    for key, value in usage.items():
        name = prefix + str(key)
        if _number(value):
            before = counted.get(name, 0)
            out[key] = value - before if value > before else 0
            if value > before:
                counted[name] = value
                added = True
        elif isinstance(value, dict):
            out[key], more = _usage_delta(value, counted, name + ".")
            added = added or more
        else:
            out[key] = value
    return out, added


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _base64_bytes(text: str) -> bytes | None:
    """The bytes `text` encodes, when it is base64 that encodes back to exactly `text` (so the transcript can be
    rebuilt byte for byte); None otherwise (kept as text)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode("ascii") == text else None


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

"""Gemini CLI's chat recordings (`~/.gemini/tmp/<project>/chats/session-*.json[l]`), read as the CLI writes them.

Two formats, both from `packages/core/src/services/chatRecordingService.ts` and `chatRecordingTypes.ts` of
google-gemini/gemini-cli:
- up to the JSONL migration (PR #23749, March 2026): one JSON object `{sessionId, projectHash, startTime,
  lastUpdated, messages: [MessageRecord], summary?, kind?}`, rewritten whole on every change;
- since: JSON lines, appended: a metadata line `{sessionId, projectHash, startTime, lastUpdated, kind?}`, then
  MessageRecords (the whole message again each time it changes: tool results, tokens), `{"$set": {…}}` metadata
  updates (a `messages` list there replaces the conversation) and `{"$rewindTo": id}` (the conversation from that
  message on was rewound).

A MessageRecord is `{id, timestamp, type: user|gemini|info|error|warning, content, displayContent?}`; a `gemini` one
adds `model`, `tokens {input, output, cached, thoughts, tool, total}` (the API's promptTokenCount,
candidatesTokenCount, cachedContentTokenCount, thoughtsTokenCount, toolUsePromptTokenCount, totalTokenCount),
`thoughts [{subject, description, timestamp}]` and `toolCalls [{id, name, args, result, status, timestamp,
displayName?, description?, resultDisplay?}]`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENT = "gemini-cli"
MESSAGE_TYPES = frozenset(("user", "gemini", "info", "error", "warning"))
FINISHED = frozenset(("success", "error", "cancelled"))  # a tool call's statuses once it has its result


def gemini_dir() -> Path:
    """~/.gemini, or $GEMINI_CLI_HOME/.gemini (Gemini CLI's own home override)."""
    home = os.environ.get("GEMINI_CLI_HOME")
    return (Path(home).expanduser() if home else Path.home()).absolute() / ".gemini"


def chats_root() -> Path:
    """Where every project's chats live: ~/.gemini/tmp/<project hash or short id>/chats/."""
    return gemini_dir() / "tmp"


@dataclass
class Conversation:
    """What a chat file holds, in the order it was written: messages by id (the latest version of each, placed where
    it first appeared) and the rewinds between them."""

    meta: dict[str, Any] = field(default_factory=dict)
    order: list[tuple[str, str]] = field(default_factory=list)  # ("message", id) | ("rewind", key)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    rewinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, message: dict[str, Any]) -> None:
        mid = message["id"]
        if mid not in self.messages:
            self.order.append(("message", mid))
        self.messages[mid] = message

    @property
    def session_id(self) -> str | None:
        sid = self.meta.get("sessionId")
        return sid if isinstance(sid, str) and sid else None


def is_message(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("id"), str) and record.get("type") in MESSAGE_TYPES


def is_metadata(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("sessionId"), str)
        and isinstance(record.get("projectHash"), str)
        and "id" not in record
    )


def parse_lines(lines: list[tuple[int, Any]], into: Conversation | None = None) -> Conversation:
    """A conversation from JSONL records `(line number, parsed record)`; unreadable lines are None and skipped, as
    Gemini CLI skips them."""
    conv = into or Conversation()
    for number, record in lines:
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("$rewindTo"), str):
            key = f"rewind@{number}"
            conv.rewinds[key] = {"to": record["$rewindTo"], "line": number}
            conv.order.append(("rewind", key))
        elif is_message(record):
            conv.add(record)
        elif isinstance(record.get("$set"), dict):
            update = dict(record["$set"])
            listed = update.pop("messages", None)
            if isinstance(listed, list):  # the conversation as the CLI now holds it (after masking, a summary…)
                for message in listed:
                    if is_message(message):
                        conv.add(message)
            conv.meta.update(update)
        elif is_metadata(record):
            conv.meta.update(record)
    return conv


def parse_object(data: dict[str, Any]) -> Conversation:
    """A conversation from a legacy single-object chat file."""
    conv = Conversation(meta={k: v for k, v in data.items() if k != "messages"})
    for message in data.get("messages") or []:
        if is_message(message):
            conv.add(message)
    return conv


def read_chat(path: Path, limit: int = 1 << 30) -> Conversation:
    """The whole chat file at `path`, in either format. Raises OSError or ValueError when it is neither."""
    with open(path, "rb") as f:
        data = f.read(limit)
    stripped = data.lstrip()
    if not stripped:
        raise ValueError("empty file")
    first_line = stripped.split(b"\n", 1)[0]
    try:
        first = json.loads(first_line)
    except ValueError:
        first = None
    if is_metadata(first):
        return parse_lines([(n, _loads(line)) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()])
    whole = json.loads(data)
    if not isinstance(whole, dict) or not is_metadata({k: v for k, v in whole.items() if k != "messages"}):
        raise ValueError("not a Gemini CLI chat (no sessionId and projectHash)")
    return parse_object(whole)


def _loads(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


# -- the parts of a message ---------------------------------------------------------------------------------------


def text_of(content: Any) -> str:
    """The text of a PartListUnion: a string, a part, or a list of parts (only `text` parts have text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
    return "".join(texts)


def other_parts(content: Any) -> list[Any]:
    """The parts of a content that are not plain text (images, files, function calls), kept as they are."""
    parts = content if isinstance(content, list) else [content] if isinstance(content, dict) else []
    return [p for p in parts if not (isinstance(p, str) or (isinstance(p, dict) and set(p) <= {"text"}))]


def thinking_of(thoughts: Any) -> str:
    """Gemini's thought summaries as text: each subject, then its description."""
    if not isinstance(thoughts, list):
        return ""
    out = []
    for thought in thoughts:
        if not isinstance(thought, dict):
            continue
        subject, description = thought.get("subject"), thought.get("description")
        text = "\n".join(str(x).strip() for x in (subject, description) if isinstance(x, str) and x.strip())
        if text:
            out.append(text)
    return "\n\n".join(out)


def token_fields(tokens: Any) -> dict[str, Any]:
    """trail's token fields from a message's `tokens`: input counts the prompt (cached tokens included, as the API
    counts them) and the tool-use prompt; output counts the answer and the thoughts (billed as output). So
    tokens_in + tokens_out = total; the split stays in `usage`."""
    if not isinstance(tokens, dict):
        return {}

    def n(key: str) -> int:
        value = tokens.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return {
        "tokens_in": n("input") + n("tool"),
        "tokens_out": n("output") + n("thoughts"),
        "usage": dict(tokens),
    }


def tool_output(result: Any) -> tuple[Any, Any]:
    """(output, error) of a tool call's `result` parts: the functionResponse's `output` (or `error`), with any text
    parts that follow it; None for what is not there."""
    parts = result if isinstance(result, list) else [result] if result is not None else []
    outputs: list[str] = []
    error = None
    other: list[Any] = []
    for part in parts:
        response = part.get("functionResponse") if isinstance(part, dict) else None
        if isinstance(response, dict):
            body = response.get("response")
            if isinstance(body, dict):
                if isinstance(body.get("output"), str):
                    outputs.append(body["output"])
                if body.get("error") not in (None, ""):
                    error = body["error"]
                if set(body) - {"output", "error"}:
                    other.append(body)
            elif body is not None:
                other.append(body)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            outputs.append(part["text"])
        elif part is not None:
            other.append(part)
    output: Any = "\n".join(outputs) if outputs else None
    if other:
        output = {"text": output, "parts": other} if output is not None else other
    return output, error

"""Claude Code's own transcript for a fork: the session's transcript cut at a step, under a new session id, in the
projects folder where `claude --resume <id>` looks for it; rebuilt from the recorded steps when the original is gone.

The original is only read. Kept lines stay byte for byte as Claude Code wrote them but for three top-level fields:
`sessionId` (the new id), `cwd` (the new worktree) and, where the cut took a line's parent away, `parentUuid`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_import import claude_projects_dir
from trail.adapters.claude_transcript import Line, iter_lines
from trail.adapters.fork_files import output_text, stamp, start_values
from trail.store.steps import Step

MAX_DIR_NAME = 200  # Claude Code cuts longer project folder names there and adds a hash of the path
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_NO_RESULT = "[trail: no result was recorded for this call]"


@dataclass
class ForkedTranscript:
    """The lines of the new transcript (each ending in a newline) and what they came from."""

    lines: list[bytes]
    last_step: int  # the step the last line holds (the step asked for, or the last one before it the file has)
    source: Path | None  # the transcript cut; None when rebuilt from the steps
    dropped_calls: int = 0  # tool calls whose result came after the step: left out, or the model would wait on them


# -- where Claude Code keeps transcripts ---------------------------------------------------------------------------


def project_dir_name(cwd: str) -> str:
    """The folder name Claude Code gives the project at `cwd`: every UTF-16 code unit that is not an ASCII letter or
    digit becomes `-`; past 200 characters the name is cut and a hash of the path is added (as Claude Code's own
    `sanitizePath` does)."""
    name = "".join(
        c if c.isascii() and c.isalnum() else ("--" if ord(c) > 0xFFFF else "-")
        for c in cwd  # JavaScript counts a character outside the BMP as two code units, so two dashes
    )
    if len(name) <= MAX_DIR_NAME:
        return name
    value = 0
    units = cwd.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        value = (value << 5) - value + int.from_bytes(units[i : i + 2], "little")
        value = (value + 2**31) % 2**32 - 2**31  # JavaScript's `| 0`: a signed 32-bit integer
    return f"{name[:MAX_DIR_NAME]}-{_base36(abs(value))}"


def transcript_path(cwd: str, session_id: str) -> Path:
    """Where Claude Code started in `cwd` keeps the transcript of `session_id` (CLAUDE_CONFIG_DIR honoured). For a
    long path, a folder Claude Code already made with the same cut name is used, whatever hash it added."""
    projects = claude_projects_dir()
    name = project_dir_name(cwd)
    if len(name) > MAX_DIR_NAME:
        made = sorted(projects.glob(f"{glob_escape(name[:MAX_DIR_NAME])}-*")) if projects.is_dir() else []
        if len(made) == 1:
            name = made[0].name
    return projects / name / f"{session_id}.jsonl"


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def find_transcript(session_id: str, steps: Sequence[Step]) -> Path | None:
    """The session's own transcript, if it is still on this machine: the file its steps name (the import's source,
    the hooks' transcript_path), else `<projects>/*/<id>.jsonl`. A file is taken only if its lines say they belong to
    this session, so a path in a fetched session's steps cannot make trail copy some other file."""
    named = [Path(value) for value in start_values(steps, "imported_from", "hook.transcript_path")]
    projects = claude_projects_dir()
    if projects.is_dir():
        named += sorted(projects.glob(f"*/{glob_escape(session_id)}.jsonl"))
    for path in named:
        if _belongs_to(path, session_id):
            return path
    return None


def _belongs_to(path: Path, session_id: str) -> bool:
    try:
        for chunk in iter_lines(path, chunk=1 << 16):
            for line in chunk:
                if line.data is not None and isinstance(line.data.get("sessionId"), str):
                    return bool(line.data["sessionId"] == session_id)
    except OSError:
        return False
    return False


# -- the original, cut -----------------------------------------------------------------------------------------------


def cut_transcript(
    path: Path, steps: Sequence[Step], new_id: str, cwd_for: Callable[[str], str]
) -> ForkedTranscript | None:
    """The transcript at `path` up to the line of the last of `steps` it holds, under `new_id`, each line's cwd mapped
    by `cwd_for`; None if it holds none of the steps (it is not this session's, or was replaced)."""
    lines = [line for chunk in iter_lines(path) for line in chunk]
    index = _Index(lines)
    cut, last_step = -1, 0
    for step in steps:
        at = index.locate(step, cut)
        if at is not None and at > cut:
            cut, last_step = at, step.n
    if cut < 0:
        return None
    order, dropped = _kept(lines, index, cut)
    return ForkedTranscript(_rewritten(lines, index, order, new_id, cwd_for), last_step, path, dropped)


class _Index:
    """Where things are in a transcript: lines by uuid, tool calls and their results by tool-use id."""

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines
        self.by_uuid: dict[str, int] = {}
        self.use_at: dict[str, int] = {}
        self.result_at: dict[str, int] = {}
        self.message_end: dict[str, int] = {}
        for i, line in enumerate(lines):
            data = line.data
            if data is None:
                continue
            if isinstance(data.get("uuid"), str):
                self.by_uuid.setdefault(data["uuid"], i)
            message = data.get("message")
            if data.get("type") == "assistant" and isinstance(message, dict) and isinstance(message.get("id"), str):
                self.message_end[message["id"]] = i
            for block in _blocks(data):
                if block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                    self.use_at.setdefault(block["id"], i)
                elif block.get("type") == "tool_result" and isinstance(block.get("tool_use_id"), str):
                    self.result_at.setdefault(block["tool_use_id"], i)

    def parent(self, i: int) -> str | None:
        data = self.lines[i].data or {}
        parent = data.get("parentUuid")
        return parent if isinstance(parent, str) else None

    def locate(self, step: Step, after: int) -> int | None:
        """The line `step` was recorded from: by the uuid a transcript step keeps, a tool call's id, or (for what
        hooks recorded) the next line after `after` with the same words."""
        if step.kind not in (ev.PROMPT, ev.RESPONSE, ev.TOOL_CALL, ev.NOTE):
            return None
        p = step.event.payload
        found = self.by_uuid.get(p.get("transcript_uuid") or "")
        if found is not None:
            return found
        if step.kind == ev.TOOL_CALL and isinstance(p.get("tool_use_id"), str):
            return self.result_at.get(p["tool_use_id"], self.use_at.get(p["tool_use_id"]))
        if step.kind == ev.PROMPT and isinstance(p.get("text"), str):
            return self._next_prompt(p["text"], after)
        if step.kind == ev.RESPONSE:
            if isinstance(p.get("message_id"), str) and p["message_id"] in self.message_end:
                return self.message_end[p["message_id"]]
            if isinstance(p.get("text"), str):
                return self._next_answer(p["text"], after)
        return None

    def _next_prompt(self, text: str, after: int) -> int | None:
        """The prompt's line: the next typed message with these words, else (the recorded text was redacted) the next
        typed message at all."""
        first = None
        for i in range(after + 1, len(self.lines)):
            data = self.lines[i].data
            if not data or data.get("type") != "user" or data.get("isMeta") or data.get("isCompactSummary"):
                continue
            typed = _typed_text(data)
            if typed is None:
                continue
            if _words(typed) == _words(text):
                return i
            first = i if first is None else first
        return first

    def _next_answer(self, text: str, after: int) -> int | None:
        for i in range(after + 1, len(self.lines)):
            data = self.lines[i].data
            if data and data.get("type") == "assistant":
                texts = [str(b.get("text")) for b in _blocks(data) if b.get("type") == "text"]
                if texts and _words("\n\n".join(texts)) == _words(text):
                    return i
        return None


def _kept(lines: list[Line], index: _Index, cut: int) -> tuple[list[int], int]:
    """The lines the new transcript holds, in order: every readable line up to `cut`, and any line after it that a
    kept line descends from (Claude Code sometimes writes a tool's result before the call). Each line comes after
    its parent, the file's order otherwise: a reader meeting a result before its call would not know the call.
    A tool call whose result is not kept goes (the API refuses a call without its result) when its line holds
    nothing else; a line holding more keeps its calls and brings their results along."""
    keep = {i for i in range(cut + 1) if lines[i].data is not None}
    later: set[int] = set()
    for i in list(keep):
        parent = index.parent(i)
        while parent is not None and (at := index.by_uuid.get(parent)) is not None and at > cut and at not in later:
            later.add(at)
            parent = index.parent(at)
    kept = keep | later
    results = {
        str(b.get("tool_use_id")) for i in kept for b in _blocks(lines[i].data) if b.get("type") == "tool_result"
    }
    dropped = 0
    for i in sorted(kept):
        data = lines[i].data or {}
        if data.get("type") != "assistant":
            continue
        blocks = _blocks(data)
        open_calls = [b for b in blocks if b.get("type") == "tool_use" and str(b.get("id")) not in results]
        if not open_calls:
            continue
        if len(open_calls) == len(blocks):
            kept.discard(i)
            later.discard(i)
            dropped += len(open_calls)
        else:
            for block in open_calls:
                at = index.result_at.get(str(block.get("id")))
                if at is not None and at not in kept:
                    kept.add(at)
                    later.add(at)
    order: list[int] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if i in placed:
            return
        placed.add(i)
        parent = index.by_uuid.get(index.parent(i) or "")
        if parent is not None and parent in kept:
            place(parent)
        order.append(i)

    for i in sorted(kept):
        place(i)
    return order, dropped


def _rewritten(
    lines: list[Line], index: _Index, order: list[int], new_id: str, cwd_for: Callable[[str], str]
) -> list[bytes]:
    present = {str(data["uuid"]) for i in order if (data := lines[i].data) is not None and data.get("uuid")}
    out = []
    previous: str | None = None
    for i in order:
        data = lines[i].data or {}
        changes: dict[str, Any] = {}
        if isinstance(data.get("sessionId"), str):
            changes["sessionId"] = new_id
        if isinstance(data.get("cwd"), str):
            changes["cwd"] = cwd_for(data["cwd"])
        parent = index.parent(i)
        if parent is not None and parent not in present:
            changes["parentUuid"] = _kept_ancestor(index, parent, present) or previous
        out.append(_with_fields(lines[i].raw, changes) + b"\n")
        if isinstance(data.get("uuid"), str):
            previous = data["uuid"]
    return out


def _kept_ancestor(index: _Index, parent: str | None, present: set[str]) -> str | None:
    seen = set()
    while parent is not None and parent not in present and parent not in seen:
        seen.add(parent)
        at = index.by_uuid.get(parent)
        parent = index.parent(at) if at is not None else None
    return parent if parent in present else None


def _with_fields(raw: bytes, changes: dict[str, Any]) -> bytes:
    """The JSON object `raw` with the top-level `changes` made in place: every other byte stays as it was (a nested
    `cwd`, in a tool's input, is not a top-level field and is left alone)."""
    if not changes:
        return raw
    text = raw.decode("utf-8", "surrogateescape")
    try:
        spans = _top_level_spans(text)
    except ValueError:  # a shape json.loads takes but this reading does not (a byte-order mark): write it anew
        data = {**json.loads(text), **changes}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")
    edits = sorted((spans[key], value) for key, value in changes.items() if key in spans)
    out, at = [], 0
    for (start, end), value in edits:
        out += [text[at:start], json.dumps(value, ensure_ascii=False)]
        at = end
    out.append(text[at:])
    return "".join(out).encode("utf-8", "surrogateescape")


def _top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Each top-level key of the JSON object `text`, with where its value starts and ends."""
    i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    spans: dict[str, tuple[int, int]] = {}
    i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
    if text[i : i + 1] == "}":
        return spans
    while True:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = _DECODER.raw_decode(text, i)
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at {i}")
        start = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
        _, end = _DECODER.raw_decode(text, start)
        spans[key] = (start, end)  # a repeated key: the last one counts, as JSON.parse has it
        i = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[i : i + 1] == "}":
            return spans
        if text[i : i + 1] != ",":
            raise ValueError(f"expected ',' at {i}")
        i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]


def _blocks(data: dict[str, Any] | None) -> list[dict[str, Any]]:
    message = (data or {}).get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _typed_text(data: dict[str, Any]) -> str | None:
    """What the person typed in a user line; None for a line of tool results."""
    message = data.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    texts = [str(b.get("text")) for b in _blocks(data) if b.get("type") == "text" and b.get("text")]
    return "\n".join(texts) if texts else None


def _words(text: str) -> list[str]:
    return text.split()


# -- rebuilt from the steps ----------------------------------------------------------------------------------------


def rebuild_transcript(
    steps: Sequence[Step], new_id: str, cwd: str, version: str | None = None, branch: str | None = None
) -> ForkedTranscript:
    """A transcript in Claude Code's format made from the recorded steps alone: prompts, answers, and each tool call
    with its result. Thinking is left out (the API checks its signature, which trail does not keep); what trail
    redacted stays redacted."""
    lines: list[bytes] = []
    last_step = 0
    parent: str | None = None
    for step, entries in _entries(steps):
        for kind, message, extra in entries:
            line_id = str(uuid.uuid4())
            line: dict[str, Any] = {
                "parentUuid": parent,
                "isSidechain": False,
                "userType": "external",
                "cwd": cwd,
                "sessionId": new_id,
            }
            if version:
                line["version"] = version
            line.update(gitBranch=branch or "", type=kind, message=message, **extra)
            line.update(uuid=line_id, timestamp=stamp(step.time))
            lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            parent = line_id
            last_step = step.n
    return ForkedTranscript(lines, last_step, None)


def _entries(steps: Sequence[Step]) -> Iterator[tuple[Step, list[tuple[str, dict[str, Any], dict[str, Any]]]]]:
    """For each step, the transcript lines it becomes: (type, message, other fields)."""
    answer: dict[str, Any] = {}  # the last answer: its message id, model, and the calls it announced
    # A call still waiting for its result when it was recorded is completed by a later `tool_result` step.
    results = {
        s.event.payload["tool_use_id"]: s.event.payload
        for s in steps
        if s.kind == ev.TOOL_RESULT and isinstance(s.event.payload.get("tool_use_id"), str)
    }
    for step in steps:
        p = step.event.payload
        if step.kind == ev.PROMPT and isinstance(p.get("text"), str) and p["text"].strip():
            yield step, [("user", {"role": "user", "content": p["text"]}, {})]
        elif step.kind == ev.RESPONSE:
            calls = {str(u.get("id")) for u in p.get("tool_uses") or () if isinstance(u, dict)}
            answer = {"id": p.get("message_id") or _message_id(), "model": p.get("model") or step.model, "calls": calls}
            text = p.get("text")
            if isinstance(text, str) and text.strip():
                message = _assistant(answer, [{"type": "text", "text": text}], p.get("stop_reason"), p.get("usage"))
                yield step, [("assistant", message, {})]
        elif step.kind == ev.TOOL_CALL:
            tool_id = (
                p.get("tool_use_id") if isinstance(p.get("tool_use_id"), str) else f"toolu_trail{uuid.uuid4().hex}"
            )
            if tool_id not in answer.get("calls", ()):
                answer = {"id": _message_id(), "model": step.model or answer.get("model"), "calls": {tool_id}}
            if p.get("output") is None and p.get("error") in (None, "") and tool_id in results:
                p = {**p, **{k: v for k, v in results[tool_id].items() if k in ("output", "error", "result")}}
            tool_input = p.get("input") if isinstance(p.get("input"), dict) else {"input": p.get("input")}
            use = {"type": "tool_use", "id": tool_id, "name": str(p.get("name") or "unknown"), "input": tool_input}
            failed = p.get("error") not in (None, "", False)
            output = p.get("error") if failed else p.get("output")
            if output is None and not failed:
                output, failed = _NO_RESULT, True
            result = {"tool_use_id": tool_id, "type": "tool_result", "content": output_text(output), "is_error": failed}
            extra = {"toolUseResult": p["result"] if p.get("result") is not None else output}
            yield (
                step,
                [
                    ("assistant", _assistant(answer, [use], "tool_use", None), {}),
                    ("user", {"role": "user", "content": [result]}, extra),
                ],
            )


def _assistant(answer: dict[str, Any], content: list[dict[str, Any]], stop: Any, usage: Any) -> dict[str, Any]:
    return {
        "model": answer.get("model") or "unknown",
        "id": answer["id"],
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop if isinstance(stop, str) else None,
        "stop_sequence": None,
        "usage": usage if isinstance(usage, dict) else {"input_tokens": 0, "output_tokens": 0},
    }


def _message_id() -> str:
    return f"msg_trail{uuid.uuid4().hex}"

"""Codex CLI's rollout files (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`) turned into events.

A rollout is JSON lines of `{timestamp, type, payload}` (what codex-rs/core/src/rollout/policy.rs persists):
`session_meta`, `turn_context`, `response_item` (what the model saw and said: messages, reasoning, function and
custom tool calls with their outputs, web searches, Codex's ghost snapshots, compactions), `event_msg` (what the
screen showed: user and agent messages, reasoning summaries, cumulative `token_count`s, turn start, end and abort,
command and patch results) and `compacted`. The versions differ (seen in two real files, Codex 0.66 and 0.117):

- 0.66 writes a `turn_context` before every model request and no turn ids; no `task_started`/`task_complete`;
  reasoning summaries twice (`agent_reasoning` event and `reasoning` item); each `token_count` twice.
- 0.117 writes turns (`task_started`, `task_complete`, `turn_context` with `turn_id` and `effort`), `developer`
  messages, `agent_message` phases (commentary, final_answer), `exec_command_end`/`patch_apply_end` events beside
  the outputs (exit code, duration), and reasoning that is only encrypted (an empty summary).
- Rollouts of mid 2025 have no envelope: a bare header `{id, timestamp, instructions}`, `{"record_type":"state"}`
  markers and bare items without timestamps; they are read too.

What the model produced between two token counts is one response (its text, its reasoning as thinking, the calls it
made); the tokens of that request are the difference between two cumulative `total_token_usage`s, never their sum.
A tool call is recorded when its output arrives (paired by `call_id`), with the exit code and duration Codex
reported. Injected context (`<environment_context>`, AGENTS.md instructions, permission notes) is kept as notes, and
so is anything this version does not know: nothing is dropped without a trace. A turn's settings (`turn_context`:
sandbox, approvals, instructions) travel with the next prompt or response when they change. Left out on purpose:
rate-limit snapshots, the outputs an exec or patch event repeats from its call's output, and reasoning's encrypted
bytes (only OpenAI can read them; their count is kept). The format is Codex's internal one ("not a stable
interface", developers.openai.com/codex/hooks), so unknown fields are kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_lines import iter_blocks
from trail.events import Event

AGENT = "codex"
ENVELOPE_TYPES = frozenset(("session_meta", "turn_context", "response_item", "event_msg", "compacted"))
# Response items of the pre-envelope rollouts (and of the envelope's `response_item` payloads).
ITEM_TYPES = frozenset(
    (
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
        "ghost_snapshot",
        "compaction",
    )
)
USAGE_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
# Events that only repeat what an item holds, or mark a boundary the items already show.
_QUIET_EVENTS = frozenset(("agent_reasoning_section_break",))
# Texts Codex injects as user messages: context the model saw, not what the person typed.
_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions", "<permissions")
# Outputs of an exec event that repeat the call's output item.
_REPEATED_OUTPUT = ("stdout", "stderr", "aggregated_output", "formatted_output")
# A rollout whose last line is older than this is not being written any more: its open calls never got a result.
STALE_AFTER = timedelta(hours=24)
READ_CHUNK = 4 << 20


@dataclass
class RolloutLine:
    """One line: where it ends in the file (its newline included), its JSON object (None if it is not one)."""

    end: int
    data: dict[str, Any] | None
    raw: bytes


def _parse(raw: bytes, end: int) -> RolloutLine:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    return RolloutLine(end, data if isinstance(data, dict) else None, raw)


def iter_chunks(path: str | os.PathLike[str], offset: int = 0, chunk: int = READ_CHUNK) -> Iterator[list[RolloutLine]]:
    """The complete lines from byte `offset` on, a few MB at a time. A last line without its newline is included only
    if it is a whole JSON object (a file that ends mid-line is still being written: that line waits)."""
    for data, position, whole in iter_blocks(os.fspath(path), offset, chunk):
        if not whole:
            last = _parse(data, position + len(data))
            if last.data is not None:
                yield [last]
            continue
        lines = []
        for raw in data.split(b"\n")[:-1]:
            position += len(raw) + 1
            if raw.strip():
                lines.append(_parse(raw, position))
        yield lines


def read_new(path: str | os.PathLike[str], offset: int, limit: int = 16 << 20) -> list[RolloutLine]:
    """The complete lines after `offset` (about `limit` bytes of them at most): what a hook catches up with."""
    lines: list[RolloutLine] = []
    size = 0
    for chunk in iter_chunks(path, offset, chunk=min(limit, READ_CHUNK)):
        lines += chunk
        size += sum(len(line.raw) + 1 for line in chunk)
        if size >= limit:
            break
    return lines


@dataclass
class RolloutState:
    """How far a rollout has been read and what is still open; saved between hook calls (plain JSON)."""

    offset: int = 0
    meta: dict[str, Any] | None = None  # the first session_meta's payload
    model: str | None = None
    effort: str | None = None
    turn_id: str | None = None
    turn_open: bool = False
    totals: dict[str, int] = field(default_factory=dict)  # the last cumulative token counts
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call_id -> the call, waiting for its output
    ends: dict[str, dict[str, Any]] = field(default_factory=dict)  # call_id -> exec/patch result before the output
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)  # results left for hooks, until the turn ends
    recorded: set[str] = field(default_factory=set)  # call ids recorded (by a hook, or from here)
    pending: dict[str, Any] | None = None  # the response being put together
    context: list[dict[str, Any]] = field(default_factory=list)  # user/developer messages not matched yet
    last_prompt: str | None = None
    last_text: str | None = None
    fallback: dict[str, Any] | None = None  # a response a Stop hook recorded before the rollout had it
    last_time: str | None = None
    legacy: bool = False
    settings: dict[str, Any] | None = None  # the last turn_context (sandbox, approvals, instructions…) recorded
    settings_changed: bool = False  # …and whether the next prompt or response carries a new one

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["recorded"] = sorted(self.recorded)[-2000:]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        state.recorded = set(state.recorded or ())
        return state


class RolloutConverter:
    """Turns rollout lines into events for one session.

    `prompts`: record the person's messages (import, notify) or leave them to the UserPromptSubmit hook.
    `defer_tools`: calls no hook recorded wait for `end_turn()` (a PostToolUse hook may still record them).
    """

    def __init__(
        self,
        session_id: str,
        state: RolloutState | None = None,
        prompts: bool = True,
        defer_tools: bool = False,
        same_text: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.session_id = session_id
        self.state = state or RolloutState()
        self.prompts = prompts
        self.defer_tools = defer_tools
        self.same_text = same_text or (lambda a, b: a.split() == b.split())
        self._out: list[Event] = []
        self._time: str | None = None
        self._line_end = self.state.offset  # where the line being read ends: each event says where it came from
        self._flushed: str | None = None  # "open" or "over" while the end of the input is flushed

    # -- input ---------------------------------------------------------------------------------------------------

    def feed(self, lines: list[RolloutLine]) -> list[Event]:
        self._out = []
        for line in lines:
            self._line_end = line.end
            if line.data is None:
                self._note("A rollout line that is not a JSON object (kept as it was)", raw=_raw(line.raw))
            else:
                try:
                    self._line(line.data)
                except (TypeError, AttributeError, ValueError, KeyError) as e:
                    self._note(f"A rollout line trail could not read ({e})", raw=_raw(line.raw))
            self.state.offset = line.end
        return self._out

    def end_turn(self) -> list[Event]:
        """The turn is over (a Stop or prompt hook, a notify): what it said last, and the results no hook recorded."""
        self._out = []
        self._line_end = self.state.offset
        self._flush()
        self._flush_context()
        for call_id, payload in list(self.state.deferred.items()):
            if call_id not in self.state.recorded:
                self.state.recorded.add(call_id)
                self._emit(ev.TOOL_CALL, payload, payload.pop("_time", None))
        self.state.deferred.clear()
        return self._out

    def finish(self, over: bool) -> list[Event]:
        """The end of what there is to read. `over`: the session will not go on (its calls with no output never get
        one); otherwise they wait, unrecorded, for their output or their turn's end."""
        self._flushed = "over" if over else "open"
        try:
            out = self.end_turn()
            self._out = out
            if over or not self.state.turn_open:
                self._unresolved()
            return self._out
        finally:
            self._flushed = None

    @property
    def waiting(self) -> int:
        """Calls made whose output has not arrived."""
        return sum(1 for call_id in self.state.calls if call_id not in self.state.recorded)

    def stale(self, now: datetime | None = None) -> bool:
        """Whether the last line read is old enough that Codex no longer writes this rollout."""
        last = parse_time(self.state.last_time)
        return last is not None and (now or datetime.now(UTC)) - last > STALE_AFTER

    # -- lines ---------------------------------------------------------------------------------------------------

    def _line(self, line: dict[str, Any]) -> None:
        kind = line.get("type")
        stamp = line.get("timestamp")
        if isinstance(stamp, str):
            self._time = stamp
            self.state.last_time = stamp
        payload = line.get("payload")
        if kind in ENVELOPE_TYPES:
            if not isinstance(payload, dict):
                raise ValueError(f"the payload of a {kind} line is not an object")
            if kind == "session_meta":
                self._session_meta(payload)
            elif kind == "turn_context":
                self._turn_context(payload)
            elif kind == "response_item":
                self._item(payload)
            elif kind == "event_msg":
                self._event(payload)
            else:
                self._compacted(payload)
        elif kind in ITEM_TYPES and "payload" not in line:
            self.state.legacy = True  # a rollout from before the envelope: bare items
            self._item(line)
        elif line.get("record_type") == "state":
            self.state.legacy = True
        elif "id" in line and "timestamp" in line and "type" not in line and self.state.meta is None:
            self.state.legacy = True
            self._session_meta(line)
        else:
            self._note(f"A rollout line of a kind trail does not know ({kind!r})", line=line)

    def _session_meta(self, meta: dict[str, Any]) -> None:
        if self.state.meta is None:
            self.state.meta = meta
            self.state.model = self.state.model or meta.get("model")
        else:  # a resumed or forked rollout can carry its origin's metadata too
            self._note("Codex session metadata (again)", meta=meta)

    def _turn_context(self, context: dict[str, Any]) -> None:
        settings = {k: v for k, v in context.items() if k != "turn_id"}
        if settings != self.state.settings:  # 0.66 repeats it before every request: kept when it changes
            self.state.settings = settings
            self.state.settings_changed = True
        self.state.model = context.get("model") or self.state.model
        settings = (context.get("collaboration_mode") or {}).get("settings") or {}
        self.state.effort = context.get("effort") or settings.get("reasoning_effort") or self.state.effort
        if context.get("turn_id"):
            self._turn(str(context["turn_id"]))
        self.state.turn_open = True  # 0.66 has no turn ids: a turn is open from its context to its end

    def _turn(self, turn_id: str) -> None:
        if turn_id != self.state.turn_id:
            self._flush()
            self.state.turn_id = turn_id
        self.state.turn_open = True

    # -- response items ------------------------------------------------------------------------------------------

    def _item(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "message":
            self._message(item)
        elif kind == "reasoning":
            response = self._response()
            texts = [str(part.get("text")) for part in item.get("content") or [] if isinstance(part, dict)]
            summary = [str(part.get("text")) for part in item.get("summary") or [] if isinstance(part, dict)]
            if [t for t in texts if t.strip()]:
                response["thinking"] += [t for t in texts if t.strip()]
            elif [t for t in summary if t.strip()]:
                response["thinking"] += [t for t in summary if t.strip()]
                response["summary_only"] = True
            if item.get("encrypted_content"):
                response["encrypted"] += 1
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            self._call(item)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self._output(item)
        elif kind == "web_search_call":
            # A hosted tool: no output item follows, the model reads the results directly.
            call_id = str(item.get("id") or item.get("call_id") or f"web_search_{self._time}")
            response = self._response()
            response["tool_uses"].append({"id": call_id, "name": "web_search"})
            response["done_calls"].append(
                {
                    "name": "web_search",
                    "input": item.get("action"),
                    "call_status": item.get("status"),
                    "tool_use_id": call_id,
                    "call_type": kind,
                }
            )
        elif kind == "ghost_snapshot":
            ghost = item.get("ghost_commit") or {}
            self._note(
                f"Codex saved the working tree as commit {str(ghost.get('id') or '?')[:12]} (its undo point)",
                ghost_commit=ghost,
            )
        elif kind == "compaction":
            self._flush()
            self._note("Codex compacted the conversation", compaction={k: v for k, v in item.items() if k != "type"})
        else:
            self._note(f"A response item of a kind trail does not know ({kind!r})", item=item)

    def _message(self, item: dict[str, Any]) -> None:
        role = item.get("role")
        text = _content_text(item.get("content"))
        if role == "assistant":
            response = self._response()
            if text:
                response["texts"].append(text)
            if item.get("phase"):
                response["phase"] = item["phase"]
            return
        entry = {"text": text, "role": role, "time": self._time}
        content = item.get("content")
        parts: list[Any] = content if isinstance(content, list) else []
        images = [part for part in parts if isinstance(part, dict) and part.get("type") != "input_text"]
        if images:
            entry["parts"] = images
        if role == "user" and self.state.legacy and not text.lstrip().startswith(_CONTEXT_PREFIXES):
            # No user_message events before the envelope: the item is the prompt.
            self._flush()
            self._flush_context()
            self._prompt(text, images or None)
            return
        if role == "user" and self.state.last_prompt is not None and self.same_text(text, self.state.last_prompt):
            self.state.last_prompt = None  # its user_message came first
            return
        self.state.context.append(entry)

    def _call(self, item: dict[str, Any]) -> None:
        kind = item["type"]
        call_id = str(item.get("call_id") or item.get("id") or "")
        if kind == "local_shell_call":
            name, tool_input = "local_shell", item.get("action")
        elif kind == "custom_tool_call":
            name, tool_input = str(item.get("name") or "unknown"), item.get("input")
        else:
            name, tool_input = str(item.get("name") or "unknown"), _arguments(item.get("arguments"))
        response = self._response()
        response["tool_uses"].append({"id": call_id, "name": name})
        call = {"name": name, "input": tool_input, "call_type": kind, "turn_id": self.state.turn_id}
        if item.get("status"):
            call["call_status"] = item["status"]  # Codex's own; `status` says a call has no result
        self.state.calls[call_id] = call

    def _output(self, item: dict[str, Any]) -> None:
        self._flush()  # what the model said before the call comes before it
        call_id = str(item.get("call_id") or "")
        call = self.state.calls.pop(call_id, None)
        payload: dict[str, Any] = {"name": "unknown", "input": None}
        if call is not None:
            payload.update({k: v for k, v in call.items() if v is not None})
        output, error, metadata = _output(item.get("output"))
        if error:
            payload["error"] = output
        else:
            payload["output"] = output
        if metadata:
            payload["metadata"] = metadata
        end = self.state.ends.pop(call_id, None)
        if end:
            payload.update(_end_fields(end))
        payload["tool_use_id"] = call_id
        payload["source"] = "rollout"
        if call_id in self.state.recorded:
            return  # a hook recorded it
        if self.defer_tools:
            self.state.deferred[call_id] = {**payload, "_time": self._time}
            return
        self.state.recorded.add(call_id)
        self._emit(ev.TOOL_CALL, payload, self._time)

    # -- events --------------------------------------------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "user_message":
            self._user_message(event)
        elif kind == "agent_message":
            response = self._response()
            if event.get("message"):
                response["event_texts"].append(str(event["message"]))
            if event.get("phase"):
                response["phase"] = event["phase"]
        elif kind in ("agent_reasoning", "agent_reasoning_raw_content"):
            if event.get("text"):
                self._response()["event_thinking"].append(str(event["text"]))
        elif kind == "token_count":
            self._tokens(event)
        elif kind == "task_started":
            if event.get("turn_id"):
                self._turn(str(event["turn_id"]))
            self.state.turn_open = True
        elif kind == "task_complete":
            if self.state.pending is not None:
                self.state.pending["turn_complete"] = True
            self._flush()
            self.state.turn_open = False
        elif kind == "turn_aborted":
            self._flush()
            reason = event.get("reason") or "unknown"
            self._note(f"Turn aborted ({reason})", reason=reason, aborted=True)
            self.state.turn_open = False
            self._unresolved(status=f"turn aborted ({reason}) before its result")
        elif kind in _QUIET_EVENTS:
            return
        elif isinstance(event.get("call_id"), str) and str(kind).endswith("_end"):
            self._call_end(event)
        elif kind == "context_compacted":
            self._flush()
            self._note("Codex compacted the conversation", event=event)
        elif kind in ("error", "warning", "stream_error"):
            self._note(f"Codex {kind}: {event.get('message') or ''}".strip(), event=event)
        else:
            self._note(f"Codex event {kind}", event=event)

    def _user_message(self, event: dict[str, Any]) -> None:
        text = str(event.get("message") or "")
        matched = next(
            (i for i, e in enumerate(self.state.context) if e["role"] == "user" and self.same_text(e["text"], text)),
            None,
        )
        item = self.state.context.pop(matched) if matched is not None else None
        self._flush()
        self._flush_context()
        images = {k: event[k] for k in ("images", "local_images", "text_elements") if event.get(k)}
        self.state.turn_open = True
        if item is None:
            self.state.last_prompt = text  # its response item may follow
        if self.prompts:
            self._prompt(text, None, images)

    def _prompt(self, text: str, parts: Any = None, extra: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"text": text, "turn_id": self.state.turn_id, **(extra or {})}
        if parts:
            payload["parts"] = parts
        self._emit(ev.PROMPT, payload, self._time)

    def _call_end(self, event: dict[str, Any]) -> None:
        call_id = event["call_id"]
        if call_id in self.state.calls:
            self.state.ends[call_id] = event
            return
        if call_id in self.state.deferred:
            self.state.deferred[call_id].update(_end_fields(event))
            return
        if call_id in self.state.recorded:
            return  # after its output, which holds what it says
        # A command the person ran (`!cmd`), or one no call item announced: recorded on its own.
        self._flush()
        payload: dict[str, Any] = {
            "name": str(event.get("type")).removesuffix("_end"),
            "input": event.get("command") or event.get("invocation"),
            "output": event.get("aggregated_output") or event.get("stdout") or event.get("result"),
            "tool_use_id": call_id,
            **_end_fields(event),
            "source": "rollout",
        }
        if call_id not in self.state.recorded:
            self.state.recorded.add(call_id)
            self._emit(ev.TOOL_CALL, payload, self._time)

    def _tokens(self, event: dict[str, Any]) -> None:
        info = event.get("info")
        if not isinstance(info, dict) or not isinstance(info.get("total_token_usage"), dict):
            return  # rate limits only
        total = {k: v for k, v in info["total_token_usage"].items() if isinstance(v, int)}
        before = self.state.totals
        if any(total.get(k, 0) < before.get(k, 0) for k in before):
            before = {}  # the count started again (a new process on the same rollout)
        delta = {k: v - before.get(k, 0) for k, v in total.items() if v - before.get(k, 0)}
        self.state.totals = total
        if not delta:
            return  # Codex repeats the last count
        pending = self.state.pending
        if pending is not None and pending["usage"]:
            self._flush()
        response = self._response()
        response["usage"] = delta
        if info.get("model_context_window"):
            response["context_window"] = info["model_context_window"]

    def _compacted(self, payload: dict[str, Any]) -> None:
        self._flush()
        history = payload.get("replacement_history")
        self._note(
            "Codex compacted the conversation",
            summary=payload.get("message"),
            replaced_items=len(history) if isinstance(history, list) else None,
        )

    # -- output --------------------------------------------------------------------------------------------------

    def _response(self) -> dict[str, Any]:
        pending = self.state.pending
        if pending is not None and pending["usage"]:
            self._flush()  # its tokens are counted: what comes now is the next request
            pending = None
        if pending is None:
            self._flush_context()
            pending = self.state.pending = {
                "texts": [],
                "event_texts": [],
                "thinking": [],
                "event_thinking": [],
                "summary_only": False,
                "encrypted": 0,
                "tool_uses": [],
                "done_calls": [],
                "usage": {},
                "model": self.state.model,
                "effort": self.state.effort,
                "turn_id": self.state.turn_id,
            }
        pending["time"] = self._time
        return pending

    def _flush(self) -> None:
        pending = self.state.pending
        if pending is None:
            return
        self.state.pending = None
        text = "\n\n".join(pending["texts"] or pending["event_texts"])
        thinking_parts = pending["thinking"] or pending["event_thinking"]
        thinking = "\n\n".join(thinking_parts)
        usage = pending["usage"]
        if not (text or thinking or usage or pending["tool_uses"] or pending["encrypted"]):
            return
        payload: dict[str, Any] = {}
        fallback = self.state.fallback
        if text and fallback and self.same_text(text, str(fallback.get("text", ""))):
            payload["text_recorded_at"] = fallback.get("step")  # a Stop hook recorded these words already
            self.state.fallback = None
        elif text:
            payload["text"] = text
            self.state.last_text = text
        if thinking:
            payload["thinking"] = thinking
            if pending["summary_only"] or not pending["thinking"]:
                payload["thinking_summary"] = True  # Codex keeps the model's summary of its reasoning, not all of it
        if pending["encrypted"]:
            payload["thinking_encrypted"] = pending["encrypted"]  # reasoning items only OpenAI can read
        payload["model"] = pending["model"]
        payload["effort"] = pending["effort"]
        if usage:
            payload["tokens_in"] = usage.get("input_tokens", 0)  # OpenAI's input count includes the cached part
            payload["tokens_out"] = usage.get("output_tokens", 0)  # and its output count the reasoning
            payload["usage"] = usage
            payload["context_window"] = pending.get("context_window")
        payload["phase"] = pending.get("phase")
        if pending.get("turn_complete"):
            payload["stop_reason"] = "turn_complete"
        if pending["tool_uses"]:
            payload["tool_uses"] = pending["tool_uses"]
        payload["turn_id"] = pending["turn_id"]
        self._emit(ev.RESPONSE, {k: v for k, v in payload.items() if v is not None}, pending.get("time"))
        for call in pending["done_calls"]:
            if call["tool_use_id"] not in self.state.recorded:
                self.state.recorded.add(call["tool_use_id"])
                self._emit(ev.TOOL_CALL, {**call, "source": "rollout"}, pending.get("time"))

    def _flush_context(self) -> None:
        """Messages the model was given that nobody typed (environment, AGENTS.md, permissions): notes."""
        context, self.state.context = self.state.context, []
        for entry in context:
            role = entry.get("role") or "unknown"
            payload = {"text": entry["text"], "role": role, "context": True}
            if entry.get("parts"):
                payload["parts"] = entry["parts"]
            self._emit(ev.NOTE, payload, entry.get("time"))

    def _unresolved(self, status: str = "no result in the rollout") -> None:
        for call_id, call in list(self.state.calls.items()):
            del self.state.calls[call_id]
            if call_id in self.state.recorded:
                continue
            self.state.recorded.add(call_id)
            payload = {**{k: v for k, v in call.items() if v is not None}, "tool_use_id": call_id}
            end = self.state.ends.pop(call_id, None)
            if end:
                payload.update(_end_fields(end))
            payload.update(status=status, source="rollout")
            self._emit(ev.TOOL_CALL, payload, self._time)

    def _note(self, text: str, **fields: Any) -> None:
        self._flush()
        payload = {"text": text, **{k: v for k, v in fields.items() if v is not None}}
        if self.state.turn_id:
            payload["turn_id"] = self.state.turn_id
        self._emit(ev.NOTE, payload, self._time)

    def _emit(self, kind: str, payload: dict[str, Any], stamp: str | None) -> None:
        if kind in (ev.PROMPT, ev.RESPONSE) and self.state.settings_changed:
            payload["turn_context"] = self.state.settings
            self.state.settings_changed = False
        payload["rollout_offset"] = self._line_end
        if self._flushed:
            payload["rollout_flushed"] = self._flushed  # emitted at the end of the input, not by a line
        self._out.append(
            Event(
                kind=kind,
                payload={k: v for k, v in payload.items() if v is not None},
                session_id=self.session_id,
                time=_time(stamp or self.state.last_time),
                agent=AGENT,
            )
        )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif isinstance(part, dict) and part.get("type") in ("input_image", "image"):
            parts.append("[image]")
    return "\n".join(parts)


def _arguments(arguments: Any) -> Any:
    """A function call's arguments: a JSON string (as the Responses API sends them), read if it is one."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _output(output: Any) -> tuple[Any, bool, dict[str, Any] | None]:
    """(the output as the model saw it, whether it failed, metadata Codex wrapped around it)."""
    if isinstance(output, dict):  # {content, success} in some versions
        failed = output.get("success") is False
        content = output.get("content")
        if isinstance(content, list):
            content = _content_text(content) or content
        return content, failed, {k: v for k, v in output.items() if k not in ("content", "success")} or None
    if isinstance(output, list):
        return _content_text(output) or output, False, None
    if isinstance(output, str) and output.startswith("{") and '"output"' in output[:40]:
        try:
            wrapped = json.loads(output)  # apply_patch: {"output": ..., "metadata": {exit_code, duration_seconds}}
        except ValueError:
            return output, False, None
        if isinstance(wrapped, dict) and isinstance(wrapped.get("output"), str):
            metadata = wrapped.get("metadata") if isinstance(wrapped.get("metadata"), dict) else None
            failed = bool(metadata and metadata.get("exit_code") not in (None, 0))
            return wrapped["output"], failed, metadata
    return output, False, None


def _end_fields(end: dict[str, Any]) -> dict[str, Any]:
    """What an exec/patch/MCP end event adds to its call (its outputs repeat the output item's and are left out)."""
    fields: dict[str, Any] = {}
    if isinstance(end.get("exit_code"), int):
        fields["exit_code"] = end["exit_code"]
    duration = _duration_ms(end.get("duration"))
    if duration is not None:
        fields["duration_ms"] = duration
    fields["end"] = {k: v for k, v in end.items() if k not in _REPEATED_OUTPUT}
    return fields


def _duration_ms(value: Any) -> int | None:
    """Codex writes Rust Durations as {secs, nanos}."""
    if isinstance(value, dict) and isinstance(value.get("secs"), int):
        return value["secs"] * 1000 + int(value.get("nanos") or 0) // 1_000_000
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _raw(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # every byte survives, as escapes


def parse_time(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _time(stamp: Any) -> datetime:
    return parse_time(stamp) or ev.now()


def session_of(lines: list[RolloutLine], path: Path) -> str | None:
    """The session id: session_meta's `id` (the thread id Codex's hooks and `codex resume` use), else the UUID that
    ends the file's name."""
    for line in lines[:20]:
        data = line.data or {}
        meta = data.get("payload") if data.get("type") == "session_meta" else data if "id" in data else None
        if isinstance(meta, dict) and isinstance(meta.get("id"), str) and meta["id"]:
            return meta["id"]
    stem = path.stem
    return stem[-36:] if len(stem) >= 36 else None

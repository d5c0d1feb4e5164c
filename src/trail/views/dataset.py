"""Sessions as datasets: JSON lines for fine-tuning (`chat`) or for studying what agents did (`trajectory`).

`chat`: one line per session, `{"messages": [...]}` in the chat format fine-tuning APIs take (OpenAI's
chat-completions fine-tuning format): `user` messages from prompts, `assistant` messages from responses, the tool
calls an assistant asked for as its `tool_calls` (`{"id", "type": "function", "function": {"name", "arguments"}}`,
the arguments a JSON string), each answered by a `tool` message with the same `tool_call_id`. Only calls whose
result was recorded appear, so every call has its answer and every answer its call. Thinking, notes and commands
are left out: they are not messages the model was sent or wrote.

`trajectory`: one line per session: the commit it began on, each step's action (what the agent or the person did)
and observation (what came back, and the files the step changed), how it ended, and its final diff.

Both read the steps as stored: what trail redacted stays redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pygit2

from trail import events as ev
from trail.api import History, Session
from trail.store.steps import Step

FORMATS = ("chat", "trajectory")
UNFINISHED = "unfinished"  # the --ended value of sessions with no end recorded
_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass
class DatasetResult:
    lines: int = 0
    skipped: int = 0  # sessions with nothing for the format (no user and assistant message, for chat)


def end_reason(session: Session) -> str | None:
    """How the session ended (its session_end's reason, "ended" when none was given); None while unfinished."""
    tip = session.history.store.load(session.tip.commit, session.id, full=True)
    if tip.kind != ev.SESSION_END:
        return None
    reason = tip.event.payload.get("reason")
    return str(reason) if reason not in (None, "") else "ended"


def ended_as(session: Session, wanted: Iterable[str]) -> bool:
    """Whether the session ended one of the `wanted` ways: a reason or its first word (`error` for
    "error: ValueError: …"), or `unfinished`."""
    reason = end_reason(session)
    for want in wanted:
        if want == UNFINISHED and reason is None:
            return True
        if reason is not None and (reason == want or re.split(r"[:\s]", reason, maxsplit=1)[0] == want):
            return True
    return False


def write_dataset(sessions: Iterable[Session], fmt: str, out: Any) -> DatasetResult:
    """Write one JSON line per session to the text stream `out`."""
    result = DatasetResult()
    for session in sessions:
        record = chat_record(session) if fmt == "chat" else trajectory_record(session)
        if record is None:
            result.skipped += 1
            continue
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        result.lines += 1
    return result


# -- chat ------------------------------------------------------------------------------------------------------------


def chat_record(session: Session) -> dict[str, Any] | None:
    messages = chat_messages(session.iter_steps(full=True))
    roles = {m["role"] for m in messages}
    if not {"user", "assistant"} <= roles:
        return None
    return {"messages": messages}


def chat_messages(steps: Iterable[Step]) -> list[dict[str, Any]]:
    """The conversation of `steps` as chat messages, tool calls paired with their results."""
    steps = list(steps)
    late = {  # results of calls recorded while they waited (a tool_result step completes them)
        s.event.payload["tool_use_id"]: s.event.payload
        for s in steps
        if s.kind == ev.TOOL_RESULT and isinstance(s.event.payload.get("tool_use_id"), str)
    }
    messages: list[dict[str, Any]] = []
    asking: dict[str, Any] | None = None  # the assistant message the next tool results answer
    declared: set[str] = set()  # the call ids that message announced
    for step in steps:
        p = step.event.payload
        if step.kind == ev.PROMPT:
            text = p.get("text")
            if p.get("continues"):
                continue  # a request that only handed tool results back (trail.instrument()): no user message
            if isinstance(text, str) and text.strip():
                messages.append({"role": "user", "content": text})
            asking = None
        elif step.kind == ev.RESPONSE:
            text = p.get("text")
            uses = p.get("tool_uses")
            uses = uses if isinstance(uses, list) else []
            declared = {str(u.get("id")) for u in uses if isinstance(u, dict) and u.get("id")}
            if isinstance(text, str) and text.strip():
                asking = {"role": "assistant", "content": text}
                messages.append(asking)
            elif declared:
                asking = None  # a message of tool calls alone: made when its first result comes
        elif step.kind == ev.TOOL_CALL:
            call_id = p.get("tool_use_id") if isinstance(p.get("tool_use_id"), str) else f"call_step{step.n}"
            result = _result(p, late.get(call_id))
            if result is None:
                continue  # never answered: a call without its result is not a valid example
            if asking is None or (declared and call_id not in declared):
                asking = {"role": "assistant", "content": None}  # the calls the model made without a word
                messages.append(asking)
            asking.setdefault("tool_calls", []).append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": _tool_name(p.get("name")), "arguments": _arguments(p.get("input"))},
                }
            )
            # Only this message's results have come since it (a prompt or a response starts another), so the
            # results follow their calls in the order they were made.
            messages.append({"role": "tool", "tool_call_id": call_id, "content": result})
    return messages


def _result(payload: dict[str, Any], late: dict[str, Any] | None) -> str | None:
    for source in (payload, late or {}):
        for key in ("error", "output"):
            value = source.get(key)
            if value not in (None, ""):
                return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if "output" in payload and payload.get("status") is None:
        return ""  # a call that returned nothing
    return None


def _tool_name(name: Any) -> str:
    cleaned = _TOOL_NAME.sub("_", str(name or "tool"))[:64]
    return cleaned or "tool"


def _arguments(value: Any) -> str:
    if not isinstance(value, dict):
        value = {} if value is None else {"input": value}
    return json.dumps(value, ensure_ascii=False, default=str)


# -- trajectory ------------------------------------------------------------------------------------------------------


def trajectory_record(session: Session) -> dict[str, Any]:
    history = session.history
    steps: list[dict[str, Any]] = []
    previous_tree: str | None = None
    base = session.base
    if base is not None:
        previous_tree = str(history.repo.git[base].peel(pygit2.Commit).tree_id)
    for step in session.iter_steps(full=True):
        entry: dict[str, Any] = {"n": step.n, "kind": step.kind, "time": step.time.isoformat()}
        entry.update(_action(step))
        if previous_tree != step.tree and not step.tree_source:
            entry["files_changed"] = [c.path for c in history.changes(step)]
        previous_tree = step.tree
        steps.append(entry)
    return {
        "session": session.id,
        "agent": session.agent,
        "model": session.model,
        "title": session.title,
        "parent": list(session.parent) if session.parent else None,
        "base_commit": base,
        "ended": end_reason(session),
        "steps": steps,
        "uncommitted_at_start": session.uncommitted_at_start().patch or "",  # base + this = the start
        "final_diff": session.diff().patch or "",  # what changed during the session: the start + this = the end
    }


def _action(step: Step) -> dict[str, Any]:
    p = step.event.payload
    if step.kind == ev.PROMPT:
        return {"action": {"type": "prompt", "text": p.get("text")}, "observation": None}
    if step.kind == ev.RESPONSE:
        action = {"type": "response", "text": p.get("text"), "model": p.get("model") or step.model}
        for key in ("thinking", "tool_uses", "tokens_in", "tokens_out"):
            if p.get(key) not in (None, "", []):
                action[key] = p[key]
        return {"action": action, "observation": None}
    if step.kind in (ev.TOOL_CALL, ev.TOOL_RESULT):
        failed = p.get("error") not in (None, "", False)
        observation = p.get("error") if failed else p.get("output")
        action = {"type": step.kind, "tool": p.get("name"), "input": p.get("input"), "id": p.get("tool_use_id")}
        return {"action": action, "observation": observation, "error": failed}
    if step.kind == ev.DECISION:
        action = {"type": "decision", **{k: p.get(k) for k in ("choice", "reasoning", "alternatives")}}
        return {"action": action, "observation": None}
    return {"action": {"type": step.kind, **_small(p)}, "observation": None}


def _small(payload: dict[str, Any]) -> dict[str, Any]:
    """A step's own fields, without the bulky copies of what it came from."""
    return {k: v for k, v in payload.items() if k not in ("line", "hook", "content", "request") and v is not None}


def select(history: History, names: Iterable[str], since: Any = None, ended: Iterable[str] = ()) -> Iterator[Session]:
    """The sessions named (in that order), else every session active since `since` (oldest first), keeping those
    that ended one of the `ended` ways when any is given."""
    wanted = list(ended)
    chosen = [history.session(n) for n in names] if names else sorted(history.sessions(since), key=lambda s: s.started)
    for session in chosen:
        if not wanted or ended_as(session, wanted):
            yield session

"""Codex CLI's own session file for a fork: a rollout made from the recorded steps, where `codex resume <id>` finds it.

A rollout is JSON lines of `{timestamp, type, payload}`: a `session_meta` first (the id and the folder Codex works
in), then the conversation as `response_item`s (what Codex sends the model again on resume) with the `event_msg`s
its screen shows. Codex's reasoning is encrypted by the provider and cannot be rebuilt, so it is left out.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.fork_files import output_text, stamp
from trail.store.steps import Step

ORIGINATOR = "codex_cli_rs"
_NO_RESULT = "[trail: no result was recorded for this call]"


@dataclass
class Rollout:
    """The lines of the new rollout (each ending in a newline) and the step its last line holds."""

    lines: list[bytes]
    last_step: int


def codex_home() -> Path:
    """Codex's folder: CODEX_HOME, as Codex reads it, else ~/.codex."""
    home = os.environ.get("CODEX_HOME")
    return Path(home).expanduser() if home else Path.home() / ".codex"


def rollout_path(session_id: str, started: datetime) -> Path:
    """`sessions/YYYY/MM/DD/rollout-<local time>-<id>.jsonl` under Codex's folder, as Codex names its own."""
    local = started.astimezone()
    name = f"rollout-{local.strftime('%Y-%m-%dT%H-%M-%S')}-{session_id}.jsonl"
    return codex_home() / "sessions" / local.strftime("%Y") / local.strftime("%m") / local.strftime("%d") / name


def build_rollout(
    steps: Sequence[Step],
    session_id: str,
    cwd: str,
    commit: str,
    started: datetime,
    cli_version: str | None = None,
) -> Rollout:
    """The rollout of a new session `session_id` in `cwd` (checked out at `commit`) holding the conversation of
    `steps`: prompts become user messages, answers assistant messages, tool calls `function_call`s (or
    `custom_tool_call`s, for a tool whose input is text, as Codex's apply_patch) with their outputs."""
    started_at = stamp(started)
    meta = {
        "id": session_id,
        "timestamp": started_at,
        "cwd": cwd,
        "originator": ORIGINATOR,
        "cli_version": cli_version or "0.0.0",
        "instructions": None,
        "source": "cli",
        "model_provider": "openai",
        "git": {"commit_hash": commit},
    }
    lines = [_line(started_at, "session_meta", meta)]
    last_step = 0
    for step in steps:
        items = _items(step)
        if items:
            when = stamp(step.time)
            lines += [_line(when, kind, payload) for kind, payload in items]
            last_step = step.n
    return Rollout(lines, last_step)


def _items(step: Step) -> list[tuple[str, dict[str, Any]]]:
    p = step.event.payload
    if step.kind == ev.PROMPT and isinstance(p.get("text"), str) and p["text"].strip():
        return [
            (
                "response_item",
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": p["text"]}]},
            ),
            ("event_msg", {"type": "user_message", "message": p["text"], "images": []}),
        ]
    if step.kind == ev.RESPONSE and isinstance(p.get("text"), str) and p["text"].strip():
        text = p["text"]
        return [
            (
                "response_item",
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]},
            ),
            ("event_msg", {"type": "agent_message", "message": text}),
        ]
    if step.kind == ev.TOOL_CALL:
        call_id = p.get("tool_use_id") if isinstance(p.get("tool_use_id"), str) else f"call_trail{uuid.uuid4().hex}"
        name = str(p.get("name") or "unknown")
        failed = p.get("error") not in (None, "", False)
        output = _output(p.get("error") if failed else p.get("output"))
        if output is None:
            output = _NO_RESULT
        tool_input = p.get("input")
        if isinstance(tool_input, str):
            call = {"type": "custom_tool_call", "status": "completed", "call_id": call_id, "name": name}
            call["input"] = tool_input
            return [
                ("response_item", call),
                ("response_item", {"type": "custom_tool_call_output", "call_id": call_id, "output": output}),
            ]
        arguments = json.dumps(tool_input if tool_input is not None else {}, ensure_ascii=False)
        return [
            ("response_item", {"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id}),
            ("response_item", {"type": "function_call_output", "call_id": call_id, "output": output}),
        ]
    return []


def _line(when: str, kind: str, payload: dict[str, Any]) -> bytes:
    # As Codex (serde_json) writes them: compact, characters beyond ASCII as they are.
    data = {"timestamp": when, "type": kind, "payload": payload}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _output(value: Any) -> str | None:
    return None if value is None else output_text(value)

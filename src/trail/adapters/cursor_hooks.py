"""Cursor agent hook payloads turned into steps, each with the working tree of its moment.

The payloads (cursor.com/docs/agent/hooks; Cursor 1.7 to 2.x): every one has `conversation_id` (the session),
`generation_id` (the turn), `hook_event_name`, `workspace_roots`, and in newer versions `model`, `cursor_version`,
`user_email`, `transcript_path`. trail records sessionStart/sessionEnd, beforeSubmitPrompt (`prompt`,
`attachments`), afterAgentThought and afterAgentResponse (`text`, `duration_ms`), afterFileEdit (`file_path`,
`edits`), afterShellExecution (`command`, `output`, `duration`), afterMCPExecution (`tool_name`, `tool_input`,
`result_json`, `duration`; both JSON strings), preCompact and stop (`status`, `loop_count`). Cursor gives no token
counts to hooks. Everything for one conversation happens under that session's lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.hookrun import HookHandler, HookSource, SessionCall, event_and_session
from trail.capture.handlers import payload_cwd
from trail.store.steps import Step

AGENT = "cursor"
# Payload fields that become the step itself; everything else is kept under "hook".
_CONSUMED = {
    "conversation_id",
    "hook_event_name",
    "prompt",
    "text",
    "file_path",
    "edits",
    "command",
    "cwd",
    "output",
    "duration",
    "duration_ms",
    "tool_name",
    "tool_input",
    "result_json",
    "reason",
}


def _where(raw: bytes) -> str | None:
    """The workspace root the event is about: the one holding the edited file or the command's folder, when Cursor
    has several open; else the first."""
    try:
        payload = json.loads(raw) if len(raw) <= 4 << 20 else None
    except (ValueError, RecursionError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict):
        roots = [r for r in payload.get("workspace_roots") or [] if isinstance(r, str) and r]
        for key in ("file_path", "cwd"):
            target = payload.get(key)
            if isinstance(target, str) and target:
                for root in roots:
                    if _inside(target, root):
                        return root
    return payload_cwd(raw, "workspace_roots")


class CursorHookHandler(HookHandler):
    """Handles one hook call for one repository."""

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        name, session_id = event_and_session(payload, "conversation_id")
        with self.writer.session_lock(session_id):
            call = _SessionCall(self, session_id, payload)
            call.run(name)
        return call.steps


SOURCE = HookSource(
    source="cursor",
    title="Cursor",
    agent=AGENT,
    session_key="conversation_id",
    start_events=("sessionStart", "beforeSubmitPrompt"),
    where=_where,
    handler=CursorHookHandler,
)
run = SOURCE.run  # `trail-hook cursor`
record = SOURCE.record  # a kept payload, again


class _SessionCall(SessionCall):
    """One hook call's work on one conversation (Cursor's hooks need nothing saved between calls)."""

    agent = AGENT
    consumed = _CONSUMED
    changed_outside = "The working tree changed outside the agent's edits"

    def run(self, name: str) -> None:
        p = self.payload
        if name == "sessionStart":
            self._start()
            return
        self._ensure_started()
        if name == "beforeSubmitPrompt":
            self.external_change()
            self.write(ev.PROMPT, {"text": p.get("prompt"), "attachments": p.get("attachments") or None}, None)
        elif name == "afterAgentThought":
            self.write(ev.RESPONSE, {"thinking": p.get("text"), "duration_ms": p.get("duration_ms")}, None)
        elif name == "afterAgentResponse":
            self.write(ev.RESPONSE, {"text": p.get("text"), "duration_ms": p.get("duration_ms")}, None)
        elif name == "afterFileEdit":
            self._file_edit()
        elif name == "afterShellExecution":
            command = {"command": p.get("command"), "cwd": p.get("cwd") or None}
            fields: dict[str, Any] = {"name": "Shell", "input": {k: v for k, v in command.items() if v is not None}}
            self.write(ev.TOOL_CALL, {**fields, "output": p.get("output"), **self._duration()}, self.handler.snapshot())
        elif name == "afterMCPExecution":
            call = {"name": p.get("tool_name"), "input": _json(p.get("tool_input")), "mcp": True}
            output = _json(p.get("result_json"))
            self.write(ev.TOOL_CALL, {**call, "output": output, **self._duration()}, self.handler.snapshot())
        elif name == "preCompact":
            self.write(ev.NOTE, {"text": f"Context compaction ({p.get('trigger') or 'unknown'})"}, None)
        elif name == "stop":
            self.external_change()
            status = p.get("status")
            if status not in (None, "completed"):
                self.write(ev.NOTE, {"text": f"The agent's turn ended: {status}", "status": status}, None)
        elif name == "sessionEnd":
            self.external_change()
            self.write(ev.SESSION_END, {"reason": p.get("reason"), **self._duration()}, None)
        else:
            self.write(ev.NOTE, {"text": f"Cursor hook {name}"}, None)

    def _start(self) -> None:
        self.write(ev.SESSION_START, self.start_fields("startup"), self.handler.snapshot())

    def _ensure_started(self) -> None:
        if self.handler.store.session(self.session_id) is None:
            self._start()

    def _file_edit(self) -> None:
        p = self.payload
        given = p.get("file_path")
        path = _relative(given, self.handler.repo.workdir) if isinstance(given, str) else None
        fields = {"path": path or given, "paths": [path] if path else None, "edits": p.get("edits")}
        self.write(ev.FILE_EDIT, fields, self.handler.snapshot())

    def _duration(self) -> dict[str, Any]:
        value = self.payload.get("duration_ms", self.payload.get("duration"))
        return {"duration_ms": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else {}

    def lift(self, kind: str, payload: dict[str, Any], extra: dict[str, Any]) -> None:
        """The model (newer Cursor versions send it with every payload) goes with the steps that are its work."""
        model = self.payload.get("model")
        if kind in (ev.PROMPT, ev.RESPONSE, ev.SESSION_START) and isinstance(model, str) and model:
            payload["model"] = extra.pop("model")


def _json(value: Any) -> Any:
    """Cursor sends MCP inputs and results as JSON text: parsed when they parse, else kept as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _relative(path: str, workdir: Path) -> str | None:
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(workdir)).as_posix()
    except ValueError:
        return None


def _inside(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

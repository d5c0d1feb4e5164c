"""Gemini CLI hook payloads turned into steps, with the chat recording filling in the model, tokens and thoughts.

Hooks give the moments (`docs/hooks/reference.md` and `packages/core/src/hooks/types.ts` of google-gemini/gemini-cli):
SessionStart (`source`), BeforeAgent (`prompt`), BeforeTool and AfterTool (`tool_name`, `tool_input`, `tool_response
{llmContent, returnDisplay, error}`, `mcp_context`), AfterAgent (`prompt`, `prompt_response`, `stop_hook_active`),
Notification, PreCompress and SessionEnd (`reason`); each with `session_id`, `transcript_path`, `cwd`,
`hook_event_name` and `timestamp`. AfterModel, which fires for every streamed chunk, is not used: at AfterAgent the
chat file at `transcript_path` (gemini_chat.py) already holds the turn's model, token counts and thoughts, and is
read from where the last turn left off. Everything for one session happens under that session's lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters import gemini_chat
from trail.adapters.hookrun import HookHandler, HookSource, SessionCall, event_and_session, trusted_file
from trail.adapters.hookrun import file_size as _size
from trail.capture.handlers import payload_cwd
from trail.capture.keep import log_error
from trail.store.steps import Step

AGENT = gemini_chat.AGENT
READ_LIMIT = 64 << 20  # bytes of the chat file read at one turn's end
_COUNTED_KEPT = 1000  # message ids remembered as counted (a turn adds a few)
# Payload fields that become the step itself; everything else is kept under "hook".
_CONSUMED = {
    "session_id",
    "hook_event_name",
    "tool_name",
    "tool_input",
    "tool_response",
    "prompt",
    "prompt_response",
    "message",
    "reason",
    "source",
}


def trusted_chat(path: Path) -> bool:
    """A regular file under Gemini CLI's own tmp folder (links resolved): a payload naming /etc/passwd or a FIFO gets
    its own step recorded and nothing read."""
    return trusted_file(path, [gemini_chat.chats_root()])


class GeminiHookHandler(HookHandler):
    """Handles one hook call for one repository."""

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        name, session_id = event_and_session(payload, "session_id")
        with self.writer.session_lock(session_id):
            return _SessionCall(self, session_id, payload).run(name)


SOURCE = HookSource(
    source="gemini",
    title="Gemini CLI",
    agent=AGENT,
    session_key="session_id",
    start_events=("SessionStart",),
    where=payload_cwd,
    handler=GeminiHookHandler,
)
run = SOURCE.run  # `trail-hook gemini`
record = SOURCE.record  # a kept payload, again


class _SessionCall(SessionCall):
    """One hook call's work on one session, with that session's saved place in the chat file."""

    agent = AGENT
    source = "gemini"
    consumed = _CONSUMED

    def run(self, name: str) -> list[Step]:
        p = self.payload
        if name == "SessionStart":
            self._start(str(p.get("source") or "startup"))
        elif name == "BeforeAgent":
            self._ensure_started()
            self.external_change()
            self.write(ev.PROMPT, {"text": p.get("prompt")}, None)
        elif name == "BeforeTool":
            self._ensure_started()
            self.external_change()  # the person's edits are not blamed on the tool about to run
        elif name == "AfterTool":
            self._ensure_started()
            self._tool_call()
        elif name == "AfterAgent":
            self._ensure_started()
            self._response()
            self.external_change()
        elif name == "Notification":
            self._ensure_started()
            fields = {"text": p.get("message"), "notification_type": p.get("notification_type")}
            self.write(ev.NOTE, {**fields, "details": p.get("details")}, None)
        elif name == "PreCompress":
            self._ensure_started()
            self.write(ev.NOTE, {"text": f"Context compression ({p.get('trigger') or 'unknown'})"}, None)
        elif name == "SessionEnd":
            self._ensure_started()
            self.write(ev.SESSION_END, {"reason": p.get("reason")}, None)
        else:
            self._ensure_started()
            self.write(ev.NOTE, {"text": f"Gemini CLI hook {name}"}, None)
        self._save()
        return self.steps

    # -- pieces --------------------------------------------------------------------------------------------------

    def _start(self, source: str) -> None:
        fields = self.start_fields(source)
        chat = self._chat_path()
        if chat is not None and "offset" not in self.state:
            # Record from now on: what the chat held before (a resumed session) is history, for `trail import`.
            self.state["offset"] = _size(chat)
            if chat.suffix == ".json":  # rewritten whole: its answers so far are marked as counted instead
                try:
                    held = gemini_chat.read_chat(chat, READ_LIMIT)
                except (OSError, ValueError):
                    held = gemini_chat.Conversation()
                self.state["counted"] = [k for k, m in held.messages.items() if m.get("type") == "gemini"]
        self.write(ev.SESSION_START, fields, self.handler.snapshot())

    def _ensure_started(self) -> None:
        if self.handler.store.session(self.session_id) is None:
            self._start("startup")

    def _tool_call(self) -> None:
        p = self.payload
        response = p.get("tool_response")
        fields: dict[str, Any] = {"name": p.get("tool_name"), "input": p.get("tool_input")}
        if isinstance(response, dict):
            fields["output"] = response.get("llmContent")
            fields["display"] = response.get("returnDisplay")
            fields["error"] = response.get("error") or None
            extra = {k: v for k, v in response.items() if k not in ("llmContent", "returnDisplay", "error")}
            if extra:
                fields["response"] = extra
        else:
            fields["output"] = response
        self.write(ev.TOOL_CALL, fields, self.handler.snapshot())

    def _response(self) -> None:
        """The turn's answer from the hook, with what the chat file adds: model, tokens, thoughts."""
        fields: dict[str, Any] = {"text": self.payload.get("prompt_response")}
        fields.update(self._turn_from_chat())
        self.write(ev.RESPONSE, fields, None)

    def _turn_from_chat(self) -> dict[str, Any]:
        path = self._chat_path()
        if path is None:
            return {}
        offset = int(self.state.get("offset") or 0)
        try:
            size = _size(path)
            if path.suffix == ".json":  # older Gemini CLI rewrites one JSON object
                conv = gemini_chat.read_chat(path, READ_LIMIT)
            else:
                if offset > size:  # replaced: start over
                    offset = 0
                conv, offset = _read_new_lines(path, offset)
        except (OSError, ValueError) as e:
            log_error(self.handler.repo, f"gemini session={self.session_id}: reading {path}", e, trace=False)
            return {}
        self.state["offset"] = offset
        counted = list(self.state.get("counted") or [])
        seen = set(counted)
        tokens: dict[str, int] = {}
        thoughts: list[str] = []
        model = None
        ids = []
        for kind, key in conv.order:
            message = conv.messages.get(key) if kind == "message" else None
            if message is None or message.get("type") != "gemini" or key in seen or not message.get("tokens"):
                continue  # a message still without its tokens is counted when it has them
            ids.append(key)
            for name, value in (message.get("tokens") or {}).items():
                if isinstance(value, int) and not isinstance(value, bool):
                    tokens[name] = tokens.get(name, 0) + value
            thinking = gemini_chat.thinking_of(message.get("thoughts"))
            if thinking:
                thoughts.append(thinking)
            model = message.get("model") or model
        self.state["counted"] = (counted + ids)[-_COUNTED_KEPT:]
        out: dict[str, Any] = {"model": model, "thinking": "\n\n".join(thoughts) or None}
        if ids:
            out.update(gemini_chat.token_fields(tokens), message_ids=ids)
        return out

    def _chat_path(self) -> Path | None:
        saved = self.transcript()
        if saved is None:
            return None
        path = Path(saved)
        if trusted_chat(path):
            return path
        self.not_read(path, "chat file", str(gemini_chat.chats_root()))
        return None

    def _save(self) -> None:
        self.save_state(redacted=False)  # where the chat file is and how far it was read: no words of the session


def _read_new_lines(path: Path, offset: int) -> tuple[gemini_chat.Conversation, int]:
    """The records of the complete lines after `offset` (a line still being written waits for the next turn)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, READ_LIMIT)
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].split(b"\n"):
        if line.strip():
            try:
                records.append((0, json.loads(line)))
            except (ValueError, RecursionError):
                continue
    return gemini_chat.parse_lines(records), offset + end

"""Claude Code hook payloads turned into steps, with the transcript filling in what hooks do not carry.

Hooks give the moments (a prompt, a tool call and its result, the code at that time); the transcript gives the
model's words, thinking and token usage, read incrementally from where the last hook left off. Everything for one
session happens under that session's lock, so hooks that Claude Code runs in parallel lose nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_transcript import AGENT, SLASH_COMMAND, Cursor, TranscriptConverter, read_lines
from trail.adapters.hookrun import HookHandler, SessionCall, event_and_session, trusted_file
from trail.adapters.hookrun import HookPayloadError as HookPayloadError  # what `capture.handlers` catches
from trail.adapters.hookrun import file_size as _size
from trail.repo import TrailRepo
from trail.store.snapshot import Snapshot
from trail.store.steps import Step

TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
# Payload fields that become the step itself; everything else is kept under "hook".
_CONSUMED = {
    "session_id",
    "hook_event_name",
    "tool_name",
    "tool_input",
    "tool_response",
    "tool_use_id",
    "error",
    "duration_ms",
    "prompt",
    "message",
    "last_assistant_message",
    "reason",
}


def child_session_id(session_id: str, agent_id: str) -> str:
    """The session of a subagent: its parent's id and its own, both visible in the ref name. Characters a ref name
    cannot hold become `-` (`..`, a trailing `.lock` or `.`), so no agent id can lose its steps."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "-", agent_id)[:60]
    clean = re.sub(r"\.{2,}", "-", clean)
    while clean.endswith((".lock", ".")):
        clean = clean[: -len(".lock")] + "-lock" if clean.endswith(".lock") else clean[:-1] + "-"
    return f"{session_id}.agent-{clean or 'agent'}"


def transcript_roots(repo: TrailRepo) -> list[Path]:
    """Where Claude Code keeps transcripts, and folders the user added (`claude.transcriptRoot`)."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    roots = [(Path(base) if base else Path.home() / ".claude") / "projects"]
    roots += [Path(r).expanduser() for r in repo.config.get_all("claude.transcriptRoot")]
    return roots


def trusted_transcript(path: Path, repo: TrailRepo) -> bool:
    """Under one of the roots (symbolic links resolved), and a regular file if it exists yet."""
    return trusted_file(path, transcript_roots(repo), missing_ok=True)


class ClaudeHookHandler(HookHandler):
    """Handles one hook call for one repository."""

    def __init__(self, repo: TrailRepo, snapshotter: Callable[[], Snapshot] | None = None) -> None:
        super().__init__(repo, snapshotter)
        self.warned_path = False

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        name, session_id = event_and_session(payload, "session_id")
        agent_id = payload.get("agent_id")
        if isinstance(agent_id, str) and agent_id and (name in TOOL_EVENTS or name.startswith("Subagent")):
            return self._subagent(name, session_id, agent_id, payload)
        with self.writer.session_lock(session_id):
            return _SessionCall(self, session_id, payload).run(name)

    def _subagent(self, name: str, parent: str, agent_id: str, payload: dict[str, Any]) -> list[Step]:
        child = child_session_id(parent, agent_id)
        with self.writer.session_lock(child):
            call = _SessionCall(self, child, payload, parent=parent)
            if name == "SubagentStart":
                return call.start(source="subagent")
            if name == "SubagentStop":
                return call.subagent_stop()
            if name == "PreToolUse":
                return []
            return call.run(name)


class _SessionCall(SessionCall):
    """One hook call's work on one session, with that session's saved transcript cursor."""

    agent = AGENT
    source = "claude"
    consumed = _CONSUMED

    def __init__(
        self, handler: ClaudeHookHandler, session_id: str, payload: dict[str, Any], parent: str | None = None
    ) -> None:
        super().__init__(handler, session_id, payload, parent)
        self.handler: ClaudeHookHandler = handler
        self.cursor = Cursor.from_json(self.state.get("cursor") or {})

    # -- dispatch ------------------------------------------------------------------------------------------------

    def run(self, name: str) -> list[Step]:
        p = self.payload
        if name == "SessionStart":
            self.start(source=str(p.get("source") or "startup"))
        elif name == "UserPromptSubmit":
            self._ensure_started()
            self._catch_up()
            self.cursor.last_text = None  # a new turn: Stop compares against this turn's words only
            self.external_change()
            self._prompt(p.get("prompt"))
        elif name == "PreToolUse":
            self._ensure_started()
            self._catch_up()
            self.external_change()
        elif name in ("PostToolUse", "PostToolUseFailure"):
            self._ensure_started()
            if isinstance(p.get("tool_use_id"), str):
                self.cursor.recorded_tools.add(p["tool_use_id"])  # this hook records it, not the transcript
            self._catch_up()
            self._tool_call(failed=name == "PostToolUseFailure")
        elif name == "Stop":
            self._ensure_started()
            self._end_of_turn(final=False)
            self._stop_fallback()
        elif name == "Notification":
            self._ensure_started()
            self.write(ev.NOTE, {"text": p.get("message"), "title": p.get("title")}, None)
        elif name == "PreCompact":
            self._ensure_started()
            self._catch_up()
            trigger = p.get("trigger") or "unknown"
            self.write(ev.NOTE, {"text": f"Context compaction ({trigger})"}, None)
        elif name == "SessionEnd":
            self._ensure_started()
            self._end_of_turn(final=True)
            self.write(ev.SESSION_END, {"reason": p.get("reason")}, None)
        else:
            self._ensure_started()
            self.write(ev.NOTE, {"text": f"Claude Code hook {name}"}, None)
        self._save()
        return self.steps

    def start(self, source: str) -> list[Step]:
        fields = self.start_fields(source, model=self.payload.get("model"))
        transcript = self._transcript_path()
        if self.parent is None and transcript is not None and "cursor" not in self.state:
            # Record from now on: what came before this hook is history (`trail import claude` takes it).
            self.cursor.offset = _size(transcript)
        self.write(ev.SESSION_START, fields, self.handler.snapshot())
        self._save()
        return self.steps

    def subagent_stop(self) -> list[Step]:
        self._ensure_started()
        self._catch_up(final=True, prompts=True, defer_tools=False)
        self.write(ev.SESSION_END, {"reason": "subagent finished"}, None)
        self._save()
        return self.steps

    # -- pieces --------------------------------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self.handler.store.session(self.session_id) is None:
            self.start(source="startup" if self.parent is None else "subagent")

    def _prompt(self, text: Any) -> None:
        """What the person typed: a prompt, or a slash command (`/name args`), which is not one (it never becomes
        the session's title). The transcript writes the command too: the cursor remembers it was recorded."""
        command = SLASH_COMMAND.match(text) if isinstance(text, str) else None
        if command is None:
            self.write(ev.PROMPT, {"text": text}, None)
            return
        self.cursor.hook_commands.append(command.group(1))
        self.write(ev.COMMAND, {"text": text, "name": command.group(1), "args": command.group(2) or ""}, None)

    def _tool_call(self, failed: bool) -> None:
        p = self.payload
        tool_id = p.get("tool_use_id")
        fields: dict[str, Any] = {
            "name": p.get("tool_name"),
            "input": p.get("tool_input"),
            "output": p.get("tool_response"),
            "error": p.get("error") if failed else None,
            "duration_ms": p.get("duration_ms"),
            "tool_use_id": tool_id,
        }
        if isinstance(tool_id, str):
            self.cursor.recorded_tools.add(tool_id)
            self.cursor.deferred.pop(tool_id, None)
            self.cursor.tool_uses.pop(tool_id, None)
        self.write(ev.TOOL_CALL, fields, self.handler.snapshot())

    def _end_of_turn(self, final: bool) -> None:
        self._catch_up(final=final)
        converter = self._converter(prompts=False, defer_tools=True)
        for event in converter.deferred() + (converter.unresolved() if final else []):
            self.append(event, None)
        self.external_change()

    def _stop_fallback(self) -> None:
        # The transcript is written asynchronously: at Stop it may not hold the last answer yet. Record the
        # hook's copy now; when the transcript catches up, that message's tokens are recorded without its text.
        text = self.payload.get("last_assistant_message")
        if not isinstance(text, str) or not text.strip():
            return
        if self.cursor.last_text is not None and self.same_text(self.cursor.last_text, text):
            return
        step = self.write(ev.RESPONSE, {"text": text, "source": "stop_hook"}, None)
        self.cursor.fallback = {"text": text, "step": step.n}
        self.cursor.last_text = text

    def _catch_up(self, final: bool = False, prompts: bool | None = None, defer_tools: bool | None = None) -> None:
        path = self._transcript_path()
        if path is None:
            return
        try:
            lines, offset = read_lines(path, self.cursor.offset, final=final)
        except OSError:
            return  # no transcript (yet, or not where the payload says): the hook's own step still counts
        if self.cursor.offset > _size(path):  # the file was replaced: start over
            try:
                lines, offset = read_lines(path, 0, final=final)
            except OSError:
                return
        is_child = self.parent is not None
        converter = self._converter(
            prompts=is_child if prompts is None else prompts,
            defer_tools=not is_child if defer_tools is None else defer_tools,
        )
        for event in converter.feed(lines):
            self.append(event, None)
        self.cursor.offset = offset

    def _converter(self, prompts: bool, defer_tools: bool) -> TranscriptConverter:
        return TranscriptConverter(
            self.session_id,
            self.cursor,
            prompts=prompts,
            defer_tools=defer_tools,
            same_text=self.same_text,
            blob_sink=self.handler.store.write_blob,
        )

    def _transcript_path(self) -> Path | None:
        """The transcript to read, if it is one trail may read: a regular file under Claude Code's projects folder
        (or a folder added with `trail config --add claude.transcriptRoot DIR`). A payload naming /etc/passwd, a
        FIFO or /dev/zero gets its own step recorded and nothing read."""
        path = self._named_transcript()
        if path is None:
            return None
        if trusted_transcript(path, self.handler.repo):
            return path
        if not self.handler.warned_path:
            self.handler.warned_path = True
            from trail.capture.keep import log_error

            roots = transcript_roots(self.handler.repo)
            log_error(
                self.handler.repo,
                f"claude session={self.session_id}",
                PermissionError(f"transcript {path} is not a file under {', '.join(map(str, roots))}; not read"),
                trace=False,
            )
        return None

    def _named_transcript(self) -> Path | None:
        p = self.payload
        if self.parent is not None:
            given = p.get("agent_transcript_path")
            if isinstance(given, str) and given:
                return Path(given)
            parent_transcript = p.get("transcript_path")
            if isinstance(parent_transcript, str) and parent_transcript:
                base = Path(parent_transcript)
                agent = str(p.get("agent_id"))
                return base.with_suffix("") / "subagents" / f"agent-{agent}.jsonl"
            return None
        saved = self.transcript()
        return Path(saved) if saved is not None else None

    def _save(self) -> None:
        """The cursor holds texts and tool results not recorded yet: it is saved redacted."""
        self.state["cursor"] = self.cursor.to_json()
        self.save_state()

"""Codex CLI's hooks and its legacy `notify` program turned into steps, with the rollout filling in the rest.

Hooks (`hooks.json`, developers.openai.com/codex/hooks; input shapes in codex-rs/hooks/schema/generated/) give the
moments, each with the working tree of that moment: SessionStart (`source`), UserPromptSubmit (`prompt`), PreToolUse
and PostToolUse (`tool_name`, `tool_input`, `tool_response`, `tool_use_id`), Stop (`last_assistant_message`),
PreCompact/PostCompact (`trigger`), SubagentStart/SubagentStop (`agent_id`, `agent_type`), Interrupt and SessionEnd;
each with `session_id`, `transcript_path`, `cwd`, `hook_event_name`, `model`, and `turn_id` in a turn. The rollout
at `transcript_path` (codex_rollout.py) gives what hooks do not carry: the model's messages, its reasoning, the tokens
of each request, the calls no hook saw (hosted web searches, tools an older Codex did not hook). It is read from
where the last hook left off; calls it shows that no PostToolUse recorded are recorded when the turn ends.

The legacy `notify` program (codex-rs/hooks/src/legacy_notify.rs) gets one JSON argument when a turn completes:
`{"type": "agent-turn-complete", "thread-id", "turn-id", "cwd", "input-messages", "last-assistant-message"}`. With
notify alone, the turn is recorded from the rollout when it ends, and its last step carries the working tree then.
Everything for one session happens under that session's lock; nothing here writes to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_hooks import child_session_id
from trail.adapters.codex_fork import codex_home
from trail.adapters.codex_rollout import AGENT, RolloutConverter, RolloutState, read_new
from trail.adapters.hookrun import (
    HookHandler,
    HookPayloadError,
    HookSource,
    SessionCall,
    event_and_session,
    trusted_file,
)
from trail.adapters.hookrun import file_size as _size
from trail.capture.handlers import payload_cwd
from trail.capture.keep import log_error
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import SESSION_ID_RE, Step

TAIL_BYTES = 1 << 20  # of a rollout that existed before the session's first hook: read for its running token count
_SUBAGENT_EVENTS = ("PreToolUse", "PostToolUse", "SubagentStart", "SubagentStop", "PermissionRequest")
# Payload fields that become the step itself; everything else is kept under "hook".
_CONSUMED = {
    "session_id",
    "hook_event_name",
    "tool_name",
    "tool_input",
    "tool_response",
    "tool_use_id",
    "prompt",
    "last_assistant_message",
    "reason",
    "source",
}
NOTIFY_TREE = "HEAD at the session's first notify (Codex's notify reports the ends of turns only)"


def rollout_roots(repo: TrailRepo) -> list[Path]:
    """Where Codex keeps rollouts, and folders the user added (`trail config --add codex.transcriptRoot DIR`)."""
    home = codex_home()
    return [home / "sessions", home / "archived_sessions"] + [
        Path(r).expanduser() for r in repo.config.get_all("codex.transcriptRoot")
    ]


def trusted_rollout(path: Path, repo: TrailRepo) -> bool:
    """A regular file under one of the roots (links resolved): a payload naming /etc/passwd or a FIFO gets its own
    step recorded and nothing read."""
    return trusted_file(path, rollout_roots(repo))


def find_rollout(thread_id: str) -> Path | None:
    """The rollout of a session by its id, where Codex names it (`rollout-<time>-<id>.jsonl`)."""
    for folder, pattern in (("sessions", f"*/*/*/rollout-*-{thread_id}.jsonl"), ("archived_sessions", "rollout-*")):
        base = codex_home() / folder
        if not base.is_dir():
            continue
        found = sorted(p for p in base.glob(pattern) if p.name.endswith(f"-{thread_id}.jsonl"))
        if found:
            return found[-1]
    return None


class CodexHookHandler(HookHandler):
    """Handles one hook call (or one notify) for one repository."""

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        name, session_id = event_and_session(payload, "session_id")
        agent_id = payload.get("agent_id")
        if isinstance(agent_id, str) and agent_id and name in _SUBAGENT_EVENTS:
            # A subagent's hooks name its parent's session (developers.openai.com/codex/hooks): it gets its own.
            child = child_session_id(session_id, agent_id)
            with self.writer.session_lock(child):
                return _SessionCall(self, child, payload, parent=session_id).subagent(name)
        with self.writer.session_lock(session_id):
            return _SessionCall(self, session_id, payload).run(name)

    def notify(self, payload: dict[str, Any]) -> list[Step]:
        kind = payload.get("type")
        thread = payload.get("thread-id")
        if not isinstance(thread, str) or not SESSION_ID_RE.match(thread):
            raise HookPayloadError("the notify payload has no usable thread-id")
        with self.writer.session_lock(thread):
            call = _SessionCall(self, thread, payload)
            if kind != "agent-turn-complete":
                call.ensure_started(notify=True)
                call.write(ev.NOTE, {"text": f"Codex notification {kind}"}, None)
                call.save()
                return call.steps
            return call.turn_complete()


class _NotifyHandler(CodexHookHandler):
    """Handles one notify (`trail-hook codex-notify`)."""

    def handle(self, payload: dict[str, Any]) -> list[Step]:
        return self.notify(payload)


SOURCE = HookSource(
    source="codex",
    title="Codex CLI",
    agent=AGENT,
    session_key="session_id",
    start_events=("SessionStart",),
    where=payload_cwd,
    handler=CodexHookHandler,
)
NOTIFY = HookSource(
    source="codex-notify",
    title="Codex CLI (notify)",
    agent=AGENT,
    session_key="thread-id",
    start_events=(),
    where=payload_cwd,
    handler=_NotifyHandler,
)
run = SOURCE.run  # `trail-hook codex`
record = SOURCE.record  # a kept payload, again
run_notify = NOTIFY.run  # `trail-hook codex-notify … PAYLOAD`: a turn Codex's legacy notify reported
record_notify = NOTIFY.record


class _SessionCall(SessionCall):
    """One hook call's work on one session, with the session's saved place in its rollout."""

    agent = AGENT
    source = "codex"
    consumed = _CONSUMED

    def __init__(
        self, handler: CodexHookHandler, session_id: str, payload: dict[str, Any], parent: str | None = None
    ) -> None:
        super().__init__(handler, session_id, payload, parent)
        self.rollout = RolloutState.from_json(self.state.get("rollout") or {})

    # -- hooks ---------------------------------------------------------------------------------------------------

    def run(self, name: str) -> list[Step]:
        p = self.payload
        self.state["hooks"] = True  # hooks record this session: a notify for it adds nothing
        if name == "SessionStart":
            source = str(p.get("source") or "startup")
            if self.handler.store.session(self.session_id) is None:
                self.start(source)
            else:
                self._catch_up(end_turn=True)
                self.write(ev.NOTE, {"text": f"Codex session {source}", "source": source}, self.handler.snapshot())
        elif name == "UserPromptSubmit":
            self.ensure_started()
            self._catch_up(end_turn=True)
            self.rollout.last_text = None  # a new turn: Stop compares against this turn's words only
            self.external_change()
            self.write(ev.PROMPT, {"text": p.get("prompt")}, None)
        elif name == "PreToolUse":
            self.ensure_started()
            self._catch_up()
            self.external_change()  # the person's edits are not blamed on the tool about to run
        elif name == "PostToolUse":
            self.ensure_started()
            if isinstance(p.get("tool_use_id"), str):
                self.rollout.recorded.add(p["tool_use_id"])  # this hook records it, not the rollout
            self._catch_up()
            self._tool_call()
        elif name == "Stop":
            self.ensure_started()
            self._catch_up(end_turn=True)
            self._stop_fallback()
            self.external_change()
        elif name == "Interrupt":
            self.ensure_started()
            self._catch_up(end_turn=True)
            self.write(ev.NOTE, {"text": "Turn interrupted", "interrupted": True}, None)
        elif name in ("PreCompact", "PostCompact"):
            self.ensure_started()
            self._catch_up()
            when = "begins" if name == "PreCompact" else "done"
            self.write(ev.NOTE, {"text": f"Context compaction ({p.get('trigger') or 'unknown'}) {when}"}, None)
        elif name == "SessionEnd":
            self.ensure_started()
            self._catch_up(final=True)
            self.write(ev.SESSION_END, {"reason": p.get("reason")}, None)
        else:
            self.ensure_started()
            self._catch_up()
            self.write(ev.NOTE, {"text": f"Codex hook {name}"}, None)
        self.save()
        return self.steps

    def subagent(self, name: str) -> list[Step]:
        """A subagent's session holds what its hooks give: its start, its tool calls, its last answer."""
        p = self.payload
        if name == "SubagentStart":
            self.start("subagent")
        elif name == "PostToolUse":
            self.ensure_started()
            self._tool_call()
        elif name == "SubagentStop":
            self.ensure_started()
            text = p.get("last_assistant_message")
            if isinstance(text, str) and text.strip():
                self.write(ev.RESPONSE, {"text": text, "source": "stop_hook"}, None)
            self.write(ev.SESSION_END, {"reason": "subagent finished"}, self.handler.snapshot())
        elif name == "PreToolUse":
            return []
        else:
            self.ensure_started()
            self.write(ev.NOTE, {"text": f"Codex hook {name}"}, None)
        self.save()
        return self.steps

    def start(self, source: str, tree_from_head: bool = False) -> None:
        fields = self.start_fields(source, model=self.payload.get("model"))
        path = self._rollout_path()
        if self.parent is None and path is not None and "rollout" not in self.state and not tree_from_head:
            # Record from now on: what the rollout held before (a resumed session) is history, for
            # `trail import codex`. Its running token count is read, so the next request's tokens are its own.
            self.rollout.offset = _size(path)
            self.rollout.totals = _last_totals(path, self.rollout.offset)
        if tree_from_head:
            self.write(ev.SESSION_START, fields, None, tree_source=NOTIFY_TREE)
        else:
            self.write(ev.SESSION_START, fields, self.handler.snapshot())
        self.state["rollout"] = self.rollout.to_json()

    def ensure_started(self, notify: bool = False) -> None:
        if self.handler.store.session(self.session_id) is None:
            if self.parent is not None:
                self.start("subagent")
            else:
                self.start("notify" if notify else "startup", tree_from_head=notify)

    # -- notify --------------------------------------------------------------------------------------------------

    def turn_complete(self) -> list[Step]:
        """A turn ended (notify): record it from the rollout, its last step with the working tree now."""
        if self.state.get("hooks"):
            return []  # hooks record this session, the turn's end included
        p = self.payload
        self.ensure_started(notify=True)
        events = self._read(prompts=True, defer=False, end_turn=True) if self._rollout_path() else None
        if not events:
            events = self._from_notify() if events is None else []
        snapshot = self.handler.snapshot()
        if not events:
            events = [Event(kind=ev.NOTE, payload={"text": "Codex finished a turn", "turn_id": p.get("turn-id")})]
        for event in events[:-1]:
            self.append(event, None)
        self.append(events[-1], snapshot)
        self.save()
        return self.steps

    def _from_notify(self) -> list[Event]:
        """With no rollout to read, the turn as notify tells it: what was typed, and the last answer."""
        p = self.payload
        out = []
        for text in p.get("input-messages") or []:
            if isinstance(text, str):
                out.append(Event(kind=ev.PROMPT, payload={"text": text, "turn_id": p.get("turn-id")}))
        answer = p.get("last-assistant-message")
        if isinstance(answer, str) and answer:
            out.append(Event(kind=ev.RESPONSE, payload={"text": answer, "source": "notify"}))
        return out

    # -- pieces --------------------------------------------------------------------------------------------------

    def _tool_call(self) -> None:
        p = self.payload
        fields: dict[str, Any] = {
            "name": p.get("tool_name"),
            "input": p.get("tool_input"),
            "output": p.get("tool_response"),
            "tool_use_id": p.get("tool_use_id"),
        }
        self.write(ev.TOOL_CALL, fields, self.handler.snapshot())

    def _stop_fallback(self) -> None:
        # The rollout may not hold the last answer yet: record the hook's copy; when the rollout has it, that
        # response's tokens are recorded without its text.
        text = self.payload.get("last_assistant_message")
        if not isinstance(text, str) or not text.strip():
            return
        last = self.rollout.last_text
        if last is not None and self.same_text(last, text):
            return
        step = self.write(ev.RESPONSE, {"text": text, "source": "stop_hook"}, None)
        self.rollout.fallback = {"text": text, "step": step.n}
        self.rollout.last_text = text

    def _catch_up(self, end_turn: bool = False, final: bool = False) -> None:
        for event in self._read(prompts=False, defer=True, end_turn=end_turn, final=final) or []:
            self.append(event, None)

    def _read(self, prompts: bool, defer: bool, end_turn: bool = False, final: bool = False) -> list[Event] | None:
        """The events of the rollout's new lines (None: there is no rollout to read)."""
        converter = RolloutConverter(
            self.session_id, self.rollout, prompts=prompts, defer_tools=defer, same_text=self.same_text
        )
        path = self._rollout_path()
        events: list[Event] = []
        if path is not None:
            try:
                if self.rollout.offset > _size(path):  # the file was replaced: start over
                    self.rollout = converter.state = RolloutState()
                events += converter.feed(read_new(path, self.rollout.offset))
            except OSError as e:
                log_error(self.handler.repo, f"codex session={self.session_id}: reading {path}", e, trace=False)
        if final:
            events += converter.finish(over=True)
        elif end_turn:
            events += converter.end_turn()
        return events if path is not None else None

    def _rollout_path(self) -> Path | None:
        """The rollout to read, if it is one trail may read: named by the payload (or found by the session's id)."""
        if self.parent is not None:
            return None
        saved = self.transcript()
        if saved is None and "thread-id" in self.payload:
            found = find_rollout(self.session_id)
            saved = self.state["transcript_path"] = str(found) if found else None
        if saved is None:
            return None
        path = Path(saved)
        if trusted_rollout(path, self.handler.repo):
            return path
        self.not_read(path, "rollout", ", ".join(map(str, rollout_roots(self.handler.repo))))
        return None

    def save(self) -> None:
        """The state holds texts and tool results not recorded yet: it is saved redacted."""
        self.state["rollout"] = self.rollout.to_json()
        self.save_state()


def _last_totals(path: Path, end: int) -> dict[str, int]:
    """The running token count the rollout had reached by byte `end` (its last `token_count` in the final MB)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, end - TAIL_BYTES))
            tail = f.read(min(end, TAIL_BYTES))
    except OSError:
        return {}
    for raw in reversed(tail.split(b"\n")):
        if b'"token_count"' not in raw:
            continue
        try:
            info = (json.loads(raw).get("payload") or {}).get("info") or {}
        except (ValueError, AttributeError):
            continue
        totals = info.get("total_token_usage") if isinstance(info, dict) else None
        if isinstance(totals, dict):
            return {k: v for k, v in totals.items() if isinstance(v, int)}
    return {}

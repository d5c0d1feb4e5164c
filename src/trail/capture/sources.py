"""The programs that report to trail through `trail-hook SOURCE`: each agent's hooks, and git's post-commit hook.

`trail-hook`, the watcher's server and the replay of kept payloads all route a payload through this table, so an
agent is added here once. Each source names, as "module:function" strings imported only when a payload comes (this
module is on the hook's fast path: it imports nothing):

- `run(raw, process_cwd, snapshotter=None)`: record one payload; never raises (a failure is logged and the payload
  kept for later, as `handlers.run_claude` does);
- `record(repo, raw, snapshotter=None)`: record a kept payload again; raises when it cannot (it stays kept).

`stdin`: whether the hook sends a payload on stdin (else it comes as the last argument, if any: Codex's legacy
notify; arguments between SOURCE and it name a program to run first, the one trail's install chained). `cwd_key`:
the payload's key naming the folder the agent works in (it decides the repository; the process's own folder
otherwise; a list there, as Cursor's `workspace_roots`, names it first). `session_key`, `agent_key` and
`end_events` (with `event_key`) tell the watcher which session a payload is about and whether it ends it, so that it
knows when the last session of its worktree is over; a subagent's payload (`agent_key` set) does not count. `reply`
is what the hook prints on stdout once it is done: nothing for agents that read stdout as instructions, the JSON some
agents require; `replies` overrides it for some events (by `event_key`), where the agent expects an answer of their own
(`reply_for` picks it).
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # not typing's: importing typing would cost the hook's fast path ~3 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Source:
    """One program that reports through `trail-hook NAME` (a plain class: dataclasses cost the fast path)."""

    __slots__ = (
        "name",
        "title",
        "run",
        "record",
        "stdin",
        "cwd_key",
        "session_key",
        "agent_key",
        "event_key",
        "end_events",
        "reply",
        "replies",
    )

    def __init__(
        self,
        name: str,
        title: str,
        run: str,
        record: str,
        stdin: bool = True,
        cwd_key: str | None = "cwd",
        session_key: str | None = "session_id",
        agent_key: str | None = None,
        event_key: str | None = "hook_event_name",
        end_events: tuple[str, ...] = (),
        reply: bytes = b"",
        replies: dict[str, bytes] | None = None,
    ) -> None:
        self.name = name
        self.title = title  # the agent as people call it, for messages
        self.run = run
        self.record = record
        self.stdin = stdin
        self.cwd_key = cwd_key
        self.session_key = session_key
        self.agent_key = agent_key
        self.event_key = event_key
        self.end_events = end_events
        self.reply = reply
        self.replies = replies or {}


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "claude",
            "Claude Code",
            run="trail.capture.handlers:run_claude",
            record="trail.capture.handlers:record_claude",
            agent_key="agent_id",
            end_events=("SessionEnd",),
        ),
        Source(
            "gemini",
            "Gemini CLI",
            run="trail.adapters.gemini_hooks:run",
            record="trail.adapters.gemini_hooks:record",
            end_events=("SessionEnd",),
        ),
        Source(
            # Cursor reads JSON on stdout: `{}` changes nothing, and beforeSubmitPrompt must say the prompt may go.
            "cursor",
            "Cursor",
            run="trail.adapters.cursor_hooks:run",
            record="trail.adapters.cursor_hooks:record",
            cwd_key="workspace_roots",
            session_key="conversation_id",
            end_events=("sessionEnd",),
            reply=b"{}",
            replies={"beforeSubmitPrompt": b'{"continue":true}'},
        ),
        Source(
            "codex",
            "Codex CLI",
            run="trail.adapters.codex_hooks:run",
            record="trail.adapters.codex_hooks:record",
            agent_key="agent_id",
            end_events=("SessionEnd",),
        ),
        Source(
            # Codex's legacy notify: `trail-hook codex-notify [PROGRAM ARGS...] PAYLOAD` at each turn's end.
            "codex-notify",
            "Codex CLI",
            run="trail.adapters.codex_hooks:run_notify",
            record="trail.adapters.codex_hooks:record_notify",
            stdin=False,
            session_key="thread-id",
            event_key="type",
        ),
        Source(
            "git-post-commit",
            "git",
            run="trail.capture.handlers:run_git_post_commit_payload",
            record="trail.capture.handlers:record_git_post_commit",
            stdin=False,
            cwd_key=None,
            session_key=None,
            event_key=None,
        ),
    )
}


def function(spec: str) -> Callable[..., Any]:
    """The function a "module:function" string names (imported now)."""
    import importlib

    module, _, name = spec.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


def reply_for(source: Source, raw: bytes) -> bytes:
    """What the hook prints for this payload: its event's own reply, else the source's. A payload too large to parse
    cheaply is searched for its event name instead (a JSON string cannot hold an unescaped quote, so text inside
    the payload cannot pose as the key)."""
    if not source.replies or source.event_key is None:
        return source.reply
    event = None
    if len(raw) <= 4 << 20:
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError, UnicodeDecodeError):
            payload = None
        event = payload.get(source.event_key) if isinstance(payload, dict) else None
    else:
        import re

        found = re.search(rb'(?<!\\)"' + source.event_key.encode() + rb'"\s*:\s*"([A-Za-z]+)"', raw)
        event = found.group(1).decode() if found else None
    return source.replies.get(event, source.reply) if isinstance(event, str) else source.reply


def payload_session(source: Source, raw: bytes) -> tuple[str | None, bool]:
    """The session a payload is about, and whether it ends it; (None, False) when it cannot tell cheaply."""
    if source.session_key is None or len(raw) > 4 << 20:
        return None, False
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None, False
    if not isinstance(payload, dict) or not isinstance(payload.get(source.session_key), str):
        return None, False
    if source.agent_key and payload.get(source.agent_key):
        return None, False  # a subagent's hooks: its parent session decides
    ended = source.event_key is not None and payload.get(source.event_key) in source.end_events
    return payload[source.session_key], ended

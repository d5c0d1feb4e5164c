"""Recording past Gemini CLI sessions from their saved chats (`trail import gemini`).

A chat (gemini_chat.py) holds prompts, answers with their model, tokens and thought summaries, tool calls with their
results, info/error lines and rewinds; no code state, so imported steps carry the repository's HEAD tree at import
time and say so. Every step remembers the chat record it came from (`gemini_key`: a message id, `tool:<call id>`, or
`rewind@<line>`), so importing again, or importing the .jsonl that Gemini CLI migrated a .json chat into, adds only
what is new. A tool call still running is left for the next import; rewound messages stay recorded (they happened),
with a note where the rewind was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters import gemini_chat
from trail.adapters.claude_hooks import child_session_id
from trail.adapters.formats import ImportResult
from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import SESSION_ID_RE, Step

AGENT = gemini_chat.AGENT
IMPORT_TREE = "HEAD at import (a saved chat holds no code state)"
HELP = """Record Gemini CLI sessions from their saved chats (JSON lines, or one JSON object before March 2026).

A chat holds no code state: the steps carry this repository's current HEAD tree, and say so in a Trail-Tree
trailer. Importing again is safe: only what was not recorded yet is added. A subagent's chat
(chats/<session>/<id>.jsonl) becomes a session of its own, linked to its parent.

\b
Examples:
  trail import gemini --all
  trail import gemini ~/.gemini/tmp/app/chats/session-2026-11-30T09-12-3f2a9b1c.jsonl
"""
TITLE = "a Gemini CLI chat (~/.gemini/tmp/<project>/chats/session-*.jsonl, or .json)"
LOCATION = "~/.gemini/tmp/<project>/chats/ ($GEMINI_CLI_HOME/.gemini/tmp/)"
_LEGACY_START = re.compile(rb'\A\s*\{\s*"sessionId"\s*:\s*"[^"]*"\s*,\s*"projectHash"\s*:\s*"[0-9a-f]*"')


def sniff(head: bytes, path: Path) -> bool:
    """A metadata line `{sessionId, projectHash, …}` first (JSON lines), or one JSON object that starts with those two
    keys, as Gemini CLI writes them (no other agent's file has a projectHash)."""
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except (ValueError, RecursionError):
        record = None
    if gemini_chat.is_metadata(record):
        return True
    return _LEGACY_START.match(head) is not None


def find_all(repo: TrailRepo) -> list[Path]:
    """The chats of sessions run in this repository (or a folder inside it), parents before subagents."""
    mains: list[Path] = []
    subagents: list[Path] = []
    for folder in _project_folders(repo.workdir):
        chats = folder / "chats"
        if not chats.is_dir():
            continue
        found = sorted(chats.glob("session-*.jsonl"))
        # A .json chat that Gemini CLI resumed was copied whole into a .jsonl beside it: that one is enough.
        found += [p for p in sorted(chats.glob("session-*.json")) if not p.with_suffix(".jsonl").exists()]
        mains += found
        subagents += sorted(p for sub in sorted(chats.iterdir()) if sub.is_dir() for p in sub.glob("*.jsonl"))
    return mains + subagents


def _project_folders(workdir: Path) -> list[Path]:
    """Gemini CLI's folders for this repository: short ids it recorded as this repository's (or a folder inside it)
    in their `.project_root` marker, and the sha256 of the path that older versions used as the name."""
    root = gemini_chat.chats_root()
    if not root.is_dir():
        return []
    here = os.path.realpath(workdir)
    legacy = {hashlib.sha256(str(path).encode()).hexdigest() for path in {str(workdir), here}}
    found = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        if folder.name in legacy:
            found.append(folder)
            continue
        try:
            owner = (folder / ".project_root").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        owner_real = os.path.realpath(owner)
        if owner_real == here or owner_real.startswith(here.rstrip(os.sep) + os.sep):
            found.append(folder)
    return found


def import_path(repo: TrailRepo, path: Path) -> ImportResult:
    """Record the chat at `path` as a session, or add to an earlier import of it what it did not have yet."""
    path = Path(path)
    try:
        conv = gemini_chat.read_chat(path)
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise TrailError(f"{path} is not a Gemini CLI chat ({e}); nothing was recorded") from None
    session_id = conv.session_id
    if session_id is None or not SESSION_ID_RE.match(session_id):
        raise TrailError(f"{path} names no usable session id; is it a Gemini CLI chat?")
    parent = None
    if conv.meta.get("kind") == "subagent" and path.parent.name != "chats" and path.parent.parent.name == "chats":
        parent = path.parent.name  # chats/<parent session>/<subagent session>.jsonl
        session_id = child_session_id(parent, session_id)
    writer = StepWriter(repo)
    with writer.session_lock(session_id):
        return _import_locked(writer, path, conv, session_id, parent)


def _import_locked(
    writer: StepWriter, path: Path, conv: gemini_chat.Conversation, session_id: str, parent: str | None
) -> ImportResult:
    store = writer.store
    tip = store.session(session_id)
    done: dict[str, Step] = {}
    if tip is not None:
        existing = store.steps(session_id, full=True)
        if "imported_from" not in existing[0].event.payload:
            return ImportResult(path, session_id, 0, "recorded live by hooks; not imported again")
        done = {str(s.event.payload["gemini_key"]): s for s in existing if s.event.payload.get("gemini_key")}
    events = _new_events(conv, session_id, done)
    if not events:
        return ImportResult(path, session_id, 0, "already imported" if tip is not None else "no steps in the chat")
    tree = _head_tree(writer)
    added = 0
    with writer.bulk() as bulk:
        if tip is None:
            bulk.write(_start_event(writer, path, conv, session_id, parent, events[0].time), tree, IMPORT_TREE)
            added += 1
        for event in events:
            bulk.write(event, tree, IMPORT_TREE)
            added += 1
    return ImportResult(path, session_id, added, packs=tuple(bulk.packs))


def _new_events(conv: gemini_chat.Conversation, session_id: str, done: dict[str, Step]) -> list[Event]:
    """The chat's events that no earlier import recorded, in the order the chat has them."""
    out: list[Event] = []
    when = _time(conv.meta.get("startTime"), None)

    def add(kind: str, key: str, payload: dict[str, Any], time: datetime) -> None:
        if key in done:
            return
        body = {k: v for k, v in payload.items() if v not in (None, "", [], {})}
        out.append(Event(kind=kind, payload={**body, "gemini_key": key}, session_id=session_id, time=time, agent=AGENT))

    for kind, key in conv.order:
        if kind == "rewind":
            rewind = conv.rewinds[key]
            text = f"The conversation was rewound to before message {rewind['to']}; the messages after it left context"
            add(ev.NOTE, key, {"text": text, "rewind_to": rewind["to"]}, when)
            continue
        message = conv.messages[key]
        when = _time(message.get("timestamp"), when)
        mtype = message.get("type")
        content = message.get("content")
        common = {"message_id": key, "parts": gemini_chat.other_parts(content) or None}
        display = message.get("displayContent")
        if display is not None and gemini_chat.text_of(display) != gemini_chat.text_of(content):
            common["display"] = gemini_chat.text_of(display) or display
        if mtype == "user":
            add(ev.PROMPT, key, {"text": gemini_chat.text_of(content), **common}, when)
        elif mtype == "gemini":
            _response(add, message, key, common, when, done)
        else:
            add(ev.NOTE, key, {"text": gemini_chat.text_of(content), "level": mtype, **common}, when)
    return out


Add = Callable[[str, str, dict[str, Any], datetime], None]


def _response(
    add: Add, message: dict[str, Any], key: str, common: dict[str, Any], when: datetime, done: dict[str, Step]
) -> None:
    """An answer, then its finished tool calls; tokens that came after an earlier import recorded the answer are
    recorded on their own, pointing at it."""
    calls = [c for c in message.get("toolCalls") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
    tokens = gemini_chat.token_fields(message.get("tokens"))
    earlier = done.get(key)
    if earlier is not None and tokens and "tokens_in" not in earlier.event.payload:
        late = {"text_recorded_at": earlier.n, "model": message.get("model"), **tokens}
        add(ev.RESPONSE, f"{key}#tokens", late, when)
    add(
        ev.RESPONSE,
        key,
        {
            "text": gemini_chat.text_of(message.get("content")),
            "thinking": gemini_chat.thinking_of(message.get("thoughts")),
            "thoughts": message.get("thoughts"),
            "model": message.get("model"),
            **tokens,
            "tool_uses": [{"id": c["id"], "name": c.get("name")} for c in calls] or None,
            **common,
        },
        when,
    )
    for call in calls:
        if call.get("status") not in gemini_chat.FINISHED:
            continue  # still running: its result comes with the next import
        output, error = gemini_chat.tool_output(call.get("result"))
        fields = {
            "name": call.get("name"),
            "input": call.get("args"),
            "output": output,
            "error": error if error is not None else ("cancelled" if call.get("status") == "cancelled" else None),
            "status": call.get("status"),
            "tool_use_id": call["id"],
            "display_name": call.get("displayName"),
            "description": call.get("description"),
            "result_display": call.get("resultDisplay"),
            "agent_id": call.get("agentId"),
        }
        add(ev.TOOL_CALL, f"tool:{call['id']}", fields, _time(call.get("timestamp"), when))


def _start_event(
    writer: StepWriter,
    path: Path,
    conv: gemini_chat.Conversation,
    session_id: str,
    parent: str | None,
    first: datetime,
) -> Event:
    meta = conv.meta
    owner = path.parent.parent / ".project_root" if path.parent.name == "chats" else None
    cwd = None
    if owner is not None:
        try:
            cwd = owner.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            cwd = None
    payload = {
        "source": "import",
        "imported_from": str(path.resolve()),
        "cwd": cwd,
        "project_hash": meta.get("projectHash"),
        "kind": meta.get("kind"),
        "summary": meta.get("summary"),
        "directories": meta.get("directories"),
        "gemini_session": meta.get("sessionId"),
    }
    if parent is not None:
        payload["parent_session"] = parent
        if writer.store.tip_commit(parent) is None:
            payload["parent_imported"] = False  # import the parent's chat too: `trail import gemini --all`
    return Event(
        kind=ev.SESSION_START,
        payload={k: v for k, v in payload.items() if v is not None},
        session_id=session_id,
        time=_time(meta.get("startTime"), first),
        agent=AGENT,
    )


def _time(stamp: Any, default: datetime | None) -> datetime:
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp)
            return parsed if parsed.tzinfo else parsed.astimezone()
        except ValueError:
            pass
    return default or ev.now()


def _head_tree(writer: StepWriter) -> str:
    head = writer.repo.head_commit()
    return str(head.tree_id) if head is not None else str(writer.repo.git.TreeBuilder().write())

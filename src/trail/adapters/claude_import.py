"""Recording past sessions from their transcripts alone (`trail import claude`).

A transcript carries no code state, so imported steps carry the repository's HEAD tree at import time and say so.
Re-importing is idempotent: each step remembers the transcript line it came from, and an import continues after
the last line already recorded.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_hooks import child_session_id
from trail.adapters.claude_transcript import AGENT, Cursor, Line, TranscriptConverter, iter_lines, transcript_session
from trail.adapters.formats import ImportResult
from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import SESSION_ID_RE

IMPORT_TREE = "HEAD at import (a transcript holds no code state)"


HELP = """Record Claude Code sessions from their transcripts (JSON lines).

A transcript holds no code state: the steps carry this repository's current HEAD tree, and say so in a Trail-Tree
trailer. Importing again is safe: only lines not yet recorded are added. A subagent's transcript
(subagents/agent-<id>.jsonl) becomes a session of its own, linked to its parent's step when the parent was imported
first.
"""
TITLE = "a Claude Code transcript (JSON lines, ~/.claude/projects/<project>/<session>.jsonl)"
LOCATION = "~/.claude/projects/ ($CLAUDE_CONFIG_DIR/projects/)"
# Line types of Claude Code transcripts that carry no sessionId (the others do).
_TYPES_WITHOUT_SESSION = frozenset(("summary", "file-history-snapshot", "custom-title", "agent-name"))


def sniff(head: bytes, path: Path) -> bool:
    """JSON lines, every complete one an object, most of them with Claude Code's `sessionId` or of the kinds that
    have none (a Codex rollout's `{timestamp, type, payload}` lines have neither)."""
    segments = head.split(b"\n")
    last = segments.pop()  # after the last newline: nothing, a line being written, or one cut by the head
    lines = [line for line in segments if line.strip()]
    if not lines and last.strip():
        lines = [last]  # one line and no newline
    if not lines:
        return False
    known = 0
    for raw in lines[:200]:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return False
        if not isinstance(data, dict):
            return False
        if isinstance(data.get("sessionId"), str) or data.get("type") in _TYPES_WITHOUT_SESSION:
            known += 1
    # Lines of kinds a later Claude Code adds are allowed, as the import allows them; most must be known ones.
    return known > 0 and known * 2 >= min(len(lines), 200)


def find_all(repo: TrailRepo) -> list[Path]:
    return find_claude_transcripts(repo)


def import_path(repo: TrailRepo, path: Path) -> ImportResult:
    return import_claude(repo, path)


def claude_projects_dir() -> Path:
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home() / ".claude") / "projects"


def find_claude_transcripts(repo: TrailRepo) -> list[Path]:
    """Transcripts of sessions run in this repository (or a folder inside it), parents before subagents."""
    projects = claude_projects_dir()
    if not projects.is_dir():
        return []
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(repo.workdir))
    mains: list[Path] = []
    subagents: list[Path] = []
    for folder in sorted(projects.iterdir()):
        if not folder.is_dir() or not (folder.name == escaped or folder.name.startswith(escaped + "-")):
            continue
        for path in sorted(folder.glob("*.jsonl")):
            if _ran_inside(path, repo.workdir):
                mains.append(path)
                subagents.extend(sorted(path.with_suffix("").glob("subagents/agent-*.jsonl")))
    return mains + subagents


def _ran_inside(path: Path, workdir: Path) -> bool:
    """The escaped folder name is ambiguous (`a-b` and `a/b`): the lines' own cwd decides."""
    try:
        with open(path, "rb") as f:
            head = list(itertools.islice(f, 50))  # the first lines say; the rest is read once, by the import
    except OSError:
        return False
    for raw in head:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        cwd = data.get("cwd") if isinstance(data, dict) else None
        if isinstance(cwd, str):
            return cwd == str(workdir) or cwd.startswith(str(workdir) + os.sep)
    return False


def import_claude(repo: TrailRepo, path: str | os.PathLike[str]) -> ImportResult:
    """Record the transcript at `path` as a session (or continue an earlier import of it): read a few MB at a
    time, written as one pack, the session's ref moved once."""
    path = Path(path)
    try:
        chunks = iter_lines(path)
        first_chunk = next(chunks, [])
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    session_id, agent_id = transcript_session(first_chunk)
    if session_id is None:
        if not SESSION_ID_RE.match(path.stem):
            raise TrailError(f"{path} names no session (no line has a sessionId); is it a Claude Code transcript?")
        session_id = path.stem
    parent = None
    if agent_id:
        parent, session_id = session_id, child_session_id(session_id, str(agent_id))
    writer = StepWriter(repo)
    with writer.session_lock(session_id):
        return _import_locked(writer, path, itertools.chain([first_chunk], chunks), session_id, parent, agent_id)


def _import_locked(
    writer: StepWriter,
    path: Path,
    chunks: Iterator[list[Line]],
    session_id: str,
    parent: str | None,
    agent_id: Any,
) -> ImportResult:
    store = writer.store
    converter = TranscriptConverter(session_id, Cursor(), prompts=True, defer_tools=False)
    waiting: set[str] = set()
    tip = store.session(session_id)
    last_uuid = None
    if tip is not None:
        existing = store.steps(session_id, full=True)
        if "imported_from" not in existing[0].event.payload:
            return ImportResult(path, session_id, 0, "recorded live by hooks; not imported again")
        last_uuid = next(
            (s.event.payload["transcript_uuid"] for s in reversed(existing) if s.event.payload.get("transcript_uuid")),
            None,
        )
        # Calls recorded with their result are done; one recorded without (the transcript ended before it)
        # is recorded again if its result has arrived since.
        for step in existing:
            tool_id = step.event.payload.get("tool_use_id")
            if tool_id:
                (waiting if "status" in step.event.payload else converter.cursor.recorded_tools).add(str(tool_id))
    tree = _head_tree(writer)
    added = 0
    replaying = last_uuid is not None
    with writer.bulk() as bulk:

        def record(events: list[Event]) -> None:
            nonlocal added
            for event in events:
                if added == 0 and tip is None:
                    bulk.write(
                        _start_event(writer, path, event, first_line, session_id, parent, agent_id), tree, IMPORT_TREE
                    )
                    added += 1
                bulk.write(event, tree, IMPORT_TREE)
                added += 1

        first_line: dict[str, Any] = {}
        for lines in chunks:
            if not first_line:
                first_line = next((ln.data for ln in lines if ln.data and ln.data.get("timestamp")), {})
            if replaying:
                # Lines the last import recorded are replayed, not recorded: they rebuild what it knew.
                done = next((i + 1 for i, ln in enumerate(lines) if ln.data and ln.data.get("uuid") == last_uuid), 0)
                if not done:
                    converter.feed(lines, flush=False)
                    continue
                converter.feed(lines[:done])
                lines = lines[done:]
                replaying = False
            record(converter.feed(lines, flush=False))
        if replaying:
            raise TrailError(
                f"session {session_id} was imported from a transcript that {path} does not continue "
                f"(its line {last_uuid} is not there); refusing to mix them"
            )
        record(converter.finish() + converter.unresolved(skip=waiting))
    if not added:
        return ImportResult(
            path, session_id, 0, "already imported" if tip is not None else "no steps in the transcript"
        )
    return ImportResult(path, session_id, added, packs=tuple(bulk.packs))


def _start_event(
    writer: StepWriter,
    path: Path,
    first_event: Event,
    first: dict[str, Any],
    session_id: str,
    parent: str | None,
    agent_id: Any,
) -> Event:
    payload = {
        "source": "import",
        "imported_from": str(path.resolve()),
        "cwd": first.get("cwd"),
        "branch": first.get("gitBranch") or None,
        "version": first.get("version"),
        **(_parent_link(writer, parent, str(agent_id)) if parent else {}),
    }
    return Event(
        kind=ev.SESSION_START,
        payload={k: v for k, v in payload.items() if v is not None},
        session_id=session_id,
        time=first_event.time,
        agent=AGENT,
    )


def _parent_link(writer: StepWriter, parent: str, agent_id: str) -> dict[str, Any]:
    """The parent session and the step that started this subagent (its Task tool call), when imported."""
    link: dict[str, Any] = {"parent_session": parent, "agent_id": agent_id}
    if writer.store.tip_commit(parent) is None:
        return link  # the parent is not imported (yet)
    for step in writer.store.walk(parent):
        if step.tool is None:
            continue
        result = step.event.payload.get("result")
        if step.kind == ev.TOOL_CALL and isinstance(result, dict) and result.get("agentId") == agent_id:
            link["parent_step"] = step.n
            break
    return link


def _head_tree(writer: StepWriter) -> str:
    head = writer.repo.head_commit()
    return str(head.tree_id) if head is not None else str(writer.repo.git.TreeBuilder().write())

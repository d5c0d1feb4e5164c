"""Recording past Codex CLI sessions from their rollout files (`trail import codex`).

A rollout carries no code state, so imported steps carry the repository's HEAD tree at import time and say so, as
Claude Code imports do. Importing again is idempotent and incremental: each step remembers the byte offset of the
rollout line it came from; an import replays the lines up to the furthest one recorded (rebuilding what was open
then: calls waiting for their output, the running token count) and records only what follows.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_lines import json_objects
from trail.adapters.codex_fork import codex_home
from trail.adapters.codex_rollout import (
    AGENT,
    ENVELOPE_TYPES,
    ITEM_TYPES,
    RolloutConverter,
    RolloutLine,
    iter_chunks,
    parse_time,
    session_of,
)
from trail.adapters.formats import ImportResult
from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import check_session_id

IMPORT_TREE = "HEAD at import (a Codex rollout holds no code state)"
HELP = """Record Codex CLI sessions from their rollout files (JSON lines).

Codex keeps each session in $CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl (CODEX_HOME defaults
to ~/.codex; archived ones in $CODEX_HOME/archived_sessions/). Prompts, the model's messages, its reasoning (the
summary Codex keeps; encrypted reasoning is noted, not readable), tool calls with their outputs, turn ends and
aborts, and the tokens of each model request (the difference between Codex's running totals) are recorded. A
rollout holds no code state: the steps carry this repository's current HEAD tree, and say so in a Trail-Tree
trailer. Importing again adds only what the rollout gained since; a tool call still waiting for its output is
recorded once it has one (or once its turn ended without).

\b
Examples:
  trail import codex --all
  trail import codex ~/.codex/sessions/2026/11/30/rollout-2026-11-30T09-12-44-0199d5e2-7c3a-7f10-b2a4-5e6f7a8b9c0d.jsonl
"""
TITLE = "a Codex CLI rollout (JSON lines, ~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl)"
LOCATION = "~/.codex/sessions/ and ~/.codex/archived_sessions/ ($CODEX_HOME)"
# A first line too long for the sniffed head (a long system prompt in session_meta) still shows its start.
_META_START = re.compile(
    rb'^\s*\{\s*"timestamp"\s*:\s*"[^"]*"\s*,\s*"type"\s*:\s*"session_meta"\s*,\s*"payload"\s*:\s*\{'
)


def sniff(head: bytes, path: Path) -> bool:
    """JSON lines whose first is a `session_meta` (`{timestamp, type, payload}`), the rest of the envelope's kinds;
    or a rollout from before the envelope: a bare `{id, timestamp}` header, then state markers and bare items."""
    segments = head.split(b"\n")
    segments.pop()  # after the last newline: nothing, or a line cut by the head
    lines = [line for line in segments if line.strip()]
    if not lines:
        return bool(_META_START.match(head))
    parsed = json_objects(lines[:200])
    if parsed is None:
        return False
    first = parsed[0]
    if first.get("type") == "session_meta" and isinstance(first.get("payload"), dict):
        envelope = sum(1 for d in parsed if d.get("type") in ENVELOPE_TYPES and isinstance(d.get("payload"), dict))
        return envelope * 2 >= len(parsed)
    if "type" not in first and isinstance(first.get("id"), str) and isinstance(first.get("timestamp"), str):
        rest = parsed[1:]
        bare = sum(1 for d in rest if d.get("record_type") == "state" or d.get("type") in ITEM_TYPES)
        return bool(rest) and bare * 2 >= len(rest)
    return False


def find_all(repo: TrailRepo) -> list[Path]:
    return find_rollouts(repo)


def import_path(repo: TrailRepo, path: Path) -> ImportResult:
    return import_codex(repo, path)


def find_rollouts(repo: TrailRepo) -> list[Path]:
    """Rollouts of sessions Codex ran in this repository (or a folder inside it), oldest first."""
    home = codex_home()
    found = []
    for folder, pattern in (("sessions", "*/*/*/rollout-*.jsonl"), ("archived_sessions", "rollout-*.jsonl")):
        base = home / folder
        if base.is_dir():
            found += [p for p in base.glob(pattern) if p.is_file() and _ran_inside(p, repo.workdir)]
    return sorted(found, key=lambda p: p.name)  # the name starts with the session's start time


def _ran_inside(path: Path, workdir: Path) -> bool:
    """The session_meta's cwd (the first line says) is this working tree or a folder in it."""
    import json

    try:
        with open(path, "rb") as f:
            first = f.readline(16 << 20)
    except OSError:
        return False
    try:
        data = json.loads(first)
    except ValueError:
        return False
    meta = data.get("payload") if isinstance(data, dict) and data.get("type") == "session_meta" else data
    cwd = meta.get("cwd") if isinstance(meta, dict) else None
    if not isinstance(cwd, str) or not cwd:
        return False
    root = os.path.realpath(workdir)
    where = os.path.realpath(cwd)
    return where == root or where.startswith(root + os.sep)


def import_codex(repo: TrailRepo, path: str | os.PathLike[str]) -> ImportResult:
    """Record the rollout at `path` as a session (or continue an earlier import of it): read a few MB at a time,
    written as one pack, the session's ref moved once."""
    path = Path(path)
    try:
        chunks = iter_chunks(path)
        first = next(chunks, [])
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    session_id = session_of(first, path)
    if session_id is None:
        raise TrailError(f"{path} names no session (no session_meta with an id); is it a Codex rollout?")
    check_session_id(session_id)
    writer = StepWriter(repo)
    with writer.session_lock(session_id):
        return _import_locked(writer, path, itertools.chain([first], chunks), session_id)


def _import_locked(
    writer: StepWriter, path: Path, chunks: Iterator[list[RolloutLine]], session_id: str
) -> ImportResult:
    store = writer.store
    tip = store.session(session_id)
    resume_at: int | None = None
    flushed: str | None = None
    if tip is not None:
        existing = store.steps(session_id, full=True)
        if "imported_from" not in existing[0].event.payload:
            return ImportResult(path, session_id, 0, "recorded live by hooks; not imported again")
        resume_at, flushed = _recorded_up_to(existing)
    converter = RolloutConverter(session_id, prompts=True, defer_tools=False)
    tree = _head_tree(writer)
    added = 0
    with writer.bulk() as bulk:

        def record(events: list[Event]) -> None:
            nonlocal added
            for event in events:
                if added == 0 and tip is None:
                    bulk.write(_start_event(path, converter, event, session_id), tree, IMPORT_TREE)
                    added += 1
                bulk.write(event, tree, IMPORT_TREE)
                added += 1

        for lines in chunks:
            if resume_at is not None:
                # Lines the last import recorded are replayed, not recorded: they rebuild what it knew.
                converter.feed([line for line in lines if line.end <= resume_at])
                lines = [line for line in lines if line.end > resume_at]
                if converter.state.offset < resume_at and not lines:
                    continue
                if converter.state.offset != resume_at:
                    raise _not_continued(path, session_id, resume_at)
                if flushed:
                    converter.finish(over=flushed == "over")  # as the last import ended, so shall the replay
                resume_at = None
            record(converter.feed(lines))
        if resume_at is not None:
            if converter.state.offset != resume_at:
                raise _not_continued(path, session_id, resume_at)
            if flushed:
                converter.finish(over=flushed == "over")
        record(converter.finish(over=converter.stale()))
    waiting = f"; {converter.waiting} tool calls wait for their output" if converter.waiting else ""
    if not added:
        what = "already imported" if tip is not None else "no steps in the rollout"
        return ImportResult(path, session_id, 0, what + waiting)
    return ImportResult(path, session_id, added, waiting.lstrip("; "), packs=tuple(bulk.packs))


def _recorded_up_to(steps: list[Any]) -> tuple[int | None, str | None]:
    """The furthest rollout offset the steps came from, and whether the import that recorded it ended there
    (`rollout_flushed`: its end flushed what was pending)."""
    furthest: int | None = None
    flushed: str | None = None
    for step in steps:
        payload = step.event.payload
        offset = payload.get("rollout_offset")
        if not isinstance(offset, int):
            continue
        mark = payload.get("rollout_flushed")
        if furthest is None or offset > furthest:
            furthest, flushed = offset, mark if isinstance(mark, str) else None
        elif offset == furthest and isinstance(mark, str) and flushed != "over":
            flushed = mark
    return furthest, flushed


def _not_continued(path: Path, session_id: str, offset: int) -> TrailError:
    return TrailError(
        f"session {session_id} was imported from a rollout that {path} does not continue (it has no line ending at "
        f"byte {offset}); refusing to mix them"
    )


def _start_event(path: Path, converter: RolloutConverter, first: Event, session_id: str) -> Event:
    meta = converter.state.meta or {}
    git: dict[str, Any] = meta["git"] if isinstance(meta.get("git"), dict) else {}
    payload = {
        "source": "import",
        "imported_from": str(path.resolve()),
        "cwd": meta.get("cwd"),
        "branch": git.get("branch"),
        "commit": git.get("commit_hash"),
        "version": meta.get("cli_version"),
        "model": converter.state.model,
        "meta": {k: v for k, v in meta.items() if k not in ("id", "cwd")} or None,
    }
    started = meta.get("timestamp")
    return Event(
        kind=ev.SESSION_START,
        payload={k: v for k, v in payload.items() if v is not None},
        session_id=session_id,
        time=parse_time(started) or first.time,
        agent=AGENT,
    )


def _head_tree(writer: StepWriter) -> str:
    head = writer.repo.head_commit()
    return str(head.tree_id) if head is not None else str(writer.repo.git.TreeBuilder().write())

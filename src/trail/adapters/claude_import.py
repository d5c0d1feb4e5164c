"""Recording past sessions from their transcripts alone (`trail import claude`).

A transcript carries no code state, so imported steps carry the repository's HEAD tree at import time and say so.
Re-importing is idempotent: the last step of each import names the byte offset it read to (`imported_to`), and
the next import reads the lines before it again without recording them (to know the calls and messages they
opened), then records from there. A call recorded with no result yet is completed by a `tool_result` step when
its result arrives, never recorded twice.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trail import events as ev
from trail.adapters.claude_hooks import child_session_id
from trail.adapters.claude_lines import json_objects
from trail.adapters.claude_transcript import (
    AGENT,
    Cursor,
    Line,
    TranscriptConverter,
    iter_lines,
    transcript_session,
)
from trail.adapters.formats import ImportResult
from trail.capture.writer import BulkStepWriter, StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store import attachments
from trail.store.steps import SESSION_ID_RE, Step

IMPORT_TREE = "HEAD at import (a transcript holds no code state)"


HELP = """Record Claude Code sessions from their transcripts (JSON lines).

A transcript holds no code state: the steps carry this repository's current HEAD tree, and say so in a Trail-Tree
trailer. Importing again is safe: only lines not yet recorded are added. A subagent's transcript
(subagents/agent-<id>.jsonl) becomes a session of its own, linked to the step of its parent that started it
(when the parent is imported later, the link is added then). The copies of a conversation Claude Code makes for a
compaction or a side question (subagents/agent-acompact-*, agent-aside_question-*) are not subagents: --all skips
them, and importing one by name records only what its parent's transcript does not hold.

\b
Examples:
  trail import claude --all
  trail import claude ~/.claude/projects/-home-me-app/3f2a9b1c-5d1e-4b7a-9c0f-2e8d6a4b1f37.jsonl
"""
TITLE = "a Claude Code transcript (JSON lines, ~/.claude/projects/<project>/<session>.jsonl)"
LOCATION = "~/.claude/projects/ ($CLAUDE_CONFIG_DIR/projects/)"
# Line types of Claude Code transcripts that carry no sessionId (the others do).
_TYPES_WITHOUT_SESSION = frozenset(("summary", "file-history-snapshot", "custom-title", "agent-name"))
# Agent ids Claude Code gives the near-copies of a conversation it makes for its own use, and what each is.
COPY_KINDS = {"acompact": "a compaction", "aside_question": "a side question"}
_COPY_ID = re.compile(r"^([a-z_]+)-[0-9a-f]{6,}$")


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
    parsed = json_objects(lines[:200])
    if parsed is None:
        return False
    known = sum(1 for d in parsed if isinstance(d.get("sessionId"), str) or d.get("type") in _TYPES_WITHOUT_SESSION)
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
    """Transcripts of sessions run in this repository (or a folder inside it), parents before subagents; the
    copies Claude Code makes of a conversation (COPY_KINDS) are not sessions and are left out."""
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
                found = sorted(path.with_suffix("").glob("subagents/agent-*.jsonl"))
                subagents.extend(p for p in found if copy_kind(p.stem.removeprefix("agent-")) is None)
    return mains + subagents


def copy_kind(agent_id: str) -> str | None:
    """The kind of copy (a COPY_KINDS key) an agent id names, None for a real subagent."""
    match = _COPY_ID.match(agent_id)
    return match.group(1) if match and match.group(1) in COPY_KINDS else None


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


@dataclass
class _Copy:
    """A copy of the parent's conversation: which of its lines the parent's transcript already holds."""

    kind: str
    parent_path: Path
    uuids: set[str] = field(default_factory=set)
    message_ids: set[str] = field(default_factory=set)

    def holds(self, line: Line) -> bool:
        data = line.data or {}
        if data.get("uuid") in self.uuids:
            return True
        message = data.get("message")
        return (
            data.get("type") == "assistant"
            and isinstance(message, dict)
            and isinstance(message.get("id"), str)
            and message["id"] in self.message_ids
        )


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
        if not any(ln.data and ln.data.get("type") in ("user", "assistant") for ln in first_chunk):
            if all(ln.data and ln.data.get("type") in _TYPES_WITHOUT_SESSION for ln in first_chunk):
                return ImportResult(path, path.stem, 0, "an empty session (no message in it): nothing to record")
            raise TrailError(f"{path} is not a Claude Code transcript (no line has a sessionId); nothing was recorded")
        if not SESSION_ID_RE.match(path.stem):
            raise TrailError(f"{path} names no session (no line has a sessionId); is it a Claude Code transcript?")
        session_id = path.stem
    parent = None
    copy = None
    if agent_id:
        parent, session_id = session_id, child_session_id(session_id, str(agent_id))
        copy = _copy_of_parent(path, parent, str(agent_id))
    writer = StepWriter(repo)
    with writer.session_lock(session_id):
        run = _ImportRun(writer, path, session_id, parent, agent_id, copy)
        result = run.run(itertools.chain([first_chunk], chunks))
    if parent is None:
        link_children(writer, session_id)
    elif run.unlinked and copy is None and writer.store.tip_commit(parent) is not None:
        n = _starting_step(writer.store, parent, str(agent_id))
        if n is not None:
            _link_child(writer, parent, session_id, n)
    return result


def _copy_of_parent(path: Path, parent: str, agent_id: str) -> _Copy | None:
    """What the parent's transcript holds, when `path` is one of Claude Code's copies of it; None for a real
    subagent. TrailError when it is a copy and the parent's transcript is not beside it to tell what is new."""
    kind = copy_kind(agent_id)
    if kind is None:
        return None
    folder = path.parent.parent
    parent_path = folder.parent / f"{folder.name}.jsonl"
    if path.parent.name != "subagents" or not parent_path.is_file():
        raise TrailError(
            f"{path} is {_copy_words(kind, parent)}, not a subagent; its parent's transcript "
            f"({parent_path}) is not there to tell which of its lines are new, so nothing was recorded. Import "
            "the parent session's transcript instead"
        )
    stat = parent_path.stat()
    uuids, message_ids = _parent_ids(str(parent_path), stat.st_size, stat.st_mtime_ns)
    return _Copy(kind, parent_path, set(uuids), set(message_ids))


@functools.lru_cache(maxsize=4)
def _parent_ids(path: str, size: int, mtime: int) -> tuple[frozenset[str], frozenset[str]]:
    """The line uuids and message ids of a transcript (read once per process while the file is unchanged)."""
    uuids: set[str] = set()
    message_ids: set[str] = set()
    for chunk in iter_lines(path):
        for line in chunk:
            data = line.data or {}
            if isinstance(data.get("uuid"), str):
                uuids.add(data["uuid"])
            message = data.get("message")
            if data.get("type") == "assistant" and isinstance(message, dict) and isinstance(message.get("id"), str):
                message_ids.add(message["id"])
    return frozenset(uuids), frozenset(message_ids)


class _ImportRun:
    """One import of one transcript into its session, under the session's lock."""

    def __init__(
        self,
        writer: StepWriter,
        path: Path,
        session_id: str,
        parent: str | None,
        agent_id: Any,
        copy: _Copy | None,
    ) -> None:
        self.writer = writer
        self.store = writer.store
        self.path = path
        self.session_id = session_id
        self.parent = parent
        self.agent_id = agent_id
        self.copy = copy
        self.converter = TranscriptConverter(session_id, Cursor(), prompts=True, defer_tools=False)
        self.unlinked = False  # a subagent's session that does not name its parent's step yet
        self.added = 0
        self.copied = 0  # lines of a copy that its parent holds: not recorded
        self.messages = 0  # user and assistant lines read
        self.first_line: dict[str, Any] = {}
        self.held: Event | None = None  # the newest event, written last with the offset read to
        self.tip: Step | None = None
        self.bulk: BulkStepWriter | None = None
        self.tree = ""

    def run(self, chunks: Iterator[list[Line]]) -> ImportResult:
        store = self.store
        cursor = self.converter.cursor
        info = store.session(self.session_id)
        resume_offset, resume_uuid, legacy_uuid = 0, None, None
        if info is not None:
            existing = store.steps(self.session_id, full=True)
            start = existing[0].event.payload
            if "imported_from" not in start:
                return ImportResult(self.path, self.session_id, 0, "recorded live by hooks; not imported again")
            self.tip = existing[-1]
            self.unlinked = self.parent is not None and info.parent is not None and info.parent[1] is None
            resume_offset, resume_uuid, legacy_uuid = _resume_point(existing)
            for step in existing:
                p = step.event.payload
                tool_id = p.get("tool_use_id")
                if not isinstance(tool_id, str):
                    continue
                if step.kind == ev.TOOL_CALL and "status" in p:
                    cursor.waiting[tool_id] = {"step": step.n, "name": p.get("name")}
                elif step.kind in (ev.TOOL_CALL, ev.TOOL_RESULT):
                    cursor.waiting.pop(tool_id, None)
                    cursor.recorded_tools.add(tool_id)
        self.tree = _head_tree(self.writer)
        replaying = bool(resume_offset) or legacy_uuid is not None
        seen_uuid: str | None = None
        end = 0
        incomplete = False
        with self.writer.bulk() as bulk:
            self.bulk = bulk
            self.converter.blob_sink = _blob_sink(bulk)
            for lines in chunks:
                if lines and lines[-1].partial and lines[-1].data is None:
                    lines = lines[:-1]  # a line still being written: the next import takes it
                    incomplete = True
                if not lines:
                    continue
                self._note_lines(lines)
                if replaying:
                    cut = _already_read(lines, resume_offset, legacy_uuid)
                    self.converter.feed(lines[:cut], flush=False)
                    seen_uuid = _last_uuid(lines[:cut], seen_uuid)
                    if cut == len(lines) and not (legacy_uuid is not None and seen_uuid == legacy_uuid):
                        end = lines[-1].end
                        continue
                    self._replayed(resume_uuid, seen_uuid)
                    replaying = False
                    lines = lines[cut:]
                self._record_lines(lines)
                if lines:
                    end = lines[-1].end
                    seen_uuid = _last_uuid(lines, seen_uuid)
            if replaying:
                if not (resume_offset and end == resume_offset):
                    where = f"byte {resume_offset}" if resume_offset else f"line {legacy_uuid}"
                    raise TrailError(
                        f"session {self.session_id} was imported from a transcript that {self.path} does not "
                        f"continue (its {where} is not there as it was); refusing to mix them"
                    )
                self._replayed(resume_uuid, seen_uuid)
            self._record(self.converter.finish() + self.converter.unresolved())
            if self.held is not None:
                held = self.held
                if cursor.links:  # lines at the very end that are not recorded keep their place in the tree
                    held.payload["links"] = held.payload.get("links", []) + cursor.links
                    cursor.links = []
                held.payload["imported_to"] = {"offset": end, "uuid": seen_uuid}
                self._write(held)
        return self._result(info is not None, incomplete)

    def _note_lines(self, lines: list[Line]) -> None:
        if not self.first_line:
            self.first_line = next((ln.data for ln in lines if ln.data and ln.data.get("timestamp")), {})
        self.messages += sum(1 for ln in lines if ln.data and ln.data.get("type") in ("user", "assistant"))

    def _replayed(self, resume_uuid: str | None, seen_uuid: str | None) -> None:
        """The lines an earlier import recorded are read again: what they left open is known, nothing recorded."""
        self.converter.finish()
        self.converter.cursor.links = []  # the earlier import's last step carries them
        if resume_uuid is not None and seen_uuid != resume_uuid:
            raise TrailError(
                f"session {self.session_id} was imported from a transcript that {self.path} does not continue "
                f"(its line {resume_uuid} is not where that import stopped); refusing to mix them"
            )

    def _record_lines(self, lines: list[Line]) -> None:
        """Record `lines`; of a copy, only those its parent's transcript does not hold."""
        if self.copy is None:
            self._record(self.converter.feed(lines, flush=False))
            return
        for copied, group in itertools.groupby(lines, key=self.copy.holds):
            run = list(group)
            if copied:
                cursor = self.converter.cursor
                opened = set(cursor.tool_uses) | set(cursor.orphans)
                self.copied += len(run)
                self.converter.feed(run, flush=False)
                self.converter.finish()  # the parent's response, left unrecorded
                # The parent's calls are the parent's: never recorded here, even with no result in the copy.
                cursor.recorded_tools |= (set(cursor.tool_uses) | set(cursor.orphans)) - opened
            else:
                self._record(self.converter.feed(run, flush=False))
                self._record(self.converter.finish())

    def _record(self, events: list[Event]) -> None:
        for event in events:
            if self.held is not None:
                self._write(self.held)
            self.held = event

    def _write(self, event: Event) -> None:
        assert self.bulk is not None
        if self.added == 0 and self.tip is None:
            self.bulk.write(self._start_event(event), self.tree, IMPORT_TREE)
            self.added += 1
        self.bulk.write(event, self.tree, IMPORT_TREE)
        self.added += 1

    def _result(self, continued: bool, incomplete: bool) -> ImportResult:
        later = "; its last line is still being written (import again to add it)" if incomplete else ""
        if self.added:
            packs = tuple(self.bulk.packs) if self.bulk is not None else ()
            return ImportResult(self.path, self.session_id, self.added, later.removeprefix("; "), packs)
        if continued:
            return ImportResult(self.path, self.session_id, 0, "already imported" + later)
        if self.copy is not None:
            what = _copy_words(self.copy.kind, str(self.parent))
            return ImportResult(self.path, self.session_id, 0, f"{what}: nothing in it that the parent does not hold")
        if not self.messages:
            return ImportResult(self.path, self.session_id, 0, "an empty session (no message in it)" + later)
        raise TrailError(
            f"{self.path} holds {self.messages} messages but gave no steps; nothing was recorded (a format this "
            "version of trail does not read?)"
        )

    def _start_event(self, first_event: Event) -> Event:
        first = self.first_line
        payload: dict[str, Any] = {
            "source": "import",
            "imported_from": str(self.path.resolve()),
            "cwd": first.get("cwd"),
            "branch": first.get("gitBranch") or None,
            "version": first.get("version"),
        }
        if self.parent is not None and self.copy is None:
            payload.update(_parent_link(self.store, self.parent, str(self.agent_id)))
            payload.update(_subagent_meta(self.path))
        elif self.parent is not None:  # a copy: no call of the parent started it
            payload.update(parent_session=self.parent, agent_id=str(self.agent_id))
        if self.copy is not None:
            payload["copy_of_parent"] = self.copy.kind
            payload["text"] = (
                f"{_copy_words(self.copy.kind, str(self.parent))}: only the lines the parent's transcript does "
                f"not hold are recorded here ({self.copy.parent_path})"
            )
        self.unlinked = self.parent is not None and self.copy is None and "parent_step" not in payload
        return Event(
            kind=ev.SESSION_START,
            payload={k: v for k, v in payload.items() if v is not None},
            session_id=self.session_id,
            time=first_event.time,
            agent=AGENT,
        )


def _copy_words(kind: str, parent: str) -> str:
    return f"Claude Code's copy of session {parent}'s conversation for {COPY_KINDS[kind]}"


def _resume_point(steps: list[Step]) -> tuple[int, str | None, str | None]:
    """Where an earlier import stopped: (byte offset, uuid of the last line before it), or for an import made
    before offsets were kept, (0, None, the last line it recorded)."""
    for step in reversed(steps):
        mark = step.event.payload.get("imported_to")
        if isinstance(mark, dict) and isinstance(mark.get("offset"), int):
            uuid = mark.get("uuid")
            return mark["offset"], uuid if isinstance(uuid, str) else None, None
    legacy = next(
        (s.event.payload["transcript_uuid"] for s in reversed(steps) if s.event.payload.get("transcript_uuid")),
        None,
    )
    return 0, None, legacy


def _already_read(lines: list[Line], offset: int, legacy_uuid: str | None) -> int:
    """How many of `lines` an earlier import recorded."""
    if offset:
        return sum(1 for line in lines if line.end <= offset)
    return next(
        (i + 1 for i, line in enumerate(lines) if line.data and line.data.get("uuid") == legacy_uuid), len(lines)
    )


def _last_uuid(lines: list[Line], default: str | None) -> str | None:
    for line in reversed(lines):
        if line.data and isinstance(line.data.get("uuid"), str):
            return str(line.data["uuid"])
    return default


def _blob_sink(bulk: BulkStepWriter) -> Callable[[bytes], str]:
    """Attachments go into the import's pack, unless the repository has them already (an import run again)."""

    def sink(data: bytes) -> str:
        blob = attachments.blob_id(data)
        return blob if bulk.bulk.has_blob(blob) else bulk.bulk.write_blob(data)

    return sink


def _subagent_meta(path: Path) -> dict[str, Any]:
    """What Claude Code's `agent-<id>.meta.json` beside a subagent's transcript says (its type, its task)."""
    try:
        meta = json.loads(path.with_suffix(".meta.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    return {"agent_type": meta.get("agentType"), "description": meta.get("description"), "meta": meta}


def _parent_link(store: Any, parent: str, agent_id: str) -> dict[str, Any]:
    """The parent session and the step that started this subagent (its Task call), when the parent is imported."""
    link: dict[str, Any] = {"parent_session": parent, "agent_id": agent_id}
    step = _starting_step(store, parent, agent_id) if store.tip_commit(parent) is not None else None
    if step is not None:
        link["parent_step"] = step
    return link


def _starting_step(store: Any, parent: str, agent_id: str) -> int | None:
    """The step of `parent` whose tool result names the subagent `agent_id` (Claude Code's Task/Agent call)."""
    return _starting_steps(store, parent, {agent_id}).get(agent_id)


def _starting_steps(store: Any, parent: str, agent_ids: set[str]) -> dict[str, int]:
    """Of `agent_ids`, those a tool result of `parent` names, with the step (one walk of the parent, newest first,
    stopping once all are found)."""
    found: dict[str, int] = {}
    for step in store.walk(parent):
        if step.kind not in (ev.TOOL_CALL, ev.TOOL_RESULT):
            continue
        payload = step.event.payload
        for value in (payload.get("result"), payload.get("output")):
            if isinstance(value, dict) and value.get("agentId") in agent_ids:
                found.setdefault(str(value["agentId"]), int(step.n))
        if len(found) == len(agent_ids):
            break
    return found


def link_children(writer: StepWriter, parent: str) -> list[str]:
    """Link the subagents of `parent` imported before it to the step that started each; returns the sessions
    linked. Steps are immutable: the link is a step of its own, which the session's description takes up as it
    takes up a start's (`links_parent`)."""
    depth = parent.count(".agent-") + 1
    waiting: dict[str, str] = {}  # agent id -> child session
    for child in writer.store.children(parent):
        if child.count(".agent-") != depth:
            continue
        info = writer.store.session(child)
        if info is None or info.parent is None or info.parent[1] is not None:
            continue
        start = writer.store.step_at(child, 1).event.payload
        if isinstance(start.get("agent_id"), str) and not start.get("copy_of_parent"):  # a copy has no starter
            waiting[start["agent_id"]] = child
    if not waiting or writer.store.tip_commit(parent) is None:
        return []
    linked = []
    for agent_id, n in _starting_steps(writer.store, parent, set(waiting)).items():
        if _link_child(writer, parent, waiting[agent_id], n):
            linked.append(waiting[agent_id])
    return linked


def _link_child(writer: StepWriter, parent: str, child: str, n: int) -> bool:
    with writer.session_lock(child):
        info = writer.store.session(child)
        if info is None or (info.parent is not None and info.parent[1] is not None):
            return False
        payload = {
            "text": f"Started by step {n} of session {parent} (linked once the parent was imported)",
            "links_parent": True,
            "parent_session": parent,
            "parent_step": n,
        }
        writer.write(Event(kind=ev.NOTE, payload=payload, session_id=child, agent=AGENT), None)
    return True


def _head_tree(writer: StepWriter) -> str:
    head = writer.repo.head_commit()
    return str(head.tree_id) if head is not None else str(writer.repo.git.TreeBuilder().write())

"""Recording aider sessions from its chat history (`trail import aider .aider.chat.history.md`).

aider has no hooks; it keeps a Markdown log of every run (aider_history.py reads it). Each `# aider chat started at`
run becomes a session of its own, `aider-<YYYYMMDD-HHMMSS>` (local time, as the header gives it). The log holds no
code state, but aider commits its edits: a commit it reports (`Commit abc1234 …`) that is in this repository is
recorded as a step whose second parent is that commit and whose tree is the commit's; later steps keep that tree
until the next commit (so `git diff S~1 S` of the commit's step is aider's change). Before the first commit, steps
carry the tree the first commit was made on, or HEAD's when the run made none; each step's Trail-Tree trailer says
which. Importing again adds only what the log gained (each step remembers the byte offset it came from).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pygit2

from trail import events as ev
from trail.adapters.aider_history import AGENT, HEADER, Session, parse, read_inputs
from trail.adapters.claude_transcript import open_regular
from trail.adapters.formats import ImportResult
from trail.capture.writer import BulkStepWriter, StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo

HELP = """Record aider sessions from its chat history (.aider.chat.history.md, Markdown).

Each run of aider (a `# aider chat started at …` header) becomes a session: what you typed (`/` commands as
command steps), the model's replies with the tokens and cost aider reported for each, the edits it applied, and
the commits it made, linked to those commits when they are in this repository. .aider.input.history beside the file
dates the inputs. Importing again adds only what is new. To record the code as aider changes it, run it under
`trail record -- aider …`.

\b
Examples:
  trail import aider --all                 .aider.chat.history.md at the root of this working tree
  trail import aider ~/notes/.aider.chat.history.md
"""
TITLE = "an aider chat history (Markdown, .aider.chat.history.md)"
LOCATION = ".aider.chat.history.md at the root of this working tree"
FILE_NAME = ".aider.chat.history.md"
READ_LIMIT = 512 << 20


def sniff(head: bytes, path: Path) -> bool:
    """The first line that is not blank is aider's `# aider chat started at YYYY-MM-DD HH:MM:SS` (aider writes it
    before anything else): any other Markdown is refused."""
    for raw in head.split(b"\n")[:50]:
        text = raw.rstrip(b"\r").decode("utf-8", "replace")
        if text.strip():
            return bool(HEADER.match(text))
    return False


def find_all(repo: TrailRepo) -> list[Path]:
    path = repo.workdir / FILE_NAME
    return [path] if path.is_file() else []


def import_path(repo: TrailRepo, path: Path) -> ImportResult:
    return import_aider(repo, path)


def input_history(path: Path) -> Path:
    """`.aider.input.history` beside `.aider.chat.history.md` (the same stem for renamed pairs)."""
    name = path.name
    if name.endswith("chat.history.md"):
        return path.with_name(name[: -len("chat.history.md")] + "input.history")
    return path.with_name(".aider.input.history")


def session_id(session: Session) -> str:
    stamp = session.started.strftime("%Y%m%d-%H%M%S")
    return f"aider-{stamp}" if session.index == 1 else f"aider-{stamp}-{session.index}"


def import_aider(repo: TrailRepo, path: str | os.PathLike[str]) -> ImportResult:
    """Record each run in the chat history at `path` as a session, or continue earlier imports of them."""
    path = Path(path)
    try:
        with os.fdopen(open_regular(path), "rb") as f:
            data = f.read(READ_LIMIT)
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    inputs_path = input_history(path)
    sessions = parse(data, read_inputs(inputs_path) if inputs_path.is_file() else None)
    if not sessions:
        raise TrailError(f"{path} has no `# aider chat started at` line; is it an aider chat history?")
    writer = StepWriter(repo)
    touched: list[str] = []
    notes: list[str] = []
    added = 0
    # Every run's session locked, then all written as one pack (a pack per run costs two fsyncs each).
    with contextlib.ExitStack() as locks:
        for session in sessions:
            locks.enter_context(writer.session_lock(session_id(session)))
        with writer.bulk() as bulk:
            for session in sessions:
                sid = session_id(session)
                count, note = _import_session(writer, bulk, path, session, sid)
                added += count
                if count:
                    touched.append(sid)
                elif note:
                    notes.append(f"{sid}: {note}")
    if not added:
        already = all(n.endswith("already imported") for n in notes)
        return ImportResult(path, session_id(sessions[-1]), 0, "already imported" if already else "; ".join(notes))
    # One file, several sessions: the result names the ones that grew (ImportResult has room for one id).
    shown = ", ".join(touched[:5]) + (f" and {len(touched) - 5} more" if len(touched) > 5 else "")
    return ImportResult(path, shown, added, packs=tuple(bulk.packs))


def _import_session(
    writer: StepWriter, bulk: BulkStepWriter, path: Path, session: Session, sid: str
) -> tuple[int, str]:
    store = writer.store
    tip = store.session(sid)
    done = -1
    recorded_at: dict[int, int] = {}  # history offset -> step, for usage that arrives after its reply was recorded
    if tip is not None:
        existing = store.steps(sid, full=True)
        if "imported_from" not in existing[0].event.payload:
            return 0, "recorded some other way; not imported again"
        for step in existing:
            payload = step.event.payload
            offset = payload.get("history_offset")
            if isinstance(offset, int):
                done = max(done, offset, payload.get("usage_offset") or 0)
                if step.kind == ev.RESPONSE and "tokens_in" not in payload:
                    recorded_at[offset] = step.n
    commits = {id(e): _commit(writer.repo, e) for e in session.events if e.kind in ("agent_commit", "user_commit")}
    first = next((c for c in commits.values() if c is not None), None)
    if first is not None and first.parents:
        tree = str(first.parents[0].tree_id)
        source = f"the code aider's first commit here ({str(first.id)[:7]}) was made on"
    else:
        tree, source = _head_tree(writer), "HEAD at import"
    source += " (an aider chat history holds no code state)"
    added = 0
    for event in session.events:
        offset = event.payload.get("history_offset", 0)
        usage_at = event.payload.get("usage_offset")
        parents: tuple[str, ...] = ()
        commit = commits.get(id(event))
        if event.kind in ("agent_commit", "user_commit"):
            event.payload["found"] = commit is not None
            if commit is not None:
                event.payload.update(commit=str(commit.id), author=f"{commit.author.name} <{commit.author.email}>")
                parents = (str(commit.id),)
                tree = str(commit.tree_id)
                source = f"aider's commit {str(commit.id)[:7]} (an aider chat history holds no code state)"
                event.time = max(event.time, _commit_time(commit))
        if offset <= done:
            if isinstance(usage_at, int) and usage_at > done and offset in recorded_at:
                # The reply was recorded before aider printed its usage: the usage comes now.
                usage = {k: v for k, v in event.payload.items() if k not in ("text", "history_offset", "usage_offset")}
                late = Event(kind=ev.RESPONSE, payload={**usage, "text_recorded_at": recorded_at[offset]})
                late.payload["history_offset"] = usage_at
                _write(bulk, late, sid, tree, source)
                added += 1
            continue
        if added == 0 and tip is None:
            _write(bulk, _start_event(path, session, sid), sid, tree, source)
            added += 1
        _write(bulk, event, sid, tree, source, parents)
        added += 1
    note = "already imported" if tip is not None else "no steps in the chat history"
    return added, ("" if added else note)


def _write(bulk: BulkStepWriter, event: Event, sid: str, tree: str, source: str, parents: tuple[str, ...] = ()) -> None:
    event.session_id = sid
    event.agent = AGENT
    bulk.write(event, tree, source, extra_parents=parents)


def _start_event(path: Path, session: Session, sid: str) -> Event:
    version = None
    model = None
    for event in session.events:
        text = str(event.payload.get("text") or "")
        if version is None and "Aider v" in text:
            version = text.split("Aider v", 1)[1].split()[0]
        model = model or event.payload.get("model")
    payload = {
        "source": "import",
        "imported_from": str(path.resolve()),
        "version": version,
        "model": model,
        "started_at": session.started.isoformat(),
    }
    return Event(
        kind=ev.SESSION_START,
        payload={k: v for k, v in payload.items() if v is not None},
        session_id=sid,
        time=session.started,
        agent=AGENT,
    )


def _commit(repo: TrailRepo, event: Event) -> pygit2.Commit | None:
    """The commit aider named (an abbreviated id), if this repository has it."""
    short = event.payload.get("commit")
    if not isinstance(short, str):
        return None
    try:
        found = repo.git.revparse_single(short)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return found if isinstance(found, pygit2.Commit) else None  # a prefix may name a blob as well


def _commit_time(commit: pygit2.Commit) -> Any:
    from datetime import datetime, timedelta, timezone

    return datetime.fromtimestamp(commit.commit_time, timezone(timedelta(minutes=commit.commit_time_offset)))


def _head_tree(writer: StepWriter) -> str:
    head = writer.repo.head_commit()
    return str(head.tree_id) if head is not None else str(writer.repo.git.TreeBuilder().write())

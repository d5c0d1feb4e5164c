"""Recording one hook call: a Claude Code payload or a git post-commit, in the repository it is about.

Shared by the `trail-hook` process and the watcher, which both call `run_*` (failures logged, payloads kept) or,
when finishing kept payloads, `record` (failures raised). Nothing here writes to stdout.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from trail.capture import keep
from trail.errors import NotARepositoryError
from trail.repo import TrailRepo
from trail.store.snapshot import Snapshot

# Given the repository a hook is about, the watcher's snapshot function for it (or None).
Snapshotter = Callable[[TrailRepo], Callable[[], Snapshot] | None]

ACTIVE_HOURS = 24
_SESSION_PATTERN = rb'"session_id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9._-]{0,127})"'
_CWD_PATTERN = rb'"cwd"\s*:\s*"((?:[^"\\]|\\.)*)"'
_PARSED_WHOLE = 4 << 20  # larger payloads: their cwd is found without parsing all of them
_KEPT_RAW = 1 << 20  # bytes of an unreadable payload kept in its note


def payload_cwd(raw: bytes, key: str | None = "cwd") -> str | None:
    """The folder a hook payload says it comes from, under `key` (its repository decides where it is recorded)."""
    if key is None:
        return None
    if len(raw) <= _PARSED_WHOLE:
        try:
            cwd = json.loads(raw).get(key)
        except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
            return None
        if isinstance(cwd, list):  # Cursor's workspace_roots: the first names the workspace
            cwd = cwd[0] if cwd else None
        return cwd if isinstance(cwd, str) and cwd else None
    if key != "cwd":
        return None
    match = re.search(_CWD_PATTERN, raw[:65536])  # Claude Code writes cwd among the first keys
    if match is None:
        return None
    try:
        cwd = json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return None
    return cwd if isinstance(cwd, str) and cwd else None


def find_repo(path: str) -> TrailRepo | None:
    try:
        return TrailRepo.discover(path)
    except NotARepositoryError:
        return None


def parse_payload(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    if not raw.strip():
        return None, "empty payload"
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"not JSON ({e})"
    except RecursionError:
        return None, "JSON nested too deeply to read"
    if not isinstance(payload, dict):
        return None, f"a JSON {type(payload).__name__}, not an object"
    return payload, None


# -- Claude Code ------------------------------------------------------------------------------------------------


def run_claude(raw: bytes, process_cwd: str, snapshotter: Snapshotter | None = None) -> None:
    """Record one Claude Code hook payload; a failure is logged and the payload kept (pending/) for later."""
    where = payload_cwd(raw) or process_cwd  # the payload's cwd decides
    repo = find_repo(where)
    if repo is None:
        sys.stderr.write(f"trail: {where} is not in a git repository; nothing recorded\n")
        return
    try:
        _claude(repo, raw, snapshotter)
    except Exception as e:  # noqa: BLE001
        session = re.search(_SESSION_PATTERN, raw[:65536])
        keep.log_error(repo, f"claude session={session.group(1).decode() if session else '?'}", e)
        keep.keep(repo, "claude", raw, where, f"{type(e).__name__}: {e}")


def record_claude(repo: TrailRepo, raw: bytes, snapshotter: Snapshotter | None = None) -> None:
    """Record a kept Claude Code payload; raises when it cannot."""
    _claude(repo, raw, snapshotter)


def _claude(repo: TrailRepo, raw: bytes, snapshotter: Snapshotter | None) -> None:
    from trail.adapters.claude_hooks import ClaudeHookHandler, HookPayloadError

    payload, problem = parse_payload(raw)
    if payload is not None and problem is None:
        try:
            ClaudeHookHandler(repo, snapshotter(repo) if snapshotter else None).handle(payload)
        except HookPayloadError as e:
            problem = str(e)
        else:
            if payload.get("hook_event_name") == "SessionStart" and snapshotter is None:
                autostart_watcher(repo)
            return
    record_malformed(repo, raw, problem or "unreadable payload")


def record_malformed(repo: TrailRepo, raw: bytes, problem: str) -> None:
    """A payload trail cannot route becomes a note (with every byte of it, redacted as every step is), in the
    session it names if one can be read from it."""
    from trail.capture.writer import StepWriter
    from trail.events import NOTE, Event

    match = re.search(_SESSION_PATTERN, raw[:65536])
    session_id = match.group(1).decode() if match else "claude-unrouted"
    writer = StepWriter(repo)
    payload: dict[str, Any] = {
        "text": f"A Claude Code hook payload trail could not read: {problem}",
        "raw": raw[:_KEPT_RAW].decode("utf-8", "surrogateescape"),  # every byte survives (as escapes)
    }
    if len(raw) > _KEPT_RAW:  # junk that large is kept by its size and hash, not whole
        payload.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), cut_at=_KEPT_RAW)
    note = Event(kind=NOTE, payload=payload, session_id=session_id, agent="claude-code")
    with writer.session_lock(session_id):
        writer.write(note, None)
    keep.log_error(repo, f"claude malformed payload session={session_id}", ValueError(problem), trace=False)


def autostart_watcher(repo: TrailRepo) -> None:
    """`watch.auto` (on unless turned off): a session's first hook starts the watcher for the next ones."""
    try:
        if repo.config.get_bool("watch.auto"):
            from trail.capture.watch.daemon import start_daemon

            start_daemon(repo, wait=0)
    except Exception as e:  # noqa: BLE001
        keep.log_error(repo, "starting the watcher (watch.auto)", e)


# -- git ----------------------------------------------------------------------------------------------------------


def run_git_post_commit_payload(raw: bytes, cwd: str, snapshotter: Snapshotter | None = None) -> None:
    """`trail-hook git-post-commit` (git sends nothing on stdin: `raw` is empty)."""
    run_git_post_commit(cwd, snapshotter)


def record_git_post_commit(repo: TrailRepo, raw: bytes, snapshotter: Snapshotter | None = None) -> None:
    record_user_commit(repo, snapshotter(repo) if snapshotter else None)


def run_git_post_commit(cwd: str, snapshotter: Snapshotter | None = None) -> None:
    """Record the person's commit in the sessions of this worktree whose steps produced some of its changes (ended
    ones too, if active in the last day), as a step whose second parent is that commit, so that
    `git log --graph trail/sessions/<id>` shows where their work was committed."""
    repo = find_repo(cwd)
    if repo is None:
        return
    try:
        record_user_commit(repo, snapshotter(repo) if snapshotter else None)
    except Exception as e:  # noqa: BLE001
        keep.log_error(repo, "git post-commit", e)


def record_user_commit(repo: TrailRepo, snapshot_fn: Callable[[], Snapshot] | None) -> None:
    from trail.capture.writer import StepWriter
    from trail.events import Event
    from trail.timetravel.credit import commit_changes, produced_by

    head = repo.head_commit()
    if head is None:
        return
    writer = StepWriter(repo, snapshot_fn)
    now = datetime.now(UTC)
    snapshot = None
    changes: dict[str, str | None] | None = None
    for info in writer.store.sessions():
        stale = now - info.updated > timedelta(hours=ACTIVE_HOURS)
        if stale or info.tip.session.get("worktree") != str(repo.workdir):
            continue
        if not writer.store.recorded_here(info.id):
            continue  # a session fetched from elsewhere, whatever worktree it names, never gets this one's work
        if changes is None:
            changes = commit_changes(writer.store, str(head.id))[1]
        if not produced_by(writer.store, info, changes).steps:
            continue  # the commit holds nothing this session made: it is not this session's
        snapshot = snapshot or writer.snapshot()
        subject = head.message.split("\n", 1)[0]
        event = Event(
            kind="user_commit",
            payload={
                "text": f"Committed {str(head.id)[:10]}: {subject}",
                "commit": str(head.id),
                "subject": subject,
                "author": f"{head.author.name} <{head.author.email}>",
                "branch": repo.head_branch(),
            },
            session_id=info.id,
            agent=info.agent,
        )
        with writer.session_lock(info.id):
            writer.write(event, snapshot, extra_parents=(str(head.id),))


# -- finishing kept payloads -------------------------------------------------------------------------------------


def record(source: str, raw: bytes, cwd: str, snapshotter: Snapshotter | None = None) -> None:
    """Record a kept payload; raises when it cannot (it stays kept)."""
    from trail.capture.sources import SOURCES, function

    found = SOURCES.get(source)
    if found is None:
        raise ValueError(f"unknown hook source {source!r}")
    repo = find_repo(cwd)
    if repo is None:
        raise NotARepositoryError(f"{cwd} is not in a git repository any more")
    function(found.record)(repo, raw, snapshotter)


def finish_pending(repo: TrailRepo, budget: float, snapshotter: Snapshotter | None = None) -> list[keep.Replayed]:
    """Record what earlier hooks kept, oldest first, for at most `budget` seconds."""
    return keep.replay(repo, lambda source, raw, cwd: record(source, raw, cwd, snapshotter), budget=budget)

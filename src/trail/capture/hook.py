"""`trail-hook`: the command that agent hooks and git hooks run.

It must never hurt its caller: it always exits 0, writes nothing on stdout (Claude Code reads stdout as
instructions), and logs its own failures to `.git/trail/errors.log`, keeping the payload it could not record
under `.git/trail/failed/` so that nothing is lost.

When a watcher runs, the whole process is a Python start, a JSON parse and a socket round trip: everything else
(pygit2 above all) is imported only on the paths that need it, inside the functions.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself costs an import on the fast path
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from trail.repo import TrailRepo
    from trail.store.snapshot import Snapshot

    # Given the repository a hook is about, the watcher's snapshot function for it (or None).
    Snapshotter = Callable[[TrailRepo], Callable[[], Snapshot] | None]

USAGE = """\
usage: trail-hook claude            (a Claude Code hook payload on stdin)
       trail-hook git-post-commit   (from a git post-commit hook)

Installed by `trail hooks install claude|git`; not meant to be run by hand.
"""
ERRORS_LOG = "errors.log"
_LOG_LIMIT = 1024 * 1024
ACTIVE_HOURS = 24
_SESSION_PATTERN = rb'"session_id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9._-]{0,127})"'


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # whatever is printed by accident must not reach the agent
    try:
        if args[0] == "claude":
            raw = _read_stdin()
            if not forward("claude", raw, _payload_cwd(raw) or os.getcwd()):
                run_claude(raw, os.getcwd())
        elif args[0] == "git-post-commit":
            if not forward("git-post-commit", b"", os.getcwd()):
                run_git_post_commit(os.getcwd())
        else:
            sys.stderr.write(f"trail-hook: unknown source {args[0]!r}\n{USAGE}")
    except BaseException as e:  # noqa: BLE001 - the caller must never see a failure
        _last_resort(e)
    finally:
        sys.stdout = real_stdout
    return 0


def forward(source: str, raw: bytes, where: str) -> bool:
    """Hand the hook to the watcher of the worktree at `where`, if one runs; True if it took it."""
    import base64

    from trail.capture.watch import client as watchclient

    sock = watchclient.socket_path(where)
    if sock is None:
        return False
    message = {"op": "hook", "source": source, "payload": base64.b64encode(raw).decode(), "cwd": os.getcwd()}
    try:
        reply = watchclient.request(sock, message)
    except watchclient.WatcherGone:
        return False  # it may have recorded this already: a duplicate step is better than a lost one
    return bool(reply and reply.get("ok"))


def _payload_cwd(raw: bytes) -> str | None:
    import json

    try:
        cwd = json.loads(raw).get("cwd")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return cwd if isinstance(cwd, str) and cwd else None


def run_claude(raw: bytes, process_cwd: str, snapshotter: Snapshotter | None = None) -> None:
    payload, problem = parse_payload(raw)
    given = payload.get("cwd") if payload else None
    where = given if isinstance(given, str) and given else process_cwd  # the payload's cwd decides
    repo = _find_repo(where)
    if repo is None:
        sys.stderr.write(f"trail: {where} is not in a git repository; nothing recorded\n")
        return
    from trail.adapters.claude_hooks import ClaudeHookHandler, HookPayloadError

    if payload is not None and problem is None:
        try:
            ClaudeHookHandler(repo, snapshotter(repo) if snapshotter else None).handle(payload)
            if payload.get("hook_event_name") == "SessionStart" and snapshotter is None:
                _autostart_watcher(repo)
            return
        except HookPayloadError as e:
            problem = str(e)
        except Exception as e:  # noqa: BLE001
            log_error(repo, f"claude {payload.get('hook_event_name')} session={payload.get('session_id')}", e)
            keep_failed(repo, raw)
            return
    record_malformed(repo, raw, problem or "unreadable payload")


def parse_payload(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    import json

    if not raw.strip():
        return None, "empty payload"
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"not JSON ({e})"
    if not isinstance(payload, dict):
        return None, f"a JSON {type(payload).__name__}, not an object"
    return payload, None


def record_malformed(repo: TrailRepo, raw: bytes, problem: str) -> None:
    """Keep a payload trail cannot route as a note, in the session it names if any can be read from it."""
    import re

    from trail.capture.writer import StepWriter
    from trail.events import NOTE, Event

    match = re.search(_SESSION_PATTERN, raw)
    session_id = match.group(1).decode() if match else "claude-unrouted"
    try:
        writer = StepWriter(repo)
        note = Event(
            kind=NOTE,
            payload={
                "text": f"A Claude Code hook payload trail could not read: {problem}",
                "raw": raw.decode("utf-8", "surrogateescape"),  # every byte survives (as escapes)
            },
            session_id=session_id,
            agent="claude-code",
        )
        with writer.session_lock(session_id):
            writer.write(note, None)
        log_error(repo, f"claude malformed payload session={session_id}", ValueError(problem), trace=False)
    except Exception as e:  # noqa: BLE001
        log_error(repo, "claude malformed payload", e)
        keep_failed(repo, raw)


def _autostart_watcher(repo: TrailRepo) -> None:
    """`trail config watch.auto true`: the first hook of a session starts the watcher for the next ones."""
    try:
        if repo.config.get_bool("watch.auto", False):
            from trail.capture.watch.daemon import start_daemon

            start_daemon(repo, wait=0)
    except Exception as e:  # noqa: BLE001
        log_error(repo, "starting the watcher (watch.auto)", e)


def run_git_post_commit(cwd: str, snapshotter: Snapshotter | None = None) -> None:
    """Record the person's commit in every session active in this worktree, as a step whose second parent is
    that commit, so that `git log --graph trail/sessions/<id>` shows where they committed."""
    repo = _find_repo(cwd)
    if repo is None:
        return
    try:
        _record_user_commit(repo, snapshotter(repo) if snapshotter else None)
    except Exception as e:  # noqa: BLE001
        log_error(repo, "git post-commit", e)


def _record_user_commit(repo: TrailRepo, snapshot_fn: Callable[[], Snapshot] | None) -> None:
    from datetime import UTC, datetime, timedelta

    from trail.capture.writer import StepWriter
    from trail.events import Event

    head = repo.head_commit()
    if head is None:
        return
    writer = StepWriter(repo)
    now = datetime.now(UTC)
    snapshot = None
    for info in writer.store.sessions():
        stale = now - info.updated > timedelta(hours=ACTIVE_HOURS)
        if info.ended or info.tip.session.get("worktree") != str(repo.workdir) or stale:
            continue
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


def _find_repo(path: str) -> TrailRepo | None:
    from trail.errors import NotARepositoryError
    from trail.repo import TrailRepo

    try:
        return TrailRepo.discover(path)
    except NotARepositoryError:
        return None


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def log_error(repo: TrailRepo, context: str, error: BaseException, trace: bool = True) -> None:
    """Append one entry to `.git/trail/errors.log` (shown by `trail doctor`), rotating it past 1 MiB."""
    import traceback
    from datetime import UTC, datetime

    try:
        repo.ensure_dirs()
        log = repo.trail_dir / ERRORS_LOG
        if log.exists() and log.stat().st_size > _LOG_LIMIT:
            os.replace(log, log.with_name(ERRORS_LOG + ".1"))
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        entry = f"{stamp} {context}: {type(error).__name__}: {error}\n"
        if trace:
            details = "".join(traceback.format_exception(error)).rstrip("\n")
            entry += "".join(f"    {line}\n" for line in details.split("\n"))
        with open(log, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(entry)
    except Exception:  # noqa: BLE001
        _last_resort(error)


def keep_failed(repo: TrailRepo, raw: bytes) -> Path | None:
    """Save a payload that could not be recorded, to be looked at (or replayed) later."""
    import time

    try:
        folder = repo.trail_dir / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}.json"
        path.write_bytes(raw)
        return path
    except OSError:
        return None


def _last_resort(error: BaseException) -> None:
    try:  # noqa: SIM105 - contextlib is not imported on the fast path
        sys.stderr.write(f"trail-hook: {type(error).__name__}: {error}\n")
    except Exception:  # noqa: BLE001
        pass


if __name__ == "__main__":
    sys.exit(main())

"""What a hook could not finish, kept on disk (owner-only, redacted) and finished later; and trail's error log.

A hook payload that could not be recorded in time, or whose recording failed, is written to `.git/trail/pending/`
as a small JSON envelope (the source, the folder it came from, its bytes after redaction). The next hook in the
repository finishes what is pending, oldest first, within a budget; after three failures an envelope moves to
`failed/`, which `trail doctor --fix` replays once more. Files and folders here are readable by their owner only:
payloads carry whatever the agent saw.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trail.repo import TrailRepo

PENDING = "pending"
FAILED = "failed"
ERRORS_LOG = "errors.log"
ATTEMPTS = 3
_LOG_LIMIT = 1024 * 1024
_counter = 0


def private_dir(folder: Path) -> Path:
    """`folder`, created if missing, readable by its owner only."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o700)
    return folder


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by its owner only (never world-readable, not even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def redact_text(repo: TrailRepo, text: str) -> str:
    """`text` with its secrets replaced, by the repository's rules (the built-in ones if its config is broken)."""
    from trail.capture.redact import Redactor

    try:
        config = repo.config
        if not config.redact_enabled:
            return text
        redactor = Redactor.with_extra_patterns(config.redact_patterns)
    except Exception:  # noqa: BLE001 - a broken config must not keep a secret in the clear
        redactor = Redactor()
    return redactor.redact_text(text)[0]


def keep(repo: TrailRepo, source: str, raw: bytes, cwd: str, reason: str, folder: str = PENDING) -> Path | None:
    """Keep a hook payload to be recorded later; returns where (None if even that failed)."""
    global _counter
    _counter += 1
    try:
        target = private_dir(repo.trail_dir / folder)
        text = redact_text(repo, raw.decode("utf-8", "surrogateescape"))
        envelope = {
            "version": 1,
            "source": source,
            "cwd": cwd,
            "received": datetime.now(UTC).isoformat(),
            "reason": reason,
            "attempts": 0,
            "payload": text,
        }
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns():020d}-{os.getpid()}-{_counter}.json"
        path = target / name
        write_private(path, json.dumps(envelope, ensure_ascii=True).encode())
        return path
    except Exception:  # noqa: BLE001
        return None


@dataclass
class Replayed:
    path: Path
    ok: bool
    detail: str = ""


Recorder = Callable[[str, bytes, str], None]  # (source, payload bytes, cwd): records, or raises


def replay(repo: TrailRepo, record: Recorder, folder: str = PENDING, budget: float | None = None) -> list[Replayed]:
    """Record kept payloads, oldest first. One that fails stays (with its attempts counted) until ATTEMPTS, then
    moves to failed/; from failed/ (doctor --fix) each is tried once. Envelopes being replayed by another
    process are skipped (each is locked while it is tried)."""
    root = repo.trail_dir / folder
    if not root.is_dir():
        return []
    deadline = None if budget is None else time.monotonic() + budget
    done: list[Replayed] = []
    for path in sorted(root.glob("*.json")):
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if not path.exists():  # replayed by another process between our listing and our lock
                continue
            try:
                envelope = json.loads(path.read_bytes())
                payload = str(envelope["payload"]).encode("utf-8", "surrogateescape")
                record(str(envelope["source"]), payload, str(envelope.get("cwd") or repo.workdir))
            except Exception as e:  # noqa: BLE001
                done.append(Replayed(path, False, f"{type(e).__name__}: {e}"))
                _count_failure(repo, path, folder, e)
                continue
            path.unlink(missing_ok=True)
            done.append(Replayed(path, True))
        finally:
            os.close(fd)
    return done


def _count_failure(repo: TrailRepo, path: Path, folder: str, error: BaseException) -> None:
    try:
        envelope: dict[str, Any] = json.loads(path.read_bytes())
    except (OSError, ValueError):
        envelope = {}
    envelope["attempts"] = int(envelope.get("attempts", 0)) + 1
    envelope["last_error"] = f"{type(error).__name__}: {error}"
    try:
        if folder == PENDING and envelope["attempts"] >= ATTEMPTS:
            write_private(private_dir(repo.trail_dir / FAILED) / path.name, json.dumps(envelope).encode())
            path.unlink(missing_ok=True)
        else:
            write_private(path, json.dumps(envelope).encode())
    except OSError:
        pass


def count(repo: TrailRepo, folder: str) -> int:
    root = repo.trail_dir / folder
    return len(list(root.glob("*.json"))) if root.is_dir() else 0


def log_error(repo: TrailRepo, context: str, error: BaseException, trace: bool = True) -> None:
    """Append one entry to `.git/trail/errors.log` (shown by `trail doctor`; owner-only, redacted), rotating it
    past 1 MiB."""
    try:
        private_dir(repo.trail_dir)
        log = repo.trail_dir / ERRORS_LOG
        if log.exists() and log.stat().st_size > _LOG_LIMIT:
            os.replace(log, log.with_name(ERRORS_LOG + ".1"))
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        entry = f"{stamp} {context}: {type(error).__name__}: {error}\n"
        if trace:
            details = "".join(traceback.format_exception(error)).rstrip("\n")
            entry += "".join(f"    {line}\n" for line in details.split("\n"))
        entry = redact_text(repo, entry)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, entry.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.chmod(log, 0o600)  # a log written by an older trail
    except Exception:  # noqa: BLE001 - logging must never be what fails a hook
        pass

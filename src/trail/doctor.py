"""`trail doctor`: checks that trail can record here, and shows what went wrong when it could not."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pygit2

from trail.capture.redact import Redactor
from trail.errors import TrailError
from trail.gitcli import run_git
from trail.repo import TrailRepo
from trail.store.steps import Store
from trail.views.term import clean

OK, WARN, FAIL = "ok", "warn", "FAIL"
ERRORS_LOG = "errors.log"


@dataclass(frozen=True)
class Check:
    status: str
    name: str
    detail: str


def run_checks(path: str) -> list[Check]:
    checks = [
        Check(OK, "python", sys.version.split()[0]),
        Check(OK, "pygit2", f"{pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION})"),
    ]
    if shutil.which("git") is None:
        checks.append(Check(FAIL, "git", "the git command is not on PATH; trail needs it for checkout and push"))
    else:
        version = run_git(["--version"], cwd=".").strip()
        match = re.search(r"(\d+)\.(\d+)", version)
        old = match is not None and (int(match[1]), int(match[2])) < (2, 20)
        checks.append(Check(WARN if old else OK, "git", version + (" (2.20 or newer is advised)" if old else "")))
    try:
        repo = TrailRepo.discover(path)
    except TrailError as e:
        checks.append(Check(FAIL, "repository", str(e)))
        return checks
    head = repo.head_commit()
    checks.append(Check(OK, "repository", f"{repo.workdir} (HEAD {'unborn' if head is None else str(head.id)[:10]})"))
    checks.append(_check_trail_dir(repo.trail_dir))
    try:
        config = repo.config
        Redactor.with_extra_patterns(config.redact_patterns)
        limit = config.max_file_size
        redaction = "on" if config.redact_enabled else "OFF (redact.enabled = false)"
        checks.append(
            Check(
                OK if config.redact_enabled else WARN,
                "config",
                f"redaction {redaction}, {len(config.redact_patterns)} extra patterns, "
                f"files over {limit} bytes left out of snapshots",
            )
        )
    except TrailError as e:
        checks.append(Check(FAIL, "config", str(e)))
    found, problems = Store(repo).scan()
    if problems:
        shown = "\n".join(f"    {clean(str(p), True)}" for p in problems[:10])
        more = f"\n    … and {len(problems) - 10} more" if len(problems) > 10 else ""
        checks.append(
            Check(
                WARN,
                "sessions",
                f"{len(found)} recorded; {len(problems)} refs under refs/trail/sessions/ are skipped:\n{shown}{more}",
            )
        )
    else:
        checks.append(Check(OK, "sessions", f"{len(found)} recorded"))
    checks.append(_check_errors_log(repo.trail_dir / ERRORS_LOG))
    failed = sorted((repo.trail_dir / "failed").glob("*")) if (repo.trail_dir / "failed").is_dir() else []
    if failed:
        checks.append(Check(WARN, "unrecorded", f"{len(failed)} hook payloads kept in {failed[0].parent}"))
    checks.append(_check_watcher(repo))
    return checks


def _check_watcher(repo: TrailRepo) -> Check:
    from trail.capture.watch.daemon import watcher_status

    info = watcher_status(repo)
    if info is None:
        return Check(OK, "watcher", "not running (optional: `trail watch --daemon` makes steps cost what changed)")
    status = WARN if "full scans" in str(info.get("mode")) else OK
    return Check(status, "watcher", f"pid {info['pid']}, {info['mode']}, {info['requests']} requests")


def _check_trail_dir(trail_dir: Path) -> Check:
    if not trail_dir.exists():
        return Check(OK, "trail folder", f"{trail_dir} will be created at the first step (or run `trail init`)")
    probe = trail_dir / ".doctor-probe"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        return Check(FAIL, "trail folder", f"{trail_dir} is not writable: {e}")
    return Check(OK, "trail folder", str(trail_dir))


def _check_errors_log(log: Path) -> Check:
    if not log.is_file() or log.stat().st_size == 0:
        return Check(OK, "errors", "none logged")
    lines = log.read_text(errors="replace").splitlines()
    entries = [line for line in lines if line and not line.startswith((" ", "\t"))]  # tracebacks are indented
    latest = "\n".join("    " + line for line in entries[-5:])
    return Check(WARN, "errors", f"{len(entries)} logged in {log} (with tracebacks); the latest:\n{latest}")

"""`trail doctor`: checks that trail can record here, and shows what went wrong when it could not."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pygit2

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


def run_checks(path: str, fix: bool = False, agents: Sequence[ModuleType] = ()) -> list[Check]:
    """Every check, in order; with `fix`, what can be repaired is repaired first and said so. `agents`: the
    trail.install modules of the agents other than Claude Code and git, whose hooks are checked too."""
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
    checks += _check_config(repo)
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
    checks += _check_locks(repo, fix)
    checks.append(_check_permissions(repo, fix))
    checks += _check_kept(repo, fix)
    checks += _check_hooks(repo, fix, agents)
    checks.append(_check_watcher(repo))
    return checks


def _check_config(repo: TrailRepo) -> list[Check]:
    """What the settings make of recording, and every value trail cannot use (it uses the default instead)."""
    from trail.config import format_size

    config = repo.config
    redaction = "on" if config.redact_enabled else "OFF (redact.enabled = false)"
    checks = [
        Check(
            OK if config.redact_enabled else WARN,
            "config",
            f"redaction {redaction}, {len(config.redact_patterns)} extra patterns, "
            f"files over {format_size(config.max_file_size)} left out of snapshots",
        )
    ]
    problems = config.problems
    if problems:
        count = f"{len(problems)} value{'s' if len(problems) > 1 else ''}"
        shown = "\n".join(f"    {clean(p.message, True)}" for p in problems)
        checks.append(
            Check(
                WARN,
                "config values",
                f"{count} trail cannot use (recording goes on without them; "
                f"`trail config KEY VALUE` checks a value before writing it):\n{shown}",
            )
        )
    return checks


def _check_hooks(repo: TrailRepo, fix: bool, agents: Sequence[ModuleType]) -> list[Check]:
    """Each installed hook, every agent and scope: does its command find a trail-hook where the agent runs it, and
    does a shared settings file name one person's? (install/checks.py; --fix rewrites only what is clearly safe)"""
    from trail.install.checks import hook_checks

    return [Check(status, name, detail) for status, name, detail in hook_checks(repo.workdir, agents, fix)]


def _check_kept(repo: TrailRepo, fix: bool) -> list[Check]:
    """Hook payloads kept for later (pending/, then failed/ after three tries); --fix records them, oldest first."""
    from trail.capture import handlers, keep

    out = []
    for folder in (keep.PENDING, keep.FAILED):
        if fix and keep.count(repo, folder):
            results = keep.replay(repo, handlers.record, folder=folder)
            ok = sum(r.ok for r in results)
            detail = f"recorded {ok} of {len(results)} payloads kept in {repo.trail_dir / folder}"
            bad = [r for r in results if not r.ok]
            if bad:
                detail += "; still failing: " + "; ".join(f"{r.path.name}: {clean(r.detail, True)}" for r in bad[:3])
            out.append(Check(WARN if bad else OK, f"{folder} payloads", detail))
        left = keep.count(repo, folder)
        if left and not fix:
            what = "to be recorded by the next hook" if folder == keep.PENDING else "that failed three times"
            out.append(
                Check(
                    WARN,
                    f"{folder} payloads",
                    f"{left} hook payloads {what}, in {repo.trail_dir / folder}; `trail doctor --fix` records them",
                )
            )
    return out


def _check_locks(repo: TrailRepo, fix: bool) -> list[Check]:
    """Lock files left by a writer that was killed: under refs/trail/ (its ref updates) and trail's private index."""
    import time

    from trail.store.snapshot import private_gitdir
    from trail.store.steps import STALE_LOCK_SECONDS

    candidates = list((repo.commondir / "refs" / "trail").rglob("*.lock"))
    candidates.append(private_gitdir(repo) / "index.lock")
    stale = [p for p in candidates if p.exists() and time.time() - p.stat().st_mtime > STALE_LOCK_SECONDS]
    if not stale:
        return []
    if fix:
        for path in stale:
            path.unlink(missing_ok=True)
        return [Check(OK, "locks", f"removed {len(stale)} lock files left by writers that were killed")]
    names = ", ".join(str(p.relative_to(repo.commondir)) for p in stale[:3])
    return [Check(WARN, "locks", f"{len(stale)} stale lock files ({names}); the next step clears them, as does --fix")]


def _check_permissions(repo: TrailRepo, fix: bool) -> Check:
    """trail's folder holds payloads and logs: readable by their owner only."""
    import os
    import stat

    loose = []
    for path in [repo.trail_dir, *repo.trail_dir.rglob("*")] if repo.trail_dir.exists() else []:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode) or not mode & 0o077:
            continue
        if path.parent.name in ("steps", "locks", "local") or path.suffix == ".lock":
            continue  # ids and lock files: nothing anyone could read there
        loose.append(path)
    if not loose:
        return Check(OK, "permissions", f"{repo.trail_dir} is readable by you alone")
    if fix:
        for path in loose:
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
        return Check(OK, "permissions", f"made {len(loose)} files and folders readable by you alone")
    return Check(
        WARN,
        "permissions",
        f"{len(loose)} files or folders under {repo.trail_dir} are readable by others "
        "(written by an older trail); --fix makes them yours alone",
    )


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

"""The watcher under stress: a stuck session never holds up another or --status, it runs trail's own code only,
and it goes away when it is no longer needed. Plus the careless cases around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, trail

from trail import Recorder
from trail.capture import keep
from trail.capture.watch.daemon import paths, start_daemon, stop_daemon, watcher_status
from trail.config import TrailConfig
from trail.repo import TrailRepo
from trail.store.steps import Store

HOOK = Path(sys.executable).parent / "trail-hook"


def fire(repo: Path, payload: dict[str, object], env: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.monotonic()
    done = subprocess.run(
        [str(HOOK), "claude"],
        input=json.dumps(payload).encode(),
        cwd=repo,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    assert done.stdout == b""
    return done.returncode, time.monotonic() - started


def start_watcher(repo: Path, **env: str) -> None:
    """A watcher started as `trail watch --daemon` starts one, with test settings in its environment."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        start_daemon(TrailRepo.discover(repo))
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_a_stuck_session_holds_up_nothing_else(repo: Path) -> None:
    start_watcher(repo, TRAIL_WATCH_BUDGET="1")
    try:
        store = Store(TrailRepo.discover(repo))
        lock = store.session_lock("stuck")
        lock.__enter__()  # another writer holds session "stuck" for as long as it likes
        stuck: list[tuple[int, float]] = []
        thread = threading.Thread(
            target=lambda: stuck.append(
                fire(
                    repo,
                    {"session_id": "stuck", "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": "waits"},
                )
            )
        )
        thread.start()
        time.sleep(0.3)
        code, elapsed = fire(
            repo,
            {"session_id": "free", "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": "does not wait"},
        )
        assert code == 0 and elapsed < 3
        started = time.monotonic()
        status = trail("watch", "--status", cwd=repo)
        assert status.returncode == 0 and "Watching" in status.stdout and time.monotonic() - started < 3
        thread.join(timeout=30)
        assert stuck and stuck[0][0] == 0 and stuck[0][1] < 5  # answered past its budget, kept meanwhile
        assert keep.count(TrailRepo.discover(repo), keep.PENDING) == 1
        lock.__exit__(None, None, None)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and keep.count(TrailRepo.discover(repo), keep.PENDING):
            time.sleep(0.1)
        assert keep.count(TrailRepo.discover(repo), keep.PENDING) == 0  # recorded after all, and no longer kept
        assert [s.kind for s in store.steps("stuck")] == ["session_start", "prompt"]
    finally:
        stop_daemon(TrailRepo.discover(repo))


def test_a_trail_package_in_the_repository_never_runs(repo: Path) -> None:
    marker = repo / "shadowed.txt"
    (repo / "trail").mkdir()
    (repo / "trail" / "__init__.py").write_text("")
    (repo / "trail" / "cli.py").write_text(f"open({str(marker)!r}, 'w').write('the repository ran its own code')\n")
    (repo / "trail" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    commit_all(repo, "a project that happens to have a trail package")
    try:
        info = start_daemon(TrailRepo.discover(repo))
        assert info["pid"]
        (repo / "x.txt").write_text("x")
        rec = Recorder(repo)
        assert rec.note("through the watcher").tree
    finally:
        stop_daemon(TrailRepo.discover(repo))
    assert not marker.exists()


def test_the_watcher_stops_when_its_sessions_have_ended(repo: Path) -> None:
    start_watcher(repo, TRAIL_WATCH_GRACE="0.5")
    trail_repo = TrailRepo.discover(repo)
    assert watcher_status(trail_repo) is not None
    for event in ("SessionStart", "UserPromptSubmit", "SessionEnd"):
        fire(repo, {"session_id": "short", "cwd": str(repo), "hook_event_name": event, "prompt": "p"})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and watcher_status(trail_repo) is not None:
        time.sleep(0.2)
    assert watcher_status(trail_repo) is None
    assert not paths(trail_repo)[0].exists()


def test_the_watcher_stops_when_idle(repo: Path) -> None:
    assert trail("config", "watch.idleMinutes", "0.01", cwd=repo).returncode == 0
    trail_repo = TrailRepo.discover(repo)
    start_daemon(trail_repo)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and watcher_status(trail_repo) is not None:
        time.sleep(0.2)
    assert watcher_status(trail_repo) is None


def test_watch_auto_is_on_unless_turned_off(tmp_path: Path) -> None:
    assert TrailConfig(tmp_path / "none", user_path=tmp_path / "none-either").get_bool("watch.auto") is True
    user = tmp_path / "user"
    user.write_text("[watch]\n\tauto = false\n")
    assert TrailConfig(tmp_path / "none", user_path=user).get_bool("watch.auto") is False
    local = tmp_path / "local"
    local.write_text("[watch]\n\tauto = true\n")
    assert TrailConfig(local, user_path=user).get_bool("watch.auto") is True  # the repository's wins


def test_a_session_start_starts_the_watcher(repo: Path) -> None:
    assert trail("config", "watch.auto", "true", cwd=repo).returncode == 0
    try:
        fire(repo, {"session_id": "auto", "cwd": str(repo), "hook_event_name": "SessionStart"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and watcher_status(TrailRepo.discover(repo)) is None:
            time.sleep(0.1)
        assert watcher_status(TrailRepo.discover(repo)) is not None
    finally:
        stop_daemon(TrailRepo.discover(repo))


def test_subagent_ids_a_ref_name_cannot_hold_keep_their_steps(repo: Path) -> None:
    for agent in ("a..b", "x.lock", "trailing.", "y..lock", "../../escape"):
        fire(
            repo,
            {
                "session_id": "parent",
                "cwd": str(repo),
                "hook_event_name": "SubagentStart",
                "agent_id": agent,
                "agent_type": "general",
            },
        )
        fire(
            repo,
            {
                "session_id": "parent",
                "cwd": str(repo),
                "hook_event_name": "PostToolUse",
                "agent_id": agent,
                "tool_name": "Read",
                "tool_use_id": f"t-{agent}",
                "tool_input": {},
                "tool_response": "ok",
            },
        )
    children = [s for s in Store(TrailRepo.discover(repo)).sessions() if s.id.startswith("parent.agent-")]
    assert len(children) == 5 and all(c.steps == 2 for c in children)
    assert git("fsck", "--strict", cwd=repo) == ""


def test_a_session_fetched_from_elsewhere_never_gets_your_commits(repo: Path) -> None:
    assert trail("hooks", "install", "git", cwd=repo).returncode == 0
    mine = Recorder(repo, session_id="mine")
    mine.prompt("work")
    forged = Recorder(repo, session_id="forged")
    forged.prompt("claims this worktree")
    (repo / ".git" / "trail" / "local" / "forged").unlink()  # as if fetched: it did not begin here
    (repo / "work.txt").write_text("the agents' work\n")
    mine.tool_call("Write", input={"file_path": "work.txt"})
    forged.tool_call("Write", input={"file_path": "work.txt"})  # its tree claims the same change
    commit_all(repo, "my commit")
    store = Store(TrailRepo.discover(repo))
    assert store.tip("mine").kind == "user_commit"
    assert store.tip("forged").kind == "tool_call"


def test_record_ends_its_session_when_the_terminal_closes(repo: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trail.cli", "record", "--", "sh", "-c", "sleep 60"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    trail_repo = TrailRepo.discover(repo)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not Store(trail_repo).sessions():
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGHUP)  # the terminal went away: the whole group gets it
    assert proc.wait(timeout=30) != 0
    [session] = Store(trail_repo).sessions()
    assert session.ended and session.tip.event.payload["reason"] == "terminated (SIGHUP)"
    assert watcher_status(trail_repo) is None


def test_doctor_fix_records_what_was_kept_and_clears_stale_locks(repo: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    payload = {"session_id": "kept", "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": "later"}
    keep.keep(trail_repo, "claude", json.dumps(payload).encode(), str(repo), "test", folder=keep.FAILED)
    Recorder(repo, session_id="other").note("x")
    lock = repo / ".git" / "refs" / "trail" / "sessions" / "other.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    report = trail("doctor", cwd=repo).stdout
    assert "failed payloads" in report and "stale lock" in report
    fixed = trail("doctor", "--fix", cwd=repo)
    assert "recorded 1 of 1" in fixed.stdout and "removed 1 lock" in fixed.stdout
    assert not lock.exists() and keep.count(trail_repo, keep.FAILED) == 0
    assert Store(trail_repo).tip("kept").kind == "prompt"


@pytest.mark.parametrize("event", ["UserPromptSubmit"])
def test_hooks_keep_working_with_a_broken_config(repo: Path, event: str) -> None:
    config = repo / ".git" / "trail" / "config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[redact]\n\tpattern = ([unclosed\n")
    code, _ = fire(repo, {"session_id": "cfg", "cwd": str(repo), "hook_event_name": event, "prompt": "p"})
    assert code == 0
    trail_repo = TrailRepo.discover(repo)
    recorded = [s.id for s in Store(trail_repo).sessions()]
    assert "cfg" in recorded or keep.count(trail_repo, keep.PENDING) == 1

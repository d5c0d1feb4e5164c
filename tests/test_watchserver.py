"""`trail watch` as a process: hooks and the SDK go through it, the trees are the same, and its death loses nothing."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_fixtures import payload
from conftest import git, trail

from trail import Recorder
from trail.capture.watch.daemon import paths, watcher_status
from trail.repo import TrailRepo
from trail.store.steps import Store

SESSION = "7e57c0de-0000-4000-8000-000000000001"


@pytest.fixture
def daemon(repo: Path) -> Iterator[Path]:
    started = trail("watch", "--daemon", cwd=repo)
    assert started.returncode == 0, started.stderr
    yield repo
    trail("watch", "--stop", cwd=repo)


def hook(
    repo: Path, event: str, extra_env: dict[str, str] | None = None, **fields: object
) -> subprocess.CompletedProcess[bytes]:
    data = {**payload(event, session_id=SESSION, cwd=str(repo), transcript_path="/nonexistent"), **fields}
    result = subprocess.run(
        [sys.executable, "-m", "trail.capture.hook", "claude"],
        input=json.dumps(data).encode(),
        cwd=repo,
        capture_output=True,
        env={**os.environ, **(extra_env or {})},
    )
    assert result.returncode == 0 and result.stdout == b"", result.stderr
    return result


def play_session(repo: Path) -> list[str]:
    """The same agent session, edit for edit; returns the tree of every step."""
    hook(repo, "SessionStart")
    for i in range(4):
        (repo / "src" / f"mod{i}.py").write_text(f"x = {i}\n")
        if i == 2:
            (repo / "README.md").unlink()
            (repo / "docs" / "deep").mkdir(parents=True)
            (repo / "docs" / "deep" / "guide.md").write_text("# guide\n")
        hook(repo, "PostToolUse", tool_use_id=f"toolu_{i}", tool_input={"i": i})
    (repo / "by-hand.txt").write_text("the person\n")
    hook(repo, "PreToolUse", tool_use_id="toolu_x")
    hook(repo, "SessionEnd")
    return [s.tree for s in Store(TrailRepo.discover(repo)).steps(SESSION)]


def test_daemon_status_socket_and_single_instance(daemon: Path) -> None:
    repo = daemon
    status = trail("watch", "--status", cwd=repo)
    assert status.returncode == 0 and "file events" in status.stdout
    sock, _, _ = paths(TrailRepo.discover(repo))
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    again = trail("watch", cwd=repo)
    assert again.returncode == 1 and "already runs" in again.stderr
    assert "file events (inotify)" in trail("doctor", cwd=repo).stdout
    assert trail("watch", "--stop", cwd=repo).stdout.startswith("Stopped")
    assert trail("watch", "--status", cwd=repo).returncode == 1
    assert not sock.exists()


def test_trees_are_the_same_with_and_without_the_watcher(tmp_path: Path) -> None:
    trees = []
    for name in ("with", "without"):
        repo = tmp_path / name
        repo.mkdir()
        git("init", "-q", cwd=repo)
        (repo / "README.md").write_text("# project\n")
        (repo / "src").mkdir()
        (repo / "src" / "app.py").write_text("print('hello')\n")
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "initial", cwd=repo)
        if name == "with":
            assert trail("watch", "--daemon", cwd=repo).returncode == 0
        try:
            trees.append(play_session(repo))
        finally:
            if name == "with":
                served = watcher_status(TrailRepo.discover(repo))
                assert served is not None and served["requests"] >= 7  # the hooks really went through it
                trail("watch", "--stop", cwd=repo)
    assert len(trees[0]) == 7  # start, four tool calls, the person's edit, end
    assert trees[0] == trees[1]


def test_the_hook_process_does_not_load_pygit2_when_the_watcher_runs(daemon: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trail.capture.hook", "claude"],
        input=json.dumps(payload("UserPromptSubmit", session_id=SESSION, cwd=str(daemon), transcript_path="")).encode(),
        cwd=daemon,
        capture_output=True,
    )
    assert result.returncode == 0 and result.stdout == b""
    imported = result.stderr.decode()
    assert "trail.capture.watch.client" in imported  # (trail.capture.hook itself runs as __main__)
    assert "pygit2" not in imported and "click" not in imported and "watchdog" not in imported
    assert Store(TrailRepo.discover(daemon)).steps(SESSION)[-1].kind == "prompt"


def test_sdk_snapshots_through_the_watcher(daemon: Path) -> None:
    before = watcher_status(TrailRepo.discover(daemon))
    assert before is not None
    with Recorder(daemon) as rec:
        (daemon / "sdk.txt").write_text("sdk\n")
        step = rec.note("through the watcher")
    after = watcher_status(TrailRepo.discover(daemon))
    assert after is not None and after["snapshots"] >= before["snapshots"] + 3
    assert "sdk.txt" in git("ls-tree", "--name-only", step.commit, cwd=daemon)


def test_a_killed_watcher_loses_nothing(daemon: Path) -> None:
    repo = daemon
    hook(repo, "SessionStart")
    info = watcher_status(TrailRepo.discover(repo))
    assert info is not None
    os.kill(info["pid"], signal.SIGKILL)
    time.sleep(0.2)
    (repo / "after-death.txt").write_text("x\n")
    hook(repo, "PostToolUse", tool_use_id="toolu_after")  # the socket is still there, nobody answers
    steps = Store(TrailRepo.discover(repo)).steps(SESSION)
    assert [s.kind for s in steps] == ["session_start", "tool_call"]
    assert "after-death.txt" in git("ls-tree", "--name-only", steps[-1].commit, cwd=repo)
    restarted = trail("watch", "--daemon", cwd=repo)  # the stale socket and lock do not stand in the way
    assert restarted.returncode == 0, restarted.stderr


def test_watch_auto_starts_a_watcher_with_the_session(repo: Path) -> None:
    assert trail("config", "watch.auto", "true", cwd=repo).returncode == 0
    assert trail("config", "watch.auto", cwd=repo).stdout.strip() == "true"
    try:
        hook(repo, "SessionStart")
        deadline = time.monotonic() + 20
        while watcher_status(TrailRepo.discover(repo)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher_status(TrailRepo.discover(repo)) is not None
    finally:
        trail("watch", "--stop", cwd=repo)
    bad = trail("config", "no.such.key", "1", cwd=repo)
    assert bad.returncode == 1 and "unknown key" in bad.stderr


def test_record_a_command_with_no_hooks(repo: Path) -> None:
    script = "echo one > first.txt; sleep 0.8; mkdir -p out; echo two > out/second.txt; sleep 0.8; exit 3"
    result = trail("record", "--", "sh", "-c", script, cwd=repo)
    assert result.returncode == 3, result.stderr
    store = Store(TrailRepo.discover(repo))
    session = store.sessions()[0]
    steps = store.steps(session.id)
    assert [s.kind for s in steps] == ["session_start", "file_edit", "file_edit", "session_end"]
    assert steps[0].event.payload["command"] == ["sh", "-c", script]
    assert steps[1].event.payload["paths"] == ["first.txt"]
    assert "out/second.txt" in steps[2].event.payload["paths"]
    assert steps[3].event.payload["exit_code"] == 3
    assert "out/second.txt" in git("ls-tree", "-r", "--name-only", steps[2].commit, cwd=repo)
    assert watcher_status(TrailRepo.discover(repo)) is None  # the watcher it started is gone


def test_record_stops_cleanly_on_ctrl_c(repo: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trail.cli", "record", "--", "sh", "-c", "echo start > s.txt; sleep 30"],
        cwd=repo,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not (repo / "s.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert proc.wait(timeout=30) == 130
    store = Store(TrailRepo.discover(repo))
    steps = store.steps(store.sessions()[0].id)
    assert steps[-1].kind == "session_end" and steps[-1].event.payload["reason"] == "interrupted"
    assert any(s.kind == "file_edit" for s in steps)


def test_the_watcher_leaves_when_its_working_tree_does(tmp_path: Path) -> None:
    repo = tmp_path / "short-lived"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    assert trail("watch", "--daemon", cwd=repo).returncode == 0
    info = watcher_status(TrailRepo.discover(repo))
    assert info is not None
    import shutil

    shutil.rmtree(repo)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
        try:
            with open(f"/proc/{info['pid']}/stat") as f:  # not reaped yet: a zombie has left too
                if f.read().split()[2] == "Z":
                    return
        except FileNotFoundError:
            return
    raise AssertionError("the watcher outlived its working tree")

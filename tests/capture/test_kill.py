"""A writer killed at any instant (kill -9) never wedges the next one, never loses an acknowledged step, and never
leaves the repository inconsistent: SDK writes, hook processes and the watcher, each killed at random points."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git

from trail.repo import TrailRepo
from trail.store.steps import Store

SDK_WRITER = """
import sys, time
from trail import Recorder
rec = Recorder(sys.argv[1], session_id=sys.argv[2])
rec._started = True
i = 0
while True:
    (rec.repo.workdir / "churn.txt").write_text(f"change {i}")
    step = rec.note(f"note {i}")
    print(step.n, step.commit, flush=True)   # acknowledged: it must survive whatever happens next
    i += 1
"""


def acknowledged(out: bytes) -> dict[int, str]:
    steps = {}
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2:
            steps[int(parts[0])] = parts[1]
    return steps


def check_consistent(repo: Path, sid: str, must_have: dict[int, str]) -> int:
    done = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    store = Store(TrailRepo.discover(repo))
    steps = list(store.walk(sid))
    numbers = [s.n for s in steps]
    assert numbers == list(range(len(steps), 0, -1)), "step numbers are not dense"
    by_number = {s.n: s.commit for s in steps}
    for n, commit in must_have.items():
        assert by_number.get(n) == commit, f"acknowledged step {n} is lost"
    return len(steps)


def next_write_is_prompt(repo: Path, sid: str) -> float:
    """Seconds the next writer takes: a killed writer's locks must not hold it up for long."""
    started = time.monotonic()
    script = (
        "import sys; from trail import Recorder\n"
        "r = Recorder(sys.argv[1], session_id=sys.argv[2]); r._started = True; r.note('after the kill')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(repo), sid], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def kill_sdk_writers(repo: Path, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    sid = "killed-writers"
    acked: dict[int, str] = {}
    slowest = 0.0
    for _ in range(trials):
        proc = subprocess.Popen([sys.executable, "-c", SDK_WRITER, str(repo), sid], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        # Past the start (its time varies with the machine's load), kills land anywhere in the writes after it.
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.45))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        out = first + out
        acked.update(acknowledged(out))
        check_consistent(repo, sid, acked)
        slowest = max(slowest, next_write_is_prompt(repo, sid))
    total = check_consistent(repo, sid, acked)
    assert total >= len(acked) + trials  # every acknowledged step, and each `after the kill`
    assert slowest < 8, f"a write after a kill took {slowest:.1f} s"  # a stale lock costs at most ~2 s


def test_killed_sdk_writers_wedge_nothing(repo: Path) -> None:
    kill_sdk_writers(repo, trials=6, seed=1)


@pytest.mark.slow
def test_killed_sdk_writers_wedge_nothing_200_times(repo: Path) -> None:
    kill_sdk_writers(repo, trials=200, seed=2)


def hook_command() -> list[str]:
    script = Path(sys.executable).parent / "trail-hook"
    return [str(script), "claude"] if script.exists() else [sys.executable, "-m", "trail.capture.hook", "claude"]


def kill_hooks(repo: Path, trials: int, seed: int, watcher: bool) -> None:
    rng = random.Random(seed)
    sid = f"killed-hooks-{int(watcher)}"
    env = {**os.environ, "TRAIL_HOOK_BUDGET": "20"}
    if watcher:
        assert (
            subprocess.run(
                [sys.executable, "-m", "trail.cli", "-C", str(repo), "watch", "--daemon"], capture_output=True
            ).returncode
            == 0
        )
    try:
        for i in range(trials):
            (repo / f"file{i % 5}.txt").write_text(f"{i}\n")
            payload = {
                "session_id": sid,
                "cwd": str(repo),
                "hook_event_name": "PostToolUse",
                "tool_name": "Bash",
                "tool_use_id": f"toolu_{i}",
                "tool_input": {"command": f"echo {i}"},
                "tool_response": "ok",
            }
            proc = subprocess.Popen(hook_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=repo)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(payload).encode())
            proc.stdin.close()
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() in (0, -signal.SIGKILL)
            if watcher and rng.random() < 0.3:  # and the watcher itself, now and then
                from trail.capture.watch.daemon import paths, read_pid

                pid = read_pid(paths(TrailRepo.discover(repo))[1])
                if pid:
                    with __import__("contextlib").suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    time.sleep(0.1)
                    subprocess.run(
                        [sys.executable, "-m", "trail.cli", "-C", str(repo), "watch", "--daemon"], capture_output=True
                    )
        # A last hook that is left to finish records, on top of whatever the killed ones did.
        payload = {"session_id": sid, "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": "still here"}
        done = subprocess.run(
            hook_command(), input=json.dumps(payload).encode(), capture_output=True, env=env, cwd=repo, timeout=60
        )
        assert done.returncode == 0 and done.stdout == b""
        store = Store(TrailRepo.discover(repo))
        assert store.tip(sid).kind == "prompt"
        check_consistent(repo, sid, {})
    finally:
        if watcher:
            subprocess.run([sys.executable, "-m", "trail.cli", "-C", str(repo), "watch", "--stop"], capture_output=True)


@pytest.mark.parametrize("watcher", [False, True], ids=["in-process", "watcher"])
def test_killed_hooks_wedge_nothing(repo: Path, watcher: bool) -> None:
    kill_hooks(repo, trials=6, seed=3, watcher=watcher)


@pytest.mark.slow
@pytest.mark.parametrize("watcher", [False, True], ids=["in-process", "watcher"])
def test_killed_hooks_wedge_nothing_100_times(repo: Path, watcher: bool) -> None:
    kill_hooks(repo, trials=100, seed=4, watcher=watcher)


def test_a_stale_ref_lock_is_cleared_not_waited_on(repo: Path) -> None:
    from trail import Recorder

    rec = Recorder(repo, session_id="locked")
    rec.note("one")
    lock = repo / ".git" / "refs" / "trail" / "sessions" / "locked.lock"
    lock.write_text("left by a writer killed in the middle of a ref update")
    old = time.time() - 60
    os.utime(lock, (old, old))
    started = time.monotonic()
    rec.note("two")
    assert time.monotonic() - started < 2 and not lock.exists()
    fresh = repo / ".git" / "refs" / "trail" / "sessions" / "locked.lock"
    fresh.write_text("held right now by someone")  # a live holder: never removed
    assert git("rev-parse", "refs/trail/sessions/locked", cwd=repo)
    from trail.store.steps import Store as S

    assert S(TrailRepo.discover(repo))._clear_stale_lock("refs/trail/sessions/locked") is False
    fresh.unlink()

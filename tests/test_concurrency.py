"""Concurrent writers lose nothing: threads of one recorder, and separate processes on one or many sessions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from conftest import git

from trail import Recorder
from trail.repo import TrailRepo
from trail.store.steps import Store

WRITER = textwrap.dedent(
    """
    import sys, time
    from trail import Recorder
    repo, session, name, count, start_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    rec = Recorder(repo, agent=name, session_id=session or None)
    while time.time() < start_at:  # start together, to collide as much as possible
        time.sleep(0.001)
    for i in range(count):
        rec.note(f"{name} {i}")
    print(rec.session_id)
    """
)


def run_writers(repo: Path, sessions: list[str], count: int) -> list[str]:
    import time

    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(repo), session, f"p{k}", str(count), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, session in enumerate(sessions)
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        out.append(stdout.strip())
    return out


def assert_chain_intact(store: Store, session_id: str) -> list:
    steps = store.steps(session_id)
    assert [s.n for s in steps] == list(range(1, len(steps) + 1))
    for previous, step in zip(steps, steps[1:], strict=False):
        assert step.parents[0] == previous.commit
    return steps


def test_four_processes_on_one_session_lose_nothing(repo: Path) -> None:
    run_writers(repo, ["shared-session"] * 4, 50)
    steps = assert_chain_intact(Store(TrailRepo.discover(repo)), "shared-session")
    notes = [s.event.payload["text"] for s in steps if s.kind == "note"]
    assert len(notes) == 200
    for k in range(4):
        mine = [int(text.split()[1]) for text in notes if text.startswith(f"p{k} ")]
        assert mine == list(range(50)), f"process {k}'s steps are missing or out of order"
    git("fsck", "--strict", "--no-dangling", cwd=repo)


def test_four_processes_on_separate_sessions_lose_nothing(repo: Path) -> None:
    sessions = run_writers(repo, [""] * 4, 50)
    store = Store(TrailRepo.discover(repo))
    assert sorted(store.session_ids()) == sorted(sessions)
    for sid in sessions:
        steps = assert_chain_intact(store, sid)
        assert len([s for s in steps if s.kind == "note"]) == 50


def test_threads_sharing_one_recorder(repo: Path) -> None:
    rec = Recorder(repo, agent="threads")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                rec.note(f"t{k} {i}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    steps = assert_chain_intact(rec.store, rec.session_id)
    assert len([s for s in steps if s.kind == "note"]) == 90

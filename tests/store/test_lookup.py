"""The step index: SESSION@N without reading the steps between N and the tip, and never a wrong answer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import git

from trail import Recorder
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import Store


def walked(store: Store, sid: str) -> list[str]:
    """The commits of steps 1..N by the slow path: a walk from the tip down the first parents."""
    return [step.commit for step in reversed(list(store.walk(sid)))]


def test_lookup_equals_a_full_walk_with_concurrent_writers(repo: Path) -> None:
    sid = "concurrent-writers"
    Recorder(repo, session_id=sid).start()
    script = (
        "import sys; from trail import Recorder\n"
        "rec = Recorder(sys.argv[1], session_id=sys.argv[2]); rec._started = True\n"
        "for i in range(15): rec.note(f'process {i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(repo), sid]) for _ in range(3)]

    def in_threads() -> None:
        rec = Recorder(repo, session_id=sid)
        rec._started = True
        for i in range(15):
            rec.note(f"thread {i}")

    threads = [threading.Thread(target=in_threads) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.wait(timeout=120) == 0 for p in procs)
    store = Store(TrailRepo.discover(repo))
    truth = walked(store, sid)
    assert len(truth) == 1 + 5 * 15
    assert [store.step_at(sid, n).commit for n in range(1, len(truth) + 1)] == truth
    assert [step.n for step in store.iter_steps(sid)] == list(range(1, len(truth) + 1))


def test_a_lookup_reads_the_tip_and_the_step_only(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(repo, session_id="long")
    for i in range(300):
        rec.note(f"step {i}")
    store = Store(TrailRepo.discover(repo))
    store.step_at("long", 150)  # the index is current after this, whoever wrote last
    reads: list[str] = []
    original = Store.parse

    def counting(self: Store, commit: object) -> object:
        reads.append(str(commit))
        return original(self, commit)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "parse", counting)
    step = store.step_at("long", 1)
    assert step.n == 1 and len(reads) == 2, reads  # the tip (for its number) and step 1


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "stale"])
def test_a_damaged_or_stale_index_still_gives_the_right_step(repo: Path, damage: str) -> None:
    rec = Recorder(repo, session_id="damaged")
    for i in range(20):
        rec.note(f"step {i}")
    repo_ = TrailRepo.discover(repo)
    store = Store(repo_)
    truth = walked(store, "damaged")
    index = repo_.trail_dir / "steps" / "damaged"
    data = index.read_bytes()
    if damage == "missing":
        index.unlink()
    elif damage == "truncated":
        index.write_bytes(data[:-30])
    elif damage == "garbage":
        index.write_bytes(os.urandom(len(data)))
    else:
        index.write_bytes(data[: 10 * 20])
    fresh = Store(repo_)
    assert [fresh.step_at("damaged", n).commit for n in range(1, len(truth) + 1)] == truth


def test_a_rewritten_session_is_never_answered_from_the_old_index(repo: Path) -> None:
    sid = "rewritten"
    rec = Recorder(repo, session_id=sid)
    for i in range(10):
        rec.note(f"first history {i}")
    repo_ = TrailRepo.discover(repo)
    store = Store(repo_)
    old_fifth = store.step_at(sid, 5).commit
    # Another history of the same length under the same ref (what `trail scrub` will do), written elsewhere.
    other = Store(repo_)
    previous = None
    commits = []
    for i in range(11):
        raw, step = other.next_commit(
            Event("note", {"text": f"second history {i}"}, sid),
            previous,
            None,
            base=git("rev-parse", "HEAD", cwd=repo).strip(),
        )
        step.commit = str(repo_.git.odb.write(1, raw))
        previous = step
        commits.append(step.commit)
    git("update-ref", f"refs/trail/sessions/{sid}", commits[-1], cwd=repo)
    assert store.step_at(sid, 5).commit == commits[4] != old_fifth
    assert [s.commit for s in store.iter_steps(sid)] == commits

"""Verifying sessions: a whole session passes; each kind of damage is named at the first step it touches."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
from conftest import git
from pygit2.enums import ObjectType

from trail import Recorder
from trail.repo import TrailRepo
from trail.store.steps import Store
from trail.store.verify import verify_sessions


@pytest.fixture
def recorded(repo: Path) -> Path:
    """Session `work` of 6 steps whose code changes at steps 3 and 4 (not ended: nothing packs it meanwhile)."""
    rec = Recorder(repo, session_id="work")
    rec.prompt("add a module")
    (repo / "src" / "extra.py").write_text("VALUE = 1\n")
    rec.tool_call("Write", input={"file_path": "src/extra.py"}, output="ok")
    (repo / "src" / "deep").mkdir()
    (repo / "src" / "deep" / "more.py").write_text("MORE = 2\n")
    rec.tool_call("Write", input={"file_path": "src/deep/more.py"}, output="ok")
    rec.note("done")
    rec.response("All done.", tokens_in=10, tokens_out=2)
    return repo


def store_of(repo: Path) -> Store:
    return Store(TrailRepo.discover(repo))


def loose_path(repo: Path, oid: str) -> Path:
    return repo / ".git" / "objects" / oid[:2] / oid[2:]


def write_commit(repo: Path, raw: bytes) -> str:
    return str(store_of(repo).git.odb.write(ObjectType.COMMIT, raw))


def raw_of(repo: Path, rev: str) -> bytes:
    return store_of(repo).git.odb.read(git("rev-parse", rev, cwd=repo).strip())[1]


def test_a_whole_session_passes_and_shared_trees_are_walked_once(recorded: Path) -> None:
    checks = verify_sessions(store_of(recorded))
    assert [(c.session_id, c.ok, c.steps, c.faults) for c in checks] == [("work", True, 6, [])]
    assert checks[0].trees == 3  # HEAD's tree, then with src/extra.py, then with src/deep/more.py
    assert checks[0].walked_trees == 7  # those 3, 3 of src, 1 of src/deep: each read once
    assert checks[0].walked_blobs == 4
    assert checks[0].signature is None
    again = verify_sessions(store_of(recorded), ["work", "work"])
    assert again[1].walked_trees == again[1].walked_blobs == 0 and again[1].ok  # read already


def test_a_missing_blob_is_blamed_on_the_first_step_that_holds_it(recorded: Path) -> None:
    blob = git("rev-parse", "trail/sessions/work:src/extra.py", cwd=recorded).strip()
    loose_path(recorded, blob).unlink()
    (check,) = verify_sessions(store_of(recorded))
    assert not check.ok
    fault = check.first_fault
    assert fault is not None and fault.step == 3
    assert fault.what.endswith(f"src/extra.py: blob {blob[:12]} is missing")


def test_a_corrupt_commit_is_found_by_its_hash(recorded: Path) -> None:
    commit = git("rev-parse", "trail/sessions/work~1", cwd=recorded).strip()  # step 5
    raw = raw_of(recorded, commit)
    path = loose_path(recorded, commit)
    os.chmod(path, 0o644)
    forged = raw.replace(b"note: done", b"note: DONE")
    path.write_bytes(zlib.compress(b"commit %d\0" % len(forged) + forged))
    (check,) = verify_sessions(store_of(recorded))
    assert check.first_fault is not None
    assert (check.first_fault.step, check.first_fault.what) == (
        5,
        f"commit {commit[:12]} is corrupt (its content does not hash to its id)",
    )


def test_a_step_that_skips_a_number_is_named(recorded: Path) -> None:
    # Step 5 re-parented onto step 3: the chain says 5, 3.
    raw = raw_of(recorded, "trail/sessions/work~1")
    step4 = git("rev-parse", "trail/sessions/work~2", cwd=recorded).strip()
    step3 = git("rev-parse", "trail/sessions/work~3", cwd=recorded).strip()
    cut = write_commit(recorded, raw.replace(f"parent {step4}".encode(), f"parent {step3}".encode()))
    git("update-ref", "refs/trail/sessions/work", cut, cwd=recorded)
    (check,) = verify_sessions(store_of(recorded))
    assert [(f.step, f.what) for f in check.faults] == [
        (4, "the step here says it is step 3: the steps are not numbered N, …, 1")
    ]


def test_a_malformed_header_and_a_step_of_another_session(recorded: Path) -> None:
    raw = raw_of(recorded, "trail/sessions/work")
    broken = write_commit(recorded, raw.replace(b'trail-event {"format"', b'trail-event {"format'))
    git("update-ref", "refs/trail/sessions/broken", broken, cwd=recorded)
    git("update-ref", "refs/trail/sessions/renamed", "refs/trail/sessions/work", cwd=recorded)
    checks = {c.session_id: c for c in verify_sessions(store_of(recorded))}
    assert checks["work"].ok
    fault = checks["broken"].first_fault
    assert fault is not None and fault.step is None and "its trail-event header is not JSON" in fault.what
    fault = checks["renamed"].first_fault
    assert fault is not None and fault.what == "its tip: its trail-event says it belongs to session 'work'"


def test_a_missing_parent_cuts_the_session(recorded: Path) -> None:
    step2 = git("rev-parse", "trail/sessions/work~4", cwd=recorded).strip()
    loose_path(recorded, step2).unlink()
    (check,) = verify_sessions(store_of(recorded))
    assert check.first_fault is not None
    assert (check.first_fault.step, check.first_fault.what) == (2, f"commit {step2[:12]} is missing")
    assert check.steps == 4

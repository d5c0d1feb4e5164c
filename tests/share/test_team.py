"""Team scale over file:// and a real git daemon: a session archived on one clone is fetched by id on another; the
default fetch brings the remote's session refs and recent archives; a no-op fetch changes nothing; `trail push`
of one session sends only that ref; `git fetch origin main` is never shown trail's refs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import git, trail

from trail import Recorder

sys.path.insert(0, os.fspath(Path(__file__).parent))
sys.path.insert(0, os.fspath(Path(__file__).parent.parent / "store"))
from test_archive import NOW, generate  # noqa: E402
from test_share import clone, server, steps_bytes  # noqa: E402, F401

TRAIL_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


@pytest.fixture(params=["file", "daemon"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "daemon":
        yield request.getfixturevalue("server")
        return
    bare = tmp_path / "file-remote.git"
    git("init", "-q", "--bare", bare, cwd=tmp_path)
    yield bare.as_uri()


def alice_with_history(remote: str, tmp_path: Path) -> Path:
    alice = clone(remote, tmp_path / "alice")
    git("commit", "-q", "--allow-empty", "-m", "base", cwd=alice)
    git("push", "-q", "origin", "HEAD:main", cwd=alice)
    sessions = {f"old-{i}": (NOW - timedelta(days=70 + i), True) for i in range(5)}
    sessions.update({f"new-{i}": (NOW - timedelta(hours=i + 1), True) for i in range(3)})
    generate(alice, sessions)
    return alice


def has_object(repo: Path, oid: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", oid], cwd=repo, capture_output=True).returncode == 0


def traced_refs(repo: Path, *args: str) -> list[str]:
    """The refs the remote advertised during `git ARGS` (protocol v2 listing, from GIT_TRACE_PACKET)."""
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**TRAIL_ENV, "GIT_TRACE_PACKET": "1"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return [line.split()[-1] for line in done.stderr.splitlines() if " refs/" in line and "fetch< " in line]


def test_a_session_archived_on_one_clone_is_fetched_by_id_on_another(remote: str, tmp_path: Path) -> None:
    alice = alice_with_history(remote, tmp_path)
    assert trail("archive", cwd=alice).returncode == 0  # old-* into refs/trail/archive/<month>
    pushed = trail("push", "--yes", cwd=alice)  # every session: the refs and the archives
    assert pushed.returncode == 0, pushed.stderr
    listed = git("ls-remote", remote, "refs/trail/*", cwd=alice)
    assert listed.count("refs/trail/sessions/") == 3 and "refs/trail/archive/" in listed

    bob = clone(remote, tmp_path / "bob")
    fetched = trail("fetch", cwd=bob)  # default: the session refs, and archives of the last 30 days (none)
    assert fetched.returncode == 0, fetched.stderr
    assert "3 new" in fetched.stdout
    assert git("for-each-ref", "refs/trail/remote-archive/", cwd=bob) == ""
    one = trail("fetch", "old-3", cwd=bob)  # archived on the remote: found in its archives' index
    assert one.returncode == 0, one.stderr
    month = "refs/trail/archive/" + (NOW - timedelta(days=73)).strftime("%Y-%m")
    assert f"from origin's {month}" in one.stdout
    # Only that session's steps came: no archive, no other archived session.
    assert git("for-each-ref", "refs/trail/remote-archive/", cwd=bob) == ""
    other = git("show", f"{month}:sessions", cwd=alice).splitlines()
    assert not [line for line in other if not line.startswith("old-3 ") and has_object(bob, line.split()[1])]
    log = trail("log", "old-3", "--json", cwd=bob)
    assert log.returncode == 0 and len(json.loads(log.stdout)) == 3
    hits = json.loads(trail("search", "parser", "--json", "-n", "50", cwd=bob).stdout)
    assert "old-3" in {h["session"] for h in hits}
    missing = trail("fetch", "never-was", cwd=bob)
    assert missing.returncode == 1 and "no session never-was" in missing.stderr


def test_no_op_fetch_push_of_one_session_and_branch_fetches_stay_small(remote: str, tmp_path: Path) -> None:
    alice = alice_with_history(remote, tmp_path)
    assert trail("push", "--yes", cwd=alice).returncode == 0
    bob = clone(remote, tmp_path / "bob")
    assert "8 new" in trail("fetch", "--all", cwd=bob).stdout
    packed = (bob / ".git" / "packed-refs").read_text() if (bob / ".git" / "packed-refs").exists() else ""
    again = trail("fetch", cwd=bob)
    assert again.returncode == 0 and "0 new, 0 updated, 8 unchanged" in again.stdout
    assert ((bob / ".git" / "packed-refs").read_text() if packed else "") == packed
    # trail's fetch lists only the prefixes it asks for; git's own branch fetch lists no trail ref.
    assert not [r for r in traced_refs(bob, "-c", "protocol.version=2", "fetch", "origin", "main") if "trail" in r]
    # A new session by bob: pushing it sends that ref only.
    Recorder(bob, session_id="bobs").note("bob's work")
    pushed = trail("push", "bobs", cwd=bob)
    assert pushed.returncode == 0 and "1 new" in pushed.stdout
    assert "Pushed to origin: 1 new, 0 updated, 0 up to date" in pushed.stdout
    assert "1 new" in trail("fetch", "bobs", cwd=alice).stdout
    assert steps_bytes(alice, "bobs") == steps_bytes(bob, "bobs")
    # A session archived by alice and pushed again by id goes under its own ref.
    assert trail("archive", cwd=alice).returncode == 0
    assert trail("push", "old-1", cwd=alice).returncode == 0
    assert "refs/trail/sessions/old-1" in git("ls-remote", remote, "refs/trail/sessions/old-1", cwd=alice)


def steps_at(repo: Path, tip: str) -> list[bytes]:
    revs = git("rev-list", tip, cwd=repo).split()
    return [
        subprocess.run(["git", "cat-file", "commit", r], cwd=repo, capture_output=True, check=True).stdout for r in revs
    ]


def tips(repo: Path) -> dict[str, str]:
    return {s["session"]: s["tip"] for s in json.loads(trail("sessions", "--archived", "--json", cwd=repo).stdout)}


def test_archiving_the_remote_keeps_every_step_deletes_its_refs_and_leaks_nothing(remote: str, tmp_path: Path) -> None:
    alice = alice_with_history(remote, tmp_path)
    assert trail("push", "--yes", cwd=alice).returncode == 0  # every session as a ref on the remote
    pushed = tips(alice)
    before = {sid: steps_at(alice, tip) for sid, tip in pushed.items()}
    generate(alice, {"private-old": (NOW - timedelta(days=90), True)})  # never pushed
    Recorder(alice, session_id="old-2").note("not pushed yet")  # alice's old-2 is ahead of the remote's
    done = trail("archive", "--remote", "origin", cwd=alice)
    assert done.returncode == 0, done.stderr
    assert "Archived 5 sessions of origin" in done.stdout
    listed = git("ls-remote", remote, "refs/trail/*", cwd=alice)
    assert sorted(line.split("/")[-1] for line in listed.splitlines() if "/sessions/" in line) == [
        "new-0",
        "new-1",
        "new-2",
    ]
    archives = [line.split("\t")[1] for line in listed.splitlines() if "/archive/" in line]
    # Only the remote's sessions, at the remote's tips: nothing private rides along.
    bob = clone(remote, tmp_path / "bob")
    git("fetch", "-q", "origin", "refs/trail/archive/*:refs/trail/archive/*", cwd=bob)
    index = "".join(git("show", f"{ref}:sessions", cwd=bob) for ref in archives)
    assert sorted(line.split(" ")[0] for line in index.splitlines()) == [f"old-{i}" for i in range(5)]
    assert f"old-2 {pushed['old-2']}" in index and "private-old" not in git("rev-list", "--all", cwd=bob)
    assert not git("rev-list", "--all", "--grep", "not pushed yet", cwd=bob)
    # Idempotent.
    again = trail("archive", "--remote", "origin", cwd=alice)
    assert "Archived 0 sessions" in again.stdout and git("ls-remote", remote, "refs/trail/*", cwd=alice) == listed
    # Every step byte-identical, on a clone that fetches by id.
    carol = clone(remote, tmp_path / "carol")
    for sid in ("old-0", "old-3"):
        one = trail("fetch", sid, cwd=carol)
        assert one.returncode == 0 and "refs/trail/archive/" in one.stdout, one.stderr
        assert steps_at(carol, tips(carol)[sid]) == before[sid]
    assert trail("fetch", "new-1", cwd=carol).returncode == 0
    assert steps_at(carol, tips(carol)["new-1"]) == before["new-1"]


def test_a_session_ref_that_moves_on_the_remote_while_archiving_is_kept(
    remote: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trail.repo import TrailRepo
    from trail.share import remote_archive
    from trail.store import archive
    from trail.store.steps import Store

    alice = alice_with_history(remote, tmp_path)
    assert trail("push", "--yes", cwd=alice).returncode == 0
    carol = clone(remote, tmp_path / "carol")
    assert trail("fetch", "old-4", cwd=carol).returncode == 0
    chosen = archive.candidates

    def then_carol_pushes(*args: object, **kwargs: object) -> dict[str, dict[str, str]]:
        found = chosen(*args, **kwargs)  # type: ignore[arg-type]
        Recorder(carol, session_id="old-4").note("one more, pushed while alice archives")
        assert trail("push", "old-4", cwd=carol).returncode == 0
        return found

    monkeypatch.setattr(archive, "candidates", then_carol_pushes)
    result = remote_archive.archive_remote(Store(TrailRepo.discover(alice)), "origin", timedelta(days=30))
    assert result.kept == ["old-4"] and sorted(result.deleted) == ["old-0", "old-1", "old-2", "old-3"]
    carols = git("rev-parse", "refs/trail/sessions/old-4", cwd=carol).strip()
    assert git("ls-remote", remote, "refs/trail/sessions/old-4", cwd=alice).split()[0] == carols

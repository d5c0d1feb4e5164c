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
    one = trail("fetch", "old-3", cwd=bob)  # archived on the remote: found in its archives
    assert one.returncode == 0, one.stderr
    assert "archived" in one.stdout
    old_tip = git("rev-parse", "refs/trail/archive/" + (NOW - timedelta(days=73)).strftime("%Y-%m"), cwd=alice)
    assert old_tip.strip() in git("for-each-ref", "refs/trail/remote-archive/", cwd=bob)
    log = trail("log", "old-3", "--json", cwd=bob)
    assert log.returncode == 0 and len(json.loads(log.stdout)) == 3
    tip = git(
        "show",
        git("for-each-ref", "--format=%(refname)", "refs/trail/remote-archive/", cwd=bob).split()[0] + ":sessions",
        cwd=bob,
    )
    assert "old-3 " in tip
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

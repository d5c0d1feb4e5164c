"""The teammate story through a real git server on 127.0.0.1 (git daemon): record and push in one clone, fetch,
search, check out and read the same steps in another; a diverged session reported and never overwritten; the same
through a bundle; and a plain `git fetch` that brings sessions once `trail init --share` asked for it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, trail

from trail import Recorder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A bare repository served by `git daemon` (push enabled), as a team's remote."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    base = tmp_path / "server"
    base.mkdir()
    git("init", "-q", "--bare", "team.git", cwd=base)
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield f"git://127.0.0.1:{port}/team.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def clone(url: str, where: Path) -> Path:
    git("clone", "-q", url, where, cwd=where.parent)
    return where


def steps_bytes(repo: Path, sid: str) -> list[bytes]:
    revs = git("rev-list", f"refs/trail/sessions/{sid}", cwd=repo).split()
    return [
        subprocess.run(["git", "cat-file", "commit", r], cwd=repo, capture_output=True, check=True).stdout for r in revs
    ]


def test_a_teammate_fetches_searches_and_checks_out_what_was_pushed(server: str, tmp_path: Path) -> None:
    alice = clone(server, tmp_path / "alice")
    (alice / "app.py").write_text("print('v1')\n")
    git("add", "-A", cwd=alice)
    git("commit", "-qm", "v1", cwd=alice)
    git("push", "-q", "origin", "HEAD:main", cwd=alice)
    with Recorder(alice, session_id="fix-reminders", agent="claude-code") as rec:
        rec.prompt("Only remind active customers about overdue_invoices")
        rec.note("the token was ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")
        (alice / "app.py").write_text("print('v2: active = true')\n")
        rec.tool_call("Edit", input={"file_path": "app.py"}, output="updated")
    with Recorder(alice, session_id="other-work") as rec:
        rec.note("unrelated")
    dry = trail("push", "--dry-run", cwd=alice)
    assert dry.returncode == 0 and "fix-reminders" in dry.stdout and "other-work" in dry.stdout
    [fix_line] = [line for line in dry.stdout.splitlines() if "fix-reminders" in line]
    assert "1 github" in fix_line  # what redaction replaced, before anything leaves the machine
    refused = trail("push", cwd=alice)  # every session, no terminal to ask: refused
    assert refused.returncode == 1 and "--yes" in refused.stderr
    pushed = trail("push", "fix-reminders", cwd=alice)
    assert pushed.returncode == 0, pushed.stderr
    assert "1 new" in pushed.stdout
    assert git("ls-remote", server, "refs/trail/*", cwd=alice).count("refs/trail/sessions/") == 1

    bob = clone(server, tmp_path / "bob")
    fetched = trail("fetch", cwd=bob)
    assert fetched.returncode == 0, fetched.stderr
    assert "1 new" in fetched.stdout
    assert steps_bytes(bob, "fix-reminders") == steps_bytes(alice, "fix-reminders")  # identical payloads
    found = json.loads(trail("search", "overdue_invoices", "--json", cwd=bob).stdout)
    assert [h["address"] for h in found] == ["fix-reminders@2"]
    where = trail("checkout", "fix-reminders@4", str(tmp_path / "then"), cwd=bob)
    assert where.returncode == 0, where.stderr
    assert (tmp_path / "then" / "app.py").read_text() == "print('v2: active = true')\n"

    again = trail("fetch", cwd=bob)
    assert "0 new, 0 updated, 1 unchanged" in again.stdout
    with Recorder(alice, session_id="fix-reminders") as rec:  # alice goes on; bob takes it in as a fast-forward
        rec.note("one more step")
    assert trail("push", "fix-reminders", cwd=alice).returncode == 0
    assert "1 updated" in trail("fetch", cwd=bob).stdout
    assert steps_bytes(bob, "fix-reminders") == steps_bytes(alice, "fix-reminders")


def test_a_diverged_session_is_reported_and_both_are_kept(server: str, tmp_path: Path) -> None:
    alice = clone(server, tmp_path / "alice")
    git("commit", "-q", "--allow-empty", "-m", "base", cwd=alice)
    git("push", "-q", "origin", "HEAD:main", cwd=alice)
    Recorder(alice, session_id="shared").note("first")
    assert trail("push", "shared", cwd=alice).returncode == 0
    bob = clone(server, tmp_path / "bob")
    assert trail("fetch", cwd=bob).returncode == 0
    Recorder(alice, session_id="shared").note("alice's second")
    assert trail("push", "shared", cwd=alice).returncode == 0
    Recorder(bob, session_id="shared").note("bob's second")  # the same session, another history
    bobs = git("rev-parse", "refs/trail/sessions/shared", cwd=bob).strip()
    fetched = trail("fetch", cwd=bob)
    assert fetched.returncode == 0 and "1 diverged" in fetched.stdout and "diverged" in fetched.stdout
    assert git("rev-parse", "refs/trail/sessions/shared", cwd=bob).strip() == bobs  # not overwritten
    alices = git("rev-parse", "refs/trail/sessions/shared", cwd=alice).strip()
    assert git("rev-parse", "refs/trail/remotes/origin/shared", cwd=bob).strip() == alices  # theirs kept too
    refused = trail("push", "shared", cwd=bob)
    assert refused.returncode == 1 and "refused" in refused.stdout + refused.stderr
    assert git("ls-remote", server, "refs/trail/sessions/shared", cwd=bob).split()[0] == alices


def test_one_session_as_a_bundle(server: str, tmp_path: Path) -> None:
    alice = clone(server, tmp_path / "alice")
    (alice / "a.txt").write_text("a\n")
    git("add", "-A", cwd=alice)
    git("commit", "-qm", "base", cwd=alice)
    git("push", "-q", "origin", "HEAD:main", cwd=alice)
    with Recorder(alice, session_id="bundled") as rec:
        (alice / "a.txt").write_text("b\n")
        rec.note("changed a")
    Recorder(alice, session_id="bundled.agent-x1").note("a subagent goes with it")
    bundle = tmp_path / "session.bundle"
    made = trail("export", "bundled", "--bundle", str(bundle), cwd=alice)
    assert made.returncode == 0, made.stderr
    carol = clone(server, tmp_path / "carol")
    taken = trail("import", "bundle", str(bundle), cwd=carol)
    assert taken.returncode == 0, taken.stderr
    assert "2 new" in taken.stdout
    assert steps_bytes(carol, "bundled") == steps_bytes(alice, "bundled")
    assert steps_bytes(carol, "bundled.agent-x1") == steps_bytes(alice, "bundled.agent-x1")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    git("init", "-q", cwd=stranger)
    refused = trail("import", "bundle", str(bundle), cwd=stranger)
    assert refused.returncode == 1 and "must have them" in refused.stderr


def test_init_share_makes_a_plain_git_fetch_bring_sessions(server: str, tmp_path: Path) -> None:
    alice = clone(server, tmp_path / "alice")
    git("commit", "-q", "--allow-empty", "-m", "base", cwd=alice)
    git("push", "-q", "origin", "HEAD:main", cwd=alice)
    bob = clone(server, tmp_path / "bob")
    shared = trail("init", "--share", "origin", cwd=bob)
    assert shared.returncode == 0 and "now fetches" in shared.stdout
    assert "already" in trail("init", "--share", "origin", cwd=bob).stdout
    Recorder(alice, session_id="via-git").note("fetched by git itself")
    assert trail("push", "via-git", cwd=alice).returncode == 0
    git("fetch", "-q", "origin", cwd=bob)
    assert (
        git("rev-parse", "refs/trail/sessions/via-git", cwd=bob).strip()
        == git("rev-parse", "refs/trail/sessions/via-git", cwd=alice).strip()
    )
    assert "via-git" in trail("sessions", cwd=bob).stdout

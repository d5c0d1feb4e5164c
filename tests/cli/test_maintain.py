"""`trail rm`, `prune`, `scrub` and `verify` as a person runs them: what they print, exit with and leave behind."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TRAIL, git
from conftest import trail as run_trail

from trail.capture.writer import StepWriter
from trail.events import Event
from trail.repo import TrailRepo

OLD = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def record(repo: Path, sid: str, when: datetime, steps: int = 2, parent: tuple[str, int] | None = None) -> None:
    writer = StepWriter(TrailRepo.discover(repo))
    link = {"parent_session": parent[0], "parent_step": parent[1]} if parent else {}
    kinds = [("session_start", link)] + [("note", {"text": f"note {i}"}) for i in range(1, steps)]
    with writer.session_lock(sid):
        for i, (kind, payload) in enumerate(kinds):
            writer.write(Event(kind, payload, sid, when + timedelta(seconds=i), agent="demo"), None)


@pytest.fixture
def sessions(repo: Path) -> Path:
    """`old` (with subagent `old.agent-a`), `new` (with `new.agent-b`), and `orphan.agent-c`, old, whose parent
    is gone."""
    now = datetime.now(UTC)
    record(repo, "old", OLD, 3)
    record(repo, "old.agent-a", now - timedelta(hours=1), 2, ("old", 2))  # recent, but goes with its parent
    record(repo, "new", now - timedelta(hours=1), 2)
    record(repo, "new.agent-b", OLD, 2, ("new", 1))  # old, but stays with its parent
    record(repo, "orphan.agent-c", OLD, 2, ("orphan", 1))
    git("remote", "add", "origin", "https://example.invalid/x.git", cwd=repo)
    return repo


def refs(repo: Path) -> list[str]:
    out = git("for-each-ref", "--format=%(refname)", "refs/trail/sessions/", cwd=repo)
    return [line.removeprefix("refs/trail/sessions/") for line in out.split()]


def test_rm_removes_a_session_with_its_subagents(sessions: Path) -> None:
    repo = sessions
    assert run_trail("log", "old@2", cwd=repo).returncode == 0  # the step index exists
    index = repo / ".git" / "trail" / "steps"
    assert (index / "old").exists()
    dry = run_trail("rm", "old", "--dry-run", cwd=repo)
    assert dry.returncode == 0
    assert dry.stdout.splitlines() == [
        f"Would remove session old (3 steps, last step {(OLD + timedelta(seconds=2)).astimezone():%Y-%m-%d %H:%M})",
        dry.stdout.splitlines()[1],
        "Nothing was removed (dry run).",
    ]
    assert dry.stdout.splitlines()[1].startswith("Would remove session old.agent-a (2 steps, last step ")
    assert len(refs(repo)) == 5

    done = run_trail("rm", "old", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "Removed session old (3 steps" in done.stdout
    assert ", a subagent of old)" in done.stdout
    assert "  git push origin --delete refs/trail/sessions/old refs/trail/sessions/old.agent-a\n" in done.stdout
    assert "git gc --prune=now" in done.stdout
    assert refs(repo) == ["new", "new.agent-b", "orphan.agent-c"]
    assert not (index / "old").exists()

    kept = run_trail("rm", "new", "--keep-children", cwd=repo)
    assert kept.returncode == 0
    assert refs(repo) == ["new.agent-b", "orphan.agent-c"]


def test_rm_refuses_an_unknown_session_and_removes_nothing(sessions: Path) -> None:
    done = run_trail("rm", "new", "nosuch", cwd=sessions)
    assert done.returncode == 1
    assert "no session matches 'nosuch'" in done.stderr
    assert len(refs(sessions)) == 5


def test_rm_deletes_a_ref_that_is_not_a_session(sessions: Path) -> None:
    git("update-ref", "refs/trail/sessions/junk", "HEAD", cwd=sessions)
    done = run_trail("rm", "junk", cwd=sessions)
    assert done.returncode == 0 and "Removed session junk (not a readable session)" in done.stdout
    assert "junk" not in refs(sessions)


def test_prune_removes_old_sessions_with_their_subagents(sessions: Path) -> None:
    repo = sessions
    dry = run_trail("prune", "--older-than", "30d", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    listed = [line.split()[3] for line in dry.stdout.splitlines() if line.startswith("Would remove")]
    assert listed == ["old", "old.agent-a", "orphan.agent-c"]
    refused = run_trail("prune", "--older-than", "30d", cwd=repo)  # no terminal here
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    assert len(refs(repo)) == 5
    assert run_trail("prune", "--older-than", "soon", "--yes", cwd=repo).returncode == 1
    done = run_trail("prune", "--older-than", "30d", "--yes", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "git push origin --delete refs/trail/sessions/old refs/trail/sessions/old.agent-a" in done.stdout
    assert refs(repo) == ["new", "new.agent-b"]
    again = run_trail("prune", "--older-than", "30d", cwd=repo)
    assert again.returncode == 0 and again.stdout == "No session has its last step older than 30d.\n"


def on_a_terminal(args: list[str], cwd: Path, answer: bytes) -> tuple[int, str]:
    """Run trail with a pseudo-terminal for input and output, answering `answer` to what it asks."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*TRAIL, *args], cwd=cwd, stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    os.write(primary, answer)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=30)
    os.close(primary)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_prune_asks_on_a_terminal(sessions: Path) -> None:
    code, out = on_a_terminal(["prune", "--older-than", "30d"], sessions, b"n\n")
    assert code == 1 and "Remove these 3 sessions? [y/N]" in out and "nothing was removed" in out
    assert len(refs(sessions)) == 5
    code, out = on_a_terminal(["prune", "--older-than", "30d"], sessions, b"y\n")
    assert code == 0, out
    assert refs(sessions) == ["new", "new.agent-b"]


def test_verify_reports_whole_and_damaged_sessions(sessions: Path) -> None:
    repo = sessions
    done = run_trail("verify", cwd=repo)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("ok  ") for line in lines)
    assert lines[0].startswith("ok  new: 2 steps, 1 distinct tree (")
    # Damage step 2 of `old`: the object of its commit holds other bytes than its id says.
    commit = git("rev-parse", "trail/sessions/old~1", cwd=repo).strip()
    raw = git("cat-file", "commit", commit, cwd=repo).encode()
    path = repo / ".git" / "objects" / commit[:2] / commit[2:]
    os.chmod(path, 0o644)
    forged = raw.replace(b"note: note 1", b"note: note 9")
    import zlib

    path.write_bytes(zlib.compress(b"commit %d\0" % len(forged) + forged))
    bad = run_trail("verify", cwd=repo)
    assert bad.returncode == 1
    assert f"BAD old: step 2 ({commit[:12]}): commit {commit[:12]} is corrupt" in bad.stdout
    assert "1 of 5 sessions failed verification: old" in bad.stderr
    alone = run_trail("verify", "new", "--json", cwd=repo)
    assert alone.returncode == 0
    (check,) = json.loads(alone.stdout)
    assert (check["session"], check["ok"], check["steps"], check["signature"]) == ("new", True, 2, None)
    unsigned = run_trail("verify", "new", "--signed", cwd=repo)
    assert unsigned.returncode == 1 and "its last step is not signed" in unsigned.stdout


def test_help_of_each_command_has_examples() -> None:
    for command in ("rm", "prune", "scrub", "verify"):
        done = subprocess.run([*TRAIL, command, "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Examples:" in done.stdout, command

"""Which sessions made a commit: credited by content, to the steps whose trees first held its changes, whether the
session has ended or not; a commit of the person's own work is credited to no session."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_all, git, trail

from trail import Recorder


def origins(repo: Path, rev: str = "HEAD") -> list[dict]:  # type: ignore[type-arg]
    out = trail("sessions", "--commit", rev, "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_work_committed_after_the_session_ended_is_credited_to_it(repo: Path) -> None:
    with Recorder(repo, agent="claude-code", session_id="finished") as rec:
        rec.prompt("add a parser")
        (repo / "parser.py").write_text("def parse(): ...\n")
        wrote = rec.tool_call("Write", input={"file_path": "parser.py"})
        rec.response("done")
    assert rec.store.tip("finished").kind == "session_end"
    commit_all(repo, "Add the parser")

    found = origins(repo)
    assert [o["session"] for o in found] == ["finished"]
    assert [s["n"] for s in found[0]["steps"]] == [wrote.n]
    assert found[0]["paths"] == ["parser.py"]
    shown = trail("sessions", "--commit", "HEAD", cwd=repo).stdout
    assert "finished" in shown and "parser.py" in shown


def test_a_commit_of_the_persons_own_work_is_credited_to_none(repo: Path) -> None:
    assert trail("hooks", "install", "git", cwd=repo).returncode == 0
    running = Recorder(repo, agent="claude-code", session_id="running")
    running.prompt("look around")
    (repo / "agent.py").write_text("agent = True\n")
    running.tool_call("Write", input={"file_path": "agent.py"})
    with Recorder(repo, agent="claude-code", session_id="recent") as recent:
        recent.note("nothing written")
    (repo / "mine.py").write_text("mine = True\n")  # no step of any session saw this before the commit
    git("add", "mine.py", cwd=repo)
    git("commit", "-q", "-m", "My own change", cwd=repo)
    # The post-commit hook records a commit only in the sessions that made part of it: none here.
    assert running.store.tip("running").kind == "tool_call"

    assert origins(repo) == []
    assert "No recorded session" in trail("sessions", "--commit", "HEAD", cwd=repo).stdout


def test_a_mixed_commit_credits_each_session_with_its_own_changes(repo: Path) -> None:
    one = Recorder(repo, agent="claude-code", session_id="one")
    one.prompt("write a")
    (repo / "a.py").write_text("a = 1\n")
    a_step = one.tool_call("Write", input={"file_path": "a.py"})
    two = Recorder(repo, agent="codex", session_id="two")
    two.prompt("write b, then fix it")
    (repo / "b.py").write_text("b = 0\n")
    two.tool_call("Bash", input={"command": "echo 'b = 0' > b.py"})
    (repo / "b.py").write_text("b = 2\n")
    b_step = two.tool_call("Bash", input={"command": "sed -i s/0/2/ b.py"})
    (repo / "c.py").write_text("mine\n")  # never in a step the agents made
    two.end()
    commit_all(repo, "a, b and c")

    found = {o["session"]: o for o in origins(repo)}
    assert set(found) == {"one", "two"}
    assert [s["n"] for s in found["one"]["steps"]] == [a_step.n] and found["one"]["paths"] == ["a.py"]
    # b.py's committed content was produced by the second Bash call, not the first.
    assert [s["n"] for s in found["two"]["steps"]] == [b_step.n] and found["two"]["paths"] == ["b.py"]


def test_a_deletion_is_credited_to_the_step_that_deleted_the_file(repo: Path) -> None:
    (repo / "old.py").write_text("old\n")
    commit_all(repo, "old file")
    rec = Recorder(repo, agent="claude-code", session_id="cleaner")
    rec.prompt("remove old.py")
    (repo / "old.py").unlink()
    removed = rec.tool_call("Bash", input={"command": "rm old.py"})
    git("rm", "-q", "--cached", "old.py", cwd=repo)
    git("commit", "-q", "-m", "Remove old.py", cwd=repo)

    found = origins(repo)
    assert [o["session"] for o in found] == ["cleaner"]
    assert [s["n"] for s in found[0]["steps"]] == [removed.n] and found[0]["paths"] == ["old.py"]

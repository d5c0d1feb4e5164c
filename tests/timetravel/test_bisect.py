"""trail bisect finds the first failing step of a real session within log2(steps) + 2 runs of the command, reads
exit codes as git bisect run does (125 skips), and leaves no worktree behind whatever happens, the user's index,
HEAD and files untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TRAIL, git, trail
from test_noninvasive import protected_state

from trail import Recorder

STEPS = 64
# Appends a line to RUNS (so the test counts the runs), cannot test a step whose file says "skip", passes while
# the file says "ok".
CHECK = 'echo run >> "$RUNS"; grep -q skip state && exit 125; grep -q ok state'


def record(repo: Path, bad_from: int, skip: tuple[int, ...] = (), sid: str = "bis", steps: int = STEPS) -> None:
    """A session of `steps` steps: step 1 starts it with `state` saying ok, each later step is a tool call that
    rewrites `state`; from step `bad_from` on it says bad, at the steps in `skip` it says it cannot be tested."""
    (repo / "state").write_text("ok\n")
    git("add", "state", cwd=repo)
    git("commit", "-q", "-m", "state", cwd=repo)
    rec = Recorder(repo, session_id=sid)
    assert rec.start().n == 1
    for n in range(2, steps + 1):
        verdict = "bad" if n >= bad_from else "ok"
        (repo / "state").write_text(f"{verdict}\n{'skip' if n in skip else ''}\nstep {n}\n")
        assert rec.tool_call("Edit", input={"file_path": "state"}).n == n


def bisect(repo: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`trail bisect` with CHECK, in a private temporary folder; the result and how many times CHECK ran."""
    runs = tmp_path / "runs"
    runs.unlink(missing_ok=True)
    temp = tmp_path / "temp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "RUNS": str(runs), "TMPDIR": str(temp)}
    done = subprocess.run(
        [*TRAIL, "bisect", *args], cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    count = len(runs.read_text().splitlines()) if runs.exists() else 0
    return done, count


def no_worktree_left(repo: Path, tmp_path: Path) -> None:
    listed = git("worktree", "list", "--porcelain", cwd=repo)
    assert listed.count("worktree ") == 1, listed
    assert not (repo / ".git" / "worktrees").exists() or not any((repo / ".git" / "worktrees").iterdir())
    temp = tmp_path / "temp"
    assert not temp.exists() or list(temp.iterdir()) == []


@pytest.mark.parametrize("bad_from", [2, 37, STEPS])
def test_finds_the_planted_step_within_log2_plus_two_runs(repo: Path, tmp_path: Path, bad_from: int) -> None:
    record(repo, bad_from)
    (repo / "src" / "app.py").write_text("print('my uncommitted work')\n")
    git("add", "src/app.py", cwd=repo)
    (repo / "README.md").write_text("unstaged\n")
    before = protected_state(repo)
    done, runs = bisect(repo, tmp_path, "bis", "--run", CHECK)
    assert done.returncode == 0, done.stderr
    assert f"bis@{bad_from} is the first bad step" in done.stdout
    assert runs <= 6 + 2  # log2(64) + 2
    assert "+bad" in done.stdout and "-ok" in done.stdout  # the step's diff
    assert protected_state(repo) == before
    no_worktree_left(repo, tmp_path)


def test_the_result_names_the_prompt_the_tool_call_and_the_decision(repo: Path, tmp_path: Path) -> None:
    (repo / "state").write_text("ok\n")
    with Recorder(repo, session_id="why") as rec:
        rec.prompt("Tidy the state file")
        (repo / "state").write_text("ok, tidied\n")
        rec.tool_call("Edit", input={"file_path": "state"})
        rec.prompt("Make it faster")
        rec.decision("Drop the ok marker", reasoning="it is slow")
        (repo / "state").write_text("fast\n")
        bad = rec.tool_call("Bash", input={"command": "sed -i s/ok/fast/ state"})
        rec.response("Done")
    done, runs = bisect(repo, tmp_path, "why", "--run", CHECK, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first_bad"]["n"] == bad.n
    assert result["prompt"]["text"] == "Make it faster"
    assert result["decision"]["summary"] == "Drop the ok marker"
    assert result["first_bad"]["tool"] == "Bash"
    assert [f["path"] for f in result["files"]] == ["state"]
    verdicts = {r["step"]: r["verdict"] for r in result["runs"]}
    assert verdicts[1] == "good" and verdicts[bad.n] == "bad" and result["runs"][0]["role"] == "good base"
    assert len(result["runs"]) == runs
    text, _ = bisect(repo, tmp_path, "why", "--run", CHECK)
    assert "Make it faster" in text.stdout and "Drop the ok marker" in text.stdout and "Bash" in text.stdout
    no_worktree_left(repo, tmp_path)


def test_exit_125_skips_and_still_finds_the_step(repo: Path, tmp_path: Path) -> None:
    record(repo, bad_from=37, skip=(30, 31, 32, 33, 34))
    done, _ = bisect(repo, tmp_path, "bis", "--run", CHECK, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first_bad"]["n"] == 37
    assert all(r["verdict"] == "skip" for r in result["runs"] if r["step"] in (30, 31, 32, 33, 34))
    no_worktree_left(repo, tmp_path)


def test_skipped_steps_next_to_the_first_bad_one_leave_it_undecided(repo: Path, tmp_path: Path) -> None:
    record(repo, bad_from=37, skip=(35, 36))
    done, _ = bisect(repo, tmp_path, "bis", "--run", CHECK)
    assert done.returncode == 1
    assert "could be any of: bis@35 bis@36 bis@37" in done.stdout
    done, _ = bisect(repo, tmp_path, "bis", "--run", CHECK, "--json")
    result = json.loads(done.stdout)
    assert result["first_bad"] is None and result["candidates"] == [35, 36, 37]
    no_worktree_left(repo, tmp_path)


def test_steps_that_changed_no_code_are_not_run(repo: Path, tmp_path: Path) -> None:
    (repo / "state").write_text("ok\n")
    with Recorder(repo, session_id="quiet") as rec:
        for n in range(40):
            if n == 25:
                (repo / "state").write_text("failing\n")
            rec.note(f"thinking {n}")  # 40 steps, one code change
    done, runs = bisect(repo, tmp_path, "quiet", "--run", CHECK)
    assert done.returncode == 0, done.stderr
    assert "quiet@27 is the first bad step" in done.stdout  # the start, then notes 0..25
    assert runs == 2  # the known-good step and the last step: nothing else changed the code


def test_a_failing_base_means_nothing_to_bisect(repo: Path, tmp_path: Path) -> None:
    record(repo, bad_from=10, steps=12)
    done, runs = bisect(repo, tmp_path, "bis", "--run", 'echo run >> "$RUNS"; exit 1')
    assert done.returncode == 1
    assert "at bis@1, the step known to be good: there is nothing to bisect" in done.stderr
    assert runs == 1
    done, _ = bisect(repo, tmp_path, "bis", "--run", "true")
    assert done.returncode == 1 and "passes at bis@12" in done.stderr
    done, _ = bisect(repo, tmp_path, "bis", "--run", "no-such-command-anywhere")
    assert done.returncode == 1 and "not found (exit 127)" in done.stderr
    done, _ = bisect(repo, tmp_path, "bis", "--run", CHECK, "--base", "11")
    assert done.returncode == 1 and "bis@11, the step known to be good" in done.stderr
    done, _ = bisect(repo, tmp_path, "bis", "--run", CHECK, "--base", "5")
    assert done.returncode == 0 and "bis@10 is the first bad step" in done.stdout
    no_worktree_left(repo, tmp_path)


@pytest.mark.parametrize("crash", ["kill -9 $$", "exit 130", "exit 255"])
def test_a_crashing_command_stops_the_search_and_leaves_nothing(repo: Path, tmp_path: Path, crash: str) -> None:
    record(repo, bad_from=20, steps=24)
    before = protected_state(repo)
    done, _ = bisect(repo, tmp_path, "bis", "--run", f"grep -q ok state || {{ {crash}; }}")
    assert done.returncode == 1
    assert "bisect stopped" in done.stderr
    assert protected_state(repo) == before
    no_worktree_left(repo, tmp_path)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_bisect_leaves_no_worktree(repo: Path, tmp_path: Path, how: str) -> None:
    record(repo, bad_from=20, steps=24)
    before = protected_state(repo)
    marker = tmp_path / "running"
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = subprocess.Popen(
        [*TRAIL, "bisect", "bis", "--run", f"touch {marker}; sleep 30"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell's foreground job
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.stderr.read() if proc.stderr else ""
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole foreground group
    else:
        proc.send_signal(signal.SIGTERM)  # trail alone
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert protected_state(repo) == before
    no_worktree_left(repo, tmp_path)


def test_imported_steps_cannot_be_the_good_base(repo: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(
        '{"type": "user", "sessionId": "imported", "uuid": "u1", "timestamp": "2026-11-20T10:00:00Z", '
        '"cwd": "/w", "message": {"role": "user", "content": "hello"}}\n'
    )
    assert trail("import", "claude", str(transcript), cwd=repo).returncode == 0
    done, runs = bisect(repo, tmp_path, "imported", "--run", CHECK)
    assert done.returncode == 1 and "is not the code of that moment" in done.stderr
    assert runs == 0
    no_worktree_left(repo, tmp_path)


def test_bisect_help_has_examples() -> None:
    done = subprocess.run([*TRAIL, "bisect", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--run" in done.stdout and "Examples" in done.stdout


def imported_step(repo: Path, sid: str, content: str, path: str = "state") -> int:
    """A step as an import writes one: its tree is not the code of that moment (HEAD's, with `path` holding
    `content`)."""
    import pygit2

    from trail.capture.writer import StepWriter
    from trail.events import Event
    from trail.repo import TrailRepo

    trail_repo = TrailRepo.discover(repo)
    git_repo = trail_repo.git
    index = pygit2.Index()
    index.read_tree(git_repo.head.peel(pygit2.Commit).tree)
    index.add(pygit2.IndexEntry(path, git_repo.create_blob(content.encode()), pygit2.enums.FileMode.BLOB))
    writer = StepWriter(trail_repo)
    event = Event(kind="tool_call", payload={"name": "Edit"}, session_id=sid, agent="importer")
    with writer.session_lock(sid):
        return writer.write(event, None, tree=str(index.write_tree(git_repo)), tree_source="HEAD at import").n


def test_an_imported_step_is_never_run(repo: Path, tmp_path: Path) -> None:
    (repo / "state").write_text("ok\n")
    rec = Recorder(repo, session_id="mixed")
    rec.start()
    (repo / "state").write_text("ok 2\n")
    rec.tool_call("Edit", input={"file_path": "state"})
    assert imported_step(repo, "mixed", "IMPORTED\n") == 3
    (repo / "state").write_text("bad\n")
    assert rec.tool_call("Edit", input={"file_path": "state"}).n == 4
    done, _ = bisect(repo, tmp_path, "mixed", "--run", 'cat state >> "$RUNS"; grep -q ok state', "--json")
    assert "IMPORTED" not in (tmp_path / "runs").read_text()
    assert done.returncode == 1, done.stderr  # the imported step could be the first bad one: it cannot be told
    result = json.loads(done.stdout)
    assert result["candidates"] == [3, 4] and result["imported_steps"] == 1
    no_worktree_left(repo, tmp_path)

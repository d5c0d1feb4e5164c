"""Reading sessions from the command line: log, show, diff and stats, and refs that are not sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from conftest import trail as run_trail

import trail
from trail import Recorder


@pytest.fixture
def session(repo: Path) -> tuple[Path, str]:
    with Recorder(repo, session_id="work-1", agent="claude-code", model="claude-sonnet-4-5-20250929") as rec:
        rec.prompt("Fix the average of an empty list")
        rec.response(
            "Looking.",
            tokens_in=1200,
            tokens_out=30,
            usage={
                "input_tokens": 200,
                "cache_read_input_tokens": 900,
                "cache_creation_input_tokens": 100,
                "output_tokens": 30,
            },
        )
        (repo / "src" / "app.py").write_text("def average(v):\n    return sum(v) / len(v) if v else 0.0\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py"}, output="updated", duration_ms=40)
        rec.tool_call("Bash", input={"command": "pytest"}, error="1 failed", duration_ms=2000)
        (repo / "NOTES.md").write_text("notes\n")
        rec.tool_call(
            "Bash", input={"command": "pytest"}, output="\n".join(f"line {i}" for i in range(200)), duration_ms=1000
        )
    return repo, "work-1"


def test_log_is_newest_first_and_takes_git_options(session: tuple[Path, str]) -> None:
    repo, sid = session
    numbers = lambda *args: [s["n"] for s in json.loads(run_trail("log", sid, "--json", *args, cwd=repo).stdout)]  # noqa: E731
    assert numbers() == [7, 6, 5, 4, 3, 2, 1]
    assert numbers("--reverse") == [1, 2, 3, 4, 5, 6, 7]
    assert numbers("-n", "3") == [7, 6, 5]
    assert numbers("--reverse", "-n", "3") == [5, 6, 7]  # as git: the newest three, oldest first
    assert numbers("--since", "2999-01-01") == []
    assert numbers("--until", "2000-01-01") == []
    assert [s["n"] for s in json.loads(run_trail("log", f"{sid}@3", "--json", cwd=repo).stdout)] == [3, 2, 1]
    commit = trail.open(repo).step(f"{sid}@4").commit
    assert [s["n"] for s in json.loads(run_trail("log", commit[:9], "--json", cwd=repo).stdout)] == [4, 3, 2, 1]
    assert [s["n"] for s in json.loads(run_trail("log", "@2", "--json", cwd=repo).stdout)] == [2, 1]
    text = run_trail("log", sid, cwd=repo).stdout
    assert text.startswith("session work-1  claude-code (claude-sonnet-4-5-20250929), 7 steps, ended\n")
    assert "[1200 in / 30 out] Looking." in text and "Bash pytest (failed)" in text


def test_show_cuts_long_fields_and_lists_changed_files(session: tuple[Path, str]) -> None:
    repo, sid = session
    shown = run_trail("show", f"{sid}@6", cwd=repo).stdout
    assert "A  NOTES.md  +1" in shown
    assert "line 38" in shown and "line 150" not in shown
    assert "[… 160 more lines; `trail show --full work-1@6` shows all]" in shown
    assert "line 199" in run_trail("show", f"{sid}@6", "--full", cwd=repo).stdout
    files = json.loads(run_trail("show", f"{sid}@4", "--json", cwd=repo).stdout)["files"]
    assert files == [
        {"status": "M", "path": "src/app.py", "old_path": None, "additions": 2, "deletions": 1, "binary": False}
    ]


def test_diff_of_a_session_is_everything_it_changed(session: tuple[Path, str]) -> None:
    repo, sid = session
    whole = run_trail("diff", sid, cwd=repo).stdout
    assert whole == git("diff", "HEAD", f"trail/sessions/{sid}", cwd=repo)
    assert "NOTES.md" in whole and "src/app.py" in whole
    one = run_trail("diff", f"{sid}@4", cwd=repo).stdout
    assert "src/app.py" in one and "NOTES.md" not in one
    assert run_trail("diff", f"{sid}@4", f"{sid}@6", "--name-status", cwd=repo).stdout == "A  NOTES.md  +1\n"
    coloured = run_trail("diff", f"{sid}@4", "--color=always", cwd=repo).stdout
    assert "\x1b[32m+    return sum(v)" in coloured and "\x1b[1mdiff --git" in coloured


def test_stats_sum_up_a_session_and_price_only_what_is_configured(session: tuple[Path, str]) -> None:
    repo, sid = session
    data = json.loads(run_trail("stats", sid, "--json", cwd=repo).stdout)
    assert data["steps"] == 7 and data["kinds"]["tool_call"] == 3
    assert data["tools"]["Bash"] == {"calls": 2, "errors": 1, "duration_ms": 3000.0}
    model = data["models"]["claude-sonnet-4-5-20250929"]
    assert (model["tokens_in"], model["tokens_out"], model["input"], model["cache_read"], model["cache_write"]) == (
        1200,
        30,
        200,
        900,
        100,
    )
    assert data["cost"] is None and data["files_changed"] == 2
    assert run_trail("config", "price.claude-sonnet-4-5.input", "3", cwd=repo).returncode == 0
    assert run_trail("config", "price.claude-sonnet-4-5.output", "15", cwd=repo).returncode == 0
    assert run_trail("config", "price.claude-sonnet-4-5.cacheRead", "0.3", cwd=repo).returncode == 0
    refused = run_trail("config", "price.claude-sonnet-4-5.output", "cheap", cwd=repo)
    assert refused.returncode == 1 and "must be a number" in refused.stderr
    priced = json.loads(run_trail("stats", "--json", cwd=repo).stdout)
    # 200 fresh x 3 + 900 cached x 0.3 + 100 written x 3 (no cacheWrite price: the input price) + 30 x 15, per million
    assert priced["cost"] == pytest.approx((200 * 3 + 900 * 0.3 + 100 * 3 + 30 * 15) / 1e6)
    text = run_trail("stats", sid, cwd=repo).stdout
    assert "Bash" in text and "claude-sonnet-4-5-20250929" in text


def test_refs_that_are_not_sessions_are_warnings_not_failures(session: tuple[Path, str]) -> None:
    repo, sid = session
    git("update-ref", "refs/trail/sessions/foreign", "HEAD", cwd=repo)  # a plain commit
    tip = git("rev-parse", f"trail/sessions/{sid}", cwd=repo).strip()
    raw = git("cat-file", "commit", tip, cwd=repo)
    broken = raw.replace("trail-summary {", "trail-summary {not json", 1).replace("trail-event {", "trail-event {x", 1)
    bad = git("hash-object", "-t", "commit", "-w", "--stdin", "--literally", cwd=repo, input=broken.encode()).strip()
    git("update-ref", "refs/trail/sessions/malformed", bad, cwd=repo)
    git("update-ref", "refs/trail/sessions/renamed-copy", tip, cwd=repo)  # its steps say they are work-1's
    listed = run_trail("sessions", "--json", cwd=repo)
    assert listed.returncode == 0
    assert sorted(s["session"] for s in json.loads(listed.stdout)) == ["renamed-copy", "work-1"]
    assert "refs/trail/sessions/foreign" in listed.stderr and "refs/trail/sessions/malformed" in listed.stderr
    assert "belong to session 'work-1'" in listed.stderr
    assert run_trail("log", "renamed-copy", "-n", "1", cwd=repo).stdout.startswith("session renamed-copy")
    for args in (["log"], ["show", "@1"], ["stats"], ["diff", sid]):
        assert run_trail(*args, cwd=repo).returncode == 0, args
    refused = run_trail("log", "malformed", cwd=repo)
    assert refused.returncode == 1 and "does not point to a trail step" in refused.stderr
    doctor = run_trail("doctor", cwd=repo).stdout
    assert "2 refs under refs/trail/sessions/ are skipped" in doctor or "skipped" in doctor


def test_the_read_api(session: tuple[Path, str]) -> None:
    repo, sid = session
    history = trail.open(repo / "src")
    [found] = history.sessions()
    assert (found.id, found.steps, found.ended, found.title) == (sid, 7, True, "Fix the average of an empty list")
    step = history.step(f"{sid}@4")
    assert step.event.payload["input"] == {"file_path": "src/app.py"} and step.tree
    assert [(c.status, c.path) for c in history.changes(step)] == [("M", "src/app.py")]
    assert [s.n for s in found.iter_steps(newest_first=True, limit=2)] == [7, 6]
    assert found.step(-1).n == 6 and found.base == git("rev-parse", "HEAD", cwd=repo).strip()
    assert {p.delta.new_file.path for p in found.diff()} == {"NOTES.md", "src/app.py"}

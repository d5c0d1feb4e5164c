"""The `trail` command as a user runs it: a real subprocess in a real repository."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from conftest import git, git_bytes, trail

from trail import Recorder
from trail.cli import main


@pytest.fixture
def recorded(repo: Path) -> tuple[Path, str]:
    with Recorder(repo, agent="cli-agent", model="m-1", session_id="0123abcd-cli") as rec:
        rec.prompt("Rename the greeting")
        (repo / "src" / "app.py").write_text("print('hi')\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py"}, output="updated")
        rec.response("Renamed.", tokens_in=50, tokens_out=7)
    return repo, rec.session_id


def test_help_explains_addresses() -> None:
    result = trail("--help", cwd=".")
    assert result.returncode == 0
    assert "SESSION@N" in result.stdout and "checkout" in result.stdout


def test_sessions_table_and_json(recorded: tuple[Path, str]) -> None:
    repo, sid = recorded
    table = trail("sessions", cwd=repo)
    assert table.returncode == 0
    assert sid in table.stdout and "Rename the greeting" in table.stdout
    data = json.loads(trail("sessions", "--json", cwd=repo).stdout)
    assert data[0]["session"] == sid and data[0]["steps"] == 5 and data[0]["ended"] is True


def test_log_lists_steps_and_json_has_full_events(recorded: tuple[Path, str]) -> None:
    repo, sid = recorded
    text = trail("log", cwd=repo / "src").stdout
    assert "@3" in text and "Edit src/app.py" in text and "[50 in / 7 out]" in text
    newest_first = json.loads(trail("log", sid[:6], "--json", cwd=repo).stdout)
    assert [s["n"] for s in newest_first] == [5, 4, 3, 2, 1]
    steps = json.loads(trail("log", sid[:6], "--json", "--reverse", cwd=repo).stdout)
    assert [s["n"] for s in steps] == [1, 2, 3, 4, 5]
    for step in steps:
        assert {"session", "n", "kind", "time", "commit", "summary", "event"} <= step.keys()
    assert steps[2]["event"]["payload"]["input"] == {"file_path": "src/app.py"}
    assert steps[3]["event"]["payload"]["tokens_in"] == 50


def test_show_and_diff(recorded: tuple[Path, str]) -> None:
    repo, sid = recorded
    shown = trail("show", f"{sid}@3", cwd=repo)
    assert shown.returncode == 0
    assert "tool_call" in shown.stdout and "updated" in shown.stdout and "1 file changed" in shown.stdout
    assert "M  src/app.py  +1 -1" in shown.stdout
    assert json.loads(trail("show", "@4", "--json", cwd=repo).stdout)["event"]["payload"]["text"] == "Renamed."
    patch = trail("diff", "@3", cwd=repo).stdout
    assert patch == git("diff", f"trail/sessions/{sid}~2~1", f"trail/sessions/{sid}~2", cwd=repo)
    assert "+print('hi')" in patch
    assert trail("diff", "@1", "@5", cwd=repo).stdout == git(
        "diff", f"trail/sessions/{sid}~4", f"trail/sessions/{sid}", cwd=repo
    )
    assert "src/app.py" in trail("diff", "--stat", "@3", cwd=repo).stdout


def test_checkout_makes_a_worktree_and_leaves_ours_alone(recorded: tuple[Path, str], tmp_path: Path) -> None:
    repo, _sid = recorded
    status_before = git("status", "--porcelain", cwd=repo)
    head_before = git("rev-parse", "HEAD", cwd=repo)
    target = tmp_path / "then"
    result = trail("checkout", "@2", str(target), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert (target / "src" / "app.py").read_text() == "print('hello')\n"
    assert git("status", "--porcelain", cwd=repo) == status_before
    assert git("rev-parse", "HEAD", cwd=repo) == head_before
    temp = trail("checkout", "@3", cwd=repo).stdout.strip()
    assert Path(temp, "src", "app.py").read_text() == "print('hi')\n"
    refused = trail("checkout", "@3", str(target), cwd=repo)
    assert refused.returncode == 1 and "not empty" in refused.stderr


def test_user_errors_exit_1_with_advice(repo: Path, tmp_path: Path) -> None:
    none_yet = trail("log", cwd=repo)
    assert none_yet.returncode == 1 and "trail demo" in none_yet.stderr
    outside = trail("sessions", cwd=tmp_path)
    assert outside.returncode == 1 and "not inside a git repository" in outside.stderr
    with Recorder(repo) as rec:
        rec.note("x")
    missing = trail("show", "@99", cwd=repo)
    assert missing.returncode == 1 and "steps 1 to 3" in missing.stderr
    usage = trail("show", "--no-such-option", cwd=repo)
    assert usage.returncode == 2


def test_unexpected_errors_exit_3_with_a_log(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import trail.store.steps

    def explode(self: object, *args: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(trail.store.steps.Store, "scan", explode)
    assert main(["-C", str(repo), "sessions"]) == 3
    err = capsys.readouterr().err
    assert "crash.log" in err
    assert "kaboom" in (repo / ".git" / "trail" / "crash.log").read_text()


@click.command()
@click.pass_context
def leave_with_4(ctx: click.Context) -> None:
    ctx.exit(4)  # click.exceptions.Exit: returned, not raised, outside click's standalone mode


def test_a_command_exit_code_is_the_process_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import trail.cli

    monkeypatch.setitem(trail.cli.COMMANDS, "leave", (__name__, "leave_with_4"))
    assert main(["leave"]) == 4
    assert main(["--version"]) == 0


def test_init_and_doctor(repo: Path) -> None:
    first = trail("init", cwd=repo)
    assert first.returncode == 0 and "Initialized" in first.stdout
    assert "Already" in trail("init", cwd=repo).stdout
    assert "maxFileSize" in (repo / ".git" / "trail" / "config").read_text()
    doctor = trail("doctor", cwd=repo)
    assert doctor.returncode == 0, doctor.stdout
    assert "redaction on" in doctor.stdout
    (repo / ".git" / "trail" / "errors.log").write_text("2026-01-01 hook failed: boom\n")
    assert "hook failed: boom" in trail("doctor", cwd=repo).stdout


def test_demo_records_a_realistic_session(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = trail("demo", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trail replay" in result.stdout
    steps = json.loads(trail("log", "--reverse", "--json", cwd=target).stdout)
    kinds = [s["kind"] for s in steps]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert {"prompt", "response", "tool_call", "decision"} <= set(kinds)
    assert any(s["event"]["payload"].get("tokens_in") for s in steps)
    edit = next(s for s in steps if s["event"]["payload"].get("name") == "Edit")
    assert "+    if not values:" in trail("diff", f"@{edit['n']}", cwd=target).stdout
    assert b"sk-proj-demo" not in git_bytes("cat-file", "--batch-all-objects", "--batch", cwd=target)
    again = trail("demo", str(target), cwd=tmp_path)
    assert again.returncode == 1 and "not empty" in again.stderr

"""`trail hooks install|uninstall|status gemini|cursor`: Gemini CLI's settings.json and Cursor's hooks.json, in real
repositories. Installs merge with what is there, twice is once, and uninstall gives back the very bytes it found.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import trail

from trail.install import cursor, gemini
from trail.install.agents import hook_command

GEMINI_SETTINGS = {
    "general": {"vimMode": True},
    "hooksConfig": {"enabled": True, "disabled": ["secret-scanner"]},
    "hooks": {
        "BeforeTool": [
            {
                "matcher": "run_shell_command",
                "hooks": [{"name": "secret-scanner", "type": "command", "command": "./scan.sh", "timeout": 5000}],
            }
        ],
        "AfterModel": [{"hooks": [{"type": "command", "command": "./log-chunks.sh"}]}],
    },
    "mcpServers": {"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}},
}
# Written as Gemini CLI's /settings does (two spaces), but with the user's own key order and a missing final newline.
GEMINI_BYTES = json.dumps(GEMINI_SETTINGS, indent=2).encode()
CURSOR_BYTES = b'{\n    "version": 1,\n    "hooks": {"afterFileEdit": [{"command": "./hooks/format.sh"}]}\n}\n'


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Backups go to a folder of this test's own (subprocesses inherit the variable)."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("GEMINI_CLI_HOME", raising=False)
    return state


def ok(*args: str, cwd: Path) -> str:
    result = trail(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gemini_install_merges_and_uninstall_gives_back_the_bytes(repo: Path) -> None:
    settings = repo / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_bytes(GEMINI_BYTES)
    out = ok("hooks", "install", "gemini", cwd=repo)
    assert f"Installed trail's Gemini CLI hooks in {settings} (8 events)" in out
    assert "folder you trust" in out
    data = json.loads(settings.read_text())
    assert {k: v for k, v in data.items() if k != "hooks"} == {k: v for k, v in GEMINI_SETTINGS.items() if k != "hooks"}
    assert data["hooks"]["AfterModel"] == GEMINI_SETTINGS["hooks"]["AfterModel"]  # not ours, untouched
    before_tool = data["hooks"]["BeforeTool"]
    assert before_tool[0] == GEMINI_SETTINGS["hooks"]["BeforeTool"][0]  # the user's first, then ours
    ours = before_tool[1]["hooks"][0]
    assert ours["command"] == f"{hook_command()} gemini" and ours["timeout"] == 30000  # milliseconds
    assert "matcher" not in before_tool[1]  # no matcher: every tool, in every Gemini CLI version
    assert set(data["hooks"]) == {*gemini.EVENTS, "AfterModel"}
    installed = settings.read_bytes()
    again = ok("hooks", "install", "gemini", cwd=repo)
    assert "already installed" in again and settings.read_bytes() == installed
    out = ok("hooks", "uninstall", "gemini", cwd=repo)
    assert "back as it was before install" in out
    assert settings.read_bytes() == GEMINI_BYTES


def test_gemini_user_scope_honours_gemini_cli_home(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "profile"))
    out = ok("hooks", "install", "gemini", "--scope", "user", cwd=repo)
    settings = tmp_path / "profile" / ".gemini" / "settings.json"
    assert str(settings) in out and settings.is_file()
    assert not (repo / ".gemini").exists()
    ok("hooks", "uninstall", "gemini", "--scope", "user", cwd=repo)
    assert not settings.exists() and not settings.parent.exists()  # install created both


def test_gemini_says_when_its_hooks_are_turned_off(repo: Path) -> None:
    settings = repo / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"hooksConfig": {"enabled": False}}))
    out = ok("hooks", "install", "gemini", cwd=repo)
    assert '"hooksConfig": {"enabled": false}' in out and "records nothing" in out
    status = ok("hooks", "status", cwd=repo)
    assert "turns Gemini CLI's hooks off" in status
    assert json.loads(ok("hooks", "status", "--json", cwd=repo))["gemini"][0]["hooks_off"]


def test_cursor_install_appends_after_the_users_hooks_and_uninstall_gives_back_the_bytes(repo: Path) -> None:
    hooks = repo / ".cursor" / "hooks.json"
    hooks.parent.mkdir()
    hooks.write_bytes(CURSOR_BYTES)
    out = ok("hooks", "install", "cursor", cwd=repo)
    assert f"Installed trail's Cursor hooks in {hooks} (10 events)" in out
    data = json.loads(hooks.read_text())
    assert data["version"] == 1
    # Some Cursor versions run only the first command of an event: the user's stays first.
    assert data["hooks"]["afterFileEdit"] == [{"command": "./hooks/format.sh"}, {"command": f"{hook_command()} cursor"}]
    assert set(data["hooks"]) == set(cursor.EVENTS)
    # No permission hook: trail's answer would take part in allowing or refusing the agent's actions.
    assert not set(data["hooks"]) & {"beforeShellExecution", "beforeMCPExecution", "beforeReadFile", "preToolUse"}
    assert all("timeout" not in entry for entries in data["hooks"].values() for entry in entries)
    installed = hooks.read_bytes()
    assert "already installed" in ok("hooks", "install", "cursor", cwd=repo) and hooks.read_bytes() == installed
    ok("hooks", "uninstall", "cursor", cwd=repo)
    assert hooks.read_bytes() == CURSOR_BYTES


def test_cursor_install_into_a_file_without_version_and_back(repo: Path) -> None:
    hooks = repo / ".cursor" / "hooks.json"
    hooks.parent.mkdir()
    original = b'{"hooks": {}}'
    hooks.write_bytes(original)
    ok("hooks", "install", "cursor", cwd=repo)
    assert json.loads(hooks.read_text())["version"] == 1  # Cursor requires it
    ok("hooks", "uninstall", "cursor", cwd=repo)
    assert hooks.read_bytes() == original


def test_cursor_install_into_a_missing_file_and_uninstall_deletes_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a home of this test's own, with no .cursor yet
    ok("hooks", "install", "cursor", "--scope", "user", cwd=repo)
    hooks = tmp_path / "home" / ".cursor" / "hooks.json"
    assert hooks.is_file()
    out = ok("hooks", "uninstall", "cursor", "--scope", "user", cwd=repo)
    assert "deleted" in out and not hooks.exists() and not hooks.parent.exists()


def test_uninstall_keeps_what_the_user_added_after_install(repo: Path) -> None:
    hooks = repo / ".cursor" / "hooks.json"
    ok("hooks", "install", "cursor", cwd=repo)
    data = json.loads(hooks.read_text())
    data["hooks"]["stop"].append({"command": "./notify.sh"})
    hooks.write_text(json.dumps(data))
    out = ok("hooks", "uninstall", "cursor", cwd=repo)
    assert "Removed trail's Cursor hooks from" in out
    assert json.loads(hooks.read_text()) == {"version": 1, "hooks": {"stop": [{"command": "./notify.sh"}]}}


def test_a_file_that_is_not_json_is_refused_and_left_alone(repo: Path) -> None:
    for agent, path in (("gemini", repo / ".gemini" / "settings.json"), ("cursor", repo / ".cursor" / "hooks.json")):
        path.parent.mkdir()
        path.write_text('{\n  // a comment\n  "hooks": {}\n}\n')
        before = path.read_bytes()
        result = trail("hooks", "install", agent, cwd=repo)
        assert result.returncode == 1 and "is not valid JSON" in result.stderr
        assert path.read_bytes() == before


def test_status_lists_every_agent(repo: Path) -> None:
    ok("hooks", "install", "gemini", cwd=repo)
    ok("hooks", "install", "cursor", cwd=repo)
    data = json.loads((repo / ".cursor" / "hooks.json").read_text())
    del data["hooks"]["stop"]
    (repo / ".cursor" / "hooks.json").write_text(json.dumps(data))
    lines = ok("hooks", "status", cwd=repo).splitlines()
    at = lines.index("Gemini CLI (settings.json):")
    assert lines[at + 1].split() == ["project", str(repo / ".gemini" / "settings.json"), "installed"]
    assert lines[at + 2].split()[0] == "user" and lines[at + 2].endswith("not installed")
    at = lines.index("Cursor (hooks.json):")
    assert lines[at + 1].endswith("partly installed, missing stop")
    status = json.loads(ok("hooks", "status", "--json", cwd=repo))
    assert [(s["scope"], s["state"]) for s in status["gemini"]] == [("project", "all"), ("user", "none")]
    assert [(s["scope"], s["state"]) for s in status["cursor"]] == [("project", "some"), ("user", "none")]
    assert status["cursor"][0]["programs"] == [hook_command()]


def test_scopes_are_checked(repo: Path) -> None:
    result = trail("hooks", "install", "cursor", "--scope", "local", cwd=repo)
    assert result.returncode == 2 and "is not one of cursor's (project, user)" in result.stderr


def test_a_shared_project_file_that_names_a_venv_is_flagged_at_install(repo: Path) -> None:
    """In a virtual environment trail-hook is named by its path, which only this person has."""
    out = ok("hooks", "install", "gemini", cwd=repo)
    if hook_command() != "trail-hook":
        assert "warning:" in out and "for anyone else who gets this file" in out

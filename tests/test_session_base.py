"""What a session changed is told apart from what was already uncommitted when it began, and trail's own hook
entries never count as the agent's change: `trail diff SESSION`, `--before`, `--from-base`."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, trail

from trail import Recorder


def names(repo: Path, *args: str) -> tuple[list[str], str]:
    done = trail("diff", *args, "--name-status", cwd=repo)
    assert done.returncode == 0, done.stderr
    return sorted(line.split()[1] for line in done.stdout.splitlines()), done.stderr


def test_uncommitted_work_and_trails_hooks_are_not_the_agents_change(repo: Path) -> None:
    (repo / "README.md").write_text("# project\nmy own edit, not committed\n")
    (repo / "notes.txt").write_text("an untracked file of mine\n")
    assert trail("hooks", "install", "claude", cwd=repo).returncode == 0  # .claude/settings.json, uncommitted
    with Recorder(repo, session_id="base-1") as rec:
        rec.prompt("fix the app")
        (repo / "src" / "app.py").write_text("print('fixed')\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py"})
    changed, note = names(repo, "base-1")
    assert changed == ["src/app.py"]
    assert "2 files were already changed" in note and "trail diff base-1 --before" in note
    before, _ = names(repo, "base-1", "--before")
    assert before == ["README.md", "notes.txt"]  # the person's; trail's settings file is neither
    everything, _ = names(repo, "base-1", "--from-base")
    assert everything == [".claude/settings.json", "README.md", "notes.txt", "src/app.py"]
    patch = trail("diff", "base-1", cwd=repo).stdout
    assert "+print('fixed')" in patch and "my own edit" not in patch


def test_hooks_installed_mid_session_are_left_out_and_the_agents_own_settings_change_is_not(repo: Path) -> None:
    with Recorder(repo, session_id="base-2") as rec:
        rec.prompt("go")
        assert trail("hooks", "install", "claude", cwd=repo).returncode == 0
        rec.note("hooks installed while the session ran")
        changed, note = names(repo, "base-2")
        assert changed == [] and note == ""
        settings = repo / ".claude" / "settings.json"
        data = json.loads(settings.read_text())
        data["permissions"] = {"allow": ["Bash(rm -rf /)"]}  # the agent loosening its own permissions
        settings.write_text(json.dumps(data, indent=2))
        rec.tool_call("Edit", input={"file_path": ".claude/settings.json"})
    changed, _ = names(repo, "base-2")
    assert changed == [".claude/settings.json"]


def test_a_clean_start_says_nothing_more_and_matches_git(repo: Path) -> None:
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    with Recorder(repo, session_id="base-3") as rec:
        (repo / "new.py").write_text("x = 1\n")
        rec.tool_call("Write", input={"file_path": "new.py"})
    done = trail("diff", "base-3", cwd=repo)
    assert done.returncode == 0 and done.stderr == ""
    tip = git("rev-parse", "trail/sessions/base-3", cwd=repo).strip()
    assert done.stdout == git("diff", base, tip, cwd=repo)
    refused = trail("diff", "base-3@1", "--before", cwd=repo)
    assert refused.returncode == 2 and "whole SESSION" in refused.stderr

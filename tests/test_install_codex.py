"""`trail hooks install|uninstall|status codex`: hooks.json merged and given back byte for byte; the legacy notify
written into the person's config.toml without touching anything else, and taken out again to the very bytes."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from conftest import trail

CONFIG = """\
# my Codex settings
model = "gpt-5.4"  # the default
approval_policy = "on-request"
notify = [
  "notify-send",   # desktop notification
  "Codex",
]

[features]
hooks = true

[profiles.deep]
model = "gpt-5.4"
notify = ["not", "the", "root", "one"]
"""
USER_HOOKS = {
    "hooks": {
        "PreToolUse": [{"matcher": "^Bash$", "hooks": [{"type": "command", "command": "python3 policy.py"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "say done", "timeout": 5}]}],
    }
}


@pytest.fixture(autouse=True)
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return home


def ok(*args: str, cwd: Path) -> str:
    result = trail(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fake_codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """A `codex` on PATH that says its version, as `codex --version` does (`codex-cli 0.117.0`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "codex"
    script.write_text(f"#!/bin/sh\necho 'codex-cli {version}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_hooks_json_merges_and_uninstall_gives_back_the_bytes(repo: Path) -> None:
    path = repo / ".codex" / "hooks.json"
    path.parent.mkdir()
    original = json.dumps(USER_HOOKS, indent=4).encode()  # not how trail writes it
    path.write_bytes(original)
    path.chmod(0o640)
    assert "Installed trail's Codex hooks" in ok("hooks", "install", "codex", "--scope", "project", cwd=repo)
    hooks = json.loads(path.read_text())["hooks"]
    assert hooks["PreToolUse"][0] == USER_HOOKS["hooks"]["PreToolUse"][0]  # theirs first, then trail's
    ours = {e: [h for g in groups for h in g["hooks"] if "trail-hook" in h["command"]] for e, groups in hooks.items()}
    assert set(ours) == {
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "PreCompact",
        "PostCompact",
        "SubagentStart",
        "SubagentStop",
        "Interrupt",
        "SessionEnd",
    }
    assert all(len(v) == 1 and v[0]["command"].endswith(" codex") for v in ours.values())
    assert ours["SessionEnd"][0]["timeout"] == 3 and ours["Interrupt"][0]["timeout"] == 3  # Codex's maximum
    assert all("matcher" not in g for groups in hooks.values() for g in groups if "trail-hook" in json.dumps(g))
    assert "already installed" in ok("hooks", "install", "codex", "--scope", "project", cwd=repo)
    ok("hooks", "uninstall", "codex", "--scope", "project", cwd=repo)
    assert path.read_bytes() == original and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_user_scope_is_codex_home(repo: Path, codex_home: Path) -> None:
    ok("hooks", "install", "codex", "--scope", "user", cwd=repo)
    assert (codex_home / "hooks.json").is_file() and not (repo / ".codex").exists()
    assert "deleted" in ok("hooks", "uninstall", "codex", "--scope", "user", cwd=repo)
    assert not (codex_home / "hooks.json").exists()


def test_notify_keeps_config_toml_and_chains_the_persons_program(repo: Path, codex_home: Path) -> None:
    config = codex_home / "config.toml"
    codex_home.mkdir()
    config.write_text(CONFIG)
    config.chmod(0o600)
    out = ok("hooks", "install", "codex", "--scope", "notify", cwd=repo)
    assert "Your notify program (notify-send Codex) still runs" in out
    before, after = tomllib.loads(CONFIG), tomllib.loads(config.read_text())
    argv = after.pop("notify")
    assert os.path.basename(argv[0]) == "trail-hook" and argv[1:] == ["codex-notify", "notify-send", "Codex"]
    before.pop("notify")
    assert after == before  # the profile's own notify and everything else as it was
    assert config.read_text().startswith("# my Codex settings\nmodel = ")
    assert "already installed" in ok("hooks", "install", "codex", "--scope", "notify", cwd=repo)
    status = json.loads(ok("hooks", "status", "--json", cwd=repo))["codex"]
    assert next(s for s in status if s["scope"] == "notify")["state"] == "all"
    ok("hooks", "uninstall", "codex", "--scope", "notify", cwd=repo)
    assert config.read_text() == CONFIG and stat.S_IMODE(config.stat().st_mode) == 0o600


def test_notify_edited_since_install_keeps_the_edit(repo: Path, codex_home: Path) -> None:
    codex_home.mkdir()
    config = codex_home / "config.toml"
    config.write_text('model = "o3"\n')
    ok("hooks", "install", "codex", "--scope", "notify", cwd=repo)
    assert config.read_text().startswith("notify = [") and config.read_text().endswith('model = "o3"\n')
    config.write_text(config.read_text().replace('"o3"', '"gpt-5.4"'))
    assert "Removed" in ok("hooks", "uninstall", "codex", "--scope", "notify", cwd=repo)
    assert config.read_text() == 'model = "gpt-5.4"\n'


def test_notify_into_a_missing_config_is_deleted_again(repo: Path, codex_home: Path) -> None:
    ok("hooks", "install", "codex", "--scope", "notify", cwd=repo)
    assert list(tomllib.loads((codex_home / "config.toml").read_text())) == ["notify"]
    assert "deleted" in ok("hooks", "uninstall", "codex", "--scope", "notify", cwd=repo)
    assert not (codex_home / "config.toml").exists()


def test_a_config_trail_cannot_edit_safely_is_refused_and_left_alone(repo: Path, codex_home: Path) -> None:
    codex_home.mkdir()
    config = codex_home / "config.toml"
    for text in ("model = [unclosed\n", 'notify = "not a list"\n'):
        config.write_text(text)
        refused = trail("hooks", "install", "codex", "--scope", "notify", cwd=repo)
        assert refused.returncode == 1 and config.read_text() == text


def test_auto_picks_notify_for_a_codex_without_hooks(
    repo: Path, codex_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_codex(tmp_path, monkeypatch, "0.66.0")
    out = ok("hooks", "install", "codex", cwd=repo)
    assert "Codex 0.66.0 has no hooks" in out and (codex_home / "config.toml").is_file()
    assert not (repo / ".codex").exists()
    ok("hooks", "uninstall", "codex", cwd=repo)
    assert not (codex_home / "config.toml").exists()
    fake_codex(tmp_path, monkeypatch, "0.117.0")
    ok("hooks", "install", "codex", cwd=repo)
    assert (repo / ".codex" / "hooks.json").is_file() and not (codex_home / "config.toml").exists()


def test_status_lists_every_place_and_says_when_hooks_are_off(repo: Path, codex_home: Path) -> None:
    ok("hooks", "install", "codex", "--scope", "project", cwd=repo)
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text("[features]\nhooks = false\n")
    text = ok("hooks", "status", cwd=repo)
    section = text[text.index("Codex CLI") :]
    assert "project" in section and "installed" in section and "notify" in section
    assert "turns Codex's hooks off" in section
    data = json.loads(ok("hooks", "status", "--json", cwd=repo))["codex"]
    assert [d["scope"] for d in data] == ["project", "user", "notify"]
    assert data[0]["state"] == "all" and data[1]["state"] == "none" and data[0]["hooks_off"]

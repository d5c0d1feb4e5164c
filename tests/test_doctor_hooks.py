"""`trail doctor` on installed hooks, every agent and scope: a command that finds no trail-hook where the agent runs
it (a bare `trail-hook` only a virtual environment provides, a program that was moved) fails, with the command that
fixes it; a shared settings file naming one person's trail-hook is a warning; --fix rewrites only what is safe."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import TRAIL, git

from trail.install import agents as inst
from trail.install import cursor, jsonhooks

VENV_BIN = Path(sys.executable).parent
in_venv = pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="needs trail installed in a virtual environment")


def doctor(repo: Path, *args: str) -> tuple[int, dict[str, list[str]]]:
    """Run `trail doctor` as a person whose shell has the venv activated: its bin folder first on PATH."""
    import subprocess

    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin", "VIRTUAL_ENV": sys.prefix}
    done = subprocess.run([*TRAIL, "doctor", *args], cwd=repo, env=env, capture_output=True, text=True)
    checks: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("["):
            status, rest = line[1:5].strip(), line[7:]
            name = rest.split("  ")[0].strip()
            checks.setdefault(name, []).append(f"{status} {rest[len(name) :].strip()}")
    return done.returncode, checks


@pytest.fixture(autouse=True)
def _own_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "gemini-home"))


def test_no_hooks_is_fine(repo: Path) -> None:
    code, checks = doctor(repo)
    assert code == 0 and checks["hooks"] == ["ok none installed (trail hooks install)"]


@in_venv
def test_a_bare_trail_hook_that_only_the_venv_provides_fails_and_fix_writes_its_path(
    repo: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "claude" / "settings.json"
    inst.install_claude(settings, command="trail-hook")  # what an older trail wrote from an activated venv
    code, checks = doctor(repo)
    assert code == 1
    [problem] = checks["hooks claude user"]
    assert problem.startswith("FAIL") and "is not on PATH without the virtual environment" in problem
    assert "`trail hooks install claude --scope user` writes trail-hook's full path" in problem

    code, checks = doctor(repo, "--fix")
    assert code == 0, checks
    assert "wrote it again" in checks["hooks claude user"][0]
    commands = {h["command"] for g in json.loads(settings.read_text())["hooks"].values() for e in g for h in e["hooks"]}
    assert commands == {f"{VENV_BIN / 'trail-hook'} claude"}
    code, checks = doctor(repo)
    assert code == 0 and checks["hooks"][0].startswith("ok claude user")


@in_venv
def test_the_git_hook_is_checked_too(repo: Path) -> None:
    inst.install_git(inst.git_hooks_dir(repo), command="trail-hook", workdir=repo)
    code, checks = doctor(repo)
    assert code == 1 and "not on PATH" in checks["hooks git post-commit"][0]
    code, checks = doctor(repo, "--fix")
    assert code == 0 and "wrote it again" in checks["hooks git post-commit"][0]
    assert f"{VENV_BIN / 'trail-hook'} git-post-commit" in (repo / ".git" / "hooks" / "post-commit").read_text()


def test_a_program_that_is_gone_fails_and_a_shared_file_is_not_rewritten(repo: Path) -> None:
    hooks = repo / ".cursor" / "hooks.json"
    jsonhooks.install(cursor.SPEC, hooks, cursor.template("/opt/gone/bin/trail-hook"))
    code, checks = doctor(repo)
    assert code == 1 and "/opt/gone/bin/trail-hook is not there" in checks["hooks cursor project"][0]
    before = hooks.read_bytes()
    code, checks = doctor(repo, "--fix")
    assert code == 1
    [problem] = checks["hooks cursor project"]
    assert "Not rewritten: it is in the working tree and git does not ignore it, so the file is shared" in problem
    assert hooks.read_bytes() == before


def test_an_edited_installation_is_not_rewritten(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # doctor's own home, where ~/.cursor is
    home_hooks = tmp_path / "home" / ".cursor" / "hooks.json"
    jsonhooks.install(cursor.SPEC, home_hooks, cursor.template("/opt/gone/bin/trail-hook"))
    data = json.loads(home_hooks.read_text())
    del data["hooks"]["stop"]  # the person took one out on purpose
    home_hooks.write_text(json.dumps(data))
    code, checks = doctor(repo, "--fix")
    assert code == 1 and "trail's entries there were edited (missing stop)" in checks["hooks cursor user"][0]
    assert "stop" not in json.loads(home_hooks.read_text())["hooks"]


@in_venv
def test_a_committed_settings_file_naming_a_venv_is_a_warning(repo: Path) -> None:
    from conftest import trail

    assert trail("hooks", "install", "gemini", cwd=repo).returncode == 0
    git("add", ".gemini/settings.json", cwd=repo)
    code, checks = doctor(repo)
    assert code == 0
    [warning] = checks["hooks gemini project"]
    assert warning.startswith("warn") and "inside the virtual environment" in warning and "git tracks it" in warning
    assert "--scope user" in warning

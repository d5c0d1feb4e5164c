"""A new user's first minutes: the README's first command in a fresh virtual environment, then every command the
demo prints, run verbatim from a shell that does not have trail on its PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_readme import ROOT, readme_commands

SHELL_PATH = "/usr/local/bin:/usr/bin:/bin"  # a login shell's PATH: no virtual environment on it


def printed_commands(output: str) -> list[str]:
    """The commands of the demo's "Try:" block, without their comments."""
    block = output.split("Try:\n", 1)[1].split("\n\n", 1)[0]
    return [re.sub(r"\s+# .*$", "", line).strip() for line in block.splitlines() if line.strip()]


def run_verbatim(commands: list[str], tmp_path: Path) -> None:
    """Run the printed commands one after the other in one shell, as a person pasting them would."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=SHELL_PATH, BROWSER="true", PAGER="cat", GIT_PAGER="cat")  # `--open` must not start one
    for command in commands:
        script = " && ".join(commands[: commands.index(command) + 1])
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, f"{command!r} failed:\n{done.stdout}\n{done.stderr}"


def test_the_demos_commands_work_as_printed_without_trail_on_path(tmp_path: Path) -> None:
    trail = Path(sys.executable).parent / "trail"
    env = {**os.environ, "PATH": SHELL_PATH}
    done = subprocess.run([str(trail), "demo", str(tmp_path / "demo")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    commands = printed_commands(done.stdout)
    assert commands[0].startswith("cd ") and len(commands) >= 8
    assert all(c.startswith((str(trail), "cd ", "git ")) for c in commands), commands
    assert f'export PATH="{trail.parent}:$PATH"' in done.stdout
    run_verbatim(commands, tmp_path)


def test_with_trail_on_path_the_demo_says_trail(tmp_path: Path) -> None:
    trail = Path(sys.executable).parent / "trail"
    env = {**os.environ, "PATH": f"{trail.parent}:{SHELL_PATH}"}
    done = subprocess.run([str(trail), "demo", str(tmp_path / "demo")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert printed_commands(done.stdout)[1].startswith("trail ") and "not on your PATH" not in done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")
def test_the_readme_first_command_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """The README's first command, verbatim, in a copy of this tree with no virtual environment: it installs trail
    from scratch and runs the demo, whose printed commands then work as printed."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    copy = tmp_path / "trail"
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file() and not source.is_symlink():
            target = copy / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    first = readme_commands()[0]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = (
        SHELL_PATH if shutil.which("python3", path=SHELL_PATH) else f"{Path(sys.executable).parent}:{SHELL_PATH}"
    )
    done = subprocess.run(["bash", "-c", first], cwd=copy, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = printed_commands(done.stdout)
    assert commands[1].startswith(str(copy / ".venv" / "bin" / "trail"))
    run_verbatim(commands, tmp_path)

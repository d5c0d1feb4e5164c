"""Every command's --help, with examples; shell completion through click, commands loaded lazily; README.md's table
of commands, which must be what the --help texts give."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from trail.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _load_readme_commands() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_commands", ROOT / "tools" / "readme_commands.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_commands = _load_readme_commands()
COMMANDS = [ctx.command_path.split()[1:] for ctx, _ in readme_commands.commands()]


def test_every_command_and_group_is_listed() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"log", "completion", "import claude", "import bundle", "otel serve", "hooks install"} <= names
    assert "config" in names and "hooks status" in names and "hooks uninstall" in names


@pytest.mark.parametrize("path", [[], *COMMANDS], ids=lambda path: " ".join(["trail", *path]))
def test_help_exits_0_and_ends_with_examples(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: {' '.join(['trail', *path])} ")
    examples = out.split("\n  Examples:\n", 1)
    assert len(examples) == 2, f"`trail {' '.join(path)} --help` has no Examples block"
    lines = examples[1].split("\n\n", 1)[0].splitlines()
    assert any(line.startswith(("    trail ", '    eval "$(trail ')) for line in lines), lines


def test_readme_table_of_commands_is_what_help_gives() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_commands.BEGIN in text and readme_commands.END in text
    assert readme_commands.rewrite(text) == text, "README.md's table of commands is stale: run tools/readme_commands.py"


def test_readme_table_has_a_row_per_command_with_its_first_sentence() -> None:
    table = readme_commands.table()
    assert "| `trail log [OPTIONS] [SESSION\\|STEP]` | Show the steps of a session, newest first" in table
    assert "| `trail hooks install [OPTIONS] {claude\\|git\\|gemini\\|cursor\\|codex}` |" in table
    assert "| `trail completion [OPTIONS] {bash\\|zsh\\|fish}` |" in table
    assert len([line for line in table.splitlines() if line.startswith("| `trail ")]) == len(COMMANDS)


# ---------------------------------------------------------------------------------------------------------------
# completion


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _trail_completion trail"),
        ("zsh", "#compdef trail"),
        ("fish", "complete --no-files --command trail"),
    ],
)
def test_completion_prints_the_script_of_each_shell(
    shell: str, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert marker in script and "_TRAIL_COMPLETE=" in script


def test_completion_refuses_an_unknown_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "powershell"]) == 2
    assert "'powershell' is not one of" in capsys.readouterr().err


@pytest.fixture(scope="module")
def path_with_trail(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH whose `trail` is this trail: the installed script, or one that runs `python -m trail`."""
    folder = Path(sys.executable).parent
    if not (folder / "trail").exists():
        folder = tmp_path_factory.mktemp("bin")
        (folder / "trail").write_text(f'#!/bin/sh\nexec {sys.executable} -m trail "$@"\n')
        (folder / "trail").chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def bash_completes(words: list[str], path: str, tmp_path: Path) -> list[str]:
    """What bash offers, through the script `trail completion bash` prints, when Tab is pressed after `words`
    (the last one being the word completed)."""
    env = {**os.environ, "PATH": path}
    script = tmp_path / "trail-completion.bash"
    script.write_text(subprocess.run(["trail", "completion", "bash"], capture_output=True, text=True, env=env).stdout)
    quoted = " ".join("'" + word.replace("'", "'\\''") + "'" for word in words)
    program = (
        f". {script}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=()\n"
        "_trail_completion trail\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_arguments(path_with_trail: str, tmp_path: Path) -> None:
    assert bash_completes(["trail", "lo"], path_with_trail, tmp_path) == ["log"]
    assert "completion" in bash_completes(["trail", "co"], path_with_trail, tmp_path)
    # Subcommands, options and choices come from modules trail imports only when asked about them.
    assert bash_completes(["trail", "log", "--re"], path_with_trail, tmp_path) == ["--reverse"]
    assert set(bash_completes(["trail", "hooks", "install", "c"], path_with_trail, tmp_path)) == {
        "claude",
        "cursor",
        "codex",
    }
    assert bash_completes(["trail", "import", "cl"], path_with_trail, tmp_path) == ["claude"]
    assert bash_completes(["trail", "otel", ""], path_with_trail, tmp_path) == ["serve"]
    assert bash_completes(["trail", "completion", "f"], path_with_trail, tmp_path) == ["fish"]


def test_completion_protocol_offers_commands(path_with_trail: str) -> None:
    """What the scripts of every shell run: `trail` with _TRAIL_COMPLETE set answers with the completions."""
    env = {**os.environ, "PATH": path_with_trail, "COMP_WORDS": "trail lo", "COMP_CWORD": "1"}
    bash = subprocess.run(["trail"], env={**env, "_TRAIL_COMPLETE": "bash_complete"}, capture_output=True, text=True)
    assert bash.returncode == 0 and bash.stdout.splitlines() == ["plain,log"], bash.stderr
    zsh = subprocess.run(["trail"], env={**env, "_TRAIL_COMPLETE": "zsh_complete"}, capture_output=True, text=True)
    assert zsh.returncode == 0 and zsh.stdout.splitlines()[:2] == ["plain", "log"], zsh.stderr

"""The terminal as git uses it: which pager, when colour, and text from sessions that can never drive the terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest
from conftest import TRAIL
from conftest import trail as run_trail

from trail import Recorder
from trail.views.term import clean, clean_bytes, color_wanted, fit, pager_command, width_of

HOSTILE = "red \x1b[31mALERT\x1b[0m \x1b]0;owned\x07 bell\x07 back\x08 bidi\u202eevil cut\ud83d emoji 漢字\r\n"


def test_clean_makes_controls_visible_and_survives_lone_surrogates() -> None:
    out = clean(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\x08" not in out and "\u202e" not in out
    assert "^[[31mALERT" in out and "^[]0;owned^G" in out and "<U+202E>evil" in out
    assert "\ufffd" in out and "漢字" in out
    out.encode("utf-8")  # no lone surrogate left: printable
    assert "\n" not in clean(HOSTILE, one_line=True)
    assert clean_bytes(b"+\x1b[2J wipe\n\xc2\x9b csi \xff\xfe") == b"+^[[2J wipe\n<U+009B> csi \xff\xfe"


def test_width_and_fit_count_wide_characters() -> None:
    assert width_of("漢字ab") == 6
    assert fit("abcdefgh", 5) == "abcd…" and fit("漢字漢字", 5) == "漢字…" and fit("short", None) == "short"


@pytest.mark.parametrize(
    ("env", "config", "expected"),
    [
        ({"GIT_PAGER": "mypager -x", "PAGER": "other"}, "cfgpager", "mypager -x"),
        ({"PAGER": "other"}, "cfgpager", "cfgpager"),
        ({"PAGER": "other"}, None, "other"),
        ({}, None, "less"),
        ({"GIT_PAGER": "cat"}, None, None),
        ({"GIT_PAGER": ""}, "cfgpager", None),
    ],
)
def test_pager_is_chosen_as_git_chooses_it(
    env: dict[str, str], config: str | None, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GIT_PAGER", "PAGER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert pager_command({"core.pager": config} if config else {}) == expected


@pytest.mark.parametrize(
    ("choice", "tty", "env", "config", "expected"),
    [
        ("auto", True, {}, {}, True),
        ("auto", False, {}, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, {}, False),
        ("auto", True, {"TERM": "dumb"}, {}, False),
        ("auto", True, {}, {"color.ui": "never"}, False),
        ("always", False, {"NO_COLOR": "1"}, {}, True),
        ("never", True, {}, {}, False),
    ],
)
def test_colour_decisions(
    choice: str, tty: bool, env: dict[str, str], config: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert color_wanted(choice, tty, config) is expected


def run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run trail with its output on a pseudo-terminal, as in a person's shell; returns what reached the screen."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*TRAIL, *args],
        cwd=cwd,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "60", **env},
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def long_session(repo: Path) -> Path:
    with Recorder(repo, session_id="paged", model="m") as rec:
        for i in range(60):
            rec.tool_call("Bash", input={"command": f"echo {i} " + "word " * 30}, output=str(i))
    return repo


def test_a_terminal_gets_the_pager_colour_and_cut_lines(long_session: Path, tmp_path: Path) -> None:
    captured = tmp_path / "paged.txt"
    pager = tmp_path / "fake-pager"
    pager.write_text(f'#!/bin/sh\necho "LESS=$LESS" > {captured}\ncat >> {captured}\n')
    pager.chmod(0o755)
    screen = run_on_a_terminal(["log", "paged"], long_session, {"GIT_PAGER": str(pager), "LESS": ""})
    assert screen.strip() == ""  # everything went to the pager
    text = captured.read_text()
    assert text.startswith("LESS=\n")  # git's default applies only where LESS is unset
    assert "\x1b[33m@62\x1b[m" in text  # coloured, as for a terminal
    lines = [line for line in text.splitlines()[1:] if line.strip()]
    assert all(len(line.encode()) < 60 + 40 for line in lines)  # cut to 60 columns (colour codes aside)
    assert any(line.rstrip().endswith("…") for line in lines)


def test_no_pager_and_pipes_get_plain_uncut_text(long_session: Path, tmp_path: Path) -> None:
    pager = tmp_path / "never-run"
    screen = run_on_a_terminal(["--no-pager", "log", "paged", "-n", "3"], long_session, {"GIT_PAGER": str(pager)})
    assert "@62" in screen and not pager.exists()
    piped = run_trail("log", "paged", cwd=long_session)
    assert "\x1b" not in piped.stdout and "word word word word word word word word word" in piped.stdout
    forced = run_trail("log", "paged", "--color=always", "-n", "1", cwd=long_session)
    assert "\x1b[33m" in forced.stdout
    assert "\x1b" not in run_on_a_terminal(
        ["log", "paged", "-n", "2"], long_session, {"NO_COLOR": "1", "GIT_PAGER": "cat"}
    )


def test_hostile_text_never_reaches_the_terminal_raw(repo: Path) -> None:
    """Escape sequences and lone surrogates in every printed field: nothing crashes, nothing is raw."""
    file_text = HOSTILE.encode("utf-8", "replace").decode()  # a file holds bytes: no lone surrogate
    (repo / "evil\x1b[31m\u202e.txt").write_text(file_text)
    with Recorder(repo, session_id="hostile", agent=HOSTILE, model=HOSTILE) as rec:
        rec.prompt(HOSTILE)
        rec.response(HOSTILE, thinking=HOSTILE, tokens_in=1, tokens_out=2)
        (repo / "src" / "app.py").write_text(file_text)
        rec.tool_call(HOSTILE, input={"command": HOSTILE}, output=HOSTILE, error=HOSTILE, duration_ms=3)
        rec.decision(HOSTILE, reasoning=HOSTILE, alternatives=[HOSTILE])
    commands = [
        ["sessions"],
        ["log", "hostile"],
        ["show", "hostile@3"],
        ["show", "hostile@4", "--full"],
        ["diff", "hostile@4"],
        ["diff", "hostile"],
        ["stats", "hostile"],
        ["log", "hostile", "--json"],
    ]
    for args in commands:
        done = subprocess.run([*TRAIL, *args], cwd=repo, capture_output=True)
        assert done.returncode == 0, (args, done.stderr)
        assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout, args
        assert b"\xe2\x80\xae" not in done.stdout, args  # U+202E
        done.stdout.decode("utf-8")  # valid UTF-8: no lone surrogate was written
    data = json.loads(subprocess.run([*TRAIL, "log", "hostile", "--json"], cwd=repo, capture_output=True).stdout)
    assert data[-3]["event"]["payload"]["text"] == HOSTILE  # JSON keeps the text exactly, escaped

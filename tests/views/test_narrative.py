"""`trail replay`: a session told step by step, as `git log -p` tells a branch, streamed through the pager; and
`--interactive`, driven through a real pseudo-terminal with the keys a person presses."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TRAIL, trail

from trail import Recorder
from trail.views import narrative

SGR = re.compile(rb"\x1b\[[0-9;]*m")
LONG_OUTPUT = "\n".join(f"line {i} of the test run" for i in range(1, 201))


@pytest.fixture
def story(repo: Path) -> Path:
    """A session with a step of each kind, code changing at some steps only."""
    with Recorder(repo, session_id="story", model="claude-test-1") as rec:
        rec.prompt("Make the app greet the world.\nKeep the tests passing.")
        rec.response("I'll change app.py, then run the tests.", tokens_in=1200, tokens_out=80, thinking="app.py prints")
        (repo / "src" / "app.py").write_text("print('hello, world')\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py", "old_string": "hello", "new_string": "hello, world"})
        rec.tool_call("Bash", input={"command": "pytest -q"}, output={"stdout": LONG_OUTPUT, "stderr": ""})
        rec.decision("keep print()", reasoning="logging is overkill for one line", alternatives=["logging", "rich"])
        rec.tool_call("Bash", input={"command": "false"}, error="exit code 1", duration_ms=2500)
    return repo


def replay(repo: Path, *args: str) -> str:
    result = trail("replay", *args, cwd=repo)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_step_is_told_with_its_code_change(story: Path) -> None:
    out = replay(story, "story")
    assert out.startswith("session story  python-sdk (claude-test-1), 8 steps, ended\n")
    headers = re.findall(r"^@(\d+) (\w+) · ", out, re.M)
    assert headers == [
        ("1", "session_start"),
        ("2", "prompt"),
        ("3", "response"),
        ("4", "tool_call"),
        ("5", "tool_call"),
        ("6", "decision"),
        ("7", "tool_call"),
        ("8", "session_end"),
    ]
    assert "    Make the app greet the world.\n    Keep the tests passing.\n" in out  # the prompt, whole
    assert "· claude-test-1 · 1200 in / 80 out\n    I'll change app.py, then run the tests." in out
    assert "    Thinking:\n        app.py prints" in out
    assert "    Input:\n        file_path: src/app.py\n        old_string: hello" in out
    assert "    Input:\n        $ pytest -q\n" in out
    # A long output: its start and its end, and a line saying how much was cut and how to see it.
    assert "        line 30 of the test run\n        [… 160 lines" in out
    assert "cut; `trail show --full story@5` shows all]\n        line 191 of the test run" in out
    assert "line 31 of the test run" not in out and "line 200 of the test run" in out
    assert "    Chose: keep print()\n    Reasoning:\n        logging is overkill" in out
    assert "    Alternatives:\n        - logging\n        - rich" in out
    assert "· Bash (2.5 s) failed\n" in out and "    Error:\n        exit code 1" in out
    assert re.search(r"^@8 session_end · [^\n]*\n    session ended: exit\n\Z", out, re.M)
    # The code change of the step that made it, as git prints it; none for the steps that changed nothing.
    edit = out.index("@4 tool_call")
    patch = out.index("diff --git a/src/app.py b/src/app.py")
    assert edit < patch < out.index("@5 tool_call")
    assert "-print('hello')\n+print('hello, world')\n" in out
    assert out.count("diff --git") == 1

    full = replay(story, "story", "--full")
    assert "line 31 of the test run" in full and "[…" not in full


def test_from_starts_at_a_step_and_a_step_address_does_too(story: Path) -> None:
    out = replay(story, "story", "--from", "5")
    assert re.findall(r"^@(\d+) ", out, re.M)[0] == "5"
    assert "replay  steps 5 to" in out
    assert re.findall(r"^@(\d+) ", replay(story, "story@6"), re.M)[0] == "6"
    too_far = trail("replay", "story", "--from", "99", cwd=story)
    assert too_far.returncode == 1 and "has steps 1 to" in too_far.stderr


def test_session_text_cannot_drive_the_terminal(repo: Path) -> None:
    with Recorder(repo, session_id="hostile") as rec:
        rec.prompt("hi \x1b]0;owned\x07 \x1b[2J wipe \u202eevil")
        (repo / "evil.txt").write_text("\x1b[31mred\x1b[0m\n")
        rec.tool_call("Write", input={"file_path": "evil.txt"}, output="\x1b[?1049h")
    raw = subprocess.run([*TRAIL, "replay", "--color", "always"], cwd=repo, capture_output=True, check=True).stdout
    assert b"\x07" not in raw and b"\xe2\x80\xae" not in raw
    assert SGR.sub(b"", raw).count(b"\x1b") == 0  # every escape left is trail's own colouring
    assert b"^[]0;owned^G" in raw and b"^[[2J wipe" in raw and b"^[[?1049h" in raw and b"+^[[31mred" in raw
    assert b"\x1b[32m" in raw and b"\x1b[33m@1" in raw  # coloured as asked: added lines green, numbers yellow
    plain = subprocess.run([*TRAIL, "replay"], cwd=repo, capture_output=True, check=True).stdout
    assert b"\x1b" not in plain  # to a pipe: no colour


def test_diffs_are_read_only_for_steps_whose_tree_changed(story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrative is a stream: a diff is computed for a step that changed code, never for the others."""
    import trail as api
    from trail.views.term import Terminal

    history = api.open(story)
    session = history.session("story")
    asked: list[int] = []
    real_change = narrative.change

    def counting(history: Any, step: Any, term: Any, old_tree: Any = None) -> Any:
        asked.append(step.n)
        return real_change(history, step, term, old_tree)

    monkeypatch.setattr(narrative, "change", counting)
    pieces = narrative.narrate(history, session, Terminal(color="never", paging=False))
    header = next(pieces)
    assert isinstance(header, str) and header.startswith("session story")  # before any step is read
    assert asked == []
    list(pieces)
    assert asked == [4]


def test_trimmed_cuts_the_middle_and_says_how_much() -> None:
    text = "\n".join(str(i) for i in range(100))
    cut = narrative.trimmed(text, "s@1", head=3, tail=2)
    hidden = len(text) - len("0\n1\n2\n") - len("\n98\n99")
    note = f"[… 95 lines, {hidden:,} characters cut; `trail show --full s@1` shows all]"
    assert cut.split("\n") == ["0", "1", "2", note, "98", "99"]
    assert narrative.trimmed("short\ntext", "s@1") == "short\ntext"
    one_long_line = "x" * 10_000
    cut = narrative.trimmed(one_long_line, "s@1", chars=100)
    assert cut.startswith("x" * 100 + "\n[… ") and "characters cut" in cut and len(cut) < 300


# -- through a terminal ---------------------------------------------------------------------------------------------


class Screen:
    """trail run on a pseudo-terminal that is its controlling terminal, as in a shell: keys go in, bytes come out."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None, rows: int = 30) -> None:
        self.primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, bytes([rows, 0, 100, 0, 0, 0, 0, 0]))
        self.before = termios.tcgetattr(secondary)
        self.proc = subprocess.Popen(
            [*TRAIL, *args],
            cwd=cwd,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env={**os.environ, "TERM": "xterm", **(env or {})},
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509 - a test's own child
        )
        self.secondary = secondary
        self.output = b""

    def read_until(self, wanted: bytes, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{wanted!r} never came; the screen has: {self.output[-600:]!r}")
            if select.select([self.primary], [], [], left)[0]:
                try:
                    self.output += os.read(self.primary, 65536)
                except OSError:
                    break
        return self.output

    def press(self, keys: bytes, then: bytes) -> bytes:
        self.output = b""
        os.write(self.primary, keys)
        return self.read_until(then)

    def finish(self) -> int:
        code = self.proc.wait(timeout=15)
        with_timeout = time.monotonic() + 2
        while time.monotonic() < with_timeout and select.select([self.primary], [], [], 0.1)[0]:
            try:
                self.output += os.read(self.primary, 65536)
            except OSError:
                break
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.primary)
        os.close(self.secondary)


@pytest.fixture
def conversation(repo: Path) -> Path:
    with Recorder(repo, session_id="talk", model="m") as rec:
        for turn in range(1, 4):
            rec.prompt(f"prompt number {turn}")
            rec.response(f"answer number {turn}")
            rec.tool_call("Bash", input={"command": f"echo {turn}"}, output="\n".join(f"row {i}" for i in range(80)))
    return repo


def status(screen: bytes) -> str:
    """The status line last drawn: what follows the last switch to reverse video."""
    return screen.rsplit(b"\x1b[7m", 1)[-1].split(b"\x1b[m", 1)[0].decode()


def test_interactive_keys_move_through_the_session(conversation: Path) -> None:
    screen = Screen(["replay", "talk", "--interactive"], conversation)
    try:
        first = screen.read_until(b"@1/11")
        assert b"\x1b[?1049h" in first  # the alternate screen: the shell's screen comes back afterwards
        assert status(screen.press(b"n", b"@2/11")).startswith(" @2/11  prompt  prompt number 1")
        assert b"prompt number 1" in screen.output
        assert status(screen.press(b" ", b"@3/11")).startswith(" @3/11  response")
        assert status(screen.press(b"\x1b[C", b"@4/11")).startswith(" @4/11  tool_call")
        assert status(screen.press(b"]", b"@5/11")).startswith(" @5/11  prompt  prompt number 2")
        assert status(screen.press(b"P", b"@8/11")).startswith(" @8/11  prompt  prompt number 3")
        assert status(screen.press(b"[", b"@5/11")).startswith(" @5/11  prompt")
        assert status(screen.press(b"p", b"@4/11")).startswith(" @4/11")
        assert status(screen.press(b"\x1b[D", b"@3/11")).startswith(" @3/11")
        assert "go to step (1-11): 10" in status(screen.press(b"g10", b": 10"))
        assert status(screen.press(b"\r", b"@10/11")).startswith(" @10/11  tool_call  lines 1-29 of")
        assert b"row 0" in screen.output and b"row 79" not in screen.output  # a long step: its first screen
        assert "lines 2-30 of" in status(screen.press(b"j", b"lines 2-30"))
        screen.press(b":2\r", b"@2/11")
        assert "no prompt before this step" in status(screen.press(b"[", b"no prompt"))
        assert "no step 99" in status(screen.press(b"g99\r", b"no step"))
        assert b"next prompt" in screen.press(b"?", b"Press any key")
        screen.press(b"x", b"@2/11")
        os.write(screen.primary, b"q")
        assert screen.finish() == 0
        assert screen.output.endswith(b"\x1b[?1049l")  # back to the shell's screen, cursor shown
        assert termios.tcgetattr(screen.secondary) == screen.before  # echo and line editing are back
    finally:
        screen.close()


def test_interactive_gives_the_terminal_back_on_ctrl_c_and_on_sigterm(conversation: Path) -> None:
    for stop in ("ctrl-c", "sigterm"):
        screen = Screen(["replay", "talk", "-i", "--from", "4"], conversation)
        try:
            screen.read_until(b"@4/11")
            assert termios.tcgetattr(screen.secondary) != screen.before  # keys are read one by one meanwhile
            if stop == "ctrl-c":
                os.write(screen.primary, b"\x03")
                expected = 130
            else:
                screen.proc.send_signal(signal.SIGTERM)
                expected = 128 + signal.SIGTERM
            assert screen.finish() == expected
            assert b"\x1b[?1049l" in screen.output
            assert termios.tcgetattr(screen.secondary) == screen.before
        finally:
            screen.close()


def test_interactive_needs_a_terminal(conversation: Path) -> None:
    result = trail("replay", "talk", "--interactive", cwd=conversation)
    assert result.returncode == 2
    assert "--interactive needs a terminal" in result.stderr and result.stdout == ""


def test_on_a_terminal_the_replay_goes_through_the_pager(conversation: Path) -> None:
    screen = Screen(["replay", "talk"], conversation, env={"GIT_PAGER": "sed -e 's/^/PAGED: /'", "NO_COLOR": "1"})
    try:
        assert screen.finish() == 0
        lines = screen.output.decode().replace("\r\n", "\n").strip().split("\n")
        assert lines[0].startswith("PAGED: session talk") and all(line.startswith("PAGED:") for line in lines)
        assert "PAGED: @11 session_end" in "\n".join(lines)
    finally:
        screen.close()

"""The terminal as git uses it: a pager, colour only where it helps, lines that fit, and session text made safe.

Text recorded from an agent is untrusted: an escape sequence in a tool's output could move the cursor, retitle the
window or hide lines. `clean` makes control characters visible (`^[` for ESC, as `cat -v` does), shows bidi
overrides as `<U+202E>`, and turns lone surrogates (JavaScript cuts emoji in halves) into U+FFFD.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

RESET = "\x1b[m"
STYLES = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "blue": "\x1b[34m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
    "bold red": "\x1b[1;31m",
    "bold green": "\x1b[1;32m",
}
COLOR_CHOICES = ("auto", "always", "never")

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 64)
    if code == 0x7F:
        return "^?"
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"<U+{code:04X}>"


def _visible_line(match: re.Match[str]) -> str:
    return " " if match.group() in "\t\n\r" else _visible(match)


def clean(text: str, one_line: bool = False) -> str:
    """`text` safe to print: control characters made visible, lone surrogates replaced; with `one_line`, tabs
    and line breaks become spaces."""
    pattern = _UNSAFE_LINE if one_line else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_visible_line if one_line else _visible, text)


# The same, in bytes (diffs): C0 but tab and newline, DEL, and the UTF-8 forms of C1 and bidi controls.
_UNSAFE_BYTES = re.compile(b"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _visible_bytes(match: re.Match[bytes]) -> bytes:
    raw = match.group()
    if len(raw) == 1:
        return b"^?" if raw == b"\x7f" else b"^" + bytes([raw[0] + 64])
    return f"<U+{ord(raw.decode()):04X}>".encode()


def clean_bytes(data: bytes) -> bytes:
    """`clean` for bytes that need not be UTF-8 (a patch): controls made visible, everything else untouched."""
    if _UNSAFE_BYTES.search(data) is None:
        return data
    return _UNSAFE_BYTES.sub(_visible_bytes, data)


def width_of(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    import unicodedata  # only for text that is not ASCII

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, width: int | None) -> str:
    """`text` cut to `width` columns with an ellipsis; unchanged when it fits or there is no width."""
    if width is None or width_of(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    out = []
    used = 0
    for char in text:
        w = _char_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def pager_command(git_config: Any = None) -> str | None:
    """The pager git would use: GIT_PAGER, core.pager, PAGER, then `less`; None for none (`cat` or empty)."""
    command = os.environ.get("GIT_PAGER")
    if command is None and git_config is not None:
        try:
            value = git_config["core.pager"]
            command = value if isinstance(value, str) else None
        except (KeyError, ValueError, Exception):  # noqa: BLE001 - a config libgit2 cannot read means no setting
            command = None
    if command is None:
        command = os.environ.get("PAGER")
    if command is None:
        command = "less"
    command = command.strip()
    return None if command in ("", "cat") else command


def color_wanted(choice: str, to_terminal: bool, git_config: Any = None) -> bool:
    """`--color`: always, never, or auto (a terminal, no NO_COLOR, TERM not dumb, git's color.ui not off)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if not to_terminal or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if git_config is not None:
        try:
            ui = str(git_config["color.ui"]).lower()
        except (KeyError, ValueError, Exception):  # noqa: BLE001
            ui = "auto"
        if ui in ("never", "false", "no", "off", "0"):
            return False
    return True


class Terminal:
    """Where a command's output goes: straight to stdout, or through the pager when stdout is a terminal.

    with Terminal(color="auto", paging=True, git_config=repo.config) as term:
        term.write(term.style("yellow", "@3") + " text\\n")
    """

    def __init__(
        self,
        color: str = "auto",
        paging: bool = True,
        git_config: Any = None,
        stdout: IO[str] | None = None,
    ) -> None:
        self.stdout = stdout or sys.stdout
        try:
            is_tty = self.stdout.isatty()
        except (AttributeError, ValueError):
            is_tty = False
        self.width: int | None = _columns(self.stdout) if is_tty else None
        self._pager: subprocess.Popen[bytes] | None = None
        command = pager_command(git_config) if paging and is_tty else None
        if command is not None:
            self._pager = _start_pager(command)
        self.color = color_wanted(color, is_tty, git_config)
        self.closed = False

    @property
    def paging(self) -> bool:
        return self._pager is not None

    def style(self, name: str, text: str) -> str:
        if not self.color or not text:
            return text
        return STYLES[name] + text + RESET

    def write(self, text: str) -> None:
        """Write already-cleaned text. Raises BrokenPipeError once the reader is gone (the pager quit)."""
        if self._pager is not None:
            assert self._pager.stdin is not None
            self._pager.stdin.write(text.encode("utf-8", "replace"))
        else:
            self.stdout.write(text)

    def write_bytes(self, data: bytes) -> None:
        if self._pager is not None:
            assert self._pager.stdin is not None
            self._pager.stdin.write(data)
        else:
            self.stdout.flush()
            buffer = getattr(self.stdout, "buffer", None)
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
            else:
                self.stdout.write(data.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._pager is not None:
            try:
                assert self._pager.stdin is not None
                self._pager.stdin.close()
            except BrokenPipeError:
                pass
            self._pager.wait()
        else:
            self.stdout.flush()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        with contextlib.suppress(BrokenPipeError):
            self.close()
        # The pager quit before everything was written (`q` in less): that is the reader's choice, not an error.
        return exc_type is BrokenPipeError and self._pager is not None


def _columns(stream: IO[str]) -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        import shutil

        return shutil.get_terminal_size().columns


def _start_pager(command: str) -> subprocess.Popen[bytes] | None:
    import subprocess

    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # as git: quit if one screen, keep colours, do not clear the screen
    env.setdefault("LV", "-c")
    sys.stdout.flush()
    try:
        # The command is the user's own setting (as git runs it: through the shell), never data from a session.
        return subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, env=env)
    except OSError:
        return None

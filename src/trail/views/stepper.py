"""`trail replay --interactive`: a session one step at a time on the whole screen, moved through with single keys.

The terminal is put in raw mode and on the alternate screen for the run, and restored on every way out (a return,
an exception, Ctrl-C, SIGTERM). A step is read and laid out (narrative.py) when it is shown.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import termios
from collections.abc import Iterator
from typing import IO, Any

from trail import events as ev
from trail.api import History, Session
from trail.store.steps import Step
from trail.views.narrative import change, parent_tree, step_text
from trail.views.term import Terminal, clean, fit, width_of

KEYS_HELP = """\
Keys

  n  space  →     next step
  p  ←            previous step
  ]  P            next prompt
  [               previous prompt
  g  :            go to a step by its number
  j  ↓   k  ↑     scroll the step a line
  d  PgDn  u PgUp scroll the step a page
  q               quit
  ?               this help

Press any key to go back."""

_ARROWS = {
    b"\x1b[C": "right",
    b"\x1bOC": "right",
    b"\x1b[D": "left",
    b"\x1bOD": "left",
    b"\x1b[A": "up",
    b"\x1bOA": "up",
    b"\x1b[B": "down",
    b"\x1bOB": "down",
    b"\x1b[5~": "pgup",
    b"\x1b[6~": "pgdn",
}
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_ENTER_SCREEN = "\x1b[?1049h\x1b[?25l"  # the alternate screen (the shell's screen comes back after), no cursor
_LEAVE_SCREEN = "\x1b[m\x1b[?25h\x1b[?1049l"


@contextlib.contextmanager
def raw_keys(fd: int) -> Iterator[None]:
    """The terminal at `fd` reading single keys without echo, restored on every way out: a return, an exception,
    Ctrl-C (still a signal: it ends the stepper as it ends any command) and SIGTERM (made an exception here, so
    that the restoring code runs)."""
    saved = termios.tcgetattr(fd)
    mode = termios.tcgetattr(fd)
    mode[3] &= ~(termios.ICANON | termios.ECHO)
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        termios.tcsetattr(fd, termios.TCSAFLUSH, mode)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGTERM, previous)


class Stepper:
    """`trail replay --interactive`: one step on the screen at a time, moved through with single keys (see
    KEYS_HELP). Steps are read when shown (step N through the step index), so the first screen of a 5,000-step
    session comes as fast as that of a short one."""

    def __init__(
        self,
        history: History,
        session: Session,
        term: Terminal,
        keys: int,
        out: IO[str],
        first: int = 1,
        full: bool = False,
    ) -> None:
        self.history = history
        self.session = session
        self.term = term
        self.keys = keys
        self.out = out
        self.n = first
        self.full = full
        self.handle = history.handle(session.id)
        self.offset = 0  # the first row of the step on the screen
        self.message = ""
        self._rows: tuple[int, int, list[str]] | None = None  # (step, width, rows)
        self._kinds: dict[int, str] = {}  # step number -> kind, for the steps read so far
        self._resized = False

    @property
    def total(self) -> int:
        return self.session.steps

    def run(self) -> None:
        previous = signal.signal(signal.SIGWINCH, self._on_resize)
        try:
            with raw_keys(self.keys):
                self.out.write(_ENTER_SCREEN)
                try:
                    self._loop()
                finally:
                    self.out.write(_LEAVE_SCREEN)
                    self.out.flush()
        finally:
            signal.signal(signal.SIGWINCH, previous)

    def _on_resize(self, signum: int, frame: Any) -> None:
        self._resized = True

    # -- the loop ------------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._draw()
            key = self._key()
            width, height = self._size()
            page = max(height - 2, 1)
            if key in ("q", "\x03", "\x04"):
                return
            if key in ("n", " ", "right"):
                self._go(self.n + 1, "this is the last step")
            elif key in ("p", "left"):
                self._go(self.n - 1, "this is the first step")
            elif key in ("]", "P"):
                self._go(self._prompt(+1), "no prompt after this step")
            elif key == "[":
                self._go(self._prompt(-1), "no prompt before this step")
            elif key in ("g", ":"):
                self._jump()
            elif key in ("j", "down"):
                self.offset += 1
            elif key in ("k", "up"):
                self.offset -= 1
            elif key in ("d", "pgdn"):
                self.offset += page
            elif key in ("u", "pgup"):
                self.offset -= page
            elif key == "?":
                self._help()

    def _go(self, n: int | None, otherwise: str) -> None:
        if n is None or not 1 <= n <= self.total:
            self.message = otherwise
            return
        self.n = n
        self.offset = 0

    def _prompt(self, direction: int) -> int | None:
        """The nearest prompt after (or before) the step shown: steps are read outward from it, as far as needed,
        and each one's kind is remembered."""
        n = self.n + direction
        forward: Iterator[Step] | None = None
        while 1 <= n <= self.total:
            if forward is not None:
                kind = self._kinds[n] = next(forward).kind
            elif n in self._kinds:
                kind = self._kinds[n]
            elif direction > 0:  # one walk forward from here, each step read in turn
                forward = self.history.store.iter_steps(self.session.id, n)
                kind = self._kinds[n] = next(forward).kind
            else:
                kind = self._kinds[n] = self.session.step(n).kind
            if kind == ev.PROMPT:
                return n
            n += direction
        return None

    def _jump(self) -> None:
        typed = ""
        while True:
            self._status(f" go to step (1-{self.total}): {typed}", cursor=True)
            key = self._key()
            if key in ("\r", "\n"):
                break
            if key in ("esc", "q", "\x03", "\x07"):
                return
            if key in ("\x7f", "\x08"):
                typed = typed[:-1]
            elif len(key) == 1 and key.isdigit() and len(typed) < 9:
                typed += key
        if typed:
            self._go(int(typed), f"no step {typed}: the session has steps 1 to {self.total}")

    def _help(self) -> None:
        width, height = self._size()
        rows = KEYS_HELP.split("\n")
        self.out.write("\x1b[H" + "".join(fit(row, width) + "\x1b[K\n" for row in rows[: height - 1]) + "\x1b[J")
        self.out.flush()
        self._key()

    # -- the screen ----------------------------------------------------------------------------------------------

    def _size(self) -> tuple[int, int]:
        try:
            size = os.get_terminal_size(self.out.fileno())
            return max(size.columns, 20), max(size.lines, 3)
        except (OSError, ValueError):
            return 80, 24

    def _step_rows(self, width: int) -> list[str]:
        if self._rows is not None and self._rows[:2] == (self.n, width):
            return self._rows[2]
        step = self.session.step(self.n)
        address = f"{self.handle}@{self.n}"
        pieces = [step_text(step, address, self.term, self.full)]
        before = parent_tree(self.history, step)
        if step.tree != before:
            for piece in change(self.history, step, self.term, before):
                pieces.append(piece.decode("utf-8", "replace") if isinstance(piece, bytes) else piece)
        rows: list[str] = []
        for line in "".join(pieces).rstrip("\n").split("\n"):
            rows += wrap(line.expandtabs(8), width)
        self._rows = (self.n, width, rows)
        return rows

    def _draw(self) -> None:
        width, height = self._size()
        rows = self._step_rows(width)
        room = height - 1
        self.offset = max(0, min(self.offset, len(rows) - room))
        shown = rows[self.offset : self.offset + room]
        screen = "\x1b[H" + "".join(row + "\x1b[m\x1b[K\n" for row in shown) + "\x1b[J"
        self.out.write(screen)
        self._status(self._status_text(len(rows), room))

    def _status_text(self, rows: int, room: int) -> str:
        step = self.session.step(self.n)
        left = f" @{self.n}/{self.total}  {step.kind}  {clean(step.summary, True)}"
        if rows > room:
            left = f" @{self.n}/{self.total}  {step.kind}  lines {self.offset + 1}-{min(self.offset + room, rows)}"
            left += f" of {rows}  {clean(step.summary, True)}"
        if self.message:
            left = f" {self.message}"
            self.message = ""
        return left

    def _status(self, text: str, cursor: bool = False) -> None:
        width, height = self._size()
        hint = "  n next  p prev  ] prompt  g jump  ? help  q quit "
        line = fit(text, max(width - width_of(hint), 10))
        line += " " * max(width - width_of(line) - width_of(hint), 0) + hint
        line = fit(line, width)
        show = "\x1b[?25h" if cursor else "\x1b[?25l"
        if cursor:  # the cursor after the typed digits
            line = fit(text, width)
            self.out.write(f"\x1b[{height};1H\x1b[7m{line}\x1b[m\x1b[K{show}")
        else:
            self.out.write(f"\x1b[{height};1H\x1b[7m{line}\x1b[m{show}")
        self.out.flush()

    # -- keys ----------------------------------------------------------------------------------------------------

    def _key(self) -> str:
        """The next key pressed: a character, or the name of an arrow or page key; "resize" when the window
        changed size meanwhile (the screen is drawn again)."""
        while True:
            if self._resized:
                self._resized = False
                self._rows = None
                return "resize"
            ready, _, _ = select.select([self.keys], [], [], 0.25)
            if ready:
                break
        data = os.read(self.keys, 1)
        if not data:
            return "q"  # the terminal is gone
        if data == b"\x1b":
            more = b""
            while len(more) < 5 and select.select([self.keys], [], [], 0.03)[0]:
                more += os.read(self.keys, 1)
                if (data + more) in _ARROWS or more[-1:].isalpha() or more[-1:] == b"~":
                    break
            return _ARROWS.get(data + more, "esc")
        if data[0] >= 0x80:  # the rest of a character beyond ASCII: not a key trail uses
            while select.select([self.keys], [], [], 0.01)[0] and len(data) < 4:
                data += os.read(self.keys, 1)
            return data.decode("utf-8", "replace")
        return data.decode("ascii", "replace")


def wrap(line: str, width: int) -> list[str]:
    """`line` in rows of at most `width` columns; colour sequences take no room and carry on to the next row."""
    if width_of(_SGR.sub("", line)) <= width:
        return [line]
    rows: list[str] = []
    current: list[str] = []
    used = 0
    style = ""
    at = 0
    while at < len(line):
        match = _SGR.match(line, at)
        if match:
            current.append(match.group())
            style = "" if match.group() in ("\x1b[m", "\x1b[0m") else style + match.group()
            at = match.end()
            continue
        char = line[at]
        w = width_of(char)
        if used + w > width:
            rows.append("".join(current) + ("\x1b[m" if style else ""))
            current, used = [style] if style else [], 0
        current.append(char)
        used += w
        at += 1
    rows.append("".join(current))
    return rows

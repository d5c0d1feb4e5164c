"""aider's chat history (`.aider.chat.history.md`) read into sessions of events.

aider appends Markdown as it goes (aider/io.py of Aider-AI/aider): `# aider chat started at YYYY-MM-DD HH:MM:SS`
opens each run; what the person typed is written as `#### ` lines (`user_input`, each line ending in two spaces, a
Markdown line break); aider's own output as `> ` lines (`tool_output`, `tool_error`, `confirm_ask`: the first line of a
message quoted, its last ending in two spaces); the model's replies as plain Markdown between blank lines
(`ai_output`). The two trailing spaces tell typed lines and aider's lines from a reply's own `####` headings and `>`
quotes, which have none. Among aider's lines, `Tokens: 3.7k sent, 1.5k received. Cost: $0.0020 message, $0.0029
session.` gives a reply's usage (rounded as aider prints it), `Commit e14ab36 <message>` a commit aider made, and
`Applied edit to <file>` an edit. There are no times but the session's start; `.aider.input.history`, beside it,
dates each input (`# 2025-09-22 12:40:59.163135` then `+line`s), and is used when present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from trail import events as ev

AGENT = "aider"
COMMAND = "command"  # an input starting with "/": an aider command, not a prompt for the model
HEADER = re.compile(r"^# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+[kKmM]?) sent"
    r"(?:, (?P<write>[\d.]+[kKmM]?) cache write)?"
    r"(?:, (?P<hit>[\d.]+[kKmM]?) cache hit)?"
    r", (?P<received>[\d.]+[kKmM]?) received\."
    r"(?: Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.)?"
)
_COMMIT = re.compile(r"^Commit ([0-9a-f]{7,40}) (.*)$")
_APPLIED = re.compile(r"^Applied edit to (.+)$")
_DIRTY = re.compile(r"^Committing .+ before applying edits\.$")
_MODEL = re.compile(r"^(?:Main model|Model): (\S+)")
_INPUT_TIME = re.compile(r"^# (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)$")


@dataclass
class Session:
    """One run of aider: where it starts in the file, when, and its events (each with the byte offset after the
    lines it came from, in `history_offset`)."""

    started: datetime
    offset: int  # of its header line
    events: list[ev.Event] = field(default_factory=list)
    index: int = 1  # the runs started in the same second, counted


@dataclass
class _Line:
    text: str  # without its line ending
    end: int  # byte offset after it


def parse(data: bytes, inputs: list[tuple[datetime, str]] | None = None) -> list[Session]:
    """The sessions of a chat history's bytes; `inputs`: the input history's (time, text) entries, to date prompts."""
    lines = _lines(data)
    sessions: list[Session] = []
    i = 0
    while i < len(lines):
        found = HEADER.match(lines[i].text)
        if not found:
            i += 1  # before the first header: nothing aider wrote for a session
            continue
        started = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").astimezone()
        session = Session(started, lines[i - 1].end if i else 0)
        same_second = [s for s in sessions if s.started == started]
        session.index = len(same_second) + 1
        i += 1
        end = i
        while end < len(lines) and not HEADER.match(lines[end].text):
            end += 1
        _Reader(session, lines[i:end], inputs or []).read()
        sessions.append(session)
        i = end
    return sessions


def read_inputs(path: Path) -> list[tuple[datetime, str]]:
    """`.aider.input.history`'s entries (prompt_toolkit's FileHistory): a `# <time>` line, then the input's lines
    each after a `+`."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    entries: list[tuple[datetime, str]] = []
    when: datetime | None = None
    body: list[str] = []
    for line in text.split("\n") + ["# end"]:
        stamp = _INPUT_TIME.match(line) if line.startswith("# ") else None
        if stamp or line == "# end":
            if when is not None:
                entries.append((when, "\n".join(body)))
            body = []
            when = None
            if stamp:
                try:
                    when = datetime.fromisoformat(stamp.group(1)).astimezone()
                except ValueError:
                    when = None
        elif line.startswith("+"):
            body.append(line[1:])
    return entries


def _lines(data: bytes) -> list[_Line]:
    out = []
    position = 0
    for raw in data.split(b"\n"):
        position += len(raw) + 1
        out.append(_Line(raw.rstrip(b"\r").decode("utf-8", "surrogateescape"), min(position, len(data))))
    if data.endswith(b"\n"):
        out.pop()  # after the last newline: nothing
    return out


def _typed(text: str) -> bool:
    return text.startswith("####") and text.endswith("  ") and (len(text) == 6 or text[4] == " ")


class _Reader:
    """Reads one session's lines into its events."""

    def __init__(self, session: Session, lines: list[_Line], inputs: list[tuple[datetime, str]]) -> None:
        self.session = session
        self.lines = lines
        self.inputs = [entry for entry in inputs if entry[0] >= session.started.replace(microsecond=0)]
        self.next_input = 0
        self.time = session.started
        self.model: str | None = None
        self.last_response: ev.Event | None = None
        self.dirty = False  # aider said it commits the person's own changes first

    def read(self) -> None:
        i = 0
        lines = self.lines
        while i < len(lines):
            text = lines[i].text
            if not text.strip():
                i += 1
            elif _typed(text):
                j = i
                while j < len(lines) and _typed(lines[j].text):
                    j += 1
                self._input([line.text[5:].rstrip() if len(line.text) > 5 else "" for line in lines[i:j]], lines[j - 1])
                i = j
            elif text.startswith(">") and (end := self._quoted_end(i)) is not None:
                i = self._status(i, end)
            else:
                j = i
                while j < len(lines) and not self._starts_block(j):
                    j += 1
                self._reply([line.text for line in lines[i:j]], lines[j - 1])
                i = j

    def _quoted_end(self, i: int) -> int | None:
        """Where aider's message starting at line `i` ends; None when it is a reply's own quote.

        A message's later lines are not quoted (only its first gets `> `) and may end in spaces of their own (aider
        pads a multi-line subject); it ends before a blank line, a quoted line or a typed one, and aider's last
        line ends in two spaces where a reply's quote does not."""
        j = i + 1
        while j < len(self.lines):
            text = self.lines[j].text
            if not text.strip() or text.startswith(">") or _typed(text):
                break
            j += 1
        last = self.lines[j - 1].text
        return j if last.endswith("  ") or (j == i + 1 and last.rstrip() == ">") else None

    def _starts_block(self, j: int) -> bool:
        text = self.lines[j].text
        if _typed(text):
            return True
        if text.startswith(">") and self._quoted_end(j) is not None:
            # aider's lines after a reply follow a blank line (ai_output ends with one)
            return j == 0 or not self.lines[j - 1].text.strip()
        return False

    # -- blocks --------------------------------------------------------------------------------------------------

    def _input(self, parts: list[str], last: _Line) -> None:
        text = "\n".join(parts)
        if text == "<blank>":
            text = ""
        self._date(text)
        self.last_response = None
        kind = COMMAND if text.startswith("/") else ev.PROMPT
        payload: dict[str, Any] = {"text": text}
        if kind == COMMAND:
            payload["command"] = text.split(None, 1)[0]
        self._emit(kind, payload, last.end)

    def _reply(self, texts: list[str], last: _Line) -> None:
        text = "\n".join(texts).strip()
        if not text:
            return
        payload = {"text": text, "model": self.model}
        self.last_response = self._emit(ev.RESPONSE, payload, last.end)

    def _status(self, i: int, end: int) -> int:
        """aider's lines from `i` to `end`: usage, commits and edits become steps of their own, the rest a note."""
        messages: list[tuple[str, _Line]] = []
        j = i
        while j < len(self.lines) and self.lines[j].text.startswith(">"):
            stop = self._quoted_end(j)
            if stop is None:
                break
            body = [self.lines[k].text for k in range(j, stop)]
            body[0] = body[0][1:].removeprefix(" ")
            messages.append(("\n".join(line.rstrip() for line in body), self.lines[stop - 1]))
            j = stop
        plain: list[str] = []
        plain_end: _Line | None = None

        def flush_plain() -> None:
            nonlocal plain, plain_end
            if plain_end is not None and any(p.strip() for p in plain):
                self._emit(ev.NOTE, {"text": "\n".join(plain).strip("\n"), "aider_output": True}, plain_end.end)
            plain, plain_end = [], None

        for message, line in messages:
            model = _MODEL.match(message)
            if model:
                self.model = model.group(1)
            if _TOKENS.match(message) or _COMMIT.match(message) or _APPLIED.match(message):
                flush_plain()
                self._special(message, line)
            else:
                if _DIRTY.match(message):
                    self.dirty = True
                plain.append(message)
                plain_end = line
        flush_plain()
        return j

    def _special(self, message: str, line: _Line) -> None:
        tokens = _TOKENS.match(message)
        if tokens:
            usage = {
                "sent": _count(tokens.group("sent")),
                "cache_write": _count(tokens.group("write")),
                "cache_hit": _count(tokens.group("hit")),
                "received": _count(tokens.group("received")),
            }
            fields: dict[str, Any] = {
                # aider's "sent" already holds the cache writes; its counts are rounded as it prints them (1.0k)
                "tokens_in": (usage["sent"] or 0) + (usage["cache_hit"] or 0),
                "tokens_out": usage["received"] or 0,
                "usage": {k: v for k, v in usage.items() if v is not None},
                "usage_report": message,
                "tokens_approximate": any(c in message for c in "kKmM"),
            }
            if tokens.group("message") is not None:
                fields["cost"] = {
                    "message": float(tokens.group("message")),
                    "session": float(tokens.group("session")),
                    "currency": "USD",
                }
            if self.last_response is not None and "tokens_in" not in self.last_response.payload:
                self.last_response.payload.update(fields)
                self.last_response.payload["usage_offset"] = line.end  # where the usage line ends
            else:  # an answer cut off (^C) is counted without its text
                self._emit(ev.RESPONSE, {"model": self.model, **fields}, line.end)
            return
        commit = _COMMIT.match(message)
        if commit:
            kind = "user_commit" if self.dirty else "agent_commit"
            self.dirty = False
            payload = {
                "text": f"Committed {commit.group(1)}: {commit.group(2)}",
                "commit": commit.group(1),
                "subject": commit.group(2),
                "committed_by": "aider",
            }
            self._emit(kind, payload, line.end)
            return
        applied = _APPLIED.match(message)
        if applied:
            self._emit(ev.FILE_EDIT, {"text": message, "path": applied.group(1), "paths": [applied.group(1)]}, line.end)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _date(self, text: str) -> None:
        """The time the input history gives this input (the next entry with its text)."""
        for k in range(self.next_input, len(self.inputs)):
            when, typed = self.inputs[k]
            if typed.strip() == text.strip():
                self.next_input = k + 1
                self.time = max(self.time, when)
                return

    def _emit(self, kind: str, payload: dict[str, Any], end: int) -> ev.Event:
        payload["history_offset"] = end
        event = ev.Event(
            kind=kind,
            payload={k: v for k, v in payload.items() if v is not None},
            time=self.time,
            agent=AGENT,
        )
        self.session.events.append(event)
        return event


def _count(value: str | None) -> int | None:
    """aider's rounded counts: 310, 1.0k, 11k, 1.2M."""
    if value is None:
        return None
    scale = {"k": 1000, "m": 1_000_000}.get(value[-1].lower(), 1)
    number = value[:-1] if scale != 1 else value
    return round(float(number) * scale)

"""The session files `trail import` reads, one format per agent, and how a file is recognised.

A format is a module of trail.adapters named in FORMATS, imported only when used, with:

- `TITLE`: what the files are and where the agent keeps them, one line (for messages and --help);
- `sniff(head: bytes, path: Path) -> bool`: whether a file starting with `head` (its first SNIFF_BYTES) is in this
  format. Cheap and strict: it decides what `trail import PATH` does with a file, and a file no format claims is
  refused with nothing recorded, so it must not claim what it cannot import;
- `import_path(repo, path) -> ImportResult`: record the file as a session, or continue an earlier import of it
  (what was recorded is never recorded twice);
- `find_all(repo) -> list[Path]`: the files of sessions run in this repository (for `--all`), parents before
  subagents; `LOCATION`: where it looks, for the message when it finds none.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from trail.errors import TrailError

SNIFF_BYTES = 64 << 10

# name -> module, in the order `trail import` tries them and lists them.
FORMATS = {
    # Before claude: a Gemini chat of one message would pass Claude Code's looser test (its first line has a sessionId).
    "gemini": "trail.adapters.gemini_import",
    "claude": "trail.adapters.claude_import",
    "codex": "trail.adapters.codex_import",
    "aider": "trail.adapters.aider_import",
    "otlp": "trail.adapters.otel_import",
}


@dataclass(frozen=True)
class ImportResult:
    path: Path
    session_id: str
    added: int  # steps recorded by this import
    note: str = ""  # why nothing was added, when nothing was
    packs: tuple[Path, ...] = ()  # packs the import wrote (merged afterwards)


class UnknownFormatError(TrailError):
    pass


def module(name: str) -> ModuleType:
    return importlib.import_module(FORMATS[name])


def head(path: Path) -> bytes:
    """The first bytes of a file, to recognise it by; a folder, a device or a pipe is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TrailError(f"{path} is not a regular file")
        return os.read(fd, SNIFF_BYTES)
    finally:
        os.close(fd)


def detect(path: Path) -> str | None:
    """The format of the file at `path`, or None when no format trail knows claims it."""
    data = head(path)
    for name in FORMATS:
        if module(name).sniff(data, path):
            return name
    return None


def known() -> str:
    """The formats trail reads, for a message."""
    return "; ".join(f"{name}: {module(name).TITLE}" for name in FORMATS)


def check(name: str, path: Path) -> None:
    """Refuse a file that is not in the format `name`, naming the format it is in if trail knows it."""
    if module(name).sniff(head(path), path):
        return
    other = detect(path)
    hint = f" It looks like {other}: `trail import {other} {path}` (or `trail import {path}`)." if other else ""
    raise UnknownFormatError(f"{path} is not {module(name).TITLE}; nothing was recorded.{hint}")

"""Reading a transcript of JSON lines incrementally: whole lines only, from a byte offset, in bounded memory.

An agent writes its transcript while trail reads it: a last line with no newline yet is left for the next read (or
marked `partial`), a line too long to hold is skipped and said so, and only regular files are opened, so that a
path a payload names can never hang the reader on a FIFO or a device.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Line:
    """One transcript line: its JSON (None if it does not parse), its raw bytes, and the byte offset just after
    it (its newline included). `partial`: the file's last line, with no newline yet."""

    data: dict[str, Any] | None
    raw: bytes
    end: int = 0
    partial: bool = False


READ_LIMIT = 16 << 20  # bytes of a transcript one hook call reads; the rest waits for the next call
LINE_LIMIT = 128 << 20  # a line longer than this is skipped (and said so), not read into memory


def open_regular(path: str | Path) -> int:
    """A descriptor on `path` if it is a regular file. Opened without blocking and checked after opening, so that
    a FIFO or a device (named by a hostile payload, or swapped in meanwhile) never hangs or floods the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_lines(path: str | Path, offset: int, final: bool = False, limit: int = READ_LIMIT) -> tuple[list[Line], int]:
    """Complete lines from byte `offset` on (at most about `limit` bytes of them), and the offset after them. A last
    line with no newline yet is left for the next read, unless `final` (the file is finished: it is returned, and
    will not parse). Only regular files are read."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        f.seek(offset)
        data = f.read(limit)
        if len(data) == limit and b"\n" not in data:
            # One line longer than the limit: read on to its end, up to LINE_LIMIT, else skip past it.
            more = f.read(LINE_LIMIT - limit)
            data += more
            end = data.find(b"\n")
            if end < 0:
                skipped = len(data)
                while chunk := f.read(1 << 20):
                    cut = chunk.find(b"\n")
                    skipped += len(chunk) if cut < 0 else cut + 1
                    if cut >= 0:
                        break
                note = json.dumps({"type": "trail-skipped-line", "bytes": skipped}).encode()
                return [Line(None, note[:200], offset + skipped)], offset + skipped
            data = data[: end + 1]
        eof = not f.read(1)
    if not data:
        return [], offset
    cut = data.rfind(b"\n") + 1
    lines = _parse_lines(data[:cut], offset)
    consumed = cut
    if final and eof and data[cut:].strip():
        lines += _parse_lines(data[cut:], offset + cut, partial=True)
        consumed = len(data)
    return lines, offset + consumed


def iter_lines(path: str | Path, offset: int = 0, chunk: int = 4 << 20) -> Iterator[list[Line]]:
    """A whole file's lines from byte `offset`, in lists of about `chunk` bytes, so that memory stays bounded
    however large the file is. A last line without a newline is included, marked `partial`."""
    for data, at, whole in iter_blocks(path, offset, chunk):
        yield _parse_lines(data, at, partial=not whole)


def iter_blocks(path: str | Path, offset: int = 0, chunk: int = 4 << 20) -> Iterator[tuple[bytes, int, bool]]:
    """A file's bytes from `offset` on, in blocks of whole lines of about `chunk` bytes, each with its file offset;
    last, a line without its newline (not blank), with `whole` False."""
    with os.fdopen(open_regular(path), "rb") as f:
        f.seek(offset)
        rest = b""
        at = offset  # the file offset of `rest`
        while True:
            data = f.read(chunk)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut], at, True
                at += cut
        if rest.strip():
            yield rest, at, False


def _parse_lines(data: bytes, base: int, partial: bool = False) -> list[Line]:
    """The lines of `data` (which starts at file offset `base`), blank ones left out."""
    lines = []
    pos = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl + 1
        raw = data[pos:end].rstrip(b"\n")
        pos = end
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            parsed = None
        lines.append(Line(parsed if isinstance(parsed, dict) else None, raw, base + end, partial and nl < 0))
    return lines


def json_objects(lines: list[bytes]) -> list[dict[str, Any]] | None:
    """Each line's JSON object; None as soon as one is not a JSON object (the file is not JSON lines of objects)."""
    parsed = []
    for raw in lines:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        parsed.append(data)
    return parsed

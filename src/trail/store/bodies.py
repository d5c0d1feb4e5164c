"""Large values of an event kept as blobs beside its step, so that no object trail writes is larger than
`store.maxObjectSize`: taken out when a step is encoded, put back when it is read.

A string of the payload of 1 MiB or more (UTF-8), and, when the record would still be too large for its commit,
the largest remaining values, leave the `trail-event` header: each is written as UTF-8 text (a string) or JSON
(any other value) cut into blobs of at most the limit, and its place in the event holds a reference,
`{"trail_body": {"blobs": [...], "size": N, "sha256": "...", "type": "text"|"json"}}`. The record lists where
(`"bodies": [["payload", "output"], ...]`, paths of keys and list indexes in `event`): only those places are
read as references, so a payload that holds such an object itself is read back as it came.

The blobs are kept reachable as attachments are (store/attachments.py): by commits that hang from the step as its
last parent, named in the record as `attachments_commit`. They form a chain, each commit (header `trail-body`)
holding blobs of at most the limit in all, its parent the one before (the first sits on the step's attachment
commit, if it has one, or on nothing). A push can then send the chain one commit at a time, each pack below the
limit (share/stages.py). Redaction runs on the whole event before any of this (capture/writer.py), so a secret cut
in two by a blob boundary is still found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pygit2.enums import ObjectType

from trail import events as ev
from trail.store import attachments, objectsize
from trail.store.format import MalformedStep, signature
from trail.store.pack import object_id

HEADER = attachments.BODY_HEADER
REF_KEY = "trail_body"
FIELD = "bodies"  # the record's list of places in `event` that hold a reference
# Fields of the event that say what it is; only the payload and unknown fields are taken out.
_KEPT = frozenset(("schema", "kind", "time", "session", "step", "agent", attachments.FIELD))
_SMALLEST = 256  # a value this small (JSON bytes) is never taken out: its reference would be about as large
_REF_SIZE = 200  # bytes of JSON a reference takes, about

Path = list[str | int]


@dataclass
class Spill:
    """A record with its large values taken out, and the blobs that hold them, in order."""

    record: dict[str, Any]
    blobs: list[tuple[str, bytes]] = field(default_factory=list)  # (id, content)

    @property
    def size(self) -> int:
        return sum(len(data) for _, data in self.blobs)


def spill(record: dict[str, Any], header: str, limit: int) -> Spill | None:
    """`record` with its large values taken out (see the module docstring), or None when its `trail-event`
    header (`header`, already encoded) keeps it whole. The commit holding the record stays below `limit`."""
    threshold = objectsize.spill_at(limit)
    if len(header) < threshold:  # no value takes more UTF-8 bytes than its ASCII JSON: none is large
        return None
    normalized = json.loads(header)  # JSON types only, as it would read back
    event = normalized["event"]
    out = Spill(normalized)
    paths: list[Path] = []
    for path, value in _large_strings(event, threshold):
        paths.append(path)
        _put(event, path, _take(value, out, limit))
    budget = limit // 2  # the rest of the commit (summary, message cut at 20,000 characters a field) fits beside
    size = len(ev.dumps(normalized)) if paths else len(header)
    if size > budget:
        candidates: list[tuple[int, Path]] = []
        for key, value in event.items():
            if key not in _KEPT:
                _measure(value, [key], candidates)
        candidates.sort(key=lambda c: -c[0])
        chosen: list[Path] = []
        for found, path in candidates:
            if size <= budget:
                break
            if found < _SMALLEST or path == ["payload"] or any(_nested(path, o) for o in (*paths, *chosen)):
                continue
            chosen.append(path)
            size -= found - _REF_SIZE
        for path in chosen:
            paths.append(path)
            _put(event, path, _take(_get(event, path), out, limit))
    if not paths:
        return None
    normalized[FIELD] = paths
    return out


def resolve(record: dict[str, Any], read: Callable[[str], bytes]) -> dict[str, Any]:
    """`record` with every value its `bodies` lists put back (read from the blobs by `read`); MalformedStep when
    a blob is missing or the value it holds is not the one written."""
    paths = record.get(FIELD)
    if not paths:
        return record
    if not isinstance(paths, list):
        raise MalformedStep(f"its record's {FIELD!r} is not a list")
    out = dict(record)
    del out[FIELD]
    out["event"] = event = dict(record["event"])
    for path in paths:
        ref = reference(event, path)
        data = b"".join(read(blob) for blob in ref["blobs"])
        if len(data) != ref.get("size") or hashlib.sha256(data).hexdigest() != ref.get("sha256"):
            raise MalformedStep(f"the value at {_shown(path)} does not match its blobs (size or sha256)")
        value = data.decode("utf-8", "surrogatepass") if ref.get("type") == "text" else json.loads(data)
        _put(event, path, value, copy=True)
    return out


def reference(event: dict[str, Any], path: Any) -> dict[str, Any]:
    """The reference at `path` in `event` ({"blobs", "size", "sha256", "type"}); MalformedStep if there is none."""
    try:
        ref = _get(event, path)[REF_KEY]
        blobs = ref["blobs"]
    except (KeyError, IndexError, TypeError):
        raise MalformedStep(f"its record names a large value at {_shown(path)}, and none is there") from None
    if not isinstance(blobs, list) or not all(isinstance(b, str) and len(b) == 40 for b in blobs):
        raise MalformedStep(f"the large value at {_shown(path)} names no blobs")
    return dict(ref)


def blobs_of(record: dict[str, Any]) -> list[str]:
    """The blobs that hold the record's large values (those of a stored record, not one already resolved)."""
    paths = record.get(FIELD)
    if not isinstance(paths, list):
        return []
    return [blob for path in paths for blob in reference(record["event"], path)["blobs"]]


def side_chain(
    blobs: list[tuple[str, bytes]],
    limit: int,
    session_id: str,
    n: int,
    when: datetime,
    committer: tuple[str, str],
    parent: str | None,
) -> list[tuple[ObjectType, bytes]]:
    """The blobs, and the chain of commits that keeps them reachable, each holding at most `limit` bytes of them
    (the last commit last: it is the step's side parent). `parent` is where the chain begins (the step's
    attachment commit), if anywhere."""
    objects: list[tuple[ObjectType, bytes]] = []
    groups: list[dict[str, int]] = []
    seen: set[str] = set()
    for blob, data in blobs:
        if blob in seen:
            continue
        seen.add(blob)
        if not groups or (groups[-1] and sum(groups[-1].values()) + len(data) > limit):
            groups.append({})
        groups[-1][blob] = len(data)
        objects.append((ObjectType.BLOB, data))
    who = signature(committer[0], committer[1], when)
    for part, group in enumerate(groups, 1):
        tree = b"".join(b"100644 " + f"{blob}.body".encode() + b"\0" + bytes.fromhex(blob) for blob in sorted(group))
        tree_id = object_id(ObjectType.TREE, tree).hex()
        where = ev.dumps({"session": session_id, "step": n, "part": part, "parts": len(groups)})
        listed = "\n".join(f"- {blob}: {size:,} bytes" for blob, size in group.items())
        message = (
            f"body: part {part} of {len(groups)} of the large values of step {n}\n\n"
            f"Values of step {n} of trail session {session_id} too large for its commit, kept as blobs: its "
            "trail-event header names them, in order, where each value was (`trail show` puts them back).\n\n"
            f"{listed}\n"
        )
        head = f"tree {tree_id}\n" + (f"parent {parent}\n" if parent else "") + f"author {who}\ncommitter {who}\n"
        commit = head.encode() + HEADER + b" " + where.encode("ascii") + b"\n\n" + message.encode("utf-8", "replace")
        objects += [(ObjectType.TREE, tree), (ObjectType.COMMIT, commit)]
        parent = object_id(ObjectType.COMMIT, commit).hex()
    return objects


def is_body_commit(raw: bytes) -> bool:
    """Whether the commit object `raw` is one of a step's body commits (by its header, never by its message)."""
    end = raw.find(b"\n\n")
    return (b"\n" + HEADER + b" ") in raw[: end if end >= 0 else len(raw)]


# -- taking values out -------------------------------------------------------------------------------------------


def _take(value: Any, out: Spill, limit: int) -> dict[str, Any]:
    """Write `value` into blobs of at most `limit` bytes (queued on `out`) and return its reference."""
    if isinstance(value, str):
        data, kind = value.encode("utf-8", "surrogatepass"), "text"
    else:
        data, kind = ev.dumps(value).encode("ascii"), "json"
    blobs = []
    for start in range(0, max(len(data), 1), limit):
        piece = data[start : start + limit]
        blob = attachments.blob_id(piece)
        blobs.append(blob)
        out.blobs.append((blob, piece))
    return {REF_KEY: {"blobs": blobs, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "type": kind}}


def _large_strings(event: dict[str, Any], threshold: int) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, str):
            # A character takes at most 4 bytes of UTF-8: shorter strings are not even encoded to be measured.
            if len(value) * 4 >= threshold and len(value.encode("utf-8", "surrogatepass")) >= threshold:
                found.append((path, value))
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, [*path, key])
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, [*path, i])

    for key, value in event.items():
        if key not in _KEPT:
            walk(value, [key])
    return found


def _measure(value: Any, path: Path, out: list[tuple[int, Path]]) -> int:
    """The size of `value` as JSON (ASCII, compact); each string, list and object under it is listed in `out`
    with its own."""
    if isinstance(value, dict):
        size = 2 + max(len(value) - 1, 0)
        for key, inner in value.items():
            size += len(ev.dumps(key)) + 1 + _measure(inner, [*path, key], out)
    elif isinstance(value, list):
        size = 2 + max(len(value) - 1, 0)
        for i, inner in enumerate(value):
            size += _measure(inner, [*path, i], out)
    elif isinstance(value, str):
        size = len(ev.dumps(value))
    else:
        return len(ev.dumps(value))
    out.append((size, path))
    return size


def _nested(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _get(event: Any, path: Any) -> Any:
    node = event
    for key in path:
        node = node[key]
    return node


def _put(event: dict[str, Any], path: Path, value: Any, copy: bool = False) -> None:
    """Set the value at `path`; with `copy`, the containers along it are copied first (the record read from the
    commit stays as it was)."""
    node: Any = event
    for key in path[:-1]:
        inner = node[key]
        if copy:
            inner = dict(inner) if isinstance(inner, dict) else list(inner)
            node[key] = inner
        node = inner
    node[path[-1]] = value


def _shown(path: Any) -> str:
    return ".".join(str(p) for p in path) if isinstance(path, list) else repr(path)

"""Binary attachments of a step (a pasted image, a PDF a tool read) kept as git blobs that travel with the session.

A step's tree is exactly the working tree, and git keeps an object only while a ref reaches it through commits,
their parents and their trees: a blob named only in a header is neither pushed nor kept by `git gc`. So a step
with attachments gets one more parent, last: a root commit of its own (no parents, so it brings nothing else
along) whose tree holds the blobs as `<blob id>.<ext>`, and whose message says what they are. `git push` of the
session ref, `git bundle` and `git gc --prune=now` keep them as they keep any parent, with nothing for trail to
maintain. The first parent is still the previous step, so `S~1`, `git diff S~1 S` and `git log --first-parent`
read as before; plain `git log` also lists the attachment commits and `--graph` draws such a step as a merge.
(Rejected: a second ref per session, which a push of the session ref alone would not carry; entries under a
reserved path in the step's own tree, which would stop it from being the working tree.)

The event lists its blobs (`attachments`, beside `payload`: [{"blob", "media_type", "size"}]) and the payload
refers to each where it was (an image block's `source.trail_blob`). Only trail's own adapters fill that list,
never text an agent wrote, so nothing in a transcript can make another object of the repository reachable from a
session (and pushed with it). Attachments are bytes: redaction reads text and never sees them.

A step whose event has values too large for its commit (store/bodies.py) hangs them from the same last parent:
a chain of `trail-body` commits, the first sitting on the attachment commit (when there is one), the last being
the step's parent, still named `attachments_commit`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pygit2.enums import ObjectType

from trail import events as ev
from trail.errors import TrailError
from trail.events import Event
from trail.store.format import signature
from trail.store.pack import object_id

HEADER = b"trail-attachments"
BODY_HEADER = b"trail-body"  # the commits that hold a step's large values (store/bodies.py), above this one
FIELD = "attachments"  # the event's own field (Event.extra) listing its blobs
_BLOB_RE = re.compile(r"^[0-9a-f]{40}$")
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/svg+xml": "svg",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def blob_id(data: bytes) -> str:
    """The id git gives a blob holding `data` (what the store will write it as)."""
    return object_id(ObjectType.BLOB, data).hex()


def entry(blob: str, media_type: str, size: int) -> dict[str, Any]:
    """One item of an event's attachment list."""
    return {"blob": blob, "media_type": media_type, "size": size}


def declared(event: Event) -> list[dict[str, Any]]:
    """The attachments `event` lists, checked; TrailError if the list is not one trail could have written."""
    items = event.extra.get(FIELD)
    if items is None:
        return []
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("blob"), str) and _BLOB_RE.match(i["blob"]) for i in items
    ):
        raise TrailError(f"the event's {FIELD!r} is not a list of blob ids; it cannot be recorded")
    return items


def attach(event: Event, items: list[dict[str, Any]]) -> None:
    """Make `items` the attachments of `event` (each blob once, in the order first met)."""
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item["blob"], item)
    if seen:
        event.extra[FIELD] = list(seen.values())
    else:
        event.extra.pop(FIELD, None)


def side_commit(
    items: list[dict[str, Any]],
    session_id: str,
    n: int,
    when: datetime,
    committer: tuple[str, str],
    exists: Callable[[str], bool],
) -> list[tuple[ObjectType, bytes]]:
    """The tree and the root commit that keep `items` reachable from step `n` (the commit last), to be written
    before the step. `exists` says whether a blob is in the repository already (or queued with the step):
    a step never names a blob it does not carry."""
    missing = [i["blob"] for i in items if not exists(i["blob"])]
    if missing:
        raise TrailError(f"attachment blob {missing[0]} is not in the repository; write it before its step")
    names = sorted((f"{i['blob']}.{_extension(i.get('media_type'))}".encode(), bytes.fromhex(i["blob"])) for i in items)
    tree = b"".join(b"100644 " + name + b"\0" + oid for name, oid in names)
    tree_id = object_id(ObjectType.TREE, tree).hex()
    who = signature(committer[0], committer[1], when)
    where = ev.dumps({"session": session_id, "step": n})
    lines = "\n".join(f"- {i['blob']}: {i.get('media_type') or 'bytes'}, {_size(i.get('size'))}" for i in items)
    count = f"{len(items)} attachment" + ("s" if len(items) != 1 else "")
    message = (
        f"attachments: {count} of step {n}\n\n"
        f"The binary attachments of step {n} of trail session {session_id}, kept as this commit's blobs: a "
        "step's tree is exactly the working tree, so they hang from the step as its last parent.\n\n"
        f"{lines}\n"
    )
    head = f"tree {tree_id}\nauthor {who}\ncommitter {who}\n".encode()
    commit = head + HEADER + b" " + where.encode("ascii") + b"\n\n" + message.encode("utf-8", "replace")
    return [(ObjectType.TREE, tree), (ObjectType.COMMIT, commit)]


def is_side_commit(raw: bytes) -> bool:
    """Whether the commit object `raw` is a step's attachment commit, or one of the commits holding its large
    values (store/bodies.py), by its header, never by its message."""
    end = raw.find(b"\n\n")
    headers = raw[: end if end >= 0 else len(raw)]
    return (b"\n" + HEADER + b" ") in headers or (b"\n" + BODY_HEADER + b" ") in headers


def _extension(media_type: Any) -> str:
    return _EXTENSIONS.get(str(media_type), "bin")


def _size(size: Any) -> str:
    return f"{size:,} bytes" if isinstance(size, int) else "size unknown"

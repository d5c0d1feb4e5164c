"""Short handles for session ids, as git abbreviates commit ids, and the ids a typed name matches.

Ids that are UUIDs are shown abbreviated: a random UUID by its shortest unique prefix (at least 8 characters), a
time-ordered UUID (version 7, the ids trail makes) by its random last group instead, since such ids share their
leading, time-based characters. A child session (`<id>.agent-<agent>`) is its parent's handle followed by the rest
of its id. Pure Python, so that light commands (search) can name sessions without loading pygit2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_HANDLE = 8
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-([0-9a-f]{12})$")


def _tail(root: str) -> str | None:
    """The random last group of a version-7 UUID, which is what tells such ids apart."""
    match = _UUID.match(root)
    return match.group(2) if match and match.group(1) == "7" else None


class Handles:
    """Short unique handles for a set of session ids, and the ids a typed name matches."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = sorted(set(ids))
        self._roots = sorted({sid.partition(".")[0] for sid in self.ids})
        keys = [(root, root) for root in self._roots]
        keys += [(tail, root) for root in self._roots if (tail := _tail(root)) is not None]
        keys.sort()
        need: dict[tuple[str, str], int] = {}
        for i, (key, root) in enumerate(keys):
            longest = 0
            for j in (i - 1, i + 1):
                if 0 <= j < len(keys) and keys[j][1] != root:
                    longest = max(longest, _common(key, keys[j][0]))
            need[(key, root)] = longest + 1
        self._handles: dict[str, str] = {}
        for root in self._roots:
            tail = _tail(root)
            if tail is not None and need[(tail, root)] <= len(tail):
                self._handles[root] = tail[: max(MIN_HANDLE, need[(tail, root)])]
            elif _UUID.match(root) and need[(root, root)] < len(root):
                self._handles[root] = root[: max(MIN_HANDLE, need[(root, root)])]
            else:
                self._handles[root] = root  # not a UUID: people chose it, and it is shown as it is

    def handle(self, session_id: str) -> str:
        root, dot, rest = session_id.partition(".")
        return self._handles.get(root, root) + dot + rest

    def matches(self, text: str) -> list[str]:
        """The ids `text` names: itself, ids it is a prefix of, or ids whose handle it starts."""
        if text in self.ids:
            return [text]
        root_text, dot, rest = text.partition(".")
        roots = [r for r in self._roots if r.startswith(root_text)]
        roots += [r for r in self._roots if (t := _tail(r)) is not None and t.startswith(root_text) and r not in roots]
        found: list[str] = []
        for root in roots:
            if dot:
                found += [sid for sid in self.ids if sid.startswith(root + "." + rest)]
            elif root in self.ids:
                found.append(root)  # a parent and its subagents: the name means the parent
            else:
                found += [sid for sid in self.ids if sid.startswith(root + ".")]
        return found


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

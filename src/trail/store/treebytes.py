"""Tree objects as bytes: their entries read from and written back to git's encoding without libgit2.

Walks that visit every distinct tree of a session once (verify, scrub) read thousands of trees; parsing the raw
object here costs less than building a libgit2 object per entry, and writing it back keeps every entry it does not
change byte for byte (order, modes, names that are not UTF-8).
"""

from __future__ import annotations

from typing import NamedTuple

TREE_MODE = b"40000"
GITLINK_MODE = b"160000"


class Entry(NamedTuple):
    mode: bytes  # as git writes it: b"100644", b"100755", b"120000", b"40000", b"160000"
    name: bytes
    oid: bytes  # 20 bytes

    @property
    def is_tree(self) -> bool:
        return self.mode == TREE_MODE

    @property
    def is_gitlink(self) -> bool:
        return self.mode == GITLINK_MODE


class MalformedTree(ValueError):
    """Bytes that are not a tree object's content."""


def entries(raw: bytes) -> list[Entry]:
    """The entries of a tree object, in the order stored."""
    out = []
    pos = 0
    size = len(raw)
    while pos < size:
        space = raw.find(b" ", pos)
        nul = raw.find(b"\0", space + 1)
        if space < 0 or nul < 0 or nul + 21 > size:
            raise MalformedTree(f"entry at byte {pos} is cut short")
        out.append(Entry(raw[pos:space], raw[space + 1 : nul], raw[nul + 1 : nul + 21]))
        pos = nul + 21
    return out


def encode(items: list[Entry]) -> bytes:
    """A tree object's content from its entries, which must already be in git's order (as `entries` gives them:
    dropping entries or changing their ids keeps that order)."""
    return b"".join(e.mode + b" " + e.name + b"\0" + e.oid for e in items)

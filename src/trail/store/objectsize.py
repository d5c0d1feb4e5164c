"""The largest git object trail writes (`store.maxObjectSize`), so that every session can be pushed to a git host.

GitHub refuses objects over 100 MB and warns from 50 MB; other hosts cap a whole push (`receive.maxInputSize`).
The default, 32 MiB, is below both. Large event values are stored in pieces no larger than this (store/bodies.py),
snapshots leave out files larger than it, and `trail push` sends packs no larger than it (share/stages.py).
"""

from __future__ import annotations

from typing import Any

MINIMUM = 1024 * 1024
SPILL_AT = 1024 * 1024  # a value this large (UTF-8 bytes) leaves the commit for blobs, whatever the limit
REASON = "larger than store.maxObjectSize"  # the reason given for a file a snapshot leaves out by this limit


def max_object_size(config: Any) -> int:
    """The configured limit (config.py checks it: a size of at least 1 MiB, else the default is used)."""
    return max(int(config.max_object_size), MINIMUM)


def spill_at(limit: int) -> int:
    """Values this large (UTF-8 bytes) are stored as blobs: 1 MiB, or less under a small limit."""
    return min(SPILL_AT, limit // 8)


def snapshot_limit(config: Any) -> tuple[int, int]:
    """The size above which a snapshot leaves a file out: snapshot.maxFileSize, clamped to the object limit; and
    the object limit itself (a file left out only by it is listed with REASON)."""
    objects = max_object_size(config)
    return min(config.max_file_size, objects), objects

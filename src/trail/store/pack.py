"""Writing many objects at once as one git pack, instead of one loose file each.

A pack (`objects/pack/pack-<hash>.pack`) and its index (`.idx`, version 2) are what `git repack` would write,
without deltas: the objects are compressed one by one and held in memory up to a bound, then written in one go.
The pack file is renamed into place before its index, so a reader never finds an index without its pack, and a
crash leaves at most a temporary file (`tmp_trail_*`, which `git gc` removes) and no object a ref points to.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pygit2.enums import ObjectType

_TYPE_NAMES = {ObjectType.COMMIT: b"commit", ObjectType.TREE: b"tree", ObjectType.BLOB: b"blob", ObjectType.TAG: b"tag"}
_IN_THREAD = 64 * 1024  # objects this large are compressed by a second thread
_COMPRESSION = 1  # zlib's fastest level: the objects are JSON and text, and git gc recompresses with deltas anyway


def object_id(kind: ObjectType, data: bytes) -> bytes:
    """The binary id git gives an object of `kind` holding `data`."""
    return hashlib.sha1(_TYPE_NAMES[kind] + b" %d\0" % len(data) + data).digest()


class PackWriter:
    """Collects objects and writes them as one pack into a repository's object store."""

    def __init__(self, objects_dir: str | os.PathLike[str]) -> None:
        self.pack_dir = Path(objects_dir) / "pack"
        self._ids: list[bytes] = []
        self._headers: list[bytes] = []
        self._deflated: list[bytes | Future[bytes]] = []
        self._seen: set[bytes] = set()
        self._compressor: ThreadPoolExecutor | None = None
        self.size = 0

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, kind: ObjectType, data: bytes) -> str:
        """Queue an object; returns its id (hex). Adding the same object twice stores it once.

        zlib lets go of the interpreter while it compresses, so a second thread compresses large objects while
        this one goes on building the next; small ones are compressed here, where handing them over would cost
        more than compressing them."""
        oid = object_id(kind, data)
        if oid not in self._seen:
            self._seen.add(oid)
            self._ids.append(oid)
            self._headers.append(_entry_header(int(kind), len(data)))
            if len(data) < _IN_THREAD:
                self._deflated.append(zlib.compress(data, _COMPRESSION))
            else:
                if self._compressor is None:
                    self._compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trail-pack")
                self._deflated.append(self._compressor.submit(zlib.compress, data, _COMPRESSION))
            self.size += len(data)
        return oid.hex()

    def finish(self) -> Path | None:
        """Write the queued objects as a pack and its index; returns the pack's path (None if nothing was queued).
        The writer is empty again afterwards."""
        if not self._ids:
            return None
        self.pack_dir.mkdir(parents=True, exist_ok=True)
        ids, headers, deflated = self._ids, self._headers, self._deflated
        self._ids, self._headers, self._deflated, self._seen, self.size = [], [], [], set(), 0
        digest = hashlib.sha1()
        offsets: list[tuple[bytes, int, int]] = []  # (id, crc32, offset)
        fd, tmp_pack = tempfile.mkstemp(prefix="tmp_trail_", suffix=".pack", dir=self.pack_dir)
        tmp_idx = tmp_pack[: -len(".pack")] + ".idx"
        try:
            with os.fdopen(fd, "wb") as out:
                header = b"PACK" + struct.pack(">II", 2, len(ids))
                digest.update(header)
                out.write(header)
                offset = len(header)
                for oid, entry_header, data in zip(ids, headers, deflated, strict=True):
                    entry = entry_header + (data if isinstance(data, bytes) else data.result())
                    offsets.append((oid, zlib.crc32(entry), offset))
                    digest.update(entry)
                    out.write(entry)
                    offset += len(entry)
                checksum = digest.digest()
                out.write(checksum)
                out.flush()
                os.fsync(out.fileno())
            with open(tmp_idx, "wb") as out:
                out.write(_index(offsets, checksum))
                out.flush()
                os.fsync(out.fileno())
            name = self.pack_dir / f"pack-{checksum.hex()}"
            for tmp, suffix in ((tmp_pack, ".pack"), (tmp_idx, ".idx")):
                os.chmod(tmp, 0o444)
                os.replace(tmp, name.with_suffix(suffix))
            return name.with_suffix(".pack")
        finally:
            self._stop_compressor()
            for tmp in (tmp_pack, tmp_idx):
                if os.path.exists(tmp):
                    os.unlink(tmp)

    def discard(self) -> None:
        self._ids, self._headers, self._deflated, self._seen, self.size = [], [], [], set(), 0
        self._stop_compressor()

    def _stop_compressor(self) -> None:
        if self._compressor is not None:
            self._compressor.shutdown(wait=True)
            self._compressor = None


def _entry_header(kind: int, size: int) -> bytes:
    """An object's type and size as a pack entry starts: 3 bits of type, then the size 4 and 7 bits at a time."""
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _index(objects: list[tuple[bytes, int, int]], pack_checksum: bytes) -> bytes:
    """A version-2 pack index: fan-out table, sorted ids, CRCs, offsets (large ones in a table of their own)."""
    objects = sorted(objects)
    fanout = [0] * 256
    for oid, _, _ in objects:
        fanout[oid[0]] += 1
    running = 0
    for i in range(256):
        running += fanout[i]
        fanout[i] = running
    small: list[int] = []
    large: list[int] = []
    for _, _, offset in objects:
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    parts = [
        b"\377tOc" + struct.pack(">I", 2),
        struct.pack(">256I", *fanout),
        b"".join(oid for oid, _, _ in objects),
        struct.pack(f">{len(objects)}I", *(crc for _, crc, _ in objects)),
        struct.pack(f">{len(small)}I", *small),
        struct.pack(f">{len(large)}Q", *large) if large else b"",
        pack_checksum,
    ]
    body = b"".join(parts)
    return body + hashlib.sha1(body).digest()

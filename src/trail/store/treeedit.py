"""Building a step's tree from the previous one and a set of changed paths, without reading the whole index.

Only the trees on the way to a changed path are rewritten, so the cost follows the change, not the repository.
The rules are those of a full snapshot (snapshot.py): ignored untracked files stay out, tracked ones stay in,
files over the size limit are left out and listed, symlinks are links, submodules are gitlinks, nested
repositories that are not submodules are skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import pygit2
from pygit2.enums import FileMode

from trail.repo import TrailRepo
from trail.store import objectsize
from trail.store.sensitive import REASON as SENSITIVE_REASON
from trail.store.sensitive import SensitiveFiles
from trail.store.snapshot import OmittedFile, submodule_head, user_gitlinks, user_tracked

_DELETE = object()


class NeedsFullScan(Exception):
    """A change this module does not handle exactly (a name that is not UTF-8, an odd file type): the caller
    falls back to a full snapshot, which does."""


@dataclass
class TreeState:
    """The tree of the last snapshot and the files it left out (path -> size), with the reason when it is not
    their size."""

    tree: str
    omitted: dict[str, int]
    reasons: dict[str, str] = field(default_factory=dict)

    def omitted_list(self) -> list[OmittedFile]:
        return [OmittedFile(path, size, self.reasons.get(path)) for path, size in sorted(self.omitted.items())]


class TreeEditor:
    def __init__(
        self,
        repo: pygit2.Repository,
        trail_repo: TrailRepo,
        max_file_size: int,
        sensitive: SensitiveFiles | None = None,
    ) -> None:
        self.repo = repo
        self.trail_repo = trail_repo
        self.workdir = trail_repo.workdir
        self.wanted = max_file_size
        self.limit = min(max_file_size, objectsize.max_object_size(trail_repo.config))  # no larger object is written
        self.sensitive = sensitive or SensitiveFiles(defaults=False)
        self._reasons: dict[str, str] = {}
        self.file_mode = _config_bool(repo, "core.filemode", True)

    def apply(self, state: TreeState, paths: Iterable[str]) -> TreeState:
        """The state after the changes at `paths` (relative, '/'-separated; files or directories)."""
        changes: dict[str, object] = {}
        omitted = dict(state.omitted)
        self._reasons = dict(state.reasons)
        base = self.repo[state.tree].peel(pygit2.Tree) if state.tree else None
        for path in _outermost(paths):
            _check_name(path)
            for name in list(omitted):
                if name == path or name.startswith(path + "/"):
                    del omitted[name]
                    self._reasons.pop(name, None)
            self._change(base, path, changes, omitted)
        tree = self._edit(base, changes)
        empty = str(self.repo.TreeBuilder().write())
        return TreeState(str(tree) if tree is not None else empty, omitted, dict(self._reasons))

    # -- one path ------------------------------------------------------------------------------------------------

    def _change(self, base: pygit2.Tree | None, path: str, changes: dict[str, object], omitted: dict[str, int]) -> None:
        gitlink = _gitlink_above(base, path)
        if gitlink is not None:
            _put(changes, gitlink, self._gitlink(gitlink) or _DELETE)
            return
        full = self.workdir / path
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            _put(changes, path, _DELETE)
            return
        tracked = _lookup(base, path)
        if stat.S_ISDIR(st.st_mode):
            if (full / ".git").exists():
                _put(changes, path, self._nested(path, tracked) or _DELETE)
                return
            if tracked is None and self.repo.path_is_ignored(path + "/"):
                _put(changes, path, _DELETE)  # a new directory that the ignore rules keep out, whole
                return
            _put(changes, path, self._directory(path, base, omitted) or _DELETE)
            return
        if tracked is None and self.repo.path_is_ignored(path):
            _put(changes, path, _DELETE)
            return
        entry = self._file(path, st, tracked, omitted)
        _put(changes, path, entry if entry is not None else _DELETE)

    def _file(
        self, path: str, st: os.stat_result, tracked: pygit2.Object | None, omitted: dict[str, int]
    ) -> tuple[pygit2.Oid, int] | None:
        if stat.S_ISLNK(st.st_mode):
            return self.repo.create_blob(os.readlink(self.workdir / path).encode("utf-8", "surrogateescape")), (
                FileMode.LINK
            )
        if not stat.S_ISREG(st.st_mode):
            return None  # fifos, sockets, devices: git stores none of them
        if self.sensitive and self.sensitive.matches(path) and path not in user_tracked(self.trail_repo):
            omitted[path] = st.st_size
            self._reasons[path] = SENSITIVE_REASON
            return None
        if st.st_size > self.limit:
            omitted[path] = st.st_size
            if st.st_size <= self.wanted:
                self._reasons[path] = objectsize.REASON
            return None
        mode: int = FileMode.BLOB_EXECUTABLE if st.st_mode & stat.S_IXUSR else FileMode.BLOB
        if not self.file_mode:
            previous = _lookup_mode(tracked)
            mode = previous if previous in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE) else FileMode.BLOB
        return self.repo.create_blob_fromworkdir(path), mode

    def _directory(self, path: str, base: pygit2.Tree | None, omitted: dict[str, int]) -> pygit2.Oid | None:
        """A fresh tree for a directory that appeared (or must be read again), walked with the ignore rules."""
        builder = self.repo.TreeBuilder()
        try:
            names = sorted(os.listdir(self.workdir / path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        for name in names:
            child = f"{path}/{name}"
            _check_name(child)
            full = self.workdir / child
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            tracked = _lookup(base, child)
            if stat.S_ISDIR(st.st_mode):
                if (full / ".git").exists():
                    link = self._nested(child, tracked)
                    if link is not None:
                        builder.insert(name, link[0], link[1])
                    continue
                if tracked is None and self.repo.path_is_ignored(child + "/"):
                    continue
                sub = self._directory(child, base, omitted)
                if sub is not None:
                    builder.insert(name, sub, FileMode.TREE)
                continue
            if tracked is None and self.repo.path_is_ignored(child):
                continue
            entry = self._file(child, st, tracked, omitted)
            if entry is not None:
                builder.insert(name, entry[0], entry[1])
        return builder.write() if len(builder) else None

    def _nested(self, path: str, tracked: pygit2.Object | None) -> tuple[pygit2.Oid, int] | None:
        """A repository inside ours: a submodule if tracked (by the last tree, or the user's index), else left
        out, as a full scan does."""
        if tracked is None and path not in user_gitlinks(self.trail_repo):
            return None
        return self._gitlink(path)

    def _gitlink(self, path: str) -> tuple[pygit2.Oid, int] | None:
        head = submodule_head(self.trail_repo, path)
        return (head, FileMode.COMMIT) if head is not None else None

    # -- rewriting trees -----------------------------------------------------------------------------------------

    def _edit(self, base: pygit2.Tree | None, changes: dict[str, object]) -> pygit2.Oid | None:
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, change in changes.items():
            existing = builder.get(name)
            if isinstance(change, dict):
                sub_base = (
                    self.repo[existing.id].peel(pygit2.Tree)
                    if existing is not None and (existing.filemode == FileMode.TREE)
                    else None
                )
                new = self._edit(sub_base, change)
                if new is None:
                    if existing is not None:
                        builder.remove(name)
                else:
                    builder.insert(name, new, FileMode.TREE)
            elif change is _DELETE:
                if existing is not None:
                    builder.remove(name)
            elif isinstance(change, pygit2.Oid):
                builder.insert(name, change, FileMode.TREE)
            else:
                entry = cast(tuple[pygit2.Oid, int], change)
                builder.insert(name, entry[0], entry[1])
        return builder.write() if len(builder) else None


def _outermost(paths: Iterable[str]) -> list[str]:
    """The paths not inside another of them: a directory's own change covers everything below it."""
    unique = set(paths)
    result = []
    for path in sorted(unique):
        parts = path.split("/")
        if not any("/".join(parts[:i]) in unique for i in range(1, len(parts))):
            result.append(path)
    return result


def _put(changes: dict[str, object], path: str, change: object) -> None:
    """Record `change` at `path` in the nested change map; a later change at a path replaces what was there."""
    parts = path.split("/")
    node = changes
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = change


def _lookup(base: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    if base is None:
        return None
    try:
        return base[path]
    except (KeyError, ValueError):
        return None


def _lookup_mode(entry: pygit2.Object | None) -> int | None:
    return getattr(entry, "filemode", None)


def _gitlink_above(base: pygit2.Tree | None, path: str) -> str | None:
    """The submodule that contains `path` (or is it), if the last tree has one there."""
    if base is None:
        return None
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        entry = _lookup(base, prefix)
        if entry is None:
            return None
        if getattr(entry, "filemode", None) == FileMode.COMMIT:
            return prefix
        if getattr(entry, "filemode", None) != FileMode.TREE:
            return None
    return None


def _check_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise NeedsFullScan(f"{path!r} is not UTF-8") from None


def _config_bool(repo: pygit2.Repository, key: str, default: bool) -> bool:
    try:
        return repo.config.get_bool(key)
    except (KeyError, pygit2.GitError):
        return default

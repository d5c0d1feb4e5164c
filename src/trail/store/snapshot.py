"""Turn the working tree into a git tree without touching the user's index.

A private index keeps its own stat cache (seeded from the user's index the first time), so a snapshot re-hashes
only files whose stat data changed; libgit2 does the walk and the hashing. libgit2 scans a working tree only
into the index of a repository, so trail opens the worktree through a private git directory of its own
(`<worktree git dir>/trail/snapshot/`, laid out as git lays out a linked worktree's): its index is trail's, its
objects, config and ignore rules the repository's. No environment variable is ever set, so nothing leaks into
processes that other threads start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2 import C, ffi
from pygit2.enums import FileMode
from pygit2.utils import StrArray

from trail.repo import TrailRepo
from trail.store import objectsize
from trail.store.format import OmittedFile
from trail.store.locking import file_lock
from trail.store.sensitive import REASON as SENSITIVE_REASON
from trail.store.sensitive import SensitiveFiles

GITDIR_NAME = "snapshot"  # the private git directory, under the worktree's trail folder
INDEX_NAME = "index"
# Open private indexes by (process, path): callers hold the worktree's snapshot lock while using one.
_open_indexes: dict[tuple[int, str], pygit2.Index] = {}
LOCK_NAME = "snapshot.lock"


@dataclass(frozen=True)
class Snapshot:
    tree: pygit2.Oid
    omitted: list[OmittedFile] = field(default_factory=list)


def snapshot_worktree(repo: TrailRepo, max_file_size: int | None = None) -> Snapshot:
    """Write the working tree (tracked plus untracked-not-ignored files) as a tree object.

    Files larger than `max_file_size` (or than store.maxObjectSize, which caps it) whose content is not already in
    the private index, and untracked files that hold credentials by their nature (store/sensitive.py), are left
    out and listed in `omitted`. Writers of one worktree are serialized by a lock in the worktree's trail folder.
    """
    config = repo.config
    limit, objects = objectsize.snapshot_limit(config)
    if max_file_size is not None:
        limit = min(max_file_size, objects)
    repo.ensure_dirs()
    with file_lock(repo.worktree_trail_dir / LOCK_NAME):
        index = _load_private_index(repo)
        omitted = [
            OmittedFile(o.path, o.size, objectsize.REASON) if o.reason is None and o.size <= config.max_file_size else o
            for o in _add_all(index, repo, limit, config.sensitive_files)
        ]
        for item in omitted:
            if item.path in index:
                index.remove(item.path)  # its old content would misstate the file
        if _sparse(repo):
            _keep_outside_the_cone(index, repo)
        tree = index.write_tree()
        # Holding the lock, no other writer of this private index can be alive: a lock file is a dead one's.
        (private_gitdir(repo) / "index.lock").unlink(missing_ok=True)
        with contextlib.suppress(pygit2.GitError):  # only the stat cache is lost; the next step re-hashes
            index.write()
    return Snapshot(tree=tree, omitted=omitted)


def private_gitdir(repo: TrailRepo) -> Path:
    return repo.worktree_trail_dir / GITDIR_NAME


def _load_private_index(repo: TrailRepo) -> pygit2.Index:
    """The worktree's private index, kept open between steps of one process (re-read only when another
    process has written it since)."""
    gitdir = _prepare_gitdir(repo)
    path = gitdir / INDEX_NAME
    key = (os.getpid(), os.fspath(path))
    cached = _open_indexes.get(key)
    if cached is not None and path.exists():
        try:
            cached.read(force=False)
            return cached
        except pygit2.GitError:
            pass
    _open_indexes.pop(key, None)
    if not path.exists():
        old = repo.worktree_trail_dir / INDEX_NAME  # where trail 0.1 kept it
        if old.is_file():
            with contextlib.suppress(OSError):
                os.replace(old, path)
        if not path.exists():
            _seed_index(repo, path)
    try:
        index = pygit2.Repository(os.fspath(gitdir)).index
    except pygit2.GitError:
        # An index libgit2 cannot read (corrupt, or a format it lacks): start over with an empty one.
        path.unlink(missing_ok=True)
        index = pygit2.Repository(os.fspath(gitdir)).index
    _open_indexes[key] = index
    return index


def _prepare_gitdir(repo: TrailRepo) -> Path:
    """The private git directory, as git lays out a linked worktree's: `commondir` names the repository (objects,
    refs, config, info/exclude), `gitdir` the worktree's `.git` (libgit2 takes the working tree from it), and
    `HEAD` a ref that never exists (nothing here reads it). Its `index` is trail's alone."""
    gitdir = private_gitdir(repo)
    files = {
        "commondir": os.fspath(repo.commondir) + "\n",
        "gitdir": os.fspath(repo.workdir / ".git") + "\n",
        "HEAD": "ref: refs/trail/snapshot-head\n",
    }
    gitdir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = gitdir / name
        try:
            if target.read_text() == content:
                continue
        except OSError:
            pass
        tmp = gitdir / f".{name}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(content)
        os.replace(tmp, target)
    return gitdir


def _seed_index(repo: TrailRepo, path: os.PathLike[str]) -> None:
    """Start from a copy of the user's index, whose stat data spares hashing every tracked file once."""
    user_index = repo.gitdir / "index"
    if not user_index.is_file():
        return
    tmp = f"{os.fspath(path)}.seed.{os.getpid()}"
    try:
        shutil.copyfile(user_index, tmp)
        pygit2.Index(tmp)  # readable by libgit2? (a split index, for one, is not)
        os.replace(tmp, path)
    except (OSError, pygit2.GitError):
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _add_all(index: pygit2.Index, repo: TrailRepo, limit: int, sensitive: SensitiveFiles) -> list[OmittedFile]:
    """`git add -A` into `index`, skipping (and returning) files over `limit` bytes before they are hashed, and
    untracked files that hold credentials."""
    root = os.fsencode(repo.workdir)
    omitted: list[OmittedFile] = []
    embedded: list[str] = []
    tracked = _UserIndex(repo)

    # libgit2 calls this only for paths it is about to add or update, so the cost follows the change.
    @ffi.callback("git_index_matched_path_cb")
    def matched(path: object, _pathspec: object, _payload: object) -> int:
        try:
            name = ffi.string(path)
            if name.endswith(b"/"):  # a repository inside ours that this index does not track yet
                embedded.append(os.fsdecode(name[:-1]))
                return 1
            size = os.lstat(os.path.join(root, name)).st_size
        except (OSError, TypeError):
            return 0  # gone or unreadable: let libgit2 decide (it records a deletion)
        decoded = os.fsdecode(name)
        if sensitive and sensitive.matches(decoded) and decoded not in tracked:
            omitted.append(OmittedFile(decoded, size, SENSITIVE_REASON))
            return 1
        if size > limit:
            omitted.append(OmittedFile(decoded, size))
            return 1  # skip this path
        return 0

    with StrArray([]) as paths:
        err = C.git_index_add_all(index._index, paths.ptr, 0, matched, ffi.NULL)
    if err < 0:
        raise pygit2.GitError(_last_error_message())
    if embedded:
        _add_submodules(index, repo, embedded)
    omitted.sort(key=lambda item: item.path)
    return omitted


class _UserIndex:
    """Membership in the user's own index, read (never written) the first time it is asked."""

    def __init__(self, repo: TrailRepo) -> None:
        self.repo = repo
        self._index: pygit2.Index | None = None
        self._read = False

    def __contains__(self, path: str) -> bool:
        if not self._read:
            self._read = True
            with contextlib.suppress(pygit2.GitError, OSError):
                self._index = pygit2.Index(os.fspath(self.repo.gitdir / "index"))
        return self._index is not None and path in self._index


def _sparse(repo: TrailRepo) -> bool:
    try:
        return bool(repo.git.config.get_bool("core.sparseCheckout"))
    except (KeyError, pygit2.GitError, ValueError):
        return False


_SKIP_WORKTREE = 1 << 14  # GIT_INDEX_ENTRY_SKIP_WORKTREE, in an entry's extended flags


def _keep_outside_the_cone(index: pygit2.Index, repo: TrailRepo) -> None:
    """In a sparse checkout, files outside the cone are absent from the working tree but not deleted: their
    entries in the user's index (skip-worktree) go into the snapshot as they are, as `git add -A` keeps them."""
    try:
        user = pygit2.Index(os.fspath(repo.gitdir / "index"))
    except pygit2.GitError:
        return
    count = C.git_index_entrycount(user._index)
    for i in range(count):
        entry = C.git_index_get_byindex(user._index, i)
        if entry == ffi.NULL or not entry.flags_extended & _SKIP_WORKTREE:
            continue
        path = os.fsdecode(ffi.string(entry.path))
        if path in index or os.path.lexists(repo.workdir / path):
            continue
        oid = pygit2.Oid(raw=bytes(ffi.buffer(entry.id.id)[:]))
        index.add(pygit2.IndexEntry(path, oid, FileMode(int(entry.mode))))


def _add_submodules(index: pygit2.Index, repo: TrailRepo, paths: list[str]) -> None:
    """Nested repositories are gitlinks when the user tracks them (a new `git submodule add`), else left out,
    as `git add -A` in a clone would."""
    links = user_gitlinks(repo)
    for path in paths:
        head = submodule_head(repo, path) if path in links else None
        if head is not None:
            index.add(pygit2.IndexEntry(path, head, FileMode.COMMIT))


def user_tracked(repo: TrailRepo) -> _UserIndex:
    """Membership in the user's own index (read once, on first use)."""
    return _UserIndex(repo)


def user_gitlinks(repo: TrailRepo) -> set[str]:
    """The submodule paths in the user's own index (read, never written)."""
    try:
        user_index = pygit2.Index(os.fspath(repo.gitdir / "index"))
    except pygit2.GitError:
        return set()
    return {entry.path for entry in user_index if entry.mode == FileMode.COMMIT}


def submodule_head(repo: TrailRepo, path: str) -> pygit2.Oid | None:
    try:
        sub = pygit2.Repository(os.fspath(repo.workdir / path))
        return None if sub.head_is_unborn else sub.head.target  # type: ignore[return-value]
    except (pygit2.GitError, KeyError):
        return None


def _last_error_message() -> str:
    error = C.git_error_last()
    if error != ffi.NULL and error.message != ffi.NULL:
        return ffi.string(error.message).decode("utf-8", "replace")
    return "libgit2 could not scan the working tree"

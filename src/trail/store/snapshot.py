"""Turn the working tree into a git tree without touching the user's index.

A private index under the worktree's git directory keeps its own stat cache (seeded from the user's index the
first time), so a snapshot re-hashes only files whose stat data changed; libgit2 does the walk and the hashing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from dataclasses import dataclass, field

import pygit2
from pygit2 import C, ffi
from pygit2.enums import FileMode, RepositoryOpenFlag
from pygit2.utils import StrArray

from trail.repo import TrailRepo
from trail.store.format import OmittedFile
from trail.store.locking import file_lock

# Variables that would make libgit2 (opened with FROM_ENV) look somewhere other than the repository we name.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)
# The environment is process-wide: only one thread may borrow it to open a private index.
_environ_lock = threading.Lock()

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

    Files larger than `max_file_size` whose content is not already in the private index are left out and
    listed in `omitted`. Writers of one worktree are serialized by a lock in the worktree's trail folder.
    """
    limit = repo.config.max_file_size if max_file_size is None else max_file_size
    repo.ensure_dirs()
    with file_lock(repo.worktree_trail_dir / LOCK_NAME):
        index = _load_private_index(repo)
        omitted = _add_all(index, repo, limit)
        for item in omitted:
            if item.path in index:
                index.remove(item.path)  # its old content would misstate the file
        tree = index.write_tree()
        with contextlib.suppress(pygit2.GitError):  # only the stat cache is lost; the next step re-hashes
            index.write()
    return Snapshot(tree=tree, omitted=omitted)


def _load_private_index(repo: TrailRepo) -> pygit2.Index:
    """The worktree's private index, kept open between steps of one process (re-read only when another
    process has written it since)."""
    path = repo.worktree_trail_dir / INDEX_NAME
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
        _seed_index(repo, path)
    try:
        index = _open_index(repo, path)
    except pygit2.GitError:
        # An index libgit2 cannot read (corrupt, or a format it lacks): start over with an empty one.
        path.unlink(missing_ok=True)
        index = _open_index(repo, path)
    _open_indexes[key] = index
    return index


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


def _open_index(repo: TrailRepo, path: os.PathLike[str]) -> pygit2.Index:
    # libgit2 only lets an index owned by a repository scan a working tree, and the only way to give a
    # repository another index file through pygit2 is GIT_INDEX_FILE with FROM_ENV, read at first access.
    with _environ_lock:
        saved = {name: os.environ.pop(name) for name in _GIT_LOCATION_VARS if name in os.environ}
        try:
            os.environ["GIT_DIR"] = os.fspath(repo.gitdir)
            os.environ["GIT_WORK_TREE"] = os.fspath(repo.workdir)
            os.environ["GIT_INDEX_FILE"] = os.fspath(path)
            private = pygit2.Repository(os.fspath(repo.gitdir), RepositoryOpenFlag.FROM_ENV)
            index = private.index  # loads the file
        finally:
            for name in _GIT_LOCATION_VARS:
                os.environ.pop(name, None)
            os.environ.update(saved)
    return index


def _add_all(index: pygit2.Index, repo: TrailRepo, limit: int) -> list[OmittedFile]:
    """`git add -A` into `index`, skipping (and returning) files over `limit` bytes before they are hashed."""
    root = os.fsencode(repo.workdir)
    omitted: list[OmittedFile] = []
    embedded: list[str] = []

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
        if size > limit:
            omitted.append(OmittedFile(os.fsdecode(name), size))
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


def _add_submodules(index: pygit2.Index, repo: TrailRepo, paths: list[str]) -> None:
    """Nested repositories are gitlinks when the user tracks them (a new `git submodule add`), else left out,
    as `git add -A` in a clone would."""
    links = user_gitlinks(repo)
    for path in paths:
        head = submodule_head(repo, path) if path in links else None
        if head is not None:
            index.add(pygit2.IndexEntry(path, head, FileMode.COMMIT))


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

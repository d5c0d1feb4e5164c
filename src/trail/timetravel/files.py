"""The files of a step, without checking anything out: what its tree holds (under a folder), and one file's bytes."""

from __future__ import annotations

from dataclasses import dataclass

import pygit2
from pygit2.enums import FileMode

from trail.errors import TrailError
from trail.repo import TrailRepo
from trail.store.steps import Step


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int
    size: int | None  # bytes, for files and links
    oid: str

    @property
    def kind(self) -> str:
        kinds = {int(FileMode.LINK): "link", int(FileMode.COMMIT): "submodule", int(FileMode.BLOB_EXECUTABLE): "exec"}
        return kinds.get(self.mode, "file")


def list_files(repo: TrailRepo, step: Step, under: str | None = None) -> list[Entry]:
    """Every file of the step's tree (recursively), or those under the folder `under`; a file names itself."""
    git = repo.git
    tree = git[step.tree].peel(pygit2.Tree)
    prefix = ""
    if under and under.strip("/"):
        prefix = under.strip("/")
        obj = _lookup(tree, prefix, step)
        if obj.type_str != "tree":
            return [_entry(git, prefix, obj)]
        tree = git[obj.id].peel(pygit2.Tree)
    out: list[Entry] = []
    _walk(git, tree, prefix, out)
    return out


def read_file(repo: TrailRepo, step: Step, path: str) -> bytes:
    """The bytes of `path` at the step (a link's target, for a symbolic link)."""
    tree = repo.git[step.tree].peel(pygit2.Tree)
    obj = _lookup(tree, path.strip("/"), step)
    if obj.type_str == "tree":
        raise TrailError(f"{path} is a folder at {step.address}; `trail files {step.address} {path}` lists it")
    if obj.filemode == FileMode.COMMIT:
        raise TrailError(f"{path} is a submodule at {step.address} (commit {obj.id}), not a file")
    return bytes(repo.git[obj.id].read_raw())


def _lookup(tree: pygit2.Tree, path: str, step: Step) -> pygit2.Object:
    try:
        return tree[path]
    except KeyError:
        where = step.address
        raise TrailError(f"{path} is not in step {where}'s tree; `trail files {where}` lists its files") from None


def _walk(git: pygit2.Repository, tree: pygit2.Tree, prefix: str, out: list[Entry]) -> None:
    for obj in tree:
        path = f"{prefix}/{obj.name}" if prefix else str(obj.name)
        if obj.type_str == "tree":
            _walk(git, git[obj.id].peel(pygit2.Tree), path, out)
        else:
            out.append(_entry(git, path, obj))


def _entry(git: pygit2.Repository, path: str, obj: pygit2.Object) -> Entry:
    size = None if obj.filemode == FileMode.COMMIT else int(git.odb.read_header(obj.id)[1])
    return Entry(path, int(obj.filemode), size, str(obj.id))

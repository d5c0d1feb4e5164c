"""Putting the working tree back, in place, to the state a step recorded; and undoing or redoing that.

Nothing is lost: before a file is touched, the working tree as it is is recorded as a `rewind` step of the session,
and the operation goes into the worktree's op log (oplog.py), so `--undo` puts every byte back and `--redo` goes
forward again, any number of times. Only files are written: the index, HEAD and branches are never touched.
Ignored files, files the snapshot left out (too large, credentials) and files the session never had (in neither
the state being left nor the state being restored) are left alone. Symbolic links stay links and modes are
restored; a submodule's checkout is not changed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.locking import file_lock
from trail.store.snapshot import Snapshot
from trail.store.steps import Step, Store
from trail.timetravel.oplog import Operation, OpLog

REWIND = "rewind"
LOCK = "rewind.lock"


@dataclass(frozen=True)
class Change:
    status: str  # A (created), M (content or mode), D (deleted), T (a file became a link or the reverse)
    path: str


@dataclass
class Result:
    session: str
    step: int  # the step rewound to, or the rewind step undone or redone
    changes: list[Change]
    left_alone: list[str] = field(default_factory=list)  # paths that would change but are not touched, and why
    recorded: int | None = None  # the `rewind` step that holds the state before
    dry_run: bool = False


def rewind(repo: TrailRepo, step: Step, force: bool = False, dry_run: bool = False, target: str = "") -> Result:
    """Put the working tree in `step`'s state, after recording its present state."""
    store = Store(repo)
    if step.tree_source:
        raise TrailError(
            f"step {step.address}'s tree is not a working tree trail recorded ({step.tree_source}): there is no state "
            "of that moment to go back to"
        )
    _check_branch(repo, store, step, force)
    with file_lock(_folder(repo) / LOCK):
        writer = StepWriter(repo)
        now = writer.snapshot()
        changes, alone = _plan(repo, now, step.tree, had=lambda paths: _session_had(store, step.session_id, paths))
        if dry_run:
            return Result(step.session_id, step.n, changes, alone, dry_run=True)
        recorded = _record(writer, step.session_id, now, f"Rewound the working tree to step {step.n}", to_step=step.n)
        _apply(repo, changes, step.tree)
        log = OpLog.load(_folder(repo))
        log.push(
            Operation(log.next_id(), step.session_id, target or step.address, str(now.tree), step.tree, recorded.n)
        )
        log.save()
        return Result(step.session_id, step.n, changes, alone, recorded.n)


def undo(repo: TrailRepo, dry_run: bool = False) -> Result:
    """Undo the last rewind (or redo) in effect: the working tree as it was before it."""
    with file_lock(_folder(repo) / LOCK):
        log = OpLog.load(_folder(repo))
        op = log.undoable
        if op is None:
            raise TrailError("nothing to undo: no rewind of this working tree is in effect (`trail rewind STEP`)")
        result = _move(repo, op, op.before, op.after, f"Undid the rewind to {op.target}", dry_run)
        if not dry_run:
            log.position -= 1
            log.save()
        return result


def redo(repo: TrailRepo, dry_run: bool = False) -> Result:
    """Redo the last rewind undone."""
    with file_lock(_folder(repo) / LOCK):
        log = OpLog.load(_folder(repo))
        op = log.redoable
        if op is None:
            raise TrailError("nothing to redo: no undone rewind follows the ones in effect")
        # As the rewind itself did: files the session never had stay as they are.
        store = Store(repo)
        result = _move(
            repo,
            op,
            op.after,
            op.before,
            f"Redid the rewind to {op.target}",
            dry_run,
            had=lambda paths: _session_had(store, op.session, paths),
        )
        if not dry_run:
            log.position += 1
            log.save()
        return result


def _move(
    repo: TrailRepo,
    op: Operation,
    to_tree: str,
    from_tree: str,
    text: str,
    dry_run: bool,
    had: Callable[[set[str]], set[str]] | None = None,
) -> Result:
    """Move the working tree to `to_tree`, deleting only files of `from_tree` or `to_tree` (by default)."""
    writer = StepWriter(repo)
    now = writer.snapshot()
    known = [repo.git[t].peel(pygit2.Tree) for t in (from_tree, to_tree)]
    if had is None:
        had = lambda paths: {p for p in paths if any(_has(k, p) for k in known)}  # noqa: E731
    changes, alone = _plan(repo, now, to_tree, had=had)
    if dry_run:
        return Result(op.session, op.recorded_at, changes, alone, dry_run=True)
    recorded = _record(writer, op.session, now, text, operation=op.id)
    _apply(repo, changes, to_tree)
    return Result(op.session, op.recorded_at, changes, alone, recorded.n)


# -- checks ---------------------------------------------------------------------------------------------------------


def _check_branch(repo: TrailRepo, store: Store, step: Step, force: bool) -> None:
    """The code of a step belongs on the branch the session worked on: refuse to bring it onto another one."""
    branch = store.step_at(step.session_id, 1).event.payload.get("branch")
    current = repo.head_branch()
    if force or not isinstance(branch, str) or current is None or branch == current:
        return
    raise TrailError(
        f"HEAD is on {current!r}, but session {step.session_id} worked on {branch!r}: rewinding would bring that "
        f"branch's code here. Switch back (`git switch {branch}`), or use --force to rewind anyway"
    )


def _folder(repo: TrailRepo) -> Path:
    folder = repo.worktree_trail_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- what changes ---------------------------------------------------------------------------------------------------


def _plan(
    repo: TrailRepo, now: Snapshot, target: str, had: Callable[[set[str]], set[str]]
) -> tuple[list[Change], list[str]]:
    """The changes from the working tree now to `target`, and what is left alone: deletions of files `had` does not
    return (files the session never had), files the snapshot did not record (writing the target's version would
    replace what was never saved), submodules."""
    git = repo.git
    diff = git[now.tree].peel(pygit2.Tree).diff_to_tree(git[target].peel(pygit2.Tree))
    omitted = {o.path: o.reason or "over the size limit" for o in now.omitted}
    deleted = {d.old_file.path for d in diff.deltas if d.status == DeltaStatus.DELETED}
    kept = had(deleted) if deleted else set()
    changes: list[Change] = []
    alone: list[str] = []
    for delta in diff.deltas:
        if delta.status == DeltaStatus.DELETED:
            path = delta.old_file.path
            if path not in kept:
                alone.append(f"{path} (never in this session)")
                continue
            changes.append(Change("D", path))
            continue
        path = delta.new_file.path
        if path in omitted or any(path.startswith(o + "/") for o in omitted):
            alone.append(f"{path} (not recorded: {omitted.get(path, 'left out')})")
            continue
        if delta.new_file.mode == FileMode.COMMIT or delta.old_file.mode == FileMode.COMMIT:
            alone.append(f"{path} (a submodule: its checkout is not changed)")
            continue
        if delta.status == DeltaStatus.ADDED:
            changes.append(Change("A", path))
        elif delta.status == DeltaStatus.TYPECHANGE:
            changes.append(Change("T", path))
        else:
            changes.append(Change("M", path))
    return changes, alone


def _session_had(store: Store, session_id: str, paths: set[str]) -> set[str]:
    """Which of `paths` the session ever had: in the tree of one of its steps other than `rewind` steps (those hold
    whatever the working tree held when someone rewound: not the session's files)."""
    found: set[str] = set()
    trees_seen: set[str] = set()
    for step in store.walk(session_id):
        if step.kind == REWIND or step.tree in trees_seen:
            continue
        trees_seen.add(step.tree)
        tree = store.git[step.tree].peel(pygit2.Tree)
        found |= {p for p in paths - found if _has(tree, p)}
        if found == paths:
            break
    return found


def _has(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
        return True
    except KeyError:
        return False


# -- writing the working tree ---------------------------------------------------------------------------------------


def _record(writer: StepWriter, session_id: str, now: Snapshot, text: str, **fields: object) -> Step:
    event = Event(kind=REWIND, payload={"text": text, **fields}, session_id=session_id, agent="trail")
    with writer.session_lock(session_id):
        return writer.write(event, now)


def _apply(repo: TrailRepo, changes: list[Change], target: str) -> None:
    git = repo.git
    root = repo.workdir.resolve()
    new = git[target].peel(pygit2.Tree)
    for change in sorted((c for c in changes if c.status in ("D", "T")), key=lambda c: c.path, reverse=True):
        _remove(root, change.path)
    for change in sorted((c for c in changes if c.status != "D"), key=lambda c: c.path):
        entry = new[change.path]
        _write(root, change.path, git[entry.id].read_raw(), int(entry.filemode))


def _inside(root: Path, path: str) -> Path:
    full = (root / path).resolve(strict=False) if not os.path.islink(root / path) else root / path
    parts = Path(path).parts
    if ".." in parts or ".git" in parts or Path(path).is_absolute():
        raise TrailError(f"refusing to write {path!r}: it is not a path inside the working tree")
    if not str(full).startswith(str(root) + os.sep):
        raise TrailError(f"refusing to write {path!r}: it leads outside the working tree")
    return root / path


def _remove(root: Path, path: str) -> None:
    full = _inside(root, path)
    with contextlib.suppress(FileNotFoundError):
        if full.is_dir() and not full.is_symlink():
            return  # a folder where a file was: its files are changes of their own
        full.unlink()
    parent = full.parent
    while parent != root:
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
        parent = parent.parent


def _write(root: Path, path: str, data: bytes, mode: int) -> None:
    full = _inside(root, path)
    parent = full.parent
    # A file where a folder must be (the target has `a/b`, the working tree a file `a`) was removed as a change
    # of its own; make the folders.
    parent.mkdir(parents=True, exist_ok=True)
    if full.is_symlink() or (full.exists() and not full.is_dir()):
        full.unlink()
    if mode == FileMode.LINK:
        os.symlink(os.fsdecode(data), full)
        return
    executable = mode == FileMode.BLOB_EXECUTABLE
    fd, tmp = tempfile.mkstemp(prefix=".trail-rewind-", dir=parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if executable else 0o666) & ~umask)
        os.replace(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def describe(result: Result) -> list[str]:
    """One line per change, as `git status --short` names them."""
    return [f"{c.status}  {c.path}" for c in result.changes]

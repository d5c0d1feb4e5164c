"""Deleting sessions on purpose: `trail rm` and `trail prune` choose sessions (with their subagents) and delete
their refs together, by compare-and-swap, and forget their step index.

Deleting a ref deletes no object: the steps stay in `.git` until `git gc --prune=now`, and copies pushed to a
remote stay there. `reminders` says both in the words the command prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from trail import events as ev
from trail.errors import TrailError
from trail.store.address import resolve_session
from trail.store.handles import Handles
from trail.store.steps import Store, session_ref


@dataclass(frozen=True)
class Removal:
    """A session chosen for deletion, as it was when chosen (the ref is deleted only if it is still there)."""

    session_id: str
    tip: str  # the commit the ref pointed to
    steps: int | None  # None: the ref does not hold a readable session
    updated: datetime | None  # the time of its last step
    parent: str | None = None  # the session it goes with, when it is a subagent of one being removed

    @property
    def ref(self) -> str:
        return session_ref(self.session_id)

    def to_json(self) -> dict[str, object]:
        return {
            "session": self.session_id,
            "ref": self.ref,
            "tip": self.tip,
            "steps": self.steps,
            "updated": self.updated.isoformat() if self.updated else None,
            "with": self.parent,
        }


def choose(store: Store, names: Sequence[str], keep_children: bool = False) -> list[Removal]:
    """The sessions `names` name (ids, unique prefixes or handles), each followed by its subagents unless
    `keep_children`; TrailError naming the first that matches no session."""
    handles = Handles(store.session_ids())
    chosen: dict[str, str | None] = {}
    for name in names:
        sid = resolve_session(store, name, handles)
        chosen.setdefault(sid, None)
        if not keep_children:
            for child in store.children(sid):
                chosen.setdefault(child, sid)
    return [_removal(store, sid, parent) for sid, parent in chosen.items()]


def older_than(store: Store, age: timedelta, now: datetime | None = None) -> list[Removal]:
    """The sessions whose last step is older than `age`, each with its subagents (whatever their age): a subagent
    is judged with its parent, never alone, unless its parent is gone. Refs that are not readable sessions are
    left alone (`trail doctor` lists them; `trail rm` deletes one by name)."""
    cutoff = (now or ev.now()) - age
    infos = {info.id: info for info in store.sessions()}
    chosen: dict[str, str | None] = {}
    for sid, info in sorted(infos.items()):
        if sid in chosen or info.updated >= cutoff:
            continue
        parent = info.parent[0] if info.parent else None
        if parent is not None and parent in infos:
            continue  # judged with its parent
        chosen[sid] = None
        for child in store.children(sid):
            chosen.setdefault(child, sid)
    return [_removal(store, sid, parent) for sid, parent in chosen.items()]


def remove(store: Store, removals: Sequence[Removal]) -> None:
    """Delete the refs of `removals` together, each only if it still points where it did when chosen, and forget
    their step index; TrailError (and nothing deleted) if any of them moved meanwhile."""
    if not removals:
        return
    from trail.store import archive

    # An archived session is taken out of its archive first (the archive rewritten without it); one that also has
    # a ref loses that next, so that it cannot come back from either.
    archived = [r.session_id for r in removals if archive.archived_where(store, r.session_id)]
    archive.drop(store, archived)
    refs = [r for r in removals if session_ref(r.session_id) in store.git.references]
    moves: dict[str, tuple[str | None, str | None]] = {r.session_id: (r.tip, None) for r in refs}
    if moves and not store.move_refs(moves, "trail: remove session"):
        moved = [r.session_id for r in removals if store.tip_commit(r.session_id) != r.tip]
        raise TrailError(
            f"session {', '.join(moved) or '(unknown)'} changed or was removed while trail was deleting it; nothing "
            "was deleted: run the command again"
        )
    for removal in removals:
        store.index.forget(removal.session_id)
        store.forget_recorded_here(removal.session_id)


def reminders(store: Store, session_ids: Sequence[str]) -> list[str]:
    """What deleting or rewriting sessions leaves to do by hand: the remote copies and the objects in `.git`."""
    if not session_ids:
        return []
    refs = " ".join(session_ref(sid) for sid in session_ids)
    remotes = list(store.git.remotes.names()) or ["REMOTE"]
    lines = ["Copies already pushed to a remote are not touched; delete them there too:"]
    lines += [f"  git push {remote} --delete {refs}" for remote in remotes]
    lines.append("The objects stay in .git until git prunes them: git gc --prune=now")
    return lines


def _removal(store: Store, session_id: str, parent: str | None) -> Removal:
    tip = store.tip_commit(session_id)
    if tip is None:
        raise TrailError(
            f"{session_ref(session_id)} is not a ref that points to a commit; delete it with git update-ref"
        )
    info = store.session(session_id)
    if info is None:
        return Removal(session_id, tip, None, None, parent)
    return Removal(session_id, info.tip.commit, info.steps, info.updated, parent)

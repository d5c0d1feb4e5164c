"""Which sessions made a commit of yours: those whose recorded trees contain its changes, with the steps that
produced them.

A change of the commit (a file's new content, or its deletion) is credited to a step when that step's tree has it
and the step before's does not: the step produced it. Steps that are not the agent acting produce nothing: the
first step of a session (what was uncommitted when it began), `external_change` steps (your own edits between the
agent's), prompts and the session's end (what changed while it waited for you), `user_commit` and `rewind` steps.
Ended sessions count as much as running ones; a commit no step produced is credited to no session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pygit2
from pygit2.enums import DeltaStatus

from trail.errors import StepNotFoundError
from trail.store.steps import SessionInfo, Step, Store

NOT_THE_AGENTS = frozenset(("external_change", "user_commit", "rewind", "session_start", "session_end", "prompt"))
WINDOW = timedelta(days=30)  # sessions whose last step is older than this before the commit are not looked at


@dataclass
class Credit:
    session: SessionInfo
    steps: list[Step] = field(default_factory=list)  # the steps that produced changes of the commit, oldest first
    paths: list[str] = field(default_factory=list)  # the changes they produced

    def to_json(self) -> dict[str, object]:
        return {
            **self.session.to_json(),
            "steps": [s.to_json(full=False) for s in self.steps],
            "paths": self.paths,
        }


def commit_changes(store: Store, rev: str) -> tuple[pygit2.Commit, dict[str, str | None]]:
    """The commit `rev` names and its changes against its first parent: path -> new blob id (None: deleted)."""
    try:
        commit = store.git.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise StepNotFoundError(f"{rev!r} names no commit") from None
    new = commit.tree
    diff = commit.parents[0].tree.diff_to_tree(new) if commit.parents else new.diff_to_tree(swap=True)
    changes: dict[str, str | None] = {}
    for delta in diff.deltas:
        if delta.status == DeltaStatus.DELETED:
            changes[delta.old_file.path] = None
        else:
            changes[delta.new_file.path] = str(delta.new_file.id)
    return commit, changes


def credit(store: Store, rev: str, sessions: list[SessionInfo] | None = None) -> list[Credit]:
    """The sessions (most recently active first) whose steps produced changes of commit `rev`."""
    commit, changes = commit_changes(store, rev)
    if not changes:
        return []
    when = commit.commit_time
    found = []
    for info in sessions if sessions is not None else store.sessions():
        if info.updated.timestamp() < when - WINDOW.total_seconds():
            continue  # ended long before the commit (dates can lie: what decides is the content, below)
        result = produced_by(store, info, changes)
        if result.steps:
            found.append(result)
    return found


def produced_by(store: Store, info: SessionInfo, changes: dict[str, str | None]) -> Credit:
    """The steps of a session that produced the given changes."""
    git = store.git
    result = Credit(info)
    wanted = dict(changes)
    producing: dict[str, Step] = {}
    newer: Step | None = None
    for step in store.walk(info.id):
        if newer is not None and newer.kind not in NOT_THE_AGENTS and newer.tree != step.tree and wanted:
            after = git[newer.tree].peel(pygit2.Tree)
            before = git[step.tree].peel(pygit2.Tree)
            for path, blob in list(wanted.items()):
                if _value(after, path) == blob and _value(before, path) != blob:
                    producing.setdefault(newer.commit, newer)
                    result.paths.append(path)
                    del wanted[path]  # credited to the newest step that produced it
        newer = step
        if not wanted:
            break
    result.steps = sorted(producing.values(), key=lambda s: s.n)
    result.paths.sort()
    return result


def _value(tree: pygit2.Tree, path: str) -> str | None:
    try:
        return str(tree[path].id)
    except KeyError:
        return None

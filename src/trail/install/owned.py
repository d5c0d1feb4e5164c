"""The files trail's hook installers write into a working tree, and whether a change to one is trail's alone.

Installing trail's hooks for a project writes its entries into the agent's settings file (`.claude/settings.json`
and the like), so a session's first step, or a later one when the hooks were installed mid-session, holds a change
the agent did not make. What an agent (or the person) changed is compared without trail's entries.
"""

from __future__ import annotations

import pygit2

from trail.install import jsonhooks


def _specs() -> dict[str, jsonhooks.HookFile]:
    from trail.install import codex, cursor, gemini
    from trail.install.agents import CLAUDE

    return {
        ".claude/settings.json": CLAUDE,
        ".claude/settings.local.json": CLAUDE,
        ".codex/hooks.json": codex.SPEC,
        ".gemini/settings.json": gemini.SPEC,
        ".cursor/hooks.json": cursor.SPEC,
    }


def without_trails_changes(repo: pygit2.Repository, old: str | None, new: str) -> str:
    """The tree `new`, but for the hook files whose only change since the tree `old` is trail's entries: those are
    as in `old` (or absent, as there). Returns `new` itself when there are none; otherwise writes the adjusted
    trees (small, and only the ones on the way to such a file) and returns the adjusted tree's id."""
    old_tree = repo[old].peel(pygit2.Tree) if old else None
    new_tree = repo[new].peel(pygit2.Tree)
    put_back: dict[str, pygit2.Object | None] = {}
    for path, spec in _specs().items():
        before, after = _entry(old_tree, path), _entry(new_tree, path)
        if _same_id(before, after) or not _is_blob(before) or not _is_blob(after):
            continue
        if jsonhooks.without_trail(spec, _data(repo, before)) == jsonhooks.without_trail(spec, _data(repo, after)):
            put_back[path] = before
    if not put_back:
        return new
    written = _rewrite(repo, new_tree, put_back)
    return str(written if written is not None else repo.TreeBuilder().write())


def _entry(tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    if tree is None:
        return None
    try:
        return tree[path]
    except KeyError:
        return None


def _same_id(a: pygit2.Object | None, b: pygit2.Object | None) -> bool:
    return (a.id if a is not None else None) == (b.id if b is not None else None)


def _is_blob(entry: pygit2.Object | None) -> bool:
    return entry is None or entry.type_str == "blob"


def _data(repo: pygit2.Repository, entry: pygit2.Object | None) -> bytes | None:
    return None if entry is None else bytes(repo[entry.id].peel(pygit2.Blob).data)


def _rewrite(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: dict[str, pygit2.Object | None]
) -> pygit2.Oid | None:
    """`tree` with each path of `changes` set to that entry (None: removed); None when the result is empty."""
    build = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    below: dict[str, dict[str, pygit2.Object | None]] = {}
    for path, entry in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            below.setdefault(head, {})[rest] = entry
        elif entry is None:
            if build.get(head) is not None:
                build.remove(head)
        else:
            build.insert(head, entry.id, entry.filemode)
    for name, inner in below.items():
        current = build.get(name)
        subtree = repo[current.id].peel(pygit2.Tree) if current is not None and current.type_str == "tree" else None
        written = _rewrite(repo, subtree, inner)
        if written is None:
            if current is not None:
                build.remove(name)
        else:
            build.insert(name, written, pygit2.enums.FileMode.TREE)
    if len(build) == 0:
        return None
    return build.write()

"""Finding a working tree's git directory with the standard library alone (no libgit2, no pathlib), for the paths
that must stay light: a hook's way to the watcher, and search's look at the refs."""

from __future__ import annotations

import os


def find_gitdir(start: str) -> str | None:
    """The git directory of the working tree containing `start`, found without libgit2: the nearest `.git`
    folder, or the folder a `.git` file (linked worktree, submodule) points to."""
    folder = os.path.abspath(start)
    while True:
        dot_git = os.path.join(folder, ".git")
        if os.path.isdir(dot_git):
            return dot_git
        if os.path.isfile(dot_git):
            try:
                with open(dot_git) as f:
                    text = f.read().strip()
            except (OSError, ValueError):
                return None
            if not text.startswith("gitdir:"):
                return None
            target = text[len("gitdir:") :].strip()
            return target if os.path.isabs(target) else os.path.realpath(os.path.join(folder, target))
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent

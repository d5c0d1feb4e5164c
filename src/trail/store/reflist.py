"""The session refs and where they point, read from the files git keeps them in, without loading libgit2.

Light commands (search) only need to know whether anything changed since they last looked: `packed-refs` and
the loose files under `refs/trail/sessions/` tell that in a few file reads. A loose ref overrides a packed one, as
in git; a symbolic or unreadable ref is left out (the full reader in steps.py reports such refs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PREFIX = "refs/trail/sessions/"
_OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


def session_tips(commondir: Path) -> dict[str, str]:
    """Session id -> the commit its ref points to."""
    tips: dict[str, str] = {}
    try:
        with open(commondir / "packed-refs", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                if line.startswith(("#", "^")):
                    continue
                oid, _, name = line.rstrip("\n").partition(" ")
                if name.startswith(PREFIX) and _OID.match(oid):
                    tips[name[len(PREFIX) :]] = oid
    except OSError:
        pass
    folder = commondir / PREFIX
    try:
        names = os.listdir(folder)
    except OSError:
        return tips
    for name in names:
        if name.endswith(".lock"):
            continue
        try:
            with open(folder / name, encoding="ascii", errors="replace") as f:
                oid = f.read(100).strip()
        except (OSError, IsADirectoryError):
            continue
        if _OID.match(oid):
            tips[name] = oid
    return tips


def commondir_of(start: str) -> Path | None:
    """The repository's shared git directory from any folder inside its working tree (or a linked worktree)."""
    from trail.gitdir import find_gitdir

    gitdir = find_gitdir(start)
    if gitdir is None:
        return None
    pointer = Path(gitdir) / "commondir"
    if pointer.is_file():
        target = Path(pointer.read_text().strip())
        return target if target.is_absolute() else (Path(gitdir) / target).resolve()
    return Path(gitdir)

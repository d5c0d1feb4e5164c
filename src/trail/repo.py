"""Finding the user's repository and trail's private places in it.

trail keeps its own files under the git directory (`.git/trail/`, shared by all worktrees) and, for what belongs
to one worktree such as the snapshot index, under that worktree's git directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pygit2

from trail.config import TrailConfig, config_str
from trail.errors import NotARepositoryError


@dataclass
class TrailRepo:
    """An open repository and the paths trail uses inside it."""

    git: pygit2.Repository

    @classmethod
    def discover(cls, path: str | os.PathLike[str] = ".") -> TrailRepo:
        start = os.fspath(path)
        if not os.path.exists(start):
            raise NotARepositoryError(f"{start}: no such file or directory")
        found = pygit2.discover_repository(start)
        if found is None:
            raise NotARepositoryError(
                f"{os.path.abspath(start)} is not inside a git repository. "
                "Run trail from a git working tree, or create one with `git init`."
            )
        repo = pygit2.Repository(found)
        if repo.is_bare or repo.workdir is None:
            raise NotARepositoryError(
                f"{found} is a bare repository: trail records working trees. Run it from a clone with files."
            )
        return cls(repo)

    @property
    def workdir(self) -> Path:
        return Path(self.git.workdir)

    @property
    def gitdir(self) -> Path:
        """This worktree's git directory (`.git`, or `.git/worktrees/<name>` in a linked worktree)."""
        return Path(self.git.path)

    @cached_property
    def commondir(self) -> Path:
        """The git directory shared by all worktrees."""
        pointer = self.gitdir / "commondir"
        if pointer.is_file():
            target = Path(pointer.read_text().strip())
            return (self.gitdir / target).resolve() if not target.is_absolute() else target
        return self.gitdir

    @property
    def trail_dir(self) -> Path:
        """trail's shared private folder: config, locks, logs, search index."""
        return self.commondir / "trail"

    @property
    def worktree_trail_dir(self) -> Path:
        """trail's folder for this worktree alone: the snapshot index."""
        return self.gitdir / "trail"

    def ensure_dirs(self) -> None:
        self.trail_dir.mkdir(exist_ok=True)
        self.worktree_trail_dir.mkdir(exist_ok=True)

    @cached_property
    def config(self) -> TrailConfig:
        return TrailConfig(self.trail_dir / "config")

    def head_commit(self) -> pygit2.Commit | None:
        """The commit HEAD points to, or None on an unborn branch."""
        if self.git.head_is_unborn:
            return None
        try:
            return self.git.head.peel(pygit2.Commit)
        except (pygit2.GitError, KeyError):
            return None

    def head_branch(self) -> str | None:
        try:
            target = self.git.references["HEAD"].target
        except (KeyError, pygit2.GitError):
            return None
        if isinstance(target, str) and target.startswith("refs/heads/"):
            return target[len("refs/heads/") :]
        return None

    def user_identity(self) -> tuple[str, str]:
        """The user's git name and email (for the committer of steps), with a neutral fallback."""
        config = self.git.config
        name = config_str(config, "user.name") or os.environ.get("GIT_COMMITTER_NAME") or "trail"
        email = config_str(config, "user.email") or os.environ.get("GIT_COMMITTER_EMAIL") or "trail@localhost"
        return name, email

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

from .errors import ConfigError, NotARepositoryError, TrailError

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
CONFIG_TEMPLATE = """\
# trail's settings for this repository (git-config syntax; edit with
#   git config -f .git/trail/config KEY VALUE).
#
# [snapshot]
#     maxFileSize = 10m      # files larger than this are left out of step trees and listed instead
# [redact]
#     pattern = my-secret-[0-9a-f]{32}    # extra regexes to redact; repeat the line for more
"""


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
        name = _config_str(config, "user.name") or os.environ.get("GIT_COMMITTER_NAME") or "trail"
        email = _config_str(config, "user.email") or os.environ.get("GIT_COMMITTER_EMAIL") or "trail@localhost"
        return name, email


class TrailConfig:
    """trail's own settings, a git-config file at `.git/trail/config` (read only when present)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._config = pygit2.Config(str(path)) if path.is_file() else None

    def get(self, key: str) -> str | None:
        return _config_str(self._config, key) if self._config is not None else None

    def get_all(self, key: str) -> list[str]:
        if self._config is None:
            return []
        try:
            return [value for value in self._config.get_multivar(key) if value is not None]
        except (KeyError, pygit2.GitError):
            return []

    def get_bool(self, key: str, default: bool) -> bool:
        if self._config is None or key not in self._config:
            return default
        try:
            return self._config.get_bool(key)
        except (pygit2.GitError, ValueError) as e:
            raise ConfigError(f"{self.path}: {key} must be true or false ({e})") from None

    def get_size(self, key: str, default: int) -> int:
        if self._config is None or key not in self._config:
            return default
        try:
            return self._config.get_int(key)  # git's k/m/g suffixes work here
        except (pygit2.GitError, ValueError) as e:
            raise ConfigError(f"{self.path}: {key} must be a size such as 10m ({e})") from None

    @property
    def max_file_size(self) -> int:
        return self.get_size("snapshot.maxFileSize", DEFAULT_MAX_FILE_SIZE)

    @property
    def redact_enabled(self) -> bool:
        return self.get_bool("redact.enabled", True)

    @property
    def redact_patterns(self) -> list[str]:
        return self.get_all("redact.pattern")


def _config_str(config: pygit2.Config | None, key: str) -> str | None:
    if config is None:
        return None
    try:
        value = config[key]
    except (KeyError, pygit2.GitError):
        return None
    return value if isinstance(value, str) and value else None


def init_trail(repo: TrailRepo) -> bool:
    """Create trail's folders and a commented config file; False if they were already there."""
    created = not repo.trail_dir.exists()
    repo.ensure_dirs()
    config = repo.trail_dir / "config"
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE)
        created = True
    return created


CONFIG_KEYS = ("snapshot.maxfilesize", "redact.pattern", "redact.enabled", "watch.auto")


def set_config(
    repo: TrailRepo, key: str | None, value: str | None, add: bool = False, unset: bool = False, as_list: bool = False
) -> str:
    """`git config` on trail's own file, for the keys trail knows; returns what to print."""
    from .gitcli import run_git

    path = repo.trail_dir / "config"
    if as_list:
        return run_git(["config", "-f", path, "--list"], cwd=repo.workdir)
    if key is None:
        raise ConfigError("name a key (or use --list); `trail config --help` lists them")
    if key.lower() not in CONFIG_KEYS:
        raise ConfigError(f"unknown key {key!r}; trail knows {', '.join(CONFIG_KEYS)}")
    if unset:
        run_git(["config", "-f", path, "--unset-all", key], cwd=repo.workdir)
    elif value is None:
        try:
            return run_git(["config", "-f", path, "--get-all", key], cwd=repo.workdir)
        except TrailError:
            return ""
    else:
        kind = {"redact.enabled": ["--type=bool"], "watch.auto": ["--type=bool"]}.get(key.lower(), [])
        run_git(["config", "-f", path, *kind, "--add" if add else "--replace-all", key, value], cwd=repo.workdir)
    repo.__dict__.pop("config", None)
    return ""

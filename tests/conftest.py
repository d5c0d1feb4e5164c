"""Shared fixtures: real git repositories in temporary folders, with a blank, deterministic git config.

HOME is replaced before pygit2 is imported (libgit2 reads it once), so no test sees the developer's own config.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="trail-test-home-"))
(_HOME / ".gitconfig").write_text(
    "[user]\n\tname = Test User\n\temail = test@example.com\n"
    "[init]\n\tdefaultBranch = main\n"
    '[protocol "file"]\n\tallow = always\n'
    "[advice]\n\tdetachedHead = false\n"
)
# trail's own defaults for the tests: no watcher starts by itself (tests that want one ask for it).
(_HOME / ".config" / "trail").mkdir(parents=True)
(_HOME / ".config" / "trail" / "config").write_text("[watch]\n\tauto = false\n")
for _name in list(os.environ):
    if _name.startswith("GIT_"):
        del os.environ[_name]
os.environ.update(
    {
        "HOME": str(_HOME),
        "XDG_CONFIG_HOME": str(_HOME / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    }
)

import pygit2  # noqa: E402  (after HOME is set)

pygit2.settings.search_path[pygit2.enums.ConfigLevel.GLOBAL] = str(_HOME)

# The installed console script, as a user runs it; `python -m trail.cli` where it is not installed.
_SCRIPT = Path(sys.executable).parent / "trail"
TRAIL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "trail.cli"]


def git(
    *args: str | os.PathLike[str], cwd: str | os.PathLike[str], check: bool = True, input: bytes | None = None
) -> str:  # noqa: A002
    """Run the real git binary, as a user would, and return its output."""
    result = subprocess.run(["git", *map(os.fspath, args)], cwd=cwd, capture_output=True, input=input, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {args} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", "surrogateescape")


def git_bytes(*args: str | os.PathLike[str], cwd: str | os.PathLike[str], input: bytes | None = None) -> bytes:  # noqa: A002
    result = subprocess.run(["git", *map(os.fspath, args)], cwd=cwd, capture_output=True, input=input, check=True)
    return result.stdout


def trail(*args: str | os.PathLike[str], cwd: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """Run the trail command line in a subprocess."""
    return subprocess.run([*TRAIL, *map(os.fspath, args)], cwd=cwd, capture_output=True, text=True, check=False)


def commit_all(repo: Path, message: str = "commit") -> str:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def tree_files(repo: Path, rev: str) -> dict[str, str]:
    """path -> blob id (or mode for links/gitlinks) of a commit's tree, as git lists it."""
    out = git_bytes("ls-tree", "-r", "-z", "--full-tree", rev, cwd=repo)
    files = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            mode, _kind, oid = meta.decode().split()
            files[os.fsdecode(path)] = f"{mode} {oid}"
    return files


@pytest.fixture(autouse=True)
def _outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from an empty folder that is not a repository, so a test that forgets to name its
    repository fails loudly instead of recording into the checkout that runs the tests."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A repository with one commit of two files."""
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", cwd=path)
    (path / "README.md").write_text("# project\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('hello')\n")
    commit_all(path, "initial")
    yield path


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A repository with no commits (unborn HEAD)."""
    path = tmp_path / "empty"
    path.mkdir()
    git("init", "-q", cwd=path)
    return path

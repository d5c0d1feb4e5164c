"""Running the `git` binary, for the few jobs libgit2 does not do the way a user expects.

Inherited `GIT_*` variables are dropped first: inside a git hook they point at the hook's repository and index,
and would make git act on the wrong one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from trail.errors import TrailError

_KEEP = (
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_SYSTEM",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_TRACE",
)


def _arg(value: str | os.PathLike[str]) -> str:
    return os.fspath(value)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP}


def git_process(
    args: Sequence[str | os.PathLike[str]], cwd: str | os.PathLike[str] | Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `git ARGS` in `cwd` (with `stdin` as its input, else none) and return what it did, failed or not."""
    if shutil.which("git") is None:
        raise TrailError("the git command was not found: install git and make sure it is on PATH")
    return subprocess.run(
        ["git", *map(_arg, args)],
        cwd=cwd,
        env=clean_env(),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        errors="surrogateescape",
    )


def run_git(
    args: Sequence[str | os.PathLike[str]], cwd: str | os.PathLike[str] | Path, stdin: str | None = None
) -> str:
    """Run `git ARGS` in `cwd` and return its standard output; a failure raises TrailError with git's words."""
    result = git_process(args, cwd, stdin)
    if result.returncode != 0:
        raise git_error(args, result)
    return result.stdout


def git_error(args: Sequence[str | os.PathLike[str]], result: subprocess.CompletedProcess[str]) -> TrailError:
    """The error to raise for a git command that failed: the command (without its `-c` settings) and git's words."""
    words = list(map(_arg, args))
    while len(words) > 2 and words[0] == "-c":
        words = words[2:]
    detail = (result.stderr or result.stdout).strip()
    return TrailError(f"git {' '.join(words[:2])} failed: {detail}")

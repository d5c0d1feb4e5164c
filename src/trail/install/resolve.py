"""Whether the command a hook runs finds trail-hook when the agent runs it, and whether it names a path only one person
has.

An agent started from another shell than the one that installed (a desktop launcher, a new terminal) has no virtual
environment on its PATH: a bare `trail-hook` that only the venv provides runs nothing there, and the agent carries on
with nothing recorded and nothing said. So the PATH that counts is this one without the venv's folders.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from trail.gitcli import clean_env

HOOK = "trail-hook"


def this_hook() -> Path:
    """The trail-hook script of the trail that runs now."""
    return Path(sys.executable).parent / HOOK


def venv_bins() -> list[Path]:
    """The program folders of the virtual environment this runs in, and of the one the shell activated."""
    found: list[Path] = []
    if sys.prefix != sys.base_prefix:
        found.append(Path(sys.prefix) / "bin")
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        found.append(Path(active) / "bin")
    return found


def agent_path(path: str | None = None) -> str:
    """PATH (or `path`) without the virtual environments' folders: what a shell without the venv searches."""
    bins = set()
    for folder in venv_bins():
        with suppress(OSError):
            bins.add(os.path.realpath(folder))
    entries = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and os.path.realpath(e) not in bins)


def bare_finds_this_hook() -> bool:
    """Whether a bare `trail-hook`, run without the venv, is this installation's."""
    found = shutil.which(HOOK, path=agent_path())
    if found is None:
        return False
    try:
        return os.path.samefile(found, this_hook())
    except OSError:
        return False


def program_path(program: str) -> str:
    """A program as a hook names it (perhaps quoted for the shell), as a path or a bare name."""
    try:
        words = shlex.split(program)
    except ValueError:
        return program
    return words[0] if words else program


@dataclass(frozen=True)
class ProgramCheck:
    """What running `program` from an agent's hook comes to."""

    program: str  # as the hook names it
    runs: str | None  # the file a shell without the venv runs; None: none
    problem: str | None  # why the hook records nothing, or None
    other: bool = False  # it runs a trail-hook of another installation of trail
    personal: str | None = None  # the path is one person's: "the virtual environment …", "the home folder …"


def check_program(program: str) -> ProgramCheck:
    """Whether `program` runs a trail-hook where an agent runs it, and whose path it is."""
    name = program_path(program)
    if os.sep not in name:
        found = shutil.which(name, path=agent_path())
        if found is None:
            where = ", ".join(str(b) for b in venv_bins()) or "this shell"
            return ProgramCheck(
                program,
                None,
                f"`{name}` is not on PATH without the virtual environment ({where}): an agent started from another "
                "shell runs nothing, and nothing is recorded",
            )
        return ProgramCheck(program, found, None, other=not _same(found, this_hook()))
    path = Path(name).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        return ProgramCheck(
            program, None, f"{path} is not there (or not executable) any more: the hook runs nothing", personal=None
        )
    return ProgramCheck(program, str(path), None, other=not _same(str(path), this_hook()), personal=personal(path))


def personal(path: Path) -> str | None:
    """Why a program's path is one person's: inside a virtual environment, or a home folder; None if neither."""
    for folder in (path.parent, *path.parent.parents):
        if (folder / "pyvenv.cfg").is_file():
            return f"the virtual environment {folder}"
    home = Path.home()
    with suppress(ValueError):
        path.relative_to(home)
        return f"the home folder {home}"
    return None


def shared(path: Path, workdir: Path | None, meant_to_be_shared: bool) -> str | None:
    """Why the settings file at `path` reaches other people through git (None: it does not): git tracks it, or it is
    a project file in the working tree that git does not ignore (the next `git add -A` takes it)."""
    if workdir is None:
        return None
    try:
        relative = Path(os.path.realpath(path)).relative_to(os.path.realpath(workdir))
    except ValueError:
        return None
    if _git_ok(workdir, "ls-files", "--error-unmatch", "--", str(relative)):
        return "git tracks it"
    if meant_to_be_shared and not _git_ok(workdir, "check-ignore", "-q", "--", str(relative)):
        return "it is in the working tree and git does not ignore it"
    return None


def _git_ok(workdir: Path, *args: str) -> bool:
    try:
        done = subprocess.run(
            ["git", *args], cwd=workdir, env=clean_env(), capture_output=True, stdin=subprocess.DEVNULL, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _same(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

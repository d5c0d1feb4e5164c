"""Every agent's hook installations in one shape, and what is wrong with each: a hook whose command finds no
trail-hook where the agent runs it, or a shared settings file that names one person's trail-hook.

`trail hooks status` shows the installations; `trail doctor` reports their problems and, with --fix, writes again
the ones it is clearly safe to (see `hook_checks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from trail.errors import TrailError
from trail.install import jsonhooks
from trail.install.resolve import check_program, program_path, shared

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Installation:
    """trail's entries in one agent's settings file (or git's hook), as found."""

    agent: str  # as `trail hooks install AGENT` names it
    title: str  # as people call the agent
    scope: str  # project | local | user, or the hook's name for git
    path: Path | None
    events: tuple[str, ...]  # the events trail records for this agent
    installed: tuple[str, ...] = ()  # those that have an entry of trail's here
    programs: tuple[str, ...] = ()  # how trail's entries name trail-hook (one, unless edited by hand)
    error: str | None = None
    shared_scope: bool = False  # a project file, meant to be committed
    reinstall: str = ""  # the command that writes it again
    redo: Callable[[], Any] | None = field(default=None, compare=False, repr=False)  # does that, for doctor --fix

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(event for event in self.events if event not in self.installed)

    @property
    def state(self) -> str:
        """all | some | none"""
        if not self.installed:
            return "none"
        return "some" if self.missing else "all"

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "path": None if self.path is None else str(self.path),
            "state": self.state,
            "installed": list(self.installed),
            "missing": list(self.missing),
            "programs": list(self.programs),
            "error": self.error,
        }


def hook_file(
    spec: jsonhooks.HookFile,
    events: tuple[str, ...],
    scope: str,
    path_of: Callable[[str, Path | None], Path],
    workdir: Path | None,
    install: Callable[[Path | None, str], Any],
) -> Installation:
    """trail's entries in an agent's JSON hook file of `scope` (at `path_of(scope, workdir)`); `install(workdir,
    scope)` writes them again."""
    if scope != "user" and workdir is None:
        return Installation(spec.source, spec.title, scope, None, events, error="not in a git working tree")
    path = path_of(scope, workdir)
    entries = jsonhooks.find(spec, path, events)
    return Installation(
        spec.source,
        spec.title,
        scope,
        path,
        events,
        entries.installed,
        entries.programs,
        entries.error,
        shared_scope=scope == "project",
        reinstall=f"trail hooks install {spec.source} --scope {scope}",
        redo=partial(install, workdir, scope),
    )


def describe(found: Installation, current: str) -> str:
    """The state of an installation in words, for `trail hooks status`."""
    if found.error:
        return found.error
    if found.state == "none":
        return "not installed"
    state = "installed" if found.state == "all" else f"partly installed, missing {', '.join(found.missing)}"
    others = [program for program in found.programs if program != current]
    if others:
        state += f" (runs {others[0]}, not this trail's trail-hook; install again to update)"
    return state


def install_notes(path: Path, workdir: Path | None, shared_scope: bool, command: str, reinstall: str) -> list[str]:
    """What to tell the person who just installed: a shared file that now names their own trail-hook."""
    checked = check_program(command)
    reason = shared(path, workdir, shared_scope) if checked.personal else None
    if reason is None:
        return []
    return [f"warning: {_shared_warning(path, checked.program, checked.personal or '', reason)}"]


def installations(workdir: Path | None, agents: Iterable[ModuleType] = ()) -> list[Installation]:
    """Claude Code's, git's and every other agent's installations (`agents`: their trail.install modules)."""
    from trail.install import agents as inst

    found = [inst.claude_status(scope, workdir) for scope in inst.SCOPES]
    git = inst.git_status(workdir)
    if git.hooks_dir is not None or git.error:
        hooks_dir = git.hooks_dir
        found.append(
            Installation(
                "git",
                "git",
                inst.GIT_HOOK,
                None if hooks_dir is None else hooks_dir / inst.GIT_HOOK,
                (inst.GIT_HOOK,),
                (inst.GIT_HOOK,) if git.installed else (),
                (git.program,) if git.program else (),
                git.error,
                reinstall="trail hooks install git",
                redo=None if hooks_dir is None else (lambda: inst.install_git(hooks_dir, workdir=workdir)),
            )
        )
    for module in agents:
        listed = getattr(module, "installations", None)
        if listed is not None:
            found.extend(listed(workdir))
    return found


def hook_checks(
    workdir: Path | None, agents: Iterable[ModuleType] = (), fix: bool = False
) -> list[tuple[str, str, str]]:
    """(status, name, detail) for `trail doctor`: each installed hook whose command runs no trail-hook where the agent
    runs it (FAIL), and each shared file that names one person's trail-hook (warn).

    With `fix`, a hook that runs nothing is written again (with the command `trail hooks install` writes now) when
    that is clearly safe: the file is the person's own, not shared through git, and holds trail's entries for every
    event, so nothing but the program's path changes. Anything else is explained, not rewritten.
    """
    modules = list(agents)
    found = [i for i in installations(workdir, modules) if i.installed]
    out: list[tuple[str, str, str]] = []
    for inst in found:
        name = f"hooks {inst.agent} {inst.scope}"
        reason = shared(inst.path, workdir, inst.shared_scope) if inst.path is not None else None
        for program in inst.programs:
            checked = check_program(program)
            if checked.problem:
                out.append(_broken(inst, name, checked.problem, reason, fix))
            if reason is not None and inst.path is not None and checked.personal:
                out.append((WARN, name, _shared_warning(inst.path, program, checked.personal, reason)))
    if not out:
        listed = ", ".join(f"{i.agent} {i.scope}" for i in found)
        out = [(OK, "hooks", f"{listed}: each runs a trail-hook" if found else "none installed (trail hooks install)")]
    return out


def _broken(inst: Installation, name: str, problem: str, shared_reason: str | None, fix: bool) -> tuple[str, str, str]:
    where = f"{inst.title}'s hook in {inst.path}"
    cure = f"`{inst.reinstall}` writes trail-hook's full path"
    if not fix:
        return FAIL, name, f"{where}: {problem}. {cure}; `trail doctor --fix` does it where that is safe"
    if shared_reason is not None or inst.redo is None:
        why = f"{shared_reason}, so the file is shared" if shared_reason else "trail cannot write it"
        return FAIL, name, f"{where}: {problem}. Not rewritten: {why}. {cure}, for you alone with another --scope"
    if inst.state != "all":
        return (
            FAIL,
            name,
            f"{where}: {problem}. Not rewritten: trail's entries there were edited (missing "
            f"{', '.join(inst.missing)}), and install would add them back. {cure}",
        )
    try:
        inst.redo()
    except TrailError as e:
        return FAIL, name, f"{where}: {problem}. Writing it again failed: {e}"
    return OK, name, f"{where} ran nothing ({problem}); wrote it again as `{inst.reinstall}` does"


def _shared_warning(path: Path, program: str, personal: str, reason: str) -> str:
    return (
        f"{path} names {program_path(program)}, inside {personal}, and {reason}: for anyone else who gets this "
        "file through git the hook runs nothing. Install into a file of your own instead (--scope user, or local "
        "where the agent has one), or install trail where a bare `trail-hook` is on PATH without a virtual "
        "environment (pipx install, for one) and install again"
    )

"""`trail hooks install cursor`: trail's command hooks in Cursor's hooks.json, for the project or the user.

Cursor runs `{trail_hook} cursor` (hooks/cursor-hooks.json) on each agent event trail records, and reads JSON back
on stdout: trail answers `{}`, and `{"continue": true}` to beforeSubmitPrompt, so nothing the agent does changes.
The permission hooks (beforeShellExecution, beforeMCPExecution, beforeReadFile, preToolUse) are left out on
purpose: whatever trail answered there would take part in allowing or refusing the agent's actions. No timeout is
written: Cursor's sources disagree on its unit, and its default applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.install import jsonhooks
from trail.install.agents import hook_command
from trail.install.checks import Installation, describe, hook_file, install_notes

SCOPES = ("project", "user")
TITLE = "Cursor (hooks.json)"
# Cursor requires `"version": 1` in a hooks file; one install creates gets it, and one that lacks it too.
SPEC = jsonhooks.HookFile(
    "cursor", "Cursor", grouped=False, template_name="cursor-hooks.json", new_file=(("version", 1),)
)
template = SPEC.template  # trail's entries for the `hooks` object, each running `COMMAND cursor`
EVENTS = SPEC.events


def hooks_path(scope: str, workdir: Path | None) -> Path:
    if scope == "user":
        return Path.home().absolute() / ".cursor" / "hooks.json"
    if scope != "project":
        raise TrailError(f"unknown scope {scope!r} for Cursor: use one of {', '.join(SCOPES)}")
    if workdir is None:
        raise TrailError("the project scope needs a git working tree: run trail inside one, or use --scope user")
    return workdir.absolute() / ".cursor" / "hooks.json"


def install(workdir: Path | None, scope: str | None) -> str:
    scope = scope or SCOPES[0]
    path = hooks_path(scope, workdir)
    command = hook_command()
    change = jsonhooks.install(SPEC, path, template(command))
    lines = [change.said("Cursor") + ("" if change.action == "unchanged" else "; Cursor picks them up on restart")]
    lines += install_notes(path, workdir, scope == "project", command, f"trail hooks install cursor --scope {scope}")
    return "\n".join(lines)


def uninstall(workdir: Path | None, scope: str | None) -> str:
    path = hooks_path(scope or SCOPES[0], workdir)
    return jsonhooks.uninstall(SPEC, path, template("trail-hook")).said("Cursor")


def installations(workdir: Path | None) -> list[Installation]:
    """One per scope: the file, and trail's entries in it (for status and doctor)."""
    return [hook_file(SPEC, EVENTS, scope, hooks_path, workdir, install) for scope in SCOPES]


def status(workdir: Path | None) -> list[tuple[str, str, str]]:
    return [(i.scope, str(i.path) if i.path else "-", describe(i, hook_command())) for i in installations(workdir)]


def status_json(workdir: Path | None) -> list[dict[str, Any]]:
    return [i.to_json() for i in installations(workdir)]

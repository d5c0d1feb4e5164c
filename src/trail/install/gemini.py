"""`trail hooks install gemini`: trail's command hooks in Gemini CLI's settings.json, for the project or the user.

Gemini CLI runs `{trail_hook} gemini` (hooks/gemini-settings.json) on each event trail records; its timeouts are in
milliseconds. A project's hooks run only in a folder the user trusts, and none run while the settings turn the hooks
system off (`hooksConfig.enabled`, `tools.enableHooks` or `hooks.enabled` false): install says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.install import jsonhooks
from trail.install.agents import hook_command
from trail.install.checks import Installation, describe, hook_file, install_notes

SCOPES = ("project", "user")
TITLE = "Gemini CLI (settings.json)"
SPEC = jsonhooks.HookFile("gemini", "Gemini CLI", grouped=True, template_name="gemini-settings.json")
template = SPEC.template  # trail's matcher groups for the `hooks` object, each running `COMMAND gemini`
EVENTS = SPEC.events
# Where the settings turn the whole hooks system off, newest first (settingsSchema.ts of each version).
_SWITCHES = (("hooksConfig", "enabled"), ("tools", "enableHooks"), ("hooks", "enabled"))


def gemini_dir() -> Path:
    """~/.gemini, or $GEMINI_CLI_HOME/.gemini (Gemini CLI's own home override)."""
    home = os.environ.get("GEMINI_CLI_HOME")
    return (Path(home).expanduser() if home else Path.home()).absolute() / ".gemini"


def settings_path(scope: str, workdir: Path | None) -> Path:
    if scope == "user":
        return gemini_dir() / "settings.json"
    if scope != "project":
        raise TrailError(f"unknown scope {scope!r} for Gemini CLI: use one of {', '.join(SCOPES)}")
    if workdir is None:
        raise TrailError("the project scope needs a git working tree: run trail inside one, or use --scope user")
    return workdir.absolute() / ".gemini" / "settings.json"


def install(workdir: Path | None, scope: str | None) -> str:
    scope = scope or SCOPES[0]
    path = settings_path(scope, workdir)
    command = hook_command()
    lines = [jsonhooks.install(SPEC, path, template(command)).said("Gemini CLI")]
    off = hooks_off(workdir)
    if off:
        lines.append(f"note: {off}")
    if scope == "project":
        lines.append("note: Gemini CLI runs a project's hooks only in a folder you trust (it asks, or /permissions)")
    lines += install_notes(path, workdir, scope == "project", command, f"trail hooks install gemini --scope {scope}")
    return "\n".join(lines)


def uninstall(workdir: Path | None, scope: str | None) -> str:
    path = settings_path(scope or SCOPES[0], workdir)
    return jsonhooks.uninstall(SPEC, path, template("trail-hook")).said("Gemini CLI")


def installations(workdir: Path | None) -> list[Installation]:
    """One per scope: the file, and trail's entries in it (for status and doctor)."""
    return [hook_file(SPEC, EVENTS, scope, settings_path, workdir, install) for scope in SCOPES]


def status(workdir: Path | None) -> list[tuple[str, str, str]]:
    rows = [(i.scope, str(i.path) if i.path else "-", describe(i, hook_command())) for i in installations(workdir)]
    off = hooks_off(workdir)
    if off:
        rows.append(("", "", f"note: {off}"))
    return rows


def status_json(workdir: Path | None) -> list[dict[str, Any]]:
    off = hooks_off(workdir)
    return [{**i.to_json(), "hooks_off": off} for i in installations(workdir)]


def hooks_off(workdir: Path | None) -> str | None:
    """Why Gemini CLI runs no hook at all here, if its settings turn its hooks system off (the project's file
    overrides the user's)."""
    files = [settings_path("user", None)] + ([settings_path("project", workdir)] if workdir is not None else [])
    settings: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        try:
            settings.append((path, jsonhooks.read_settings(path)[1]))
        except TrailError:
            continue
    for section, key in _SWITCHES:
        effective: tuple[Path, Any] | None = None
        for path, data in settings:  # user first, then the project's, which wins
            value = data.get(section)
            if isinstance(value, dict) and key in value:
                effective = (path, value[key])
        if effective is not None and effective[1] is False:
            return (
                f'{effective[0]} turns Gemini CLI\'s hooks off ("{section}": {{"{key}": false}}): no hook runs, '
                "and trail records nothing, until it is true"
            )
    return None

"""`trail hooks install codex`: trail's command hooks in Codex's hooks.json, or its legacy notify in config.toml.

Codex reads hooks from `hooks.json` beside each config layer: `<repo>/.codex/hooks.json` (project) and
`$CODEX_HOME/hooks.json` (user, ~/.codex), since 0.114 (developers.openai.com/codex/hooks; codex-rs/hooks/src/engine/
discovery.rs). It runs a hook only once the person has trusted it (`/hooks`), and a project's only in a trusted
project. Codex before 0.114 has no hooks, only `notify = [program, args...]` in `$CODEX_HOME/config.toml`, run
with a JSON argument at the end of each turn; `--scope notify` writes that (chaining a notify program already
there), and the default scope, `auto`, picks it when the installed Codex is older than 0.114.

config.toml is the person's own file: install changes only the `notify` line (or adds one at the top), checks with
tomllib that nothing else changed, and keeps the file as it was so that uninstall puts back the very bytes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

from trail.adapters.codex_fork import codex_home
from trail.errors import TrailError
from trail.install import jsonhooks
from trail.install.agents import hook_command
from trail.install.checks import Installation, describe, hook_file, install_notes
from trail.install.files import drop_backup, load_backup, read_existing, save_backup, write_atomic

SCOPES = ("auto", "project", "user", "notify")
TITLE = "Codex CLI (hooks.json, or notify in config.toml)"
# No matcher in trail's groups: every tool (an older Codex reads `matcher` as a regular expression, where `*` alone
# is not one).
SPEC = jsonhooks.HookFile("codex", "Codex CLI", grouped=True, template_name="codex-hooks.json")
template = SPEC.template  # trail's matcher groups for the `hooks` object, each running `COMMAND codex`
EVENTS = SPEC.events
BACKUP = "codex-config"  # config.toml as it was before install (files.backup_path)
NOTIFY_SOURCE = "codex-notify"
HOOKS_SINCE = (0, 114, 0)  # rust-v0.114.0: the first hooks engine (github.com/openai/codex/releases)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_NOTIFY_LINE = re.compile(r"^[ \t]*notify[ \t]*=")


def hooks_path(scope: str, workdir: Path | None) -> Path:
    if scope == "user":
        return codex_home().absolute() / "hooks.json"
    if scope != "project":
        raise TrailError(f"unknown scope {scope!r} for Codex CLI hooks: use project or user")
    if workdir is None:
        raise TrailError("the project scope needs a git working tree: run trail inside one, or use --scope user")
    return workdir.absolute() / ".codex" / "hooks.json"


def config_path() -> Path:
    return codex_home().absolute() / "config.toml"


def codex_version() -> tuple[int, int, int] | None:
    """The installed Codex's version (`codex --version` prints `codex-cli 0.117.0`), or None."""
    try:
        out = subprocess.run(
            ["codex", "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.search(out)
    return (int(found.group(1)), int(found.group(2)), int(found.group(3))) if found else None


def install(workdir: Path | None, scope: str | None) -> str:
    scope = scope or SCOPES[0]
    lines: list[str] = []
    if scope == "auto":
        version = codex_version()
        if version is not None and version < HOOKS_SINCE:
            scope = "notify"
            lines.append(f"Codex {'.'.join(map(str, version))} has no hooks (they came in 0.114): using notify")
        else:
            scope = "project" if workdir is not None else "user"
    if scope == "notify":
        return "\n".join(lines + [_install_notify()])
    path = hooks_path(scope, workdir)
    command = hook_command()
    lines.append(jsonhooks.install(SPEC, path, template(command)).said("Codex"))
    lines.append("note: Codex runs a hook once you trust it: open /hooks in Codex and trust trail's")
    if scope == "project":
        lines.append("note: Codex reads a project's .codex/ only when you trust the project")
    off = hooks_off()
    if off:
        lines.append(f"note: {off}")
    lines += install_notes(path, workdir, scope == "project", command, f"trail hooks install codex --scope {scope}")
    return "\n".join(lines)


def uninstall(workdir: Path | None, scope: str | None) -> str:
    scope = scope or SCOPES[0]
    if scope == "auto":  # whichever is there: the project's hooks first, then notify
        if workdir is not None and jsonhooks.find(SPEC, hooks_path("project", workdir), EVENTS).installed:
            scope = "project"
        elif _ours(_read_toml(config_path())[1].get("notify")) is not None:
            scope = "notify"
        else:
            scope = "project" if workdir is not None else "user"
    if scope == "notify":
        return _uninstall_notify()
    path = hooks_path(scope, workdir)
    return jsonhooks.uninstall(SPEC, path, template("trail-hook")).said("Codex")


def installations(workdir: Path | None) -> list[Installation]:
    """The project's and the user's hooks.json, and notify in config.toml (for status and doctor)."""
    found = [hook_file(SPEC, EVENTS, scope, hooks_path, workdir, install) for scope in ("project", "user")]
    path = config_path()
    try:
        argv = _ours(_read_toml(path)[1].get("notify"))
        error = None
    except TrailError as e:
        argv, error = None, str(e)
    found.append(
        Installation(
            "codex",
            "Codex CLI",
            "notify",
            path,
            ("notify",),
            ("notify",) if argv else (),
            (shlex.quote(argv[0]),) if argv else (),
            error,
            reinstall="trail hooks install codex --scope notify",
            redo=partial(install, workdir, "notify"),
        )
    )
    return found


def status(workdir: Path | None) -> list[tuple[str, str, str]]:
    current = hook_command()
    rows = []
    for found in installations(workdir):
        state = describe(found, current)
        if found.scope == "notify" and found.installed:
            state = "installed (legacy notify: turn ends only)" + state.removeprefix("installed")
        rows.append((found.scope, str(found.path) if found.path else "-", state))
    off = hooks_off()
    if off:
        rows.append(("", "", f"note: {off}"))
    return rows


def status_json(workdir: Path | None) -> list[dict[str, Any]]:
    off = hooks_off()
    return [{**found.to_json(), "hooks_off": off} for found in installations(workdir)]


def hooks_off() -> str | None:
    """Why Codex runs no hook here, if its config.toml turns hooks off (`[features] hooks`, `codex_hooks` before
    0.129: developers.openai.com/codex/hooks, "Turn hooks off")."""
    path = config_path()
    try:
        features = _read_toml(path)[1].get("features")
    except TrailError:
        return None
    if not isinstance(features, dict):
        return None
    for key in ("hooks", "codex_hooks"):
        if features.get(key) is False:
            return f"{path} turns Codex's hooks off ([features] {key} = false): no hook runs until it is true"
    return None


# ---------------------------------------------------------------------------------------------------------------
# notify in config.toml


def _install_notify() -> str:
    path = config_path()
    raw, data = _read_toml(path)
    text = "" if raw is None else raw.decode("utf-8")
    current = data.get("notify")
    argv0 = shlex.split(hook_command())[0]
    mine = _ours(current)
    if current is not None and mine is None and not _is_argv(current):
        raise TrailError(f"{path}: notify is not a list of strings; fix it by hand, then run the command again")
    chained = (mine[2:] if mine is not None else list(current or [])) if current is not None else []
    wanted = [argv0, NOTIFY_SOURCE, *chained]
    if current == wanted:
        return f"trail's Codex notify is already installed in {path}"
    new_text = _with_notify(text, data, wanted, path)
    if mine is None:  # a file that already names trail is not what the person had: keep the first backup
        save_backup(BACKUP, path, raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, new_text.encode("utf-8"), new_mode=0o600)
    lines = [f"{'Updated' if mine else 'Installed'} trail's Codex notify in {path}: each turn's end is recorded"]
    if chained and mine is None:
        lines.append(f"Your notify program ({shlex.join(chained)}) still runs, first, at each turn's end")
    return "\n".join(lines)


def _uninstall_notify() -> str:
    path = config_path()
    raw, data = _read_toml(path)
    mine = _ours(data.get("notify"))
    if raw is None or mine is None:
        drop_backup(BACKUP, path)
        return f"trail's Codex notify is not installed in {path}: nothing to do"
    text = raw.decode("utf-8")
    chained = mine[2:]
    backup = load_backup(BACKUP, path)
    if backup is not None and _put_back(backup[0], chained, path) == text:
        if backup[0] is None:
            path.unlink()
            message = f"Removed trail's Codex notify: deleted {path}, which install had created"
        else:
            write_atomic(path, backup[0])
            message = f"Removed trail's Codex notify: {path} is back as it was before install"
    else:
        write_atomic(path, _with_notify(text, data, chained or None, path).encode("utf-8"))
        message = f"Removed trail's Codex notify from {path}" + (
            f"; your notify program ({shlex.join(chained)}) is back" if chained else ""
        )
    drop_backup(BACKUP, path)
    return message


def _put_back(content: bytes | None, chained: list[str], path: Path) -> str | None:
    """What install made of the backed-up file: the same text now means nothing else changed since."""
    text = "" if content is None else content.decode("utf-8", "replace")
    try:
        data = tomllib.loads(text)
        return _with_notify(text, data, [shlex.split(hook_command())[0], NOTIFY_SOURCE, *chained], path)
    except (tomllib.TOMLDecodeError, TrailError):
        return None


def _ours(value: Any) -> list[str] | None:
    """`notify` when it runs trail-hook codex-notify (whatever path names trail-hook)."""
    if _is_argv(value) and len(value) >= 2 and value[1] == NOTIFY_SOURCE and os.path.basename(value[0]) == "trail-hook":
        return list(value)
    return None


def _is_argv(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _with_notify(text: str, data: dict[str, Any], argv: list[str] | None, path: Path) -> str:
    """`text` with its top-level `notify` set to `argv` (removed when None), and nothing else changed: the line(s)
    holding the old value are replaced (or a line is added at the top, where a key is always the root table's);
    tomllib checks the result."""
    line = "" if argv is None else f"notify = {_toml_array(argv)}\n"
    expected = {k: v for k, v in data.items() if k != "notify"}
    if argv is not None:
        expected["notify"] = argv
    lines = text.splitlines(keepends=True)
    candidates: list[str] = []
    if "notify" in data:
        for i, current in enumerate(lines):
            if not _NOTIFY_LINE.match(current):
                continue
            for j in range(i + 1, len(lines) + 1):  # the value may span lines: the shortest span that parses
                try:
                    span = tomllib.loads("".join(lines[i:j]))
                except tomllib.TOMLDecodeError:
                    continue
                if span == {"notify": data["notify"]}:
                    new = line if lines[j - 1].endswith("\n") else line.rstrip("\n")
                    candidates.append("".join(lines[:i]) + new + "".join(lines[j:]))
                break
    else:
        candidates.append(line + text)
    for candidate in candidates:
        with suppress(tomllib.TOMLDecodeError):
            if tomllib.loads(candidate) == expected:
                return candidate
    raise TrailError(
        f"{path}: trail could not change its notify setting without touching anything else; set "
        f"notify = {_toml_array(argv or [])} by hand (or remove it), then run the command again"
    )


def _toml_array(values: list[str]) -> str:
    # A TOML basic string's escapes are JSON's for these characters.
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def _read_toml(path: Path) -> tuple[bytes | None, dict[str, Any]]:
    raw = read_existing(path)
    if raw is None:
        return None, {}
    try:
        return raw, tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TrailError(f"{path} is not valid TOML ({e}); trail left it unchanged") from None

"""Installing and removing the hooks that report to trail: Claude Code's settings files and git's post-commit hook.

Both installers merge with what is there, change nothing when run twice, and undo themselves byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.gitcli import clean_env, run_git

SCOPES = ("project", "local", "user")
CLAUDE_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)
PLACEHOLDER = "{trail_hook}"
GIT_MARKER = "# installed by trail (trail hooks install git)"
GIT_HOOK = "post-commit"
GIT_CHAINED = "post-commit.pre-trail"

# An older install may name trail-hook by another path, quoted or not: all of them are ours.
_OUR_CLAUDE_COMMAND = re.compile(r"trail-hook['\"]?(?=\s+claude(?:\s|$))")


def hook_command() -> str:
    """How a hook names the trail-hook script: bare if PATH finds this installation's own, else its full path."""
    beside = Path(sys.executable).parent / "trail-hook"
    found = shutil.which("trail-hook")
    if found is not None:
        with suppress(OSError):
            if os.path.samefile(found, beside):
                return "trail-hook"
    return shlex.quote(str(beside))


def _template(name: str) -> str:
    return resources.files("trail._hooks").joinpath(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Claude Code


@dataclass(frozen=True)
class ClaudeChange:
    """What install or uninstall did to one settings file.

    action: installed | updated | unchanged (install); restored | deleted | removed | absent (uninstall).
    """

    path: Path
    action: str
    events: int


@dataclass(frozen=True)
class ClaudeStatus:
    scope: str
    path: Path | None
    installed: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()  # how trail's entries name trail-hook (one, unless edited by hand)
    error: str | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(event for event in CLAUDE_EVENTS if event not in self.installed)

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


def claude_settings_path(scope: str, workdir: Path | None) -> Path:
    """The settings file of a scope; project and local ones live at the root of the working tree `workdir`."""
    if scope == "user":
        config_dir = os.environ.get("CLAUDE_CONFIG_DIR")
        base = Path(config_dir).expanduser() if config_dir else Path.home() / ".claude"
        return base.absolute() / "settings.json"
    if scope not in ("project", "local"):
        raise TrailError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    if workdir is None:
        raise TrailError(f"the {scope} scope needs a git working tree: run trail inside one, or use --scope user")
    name = "settings.json" if scope == "project" else "settings.local.json"
    return workdir.absolute() / ".claude" / name


def claude_hooks_template(command: str) -> dict[str, list[Any]]:
    """trail's entries for the `hooks` object of a settings file, each running `COMMAND claude`."""
    hooks = json.loads(_template("claude-code.json"))["hooks"]
    for groups in hooks.values():
        for group in groups:
            for hook in group["hooks"]:
                hook["command"] = hook["command"].replace(PLACEHOLDER, command)
    return dict(hooks)


def install_claude(path: Path, command: str | None = None) -> ClaudeChange:
    """Add trail's hooks to the Claude Code settings file at `path`, keeping everything else in it."""
    template = claude_hooks_template(command or hook_command())
    raw, data = _read_settings(path)
    merged = _with_ours(data, template, path)
    if raw is not None and merged == data:
        return ClaudeChange(path, "unchanged", len(template))
    _, found = _without_ours(data)
    created_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A file that already holds our entries is not what the user had: keep the backup of the first install.
    if not found:
        _save_backup(path, raw, created_dir)
    _write_atomic(path, _dump(merged))
    return ClaudeChange(path, "updated" if found else "installed", len(template))


def uninstall_claude(path: Path) -> ClaudeChange:
    """Remove trail's hooks from the settings file at `path`, putting back the very file install found."""
    raw, data = _read_settings(path)
    backup = _load_backup(path)
    cleaned, found = _without_ours(data)
    if raw is None or not found:
        _drop_backup(path)
        return ClaudeChange(path, "absent", 0)
    if backup is not None and _same_as_backup(cleaned, backup):
        if backup.content is None:
            path.unlink()
            if backup.created_dir:
                with suppress(OSError):  # not empty: someone else's files are there now
                    path.parent.rmdir()
            action = "deleted"
        else:
            _write_atomic(path, backup.content)
            action = "restored"
    else:
        _write_atomic(path, _dump(cleaned))
        action = "removed"
    _drop_backup(path)
    return ClaudeChange(path, action, len(found))


def claude_status(scope: str, workdir: Path | None) -> ClaudeStatus:
    if workdir is None and scope != "user":
        return ClaudeStatus(scope, None, error="not in a git working tree")
    path = claude_settings_path(scope, workdir)
    try:
        _, data = _read_settings(path)
    except TrailError as e:
        return ClaudeStatus(scope, path, error=str(e))
    installed: list[str] = []
    programs: list[str] = []
    hooks = data.get("hooks")
    for event in CLAUDE_EVENTS:
        groups = hooks.get(event) if isinstance(hooks, dict) else None
        ours = [program for hook in _hooks_in(groups) if (program := _our_program(hook))]
        if ours:
            installed.append(event)
        programs.extend(program for program in ours if program not in programs)
    return ClaudeStatus(scope, path, tuple(installed), tuple(programs))


def _our_program(hook: Any) -> str | None:
    """How a hook entry of ours names trail-hook; None for anyone else's entry."""
    command = hook.get("command") if isinstance(hook, dict) else None
    found = _OUR_CLAUDE_COMMAND.search(command) if isinstance(command, str) else None
    return command[: found.end()] if found and isinstance(command, str) else None


def _is_ours(hook: Any) -> bool:
    return _our_program(hook) is not None


def _hooks_in(groups: Any) -> list[Any]:
    if not isinstance(groups, list):
        return []
    return [hook for group in groups if isinstance(group, dict) for hook in _list(group.get("hooks"))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strip_groups(groups: list[Any]) -> tuple[list[Any], int | None]:
    """The matcher groups without our entries, and where the first group that held ours was (None: no ours).

    A group left empty by the removal goes; one the user left empty stays.
    """
    kept_groups: list[Any] = []
    at: int | None = None
    for group in groups:
        entries = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(entries, list):
            kept_groups.append(group)
            continue
        kept = [hook for hook in entries if not _is_ours(hook)]
        if len(kept) == len(entries):
            kept_groups.append(group)
            continue
        if at is None:
            at = len(kept_groups)
        if kept:
            kept_groups.append({**group, "hooks": kept})
    return kept_groups, at


def _without_ours(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings without trail's entries, and the events that had some."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return settings, []
    found: list[str] = []
    new_hooks: dict[str, Any] = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            new_hooks[event] = groups
            continue
        kept, at = _strip_groups(groups)
        if at is not None:
            found.append(event)
            if not kept:
                continue
        new_hooks[event] = kept
    result = dict(settings)
    if new_hooks or not found:
        result["hooks"] = new_hooks
    else:
        del result["hooks"]
    return result, found


def _with_ours(settings: dict[str, Any], template: dict[str, list[Any]], path: Path) -> dict[str, Any]:
    """The settings with trail's entries, each where an older one of ours was, else after the user's own."""
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise TrailError(f'{path}: "hooks" is not a JSON object; fix it by hand, then run the command again')
    new_hooks: dict[str, Any] = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            if event in template:
                raise TrailError(
                    f'{path}: "hooks.{event}" is not a JSON array; fix it by hand, then run the command again'
                )
            new_hooks[event] = groups
            continue
        kept, at = _strip_groups(groups)
        if event in template:
            at = len(kept) if at is None else at
            new_hooks[event] = [*kept[:at], *template[event], *kept[at:]]
        elif at is None or kept:
            new_hooks[event] = kept
    for event, ours in template.items():
        new_hooks.setdefault(event, ours)
    return {**settings, "hooks": new_hooks}


def _read_settings(path: Path) -> tuple[bytes | None, dict[str, Any]]:
    """The file's bytes (None: there is no file) and its JSON object; anything else is refused, untouched."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, {}
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror}") from None
    if not raw.strip():
        return raw, {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise TrailError(
            f"{path} is not valid JSON ({e}); trail left it unchanged. Fix it by hand, then run the command again."
        ) from None
    if not isinstance(data, dict):
        raise TrailError(
            f"{path} does not hold a JSON object; trail left it unchanged. Fix it by hand, then run the command again."
        )
    return raw, data


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# The settings file as it was before install, kept outside the repository so that uninstall can restore it.


@dataclass(frozen=True)
class _Backup:
    content: bytes | None  # None: there was no file
    data: dict[str, Any]  # what the file held, as install read it
    created_dir: bool


def _backup_path(settings: Path) -> Path:
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    key = hashlib.sha256(os.fsencode(settings.absolute())).hexdigest()
    return base / "trail" / "backups" / f"claude-settings-{key}.json"


def _save_backup(settings: Path, content: bytes | None, created_dir: bool) -> None:
    record = {
        "path": str(settings.absolute()),
        "existed": content is not None,
        "created_dir": created_dir,
        "content": None if content is None else base64.b64encode(content).decode("ascii"),
    }
    target = _backup_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Settings may carry tokens in "env": the copy is readable by its owner alone.
    _write_atomic(target, (json.dumps(record, indent=2) + "\n").encode("utf-8"), new_mode=0o600)


def _load_backup(settings: Path) -> _Backup | None:
    try:
        record = json.loads(_backup_path(settings).read_bytes())
        content = None if record["content"] is None else base64.b64decode(record["content"])
        data = json.loads(content) if content is not None and content.strip() else {}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: uninstall then cleans the file as it finds it
    return _Backup(content, data, bool(record["created_dir"])) if isinstance(data, dict) else None


def _drop_backup(settings: Path) -> None:
    with suppress(FileNotFoundError):
        _backup_path(settings).unlink()


def _same_as_backup(cleaned: dict[str, Any], backup: _Backup) -> bool:
    """Whether the user changed nothing but trail's entries since install.

    Comparing with what removal does to an install over the backup also matches a file whose empty `hooks` or
    event lists the removal dropped.
    """
    before = backup.data
    if cleaned == before:
        return True
    template = claude_hooks_template("trail-hook")
    try:
        return cleaned == _without_ours(_with_ours(before, template, Path()))[0]
    except TrailError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# git


@dataclass(frozen=True)
class GitChange:
    """What install or uninstall did in a hooks directory.

    action: installed | updated | unchanged (install); restored | removed | absent (uninstall).
    chained: a hook that was there before runs first (install), or was put back (uninstall).
    """

    hooks_dir: Path
    action: str
    chained: bool
    notes: list[str] = field(default_factory=list)

    @property
    def hook(self) -> Path:
        return self.hooks_dir / GIT_HOOK


@dataclass(frozen=True)
class GitStatus:
    hooks_dir: Path | None
    installed: bool = False
    chained: bool = False
    program: str | None = None  # how the installed script names trail-hook
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hooks_dir": None if self.hooks_dir is None else str(self.hooks_dir),
            "installed": self.installed,
            "chained": self.chained,
            "program": self.program,
            "error": self.error,
        }


def git_hooks_dir(workdir: Path) -> Path:
    """The folder git runs hooks from: core.hooksPath (relative to the working tree's root), else the common
    .git/hooks; git itself says which."""
    found = run_git(["rev-parse", "--git-path", "hooks"], cwd=workdir).rstrip("\n")
    return Path(os.path.normpath(os.path.join(workdir, found)))


def install_git(hooks_dir: Path, command: str | None = None, workdir: Path | None = None) -> GitChange:
    """Write trail's post-commit hook in `hooks_dir`, chaining the hook that is there (moved to .pre-trail)."""
    script = _git_script(command or hook_command())
    hook, chained = hooks_dir / GIT_HOOK, hooks_dir / GIT_CHAINED
    current = _read_hook(hook)
    previous = _read_hook(chained)
    if current is not None and _is_our_script(current):
        if current == script:
            return GitChange(hooks_dir, "unchanged", previous is not None)
        _write_atomic(hook, script, new_mode=0o777)
        return GitChange(hooks_dir, "updated", previous is not None)
    # post-commit.pre-trail must be ours to replace: our own script, or a copy of the hook we are about to move
    # (a hook manager rewrote post-commit after an install, with the same content).
    if previous is not None and not _is_our_script(previous) and previous != current:
        if current is None:
            raise TrailError(
                f"{chained} exists but there is no post-commit hook beside it (left over from an install of trail?). "
                f"Look at it: delete it, or rename it to {hook} for trail to chain it; then run "
                "`trail hooks install git` again."
            )
        raise TrailError(
            f"{chained} exists, and {hook} is not trail's hook: trail can chain only one of them. Look at both: "
            f"delete {chained} or merge it into post-commit; then run `trail hooks install git` again."
        )
    hooks_dir.mkdir(parents=True, exist_ok=True)
    if current is not None:
        os.replace(hook, chained)  # a rename keeps the hook's bytes and mode for uninstall to put back
    elif previous is not None:
        chained.unlink()
    _write_atomic(hook, script, new_mode=0o777)
    notes = _git_notes(hooks_dir, workdir)
    return GitChange(hooks_dir, "installed", current is not None, notes)


def uninstall_git(hooks_dir: Path) -> GitChange:
    """Remove trail's post-commit hook from `hooks_dir`, putting back the hook it chained."""
    hook, chained = hooks_dir / GIT_HOOK, hooks_dir / GIT_CHAINED
    current = _read_hook(hook)
    if current is None or not _is_our_script(current):
        return GitChange(hooks_dir, "absent", False)
    previous = _read_hook(chained)
    if previous is not None and not _is_our_script(previous):
        os.replace(chained, hook)
        return GitChange(hooks_dir, "restored", True)
    hook.unlink()
    if previous is not None:
        chained.unlink()
    return GitChange(hooks_dir, "removed", False)


def git_status(workdir: Path | None) -> GitStatus:
    if workdir is None:
        return GitStatus(None, error="not in a git working tree")
    try:
        hooks_dir = git_hooks_dir(workdir)
        current = _read_hook(hooks_dir / GIT_HOOK)
    except TrailError as e:
        return GitStatus(None, error=str(e))
    if current is None or not _is_our_script(current):
        return GitStatus(hooks_dir)
    return GitStatus(hooks_dir, True, (hooks_dir / GIT_CHAINED).exists(), _script_program(current))


def _git_script(command: str) -> bytes:
    return _template("git-post-commit").replace(PLACEHOLDER, command).encode("utf-8")


def _script_program(script: bytes) -> str | None:
    """How an installed script names trail-hook, found by the template's line around the placeholder."""
    line = next(line for line in _template("git-post-commit").splitlines() if PLACEHOLDER in line)
    before, after = line.split(PLACEHOLDER)
    for text in os.fsdecode(script).splitlines():
        if text.startswith(before) and text.endswith(after) and len(text) > len(before) + len(after):
            return text[len(before) : len(text) - len(after)]
    return None


def _read_hook(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TrailError(f"cannot read the git hook {path}: {e.strerror}") from None


def _is_our_script(content: bytes) -> bool:
    return GIT_MARKER.encode() in content.splitlines()


def _git_notes(hooks_dir: Path, workdir: Path | None) -> list[str]:
    notes = []
    if hooks_dir.name == "_" and (hooks_dir / "h").is_file():
        notes.append(
            f"{hooks_dir} looks like husky's: husky rewrites it when it installs (npm install, `npx husky`), "
            "so run `trail hooks install git` again after that"
        )
    if workdir is not None:
        # A hooks directory the repository tracks (core.hooksPath=.githooks): our hook names this machine's paths.
        shown = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", str(hooks_dir)],
            cwd=workdir,
            env=clean_env(),
            capture_output=True,
            stdin=subprocess.DEVNULL,
        ).stdout
        if shown.strip():
            notes.append(
                f"{hooks_dir} is part of the working tree and `git status` now shows trail's hook there: do not "
                "commit it, it names programs on this machine"
            )
    return notes


# ---------------------------------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, new_mode: int = 0o666) -> None:
    """Replace `path`'s content at once, keeping its mode; a new file gets `new_mode` less the umask.

    A symlink stays a link: its target is written (dotfile managers link ~/.claude/settings.json).
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = target.with_name(f".{target.name}.trail-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_mode if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise

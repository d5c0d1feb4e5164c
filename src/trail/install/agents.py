"""Installing and removing the hooks that report to trail: Claude Code's settings files and git's post-commit hook.

Both installers merge with what is there, change nothing when run twice, and undo themselves byte for byte.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.gitcli import clean_env, run_git
from trail.install import jsonhooks
from trail.install.checks import Installation, hook_file
from trail.install.files import write_atomic
from trail.install.jsonhooks import PLACEHOLDER

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
GIT_MARKER = "# installed by trail (trail hooks install git)"
GIT_HOOK = "post-commit"
GIT_CHAINED = "post-commit.pre-trail"


def hook_command() -> str:
    """How a hook names the trail-hook script: bare if PATH finds this installation's own even without the virtual
    environment trail runs in (an agent started from another shell has none on its PATH), else its full path."""
    from trail.install.resolve import bare_finds_this_hook, this_hook

    return "trail-hook" if bare_finds_this_hook() else shlex.quote(str(this_hook()))


def _template(name: str) -> str:
    return resources.files("trail._hooks").joinpath(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Claude Code

CLAUDE = jsonhooks.HookFile(
    "claude", "Claude Code", grouped=True, template_name="claude-code.json", backup_kind="claude-settings"
)
ClaudeChange = jsonhooks.Change  # what install or uninstall did to one settings file
ClaudeStatus = Installation  # trail's entries in one settings file


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


def install_claude(path: Path, command: str | None = None) -> ClaudeChange:
    """Add trail's hooks to the Claude Code settings file at `path`, keeping everything else in it."""
    return jsonhooks.install(CLAUDE, path, CLAUDE.template(command or hook_command()))


def uninstall_claude(path: Path) -> ClaudeChange:
    """Remove trail's hooks from the settings file at `path`, putting back the very file install found."""
    return jsonhooks.uninstall(CLAUDE, path, CLAUDE.template("trail-hook"))


def claude_status(scope: str, workdir: Path | None) -> ClaudeStatus:
    return hook_file(CLAUDE, CLAUDE_EVENTS, scope, claude_settings_path, workdir, _install_scope)


def _install_scope(workdir: Path | None, scope: str) -> ClaudeChange:
    return install_claude(claude_settings_path(scope, workdir))


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
        write_atomic(hook, script, new_mode=0o777)
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
    write_atomic(hook, script, new_mode=0o777)
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

"""`trail hooks install|uninstall|status`: Claude Code settings files and git's post-commit hook, in real repos.

Installs merge with what is there, twice is once, and uninstall gives back the very bytes (and modes) it found.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import git, trail

from trail.errors import TrailError
from trail.install import agents as install

EVENTS = [
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
]
TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure"}

USER_SETTINGS = {
    "permissions": {"allow": ["Bash(npm test)"], "deny": []},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check-bash.sh"}]}],
        "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write"}]}],
    },
    "model": "opus",
}


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Backups go to a folder of this test's own (subprocesses inherit the variable)."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return state


def backups(state: Path) -> list[Path]:
    folder = state / "trail" / "backups"
    return sorted(folder.iterdir()) if folder.exists() else []


def ours(settings: dict) -> dict[str, list[str]]:
    """event -> commands of trail's entries."""
    return {
        event: [h["command"] for g in groups for h in g.get("hooks", []) if "trail-hook" in h.get("command", "")]
        for event, groups in settings.get("hooks", {}).items()
    }


# ---------------------------------------------------------------------------------------------------------------
# Claude Code


def test_install_merges_with_user_settings_and_uninstall_gives_back_the_bytes(repo: Path, _state_home: Path) -> None:
    settings = repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    original = json.dumps(USER_SETTINGS, indent=4).encode()  # no trailing newline, 4 spaces: not how trail writes
    settings.write_bytes(original)
    settings.chmod(0o640)

    result = trail("hooks", "install", "claude", cwd=repo / "src")  # the working-tree root, not the cwd
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Installed trail's Claude Code hooks in {settings} (11 events)\n"

    installed = settings.read_bytes()
    data = json.loads(installed)
    assert installed.endswith(b"}\n") and installed.startswith(b'{\n  "permissions"')
    assert list(data) == ["permissions", "hooks", "model"]
    assert data["permissions"] == USER_SETTINGS["permissions"] and data["model"] == "opus"
    # The user's two events first, in place, then the others in trail's order.
    assert list(data["hooks"]) == ["PreToolUse", "PostToolUse"] + [
        e for e in EVENTS if e not in TOOL_EVENTS - {"PostToolUseFailure"}
    ]
    command = f"{install.hook_command()} claude"
    ours_entry = {"type": "command", "command": command, "timeout": 30}
    assert data["hooks"]["PreToolUse"] == [
        USER_SETTINGS["hooks"]["PreToolUse"][0],
        {"matcher": "*", "hooks": [ours_entry]},
    ]
    assert data["hooks"]["PostToolUse"][0] == USER_SETTINGS["hooks"]["PostToolUse"][0]
    for event in EVENTS:
        group = data["hooks"][event][-1]
        assert group["hooks"] == [ours_entry]
        assert group.get("matcher") == ("*" if event in TOOL_EVENTS else None)
        assert ("matcher" in group) == (event in TOOL_EVENTS)
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    assert len(backups(_state_home)) == 1

    again = trail("hooks", "install", "claude", cwd=repo)
    assert again.returncode == 0
    assert "already installed" in again.stdout
    assert settings.read_bytes() == installed

    removed = trail("hooks", "uninstall", "claude", cwd=repo)
    assert removed.returncode == 0, removed.stderr
    assert "back as it was before install" in removed.stdout
    assert settings.read_bytes() == original
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    assert backups(_state_home) == []

    assert "not installed" in trail("hooks", "uninstall", "claude", cwd=repo).stdout
    assert settings.read_bytes() == original


def test_install_into_a_missing_file_and_uninstall_deletes_it(repo: Path) -> None:
    assert trail("hooks", "install", "claude", cwd=repo).returncode == 0
    settings = repo / ".claude" / "settings.json"
    assert set(ours(json.loads(settings.read_text()))) == set(EVENTS)

    result = trail("hooks", "uninstall", "claude", cwd=repo)
    assert result.returncode == 0
    assert "deleted" in result.stdout
    assert not (repo / ".claude").exists()
    assert git("status", "--porcelain", cwd=repo) == ""


def test_uninstall_keeps_a_claude_folder_that_was_there(repo: Path) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "agents").mkdir()
    trail("hooks", "install", "claude", cwd=repo)
    trail("hooks", "uninstall", "claude", cwd=repo)
    assert sorted(p.name for p in (repo / ".claude").iterdir()) == ["agents"]


@pytest.mark.parametrize(
    "original",
    [b"{}", b'{"hooks": {}}\n', b'{"hooks": {"Stop": []}, "env": {"A": "1"}}', b"", b'{\n\t"model": "sonnet"\n}\n'],
    ids=["empty-object", "empty-hooks", "empty-event", "empty-file", "tabs"],
)
def test_round_trip_is_byte_identical(tmp_path: Path, original: bytes) -> None:
    settings = tmp_path / "settings.json"
    settings.write_bytes(original)
    assert install.install_claude(settings).action == "installed"
    first = settings.read_bytes()
    assert install.install_claude(settings).action == "unchanged"
    assert settings.read_bytes() == first
    assert install.uninstall_claude(settings).action == "restored"
    assert settings.read_bytes() == original


def test_local_scope_with_dash_c(repo: Path, _state_home: Path) -> None:
    local = repo / ".claude" / "settings.local.json"
    result = trail("-C", repo, "hooks", "install", "claude", "--scope", "local", cwd=".")
    assert result.returncode == 0, result.stderr
    assert str(local) in result.stdout
    assert not (repo / ".claude" / "settings.json").exists()
    assert set(ours(json.loads(local.read_text()))) == set(EVENTS)
    assert trail("-C", repo, "hooks", "uninstall", "claude", "--scope", "local", cwd=".").returncode == 0
    assert not (repo / ".claude").exists()
    assert backups(_state_home) == []


def test_user_scope_honours_claude_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "claude-config"
    config.mkdir()
    settings = config / "settings.json"
    original = b'{\n  "theme": "dark"\n}\n'
    settings.write_bytes(original)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))

    result = trail("hooks", "install", "claude", "--scope", "user", cwd=".")  # the cwd is not a repository
    assert result.returncode == 0, result.stderr
    assert str(settings) in result.stdout
    assert json.loads(settings.read_text())["theme"] == "dark"
    assert trail("hooks", "uninstall", "claude", "--scope", "user", cwd=".").returncode == 0
    assert settings.read_bytes() == original


def test_user_scope_defaults_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    path = install.claude_settings_path("user", None)
    assert path == home / ".claude" / "settings.json"
    assert install.install_claude(path).action == "installed"
    assert install.claude_status("user", None).state == "all"
    assert install.uninstall_claude(path).action == "deleted"
    assert not (home / ".claude").exists()


def test_project_scope_needs_a_repository() -> None:
    result = trail("hooks", "install", "claude", cwd=".")
    assert result.returncode == 1
    assert "not inside a git repository" in result.stderr


def test_an_older_install_is_replaced_in_place(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    old = {"type": "command", "command": "/old/venv/bin/trail-hook claude", "timeout": 10}
    quoted = {"type": "command", "command": "'/my tools/trail-hook' claude", "timeout": 10}
    mine = {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}
    settings.write_text(
        json.dumps(
            {
                "hooks": {
                    "PostToolUse": [{"matcher": "*", "hooks": [old]}, mine],
                    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}, quoted]}],
                    "PreToolUse": [{"matcher": "*", "hooks": [old]}, {"matcher": "*", "hooks": [old]}],
                }
            }
        )
    )
    assert install.install_claude(settings, command="trail-hook").action == "updated"
    data = json.loads(settings.read_text())
    assert all(commands == ["trail-hook claude"] for commands in ours(data).values())
    assert set(ours(data)) == set(EVENTS)
    new = {"type": "command", "command": "trail-hook claude", "timeout": 30}
    assert data["hooks"]["PostToolUse"] == [{"matcher": "*", "hooks": [new]}, mine]
    assert data["hooks"]["PreToolUse"] == [{"matcher": "*", "hooks": [new]}]
    assert data["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "trail-hook claude", "timeout": 30}]},
        {"hooks": [{"type": "command", "command": "notify-send done"}]},
    ]

    # No backup was taken of a file that already held trail's entries: uninstall cleans what it finds.
    assert install.uninstall_claude(settings).action == "removed"
    assert json.loads(settings.read_text()) == {
        "hooks": {"PostToolUse": [mine], "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}
    }


def test_uninstall_keeps_what_the_user_changed_after_install(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(USER_SETTINGS, indent=4))
    install.install_claude(settings)
    data = json.loads(settings.read_text())
    data["model"] = "sonnet"
    data["hooks"]["Stop"].append({"hooks": [{"type": "command", "command": "say done"}]})
    settings.write_text(json.dumps(data))

    assert install.uninstall_claude(settings).action == "removed"
    assert json.loads(settings.read_text()) == {
        **USER_SETTINGS,
        "model": "sonnet",
        "hooks": {**USER_SETTINGS["hooks"], "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]},
    }
    assert settings.read_text().startswith('{\n  "permissions"') and settings.read_text().endswith("}\n")


@pytest.mark.parametrize(
    ("content", "commands"),
    [
        (b'{"hooks": {', ["install", "uninstall"]),
        (b"[1, 2]", ["install", "uninstall"]),
        # Valid objects that hold nothing of trail's: only install must refuse them.
        (b'{"hooks": []}', ["install"]),
        (b'{"hooks": {"Stop": {}}}', ["install"]),
    ],
)
def test_a_settings_file_that_cannot_be_merged_is_refused_and_left_alone(
    repo: Path, content: bytes, commands: list[str]
) -> None:
    settings = repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_bytes(content)
    for command in commands:
        result = trail("hooks", command, "claude", cwd=repo)
        assert result.returncode == 1, (command, result.stdout)
        assert str(settings) in result.stderr and "by hand" in result.stderr
        assert settings.read_bytes() == content
    assert sorted(p.name for p in settings.parent.iterdir()) == ["settings.json"]  # no temp file left
    status = trail("hooks", "status", cwd=repo)
    assert status.returncode == 0
    assert "by hand" in status.stdout.splitlines()[1] or "not installed" in status.stdout.splitlines()[1]


def test_a_symlinked_settings_file_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude.json"
    real.parent.mkdir()
    real.write_bytes(b'{"model": "opus"}')
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    install.install_claude(link)
    assert link.is_symlink() and set(ours(json.loads(real.read_text()))) == set(EVENTS)
    install.uninstall_claude(link)
    assert link.is_symlink() and real.read_bytes() == b'{"model": "opus"}'


def test_hook_command_is_bare_only_when_path_finds_this_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = Path(sys.executable).parent / "trail-hook"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert install.hook_command() == shlex.quote(str(beside))
    if beside.exists():
        # A virtual environment's own folder does not count: an agent started from another shell lacks it.
        monkeypatch.setenv("PATH", f"{beside.parent}{os.pathsep}/usr/bin")
        in_venv = sys.prefix != sys.base_prefix
        assert install.hook_command() == (shlex.quote(str(beside)) if in_venv else "trail-hook")
        # A folder of the person's own that links to it (pipx's ~/.local/bin) does.
        linked = tmp_path / "local-bin" / "trail-hook"
        linked.parent.mkdir()
        linked.symlink_to(beside)
        monkeypatch.setenv("PATH", f"{linked.parent}{os.pathsep}/usr/bin")
        assert install.hook_command() == "trail-hook"
    other = tmp_path / "bin" / "trail-hook"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", f"{other.parent}{os.pathsep}{beside.parent}")
    assert install.hook_command() == shlex.quote(str(beside))


# ---------------------------------------------------------------------------------------------------------------
# git


def write_hook(path: Path, body: str, mode: int = 0o755) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(mode)
    return path.read_bytes()


def stub_trail_hook(tmp_path: Path, log: Path, exit_code: int) -> str:
    """A stand-in for trail-hook that logs its call: the command the script runs, quoted as install quotes it."""
    stub = tmp_path / "stub dir" / "trail-hook"
    write_hook(stub, f'#!/bin/sh\necho "trail $*" >> {shlex.quote(str(log))}\nexit {exit_code}\n')
    return shlex.quote(str(stub))


def test_git_install_without_an_existing_hook(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-commit"
    result = trail("hooks", "install", "git", cwd=repo / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Installed trail's git post-commit hook: {hook}\n"
    script = hook.read_bytes()
    lines = script.decode().splitlines()
    assert lines[0] == "#!/bin/sh" and lines[1] == "# installed by trail (trail hooks install git)"
    assert f"{install.hook_command()} git-post-commit </dev/null || true" in lines
    assert os.access(hook, os.X_OK)

    # Whether or not trail-hook works here, the commit does.
    commit = subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, capture_output=True)
    assert commit.returncode == 0, commit.stderr

    again = trail("hooks", "install", "git", cwd=repo)
    assert "already installed" in again.stdout and hook.read_bytes() == script
    assert not (hook.parent / "post-commit.pre-trail").exists()

    removed = trail("hooks", "uninstall", "git", cwd=repo)
    assert removed.returncode == 0 and "Removed" in removed.stdout
    assert not hook.exists()
    assert "not installed" in trail("hooks", "uninstall", "git", cwd=repo).stdout


def test_trail_failing_never_fails_the_hook(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    hooks_dir = install.git_hooks_dir(repo)
    install.install_git(hooks_dir, command=stub_trail_hook(tmp_path, log, exit_code=1))
    run = subprocess.run([str(hooks_dir / "post-commit")], cwd=repo, capture_output=True)
    assert run.returncode == 0
    assert log.read_text() == "trail git-post-commit\n"


def test_git_chains_an_existing_hook_under_core_hooks_path(repo: Path, tmp_path: Path) -> None:
    git("config", "core.hooksPath", ".githooks", cwd=repo)
    hook = repo / ".githooks" / "post-commit"
    original = write_hook(hook, '#!/bin/sh\necho "user hook $*" >> "$(git rev-parse --git-dir)/user-hook.log"\n', 0o750)
    git("add", ".githooks", cwd=repo)
    git("commit", "-q", "-m", "shared hooks", cwd=repo)
    (repo / ".git" / "user-hook.log").unlink()

    result = trail("hooks", "install", "git", cwd=repo / "src")  # relative hooksPath: from the root, as git does
    assert result.returncode == 0, result.stderr
    chained = repo / ".githooks" / "post-commit.pre-trail"
    assert f"Installed trail's git post-commit hook: {hook}" in result.stdout
    assert f"Moved your post-commit hook to {chained}" in result.stdout
    assert "note:" in result.stderr and "do not commit it" in result.stderr  # the hooks folder is tracked
    assert chained.read_bytes() == original and stat.S_IMODE(chained.stat().st_mode) == 0o750
    assert b"# installed by trail (trail hooks install git)" in hook.read_bytes()

    git("commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    assert (repo / ".git" / "user-hook.log").read_text() == "user hook \n"

    installed = hook.read_bytes()
    assert "already installed" in trail("hooks", "install", "git", cwd=repo).stdout
    assert hook.read_bytes() == installed and chained.read_bytes() == original

    assert "put back yours" in trail("hooks", "uninstall", "git", cwd=repo).stdout
    assert hook.read_bytes() == original and stat.S_IMODE(hook.stat().st_mode) == 0o750
    assert not chained.exists()
    assert git("status", "--porcelain", cwd=repo) == ""


@pytest.mark.parametrize("shebang", ["#!/bin/sh", "#!/usr/bin/env bash"])
def test_the_chained_hook_runs_first_with_arguments_and_input_and_its_status_is_kept(
    repo: Path, tmp_path: Path, shebang: str
) -> None:
    log = tmp_path / "log"
    hooks_dir = install.git_hooks_dir(repo)
    write_hook(
        hooks_dir / "post-commit",
        f'{shebang}\necho "user $(basename "$0") $*" >> {shlex.quote(str(log))}\ncat >> {shlex.quote(str(log))}\n'
        "exit 3\n",
    )
    change = install.install_git(hooks_dir, command=stub_trail_hook(tmp_path, log, exit_code=0))
    assert change.action == "installed" and change.chained

    run = subprocess.run([str(hooks_dir / "post-commit"), "a", "b c"], cwd=repo, input=b"stdin line\n")
    assert run.returncode == 3
    # A chained sh script sees the name git called; any other runs under its own file name.
    name = "post-commit" if shebang == "#!/bin/sh" else "post-commit.pre-trail"
    assert log.read_text() == f"user {name} a b c\nstdin line\ntrail git-post-commit\n"


def test_husky_hooks_still_run(repo: Path) -> None:
    """husky (v9) points core.hooksPath at .husky/_, where each hook sources `h`, which runs .husky/<name of $0>."""
    husky = repo / ".husky"
    write_hook(husky / "_" / "h", '#!/usr/bin/env sh\nname=$(basename "$0")\nexec sh -e "$(dirname "$0")/../$name"\n')
    write_hook(husky / "_" / "post-commit", '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    (husky / "_" / ".gitignore").write_text("*\n")
    write_hook(husky / "post-commit", 'echo "husky post-commit" >> "$(git rev-parse --git-dir)/husky.log"\n')
    git("config", "core.hooksPath", ".husky/_", cwd=repo)

    result = trail("hooks", "install", "git", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "husky rewrites it" in result.stderr
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    assert (repo / ".git" / "husky.log").read_text() == "husky post-commit\n"

    # husky rewrites its hook (npm install): installing again chains the new one, as it is the same as the old.
    husky_hook = (husky / "_" / "post-commit.pre-trail").read_bytes()
    (husky / "_" / "post-commit").write_bytes(husky_hook)
    assert trail("hooks", "install", "git", cwd=repo).returncode == 0
    assert trail("hooks", "uninstall", "git", cwd=repo).returncode == 0
    assert (husky / "_" / "post-commit").read_bytes() == husky_hook
    assert sorted(p.name for p in (husky / "_").iterdir()) == [".gitignore", "h", "post-commit"]


def test_a_pre_trail_hook_of_someone_else_is_refused(repo: Path) -> None:
    hooks_dir = repo / ".git" / "hooks"
    theirs = write_hook(hooks_dir / "post-commit", "#!/bin/sh\necho theirs\n")
    stray = write_hook(hooks_dir / "post-commit.pre-trail", "#!/bin/sh\necho stray\n")
    result = trail("hooks", "install", "git", cwd=repo)
    assert result.returncode == 1
    assert "post-commit.pre-trail exists, and" in result.stderr and "`trail hooks install git` again" in result.stderr
    assert (hooks_dir / "post-commit").read_bytes() == theirs
    assert (hooks_dir / "post-commit.pre-trail").read_bytes() == stray
    (hooks_dir / "post-commit").unlink()
    with pytest.raises(TrailError, match="no post-commit hook beside it"):
        install.install_git(hooks_dir)


def test_a_linked_worktree_installs_in_the_common_hooks(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git("worktree", "add", "-q", "--detach", linked, cwd=repo)
    assert trail("hooks", "install", "git", cwd=linked).returncode == 0
    assert (repo / ".git" / "hooks" / "post-commit").is_file()
    assert not list((repo / ".git" / "worktrees").glob("*/hooks"))


# ---------------------------------------------------------------------------------------------------------------
# status


def test_status_text_and_json(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    project = repo / ".claude" / "settings.json"
    before = trail("hooks", "status", cwd=repo)
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert lines[0] == "Claude Code (settings files):"
    assert lines[1].split() == ["project", str(project), "not", "installed"]
    assert lines[2].split() == ["local", str(repo / ".claude" / "settings.local.json"), "not", "installed"]
    assert lines[3].split() == ["user", str(tmp_path / "claude" / "settings.json"), "not", "installed"]
    assert lines[4] == "git (post-commit hook):"
    assert lines[5].split() == [str(repo / ".git" / "hooks"), "not", "installed"]

    trail("hooks", "install", "claude", cwd=repo)
    trail("hooks", "install", "claude", "--scope", "user", cwd=repo)
    write_hook(repo / ".git" / "hooks" / "post-commit", "#!/bin/sh\n")
    trail("hooks", "install", "git", cwd=repo)
    data = json.loads(project.read_text())
    del data["hooks"]["Stop"], data["hooks"]["SessionEnd"]
    project.write_text(json.dumps(data))

    after = trail("hooks", "status", cwd=repo).stdout.splitlines()
    assert after[1].endswith("partly installed, missing Stop, SessionEnd")
    assert after[2].endswith("not installed")
    assert after[3].endswith(" installed")
    assert after[5].endswith("installed, chaining post-commit.pre-trail")

    status = json.loads(trail("hooks", "status", "--json", cwd=repo).stdout)
    assert status["program"] == install.hook_command()
    assert [(s["scope"], s["state"]) for s in status["claude"]] == [
        ("project", "some"),
        ("local", "none"),
        ("user", "all"),
    ]
    assert status["claude"][0]["missing"] == ["Stop", "SessionEnd"]
    assert status["claude"][2]["programs"] == [install.hook_command()]
    assert status["git"] == {
        "hooks_dir": str(repo / ".git" / "hooks"),
        "installed": True,
        "chained": True,
        "program": install.hook_command(),
        "error": None,
    }


def test_status_flags_another_trail_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    install.install_claude(tmp_path / "claude" / "settings.json", command="/elsewhere/trail-hook")
    result = trail("hooks", "status", cwd=".")  # not a repository: the user scope still shows
    assert result.returncode == 0, result.stderr
    user = next(line for line in result.stdout.splitlines() if line.strip().startswith("user"))
    assert "installed (runs /elsewhere/trail-hook, not this trail's trail-hook; install again to update)" in user
    assert "not in a git working tree" in result.stdout


# ---------------------------------------------------------------------------------------------------------------
# packaging


def test_every_package_under_src_is_listed_in_pyproject() -> None:
    """The package list is explicit (to map hooks/ to trail._hooks): a new subpackage must be added to it."""
    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(root / "src").parts) for init in (root / "src" / "trail").rglob("__init__.py")
    }
    assert found | {"trail._hooks"} == listed

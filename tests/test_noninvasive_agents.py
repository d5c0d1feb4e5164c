"""Recording Codex CLI, Gemini CLI and Cursor changes nothing of the person's: every event of a session, fed through
the exact commands `trail hooks install AGENT` wrote, leaves the index, HEAD, branches, stash, config and working
tree byte for byte as they were (files also by mtime), in a repository with staged, unstaged and stashed work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from codex_fixtures import payload as codex_payload
from codex_fixtures import rollout_lines, rollout_path
from conftest import commit_all, git, trail
from gemini_cursor_fixtures import cursor_payload, gemini_chat, gemini_payload, run_hook
from test_noninvasive import protected_state

from trail.repo import TrailRepo
from trail.store.steps import Store

SESSION = "0a5d6f3e-7b21-4c9e-8f10-3b2a1c0d9e8f"

CODEX_EVENTS = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PreCompact", "SubagentStart"]
CODEX_EVENTS += ["SubagentStop", "Stop", "Interrupt", "SessionEnd"]
GEMINI_EVENTS = ["SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "Notification", "PreCompress"]
GEMINI_EVENTS += ["AfterAgent", "SessionEnd"]
CURSOR_EVENTS = ["sessionStart", "beforeSubmitPrompt", "afterAgentThought", "afterAgentResponse", "afterFileEdit"]
CURSOR_EVENTS += ["afterShellExecution", "afterMCPExecution", "preCompact", "stop", "sessionEnd"]


def busy(repo: Path) -> None:
    """A realistic starting point: staged and unstaged changes, a stash, packed refs, another branch."""
    (repo / ".gitignore").write_text("*.log\n")
    commit_all(repo, "ignore logs")
    git("branch", "feature", cwd=repo)
    git("pack-refs", "--all", cwd=repo)
    (repo / "README.md").write_text("stashed change\n")
    git("stash", "-q", cwd=repo)
    (repo / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=repo)
    (repo / "src" / "app.py").write_text("print('unstaged')\n")


def codex(repo: Path, tmp_path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    home = tmp_path / "codex-home"  # CODEX_HOME, set by the test
    rollout = rollout_path(home, SESSION)
    rollout.parent.mkdir(parents=True)
    rollout.write_text("".join(rollout_lines(session_id=SESSION, cwd=str(repo))))
    values = {"session_id": SESSION, "cwd": str(repo), "transcript_path": str(rollout)}
    return [(e, codex_payload(e, **values)) for e in CODEX_EVENTS], ".codex/hooks.json"


def gemini(repo: Path, tmp_path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    project = Path.home() / ".gemini" / "tmp" / repo.name
    chat = project / "chats" / f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl"
    chat.parent.mkdir(parents=True, exist_ok=True)
    (project / ".project_root").write_text(str(repo))
    chat.write_text(gemini_chat("session.jsonl", session_id=SESSION, cwd=str(repo), project_hash="0" * 64))
    values = {"session_id": SESSION, "cwd": str(repo), "transcript_path": str(chat)}
    return [(e, gemini_payload(e, **values)) for e in GEMINI_EVENTS], ".gemini/settings.json"


def cursor(repo: Path, tmp_path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    values = {"conversation_id": SESSION, "generation_id": "gen-1", "root": str(repo)}
    return [(e, cursor_payload(e, **values)) for e in CURSOR_EVENTS], ".cursor/hooks.json"


Agent = Callable[[Path, Path], tuple[list[tuple[str, dict[str, Any]]], str]]


@pytest.mark.parametrize("agent", [codex, gemini, cursor], ids=["codex", "gemini", "cursor"])
def test_a_whole_session_changes_nothing_of_the_persons(
    repo: Path, tmp_path: Path, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    busy(repo)
    name = agent.__name__
    scope = ["--scope", "project"] if name == "codex" else []
    installed = trail("hooks", "install", name, *scope, cwd=repo)
    assert installed.returncode == 0, installed.stderr
    events, config = agent(repo, tmp_path)
    hooks = json.loads((repo / config).read_text())["hooks"]
    before = protected_state(repo)
    for event, data in events:
        groups = hooks[event]
        commands = [h["command"] for g in groups for h in g.get("hooks", [g])]
        assert commands, f"no hook installed for {event}"
        for command in commands:
            done = run_hook(command, data, repo)
            assert done.returncode == 0, done.stderr
            assert done.stdout in (b"", b"{}", b'{"continue": true}', b'{"continue":true}'), done.stdout
    assert protected_state(repo) == before
    assert git("stash", "list", cwd=repo).count("\n") == 1
    kinds = [s.kind for s in Store(TrailRepo.discover(repo)).steps(SESSION)]
    assert {"session_start", "prompt", "tool_call", "response", "session_end"} <= set(kinds), kinds

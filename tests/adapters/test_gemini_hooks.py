"""Gemini CLI sessions recorded end to end through the hook commands that `trail hooks install gemini` writes.

Payloads and chat lines are tests/fixtures/gemini/ (shapes from google-gemini/gemini-cli `packages/core/src/hooks/
types.ts`, `hookEventHandler.ts`, `docs/hooks/reference.md` and `services/chatRecordingService.ts`; see its README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git, trail, tree_files
from gemini_cursor_fixtures import gemini_chat, gemini_payload, run_hook

from trail.repo import TrailRepo
from trail.store.steps import Store

SESSION = "5f0c2a7e-91d3-4b8e-a6c4-2f1e0d9c8b7a"


class GeminiCli:
    """Plays Gemini CLI: runs the hook commands from .gemini/settings.json with a payload on stdin, from the project
    folder, and appends to its chat file as it does."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        project = Path.home() / ".gemini" / "tmp" / repo.name  # HOME is the tests' own
        project.mkdir(parents=True, exist_ok=True)
        (project / ".project_root").write_text(str(repo))
        self.chat = project / "chats" / f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl"
        self.chat.parent.mkdir(parents=True, exist_ok=True)
        self.chat.write_text("")
        self.lines = gemini_chat("session.jsonl", session_id=SESSION, cwd=str(repo), project_hash="0" * 64)
        self.lines_list = self.lines.splitlines(keepends=True)
        self.settings = json.loads((repo / ".gemini" / "settings.json").read_text())
        self.values = {"session_id": SESSION, "cwd": str(repo), "transcript_path": str(self.chat)}

    def write_chat(self, *indexes: int) -> None:
        with open(self.chat, "a") as f:
            f.writelines(self.lines_list[i] for i in indexes)

    def fire(self, event: str, **overrides: Any) -> None:
        data = {**gemini_payload(event, **self.values), **overrides}
        commands = [h["command"] for group in self.settings["hooks"][event] for h in group["hooks"]]
        assert commands, f"no hook installed for {event}"
        for command in commands:
            result = run_hook(command, data, self.repo)
            assert result.returncode == 0, result.stderr
            # Gemini CLI parses stdout as JSON when there is any: empty output changes nothing.
            assert result.stdout == b"", f"{event} wrote to stdout: {result.stdout!r}"


@pytest.fixture
def gemini(repo: Path) -> GeminiCli:
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n")
    git("add", "greet.py", cwd=repo)
    git("commit", "-qm", "greet", cwd=repo)
    result = trail("hooks", "install", "gemini", cwd=repo)
    assert result.returncode == 0, result.stderr
    return GeminiCli(repo)


def test_a_whole_session_end_to_end(gemini: GeminiCli) -> None:
    repo = gemini.repo
    gemini.write_chat(0)  # Gemini CLI opens its chat file as the session starts
    gemini.fire("SessionStart")
    gemini.write_chat(1, 2)  # the prompt
    gemini.fire("BeforeAgent")
    gemini.write_chat(3)  # the answer so far: a replace call, still running
    gemini.fire("BeforeTool")
    (repo / "greet.py").write_text("def greet():\n    return 'hello, world'\n")  # the replace tool's work
    gemini.fire("AfterTool")
    gemini.write_chat(4, 5, 6, 7)  # the call's result and the tokens, then the final answer
    (repo / "NOTES.md").write_text("the person typed this\n")  # an edit that is not the agent's
    gemini.fire("AfterAgent")
    gemini.fire("Notification")
    gemini.fire("PreCompress")
    gemini.fire("SessionEnd")

    steps = Store(TrailRepo.discover(repo)).steps(SESSION)
    assert [(s.kind, s.event.payload.get("name") or "") for s in steps] == [
        ("session_start", ""),
        ("prompt", ""),
        ("tool_call", "replace"),
        ("response", ""),
        ("external_change", ""),
        ("note", ""),
        ("note", ""),
        ("session_end", ""),
    ]
    start, prompt, edit, answer, external, notice, compress, end = steps
    assert all(s.agent == "gemini-cli" for s in steps)
    assert start.event.payload["source"] == "startup"
    assert prompt.event.payload["text"] == "Make greet() say hello to the world"
    assert prompt.event.payload["hook"]["timestamp"] == "2026-04-02T09:14:21.402Z"
    assert edit.event.payload["input"]["new_string"] == "    return 'hello, world'"
    assert edit.event.payload["output"].startswith("Successfully modified file")
    assert edit.event.payload["display"]["fileName"] == "greet.py"
    assert answer.event.payload["text"] == "greet() now returns 'hello, world'."
    # The turn's two model calls, from the chat file: tokens in = prompt + tool-use prompt, out = answer + thoughts.
    assert (answer.event.payload["tokens_in"], answer.event.payload["tokens_out"]) == (8412 + 8701, 61 + 143 + 12 + 40)
    assert answer.event.payload["usage"]["cached"] == 8192
    assert answer.event.payload["model"] == "gemini-2.5-pro"
    assert "Locating the greeting" in answer.event.payload["thinking"]
    assert "Confirming the edit" in answer.event.payload["thinking"]
    assert "Trail-Model: gemini-2.5-pro" in git("log", "-1", answer.commit, cwd=repo)
    # The tree of each step is the code of that moment; the person's edit is a step of its own.
    assert git("show", f"{prompt.commit}:greet.py", cwd=repo).endswith("'hi'\n")
    assert git("show", f"{edit.commit}:greet.py", cwd=repo).endswith("'hello, world'\n")
    assert "NOTES.md" not in tree_files(repo, answer.commit)
    assert git("diff", "--name-only", answer.commit, external.commit, cwd=repo) == "NOTES.md\n"
    assert notice.event.payload["notification_type"] == "ToolPermission"
    assert "auto" in compress.event.payload["text"]
    assert end.event.payload["reason"] == "exit"
    assert not (repo / ".git" / "trail" / "errors.log").exists()


def test_tokens_are_counted_once_across_turns(gemini: GeminiCli) -> None:
    gemini.write_chat(0)
    gemini.fire("SessionStart")
    gemini.write_chat(1, 2, 3, 4, 5, 6, 7)
    gemini.fire("AfterAgent")
    gemini.write_chat(8, 9)  # the second turn: one model call
    gemini.fire("AfterAgent", prompt="Run the tests", prompt_response="The tests failed: no tests ran.")
    responses = [s for s in Store(TrailRepo.discover(gemini.repo)).steps(SESSION) if s.kind == "response"]
    assert [r.event.payload["tokens_out"] for r in responses] == [61 + 143 + 12 + 40, 25]
    assert responses[1].event.payload["model"] == "gemini-2.5-flash"


def test_a_chat_path_outside_gemini_is_not_read(gemini: GeminiCli, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text(gemini.lines)
    gemini.fire("SessionStart", transcript_path=str(secret))
    gemini.fire("AfterAgent", transcript_path=str(secret))
    answer = Store(TrailRepo.discover(gemini.repo)).steps(SESSION)[-1]
    assert answer.kind == "response" and "tokens_in" not in answer.event.payload
    log = (gemini.repo / ".git" / "trail" / "errors.log").read_text()
    assert str(secret) in log and "not read" in log


def test_an_unreadable_payload_becomes_a_note_and_the_agent_never_notices(gemini: GeminiCli) -> None:
    command = gemini.settings["hooks"]["AfterTool"][0]["hooks"][0]["command"]
    result = run_hook(
        command, b'{"session_id": "' + SESSION.encode() + b'", "cwd": "' + bytes(gemini.repo) + b'"', gemini.repo
    )
    assert result.returncode == 0 and result.stdout == b""
    note = Store(TrailRepo.discover(gemini.repo)).steps(SESSION)[-1]
    assert note.kind == "note" and "Gemini CLI hook payload trail could not read" in note.event.payload["text"]


def test_outside_a_repository_nothing_is_written(tmp_path: Path) -> None:
    from trail.install.agents import hook_command

    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    payload = gemini_payload("BeforeAgent", session_id=SESSION, cwd=str(folder), transcript_path="")
    result = run_hook(f"{hook_command()} gemini", payload, folder)
    assert result.returncode == 0 and result.stdout == b""
    assert list(folder.iterdir()) == []


def test_an_older_gemini_cli_rewrites_one_json_chat(gemini: GeminiCli) -> None:
    """Before the JSONL chats, the chat file was one object rewritten at each change: answers the session had before
    its start are history, the turn's are counted once."""
    legacy = gemini.chat.with_suffix(".json")
    data = json.loads(gemini_chat("session-legacy.json", cwd=str(gemini.repo), project_hash="0" * 64))
    before, turn = data["messages"][:2], data["messages"][2:3]
    legacy.write_text(json.dumps({**data, "messages": before}, indent=2))
    gemini.fire("SessionStart", transcript_path=str(legacy), source="resume")
    legacy.write_text(json.dumps({**data, "messages": before + turn}, indent=2))
    gemini.fire("AfterAgent", transcript_path=str(legacy))
    gemini.fire("AfterAgent", transcript_path=str(legacy))  # a retry: nothing new in the chat
    responses = [s for s in Store(TrailRepo.discover(gemini.repo)).steps(SESSION) if s.kind == "response"]
    assert [r.event.payload.get("tokens_out") for r in responses] == [14, None]

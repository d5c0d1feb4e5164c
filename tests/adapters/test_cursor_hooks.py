"""Cursor sessions recorded end to end through the hook commands that `trail hooks install cursor` writes.

Payloads are tests/fixtures/cursor/ (shapes from https://cursor.com/docs/agent/hooks and its typings; see its README).
Cursor reads JSON on stdout: trail answers `{}`, and `{"continue": true}` to beforeSubmitPrompt, whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, trail
from gemini_cursor_fixtures import cursor_payload, run_hook

from trail.repo import TrailRepo
from trail.store.steps import Store

CONVERSATION = "b0c1d2e3-f4a5-4b6c-8d7e-9f0a1b2c3d4e"


class Cursor:
    """Plays Cursor: runs the hook commands from .cursor/hooks.json with a payload on stdin, and reads the answer."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.config = json.loads((repo / ".cursor" / "hooks.json").read_text())
        self.values = {"conversation_id": CONVERSATION, "generation_id": "gen-1", "root": str(repo)}

    def fire(self, event: str, env: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
        data = {**cursor_payload(event, **self.values), **overrides}
        entries = self.config["hooks"][event]
        assert [e["command"] for e in entries], f"no hook installed for {event}"
        answers = []
        for entry in entries:
            if env is None:
                result = run_hook(entry["command"], data, self.repo)
            else:
                result = subprocess.run(
                    ["bash", "-c", entry["command"]],
                    input=json.dumps(data).encode(),
                    cwd=self.repo,
                    capture_output=True,
                    env={**os.environ, **env},
                    timeout=120,
                )
            assert result.returncode == 0, result.stderr
            answers.append(json.loads(result.stdout))  # Cursor parses stdout as JSON: it must be JSON
        return answers[0]


@pytest.fixture
def cursor(repo: Path) -> Cursor:
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n")
    git("add", "greet.py", cwd=repo)
    git("commit", "-qm", "greet", cwd=repo)
    result = trail("hooks", "install", "cursor", cwd=repo)
    assert result.returncode == 0, result.stderr
    return Cursor(repo)


def test_a_whole_session_end_to_end(cursor: Cursor) -> None:
    repo = cursor.repo
    assert cursor.fire("sessionStart") == {}
    assert cursor.fire("beforeSubmitPrompt") == {"continue": True}  # the prompt goes on
    assert cursor.fire("afterAgentThought") == {}
    (repo / "greet.py").write_text("def greet():\n    return 'hello, world'\n")  # the agent's edit
    assert cursor.fire("afterFileEdit") == {}
    assert cursor.fire("afterShellExecution") == {}
    assert cursor.fire("afterMCPExecution") == {}
    assert cursor.fire("afterAgentResponse") == {}
    (repo / "NOTES.md").write_text("the person typed this\n")  # not the agent's
    assert cursor.fire("stop") == {}  # no followup_message: the agent does not go on by itself
    assert cursor.fire("preCompact") == {}
    assert cursor.fire("sessionEnd") == {}

    steps = Store(TrailRepo.discover(repo)).steps(CONVERSATION)
    assert [(s.kind, s.event.payload.get("name") or "") for s in steps] == [
        ("session_start", ""),
        ("prompt", ""),
        ("response", ""),
        ("file_edit", ""),
        ("tool_call", "Shell"),
        ("tool_call", "github__create_issue"),
        ("response", ""),
        ("external_change", ""),
        ("note", ""),
        ("note", ""),
        ("session_end", ""),
    ]
    start, prompt, thought, edit, shell, mcp, answer, external, stopped, compact, end = steps
    assert all(s.agent == "cursor" for s in steps)
    assert start.event.payload["model"] == "claude-4.5-sonnet"
    assert prompt.event.payload["text"] == "Make greet() say hello to the world"
    assert prompt.event.payload["attachments"][1]["type"] == "rule"
    assert prompt.event.payload["hook"]["generation_id"] == "gen-1"
    assert thought.event.payload["thinking"].startswith("The greeting lives in greet.py")
    assert thought.event.payload["duration_ms"] == 2140
    assert edit.event.payload["path"] == "greet.py" and edit.event.payload["paths"] == ["greet.py"]
    assert edit.event.payload["edits"][0]["new_string"] == "    return 'hello, world'"
    assert git("show", f"{thought.commit}:greet.py", cwd=repo).endswith("'hi'\n")
    assert git("show", f"{edit.commit}:greet.py", cwd=repo).endswith("'hello, world'\n")
    assert shell.event.payload["input"] == {"command": "python -m pytest -q", "cwd": str(repo)}
    assert shell.event.payload["output"] == "1 passed in 0.02s\n" and shell.event.payload["duration_ms"] == 812
    assert mcp.event.payload["input"]["title"] == "greet() says hi"  # Cursor's JSON text, parsed
    assert mcp.event.payload["output"]["content"][0]["text"] == "Created issue #42"
    assert answer.event.payload["text"].startswith("greet() now returns")
    assert "Trail-Model: claude-4.5-sonnet" in git("log", "-1", answer.commit, cwd=repo)
    assert git("diff", "--name-only", answer.commit, external.commit, cwd=repo) == "NOTES.md\n"
    assert stopped.event.payload["status"] == "aborted"
    assert "auto" in compact.event.payload["text"]
    assert end.event.payload["reason"] == "user_close" and end.event.payload["duration_ms"] == 402113
    assert not (repo / ".git" / "trail" / "errors.log").exists()


def test_a_first_prompt_without_session_start_starts_the_session(cursor: Cursor) -> None:
    """Cursor before 2.x has no sessionStart: the first event of a conversation starts it."""
    cursor.fire("beforeSubmitPrompt")
    steps = Store(TrailRepo.discover(cursor.repo)).steps(CONVERSATION)
    assert [s.kind for s in steps] == ["session_start", "prompt"]


def test_the_prompt_may_go_on_even_when_trail_runs_out_of_time(cursor: Cursor) -> None:
    """Past its budget trail keeps the payload for later and still answers what Cursor waits for."""
    answer = cursor.fire("beforeSubmitPrompt", env={"TRAIL_HOOK_BUDGET": "0"})
    assert answer == {"continue": True}
    pending = cursor.repo / ".git" / "trail" / "pending"
    assert pending.is_dir() and list(pending.iterdir())
    fixed = trail("doctor", "--fix", cwd=cursor.repo)
    assert "recorded 1 of 1 payloads" in fixed.stdout
    assert [s.kind for s in Store(TrailRepo.discover(cursor.repo)).steps(CONVERSATION)] == ["session_start", "prompt"]


def test_the_answer_does_not_depend_on_what_the_prompt_says(cursor: Cursor) -> None:
    """A prompt that quotes another event's name, in a payload too large to parse cheaply, is still a prompt."""
    text = '"hook_event_name": "stop" ' + "x" * (5 << 20)
    assert cursor.fire("beforeSubmitPrompt", prompt=text) == {"continue": True}
    junk = run_hook(cursor.config["hooks"]["stop"][0]["command"], b"not json", cursor.repo)
    assert junk.returncode == 0 and json.loads(junk.stdout) == {}


def test_the_workspace_root_that_holds_the_file_decides_the_repository(cursor: Cursor, tmp_path: Path) -> None:
    other = tmp_path / "other-root"
    other.mkdir()
    roots = [str(other), str(cursor.repo)]
    cursor.fire("afterFileEdit", workspace_roots=roots)
    steps = Store(TrailRepo.discover(cursor.repo)).steps(CONVERSATION)
    assert [s.kind for s in steps] == ["session_start", "file_edit"]
    assert list(other.iterdir()) == []

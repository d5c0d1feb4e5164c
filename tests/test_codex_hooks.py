"""Codex CLI sessions recorded end to end through the commands `trail hooks install codex` writes: its hooks.json
hooks (run as Codex runs them, `$SHELL -lc COMMAND` with the payload on stdin, codex-rs/hooks/src/engine/
command_runner.rs) and its legacy notify (the argv in config.toml, the payload appended, legacy_notify.rs).

Payloads: tests/fixtures/codex/ (shapes of codex-rs/hooks/schema/generated/*.input.schema.json, openai/codex
bde5e187f2f4, and of developers.openai.com/codex/hooks); the rollout beside them is in Codex 0.117.0's format.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from codex_fixtures import SESSION, payload, rollout_lines, rollout_path
from conftest import git, trail, tree_files

from trail.repo import TrailRepo
from trail.store.steps import Store


@pytest.fixture(autouse=True)
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return home


class Codex:
    """Plays Codex in a repository: writes its rollout as it goes, runs the hook commands of hooks.json."""

    def __init__(self, repo: Path, home: Path) -> None:
        self.repo = repo
        self.rollout = rollout_path(home)
        self.rollout.parent.mkdir(parents=True)
        self.rollout.write_text("")
        self.lines = rollout_lines(session_id=SESSION, cwd=str(repo))
        self.values = dict(session_id=SESSION, cwd=str(repo), transcript_path=str(self.rollout))
        hooks = json.loads((repo / ".codex" / "hooks.json").read_text())["hooks"]
        self.commands = {event: [h["command"] for g in groups for h in g["hooks"]] for event, groups in hooks.items()}

    def write(self, *contains: str) -> None:
        """Append the rollout's next lines, up to the one holding all of `contains`."""
        with open(self.rollout, "a") as f:
            while self.lines:
                line = self.lines.pop(0)
                f.write(line)
                if all(c in line for c in contains):
                    return

    def fire(self, event: str, **overrides: Any) -> None:
        data = {**payload(event, **self.values), **overrides}
        assert self.commands.get(event), f"no hook installed for {event}"
        for command in self.commands[event]:
            done = subprocess.run(
                ["sh", "-lc", command], input=json.dumps(data).encode(), cwd=self.repo, capture_output=True
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout == b"", f"{event} wrote to stdout: {done.stdout!r}"  # Codex reads it as JSON


def steps_of(repo: Path, session: str = SESSION) -> list[Any]:
    return Store(TrailRepo.discover(repo)).steps(session, full=True)


@pytest.fixture
def greet(repo: Path) -> Path:
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n")
    git("add", "greet.py", cwd=repo)
    git("commit", "-qm", "greet", cwd=repo)
    return repo / "greet.py"


def test_a_turn_recorded_through_the_installed_hooks(repo: Path, codex_home: Path, greet: Path) -> None:
    installed = trail("hooks", "install", "codex", "--scope", "project", cwd=repo)
    assert installed.returncode == 0, installed.stderr
    assert "trust" in installed.stdout  # Codex runs a hook once the person trusts it (/hooks)
    codex = Codex(repo, codex_home)
    codex.write("session_meta")
    codex.fire("SessionStart")
    codex.write("turn_context")
    codex.fire("UserPromptSubmit")
    codex.write('"custom_tool_call"')
    codex.fire("PreToolUse")
    greet.write_text("def greet():\n    return 'hello, world'\n")  # what apply_patch does
    codex.write("custom_tool_call_output")
    codex.fire("PostToolUse")
    codex.write("task_complete")
    codex.fire("Stop")
    codex.fire("SessionEnd")

    steps = steps_of(repo)
    assert [s.kind for s in steps] == [
        "session_start",
        "note",  # the permissions the model was given
        "prompt",
        "response",
        "tool_call",
        "response",
        "tool_call",  # the hosted web search, which no hook sees: from the rollout
        "response",
        "session_end",
    ]
    start, _, prompt, first, edit, _, search, last, _ = steps
    assert start.event.payload["source"] == "startup" and start.event.payload["model"] == "gpt-5.4"
    assert prompt.event.payload["text"] == "Make greet() say hello, world"
    assert first.event.payload["text"] == "I'll change the string greet() returns."
    assert first.event.payload["thinking_encrypted"] == 1 and first.event.payload["tool_uses"][0]["id"] == "call_edit"
    assert edit.event.payload["tool_use_id"] == "call_edit" and edit.event.payload["name"] == "apply_patch"
    assert edit.event.payload["hook"]["turn_id"] and "transcript_path" in edit.event.payload["hook"]
    assert tree_files(repo, edit.commit)["greet.py"] != tree_files(repo, first.commit)["greet.py"]
    assert git("show", f"{edit.commit}:greet.py", cwd=repo) == "def greet():\n    return 'hello, world'\n"
    assert search.event.payload["name"] == "web_search" and search.event.payload["input"]["query"]
    assert last.event.payload["text"] == "Done: greet() now says hello, world."
    assert last.event.payload["stop_reason"] == "turn_complete"
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p["tokens_in"] for p in responses) == 3500 and sum(p["tokens_out"] for p in responses) == 120
    assert not [s for s in steps if s.event.payload.get("source") == "stop_hook"]  # the rollout had the answer


def test_the_stop_hook_keeps_an_answer_the_rollout_does_not_have_yet(repo: Path, codex_home: Path, greet: Path) -> None:
    assert trail("hooks", "install", "codex", "--scope", "project", cwd=repo).returncode == 0
    codex = Codex(repo, codex_home)
    codex.write("session_meta")
    codex.fire("SessionStart")
    codex.write("custom_tool_call_output")
    codex.fire("Stop")  # the final message is not written yet
    codex.write("task_complete")
    codex.fire("UserPromptSubmit", prompt="thanks")
    answers = [s for s in steps_of(repo) if s.kind == "response"]
    fallback = next(s for s in answers if s.event.payload.get("source") == "stop_hook")
    later = answers[-1].event.payload
    assert later.get("text_recorded_at") == fallback.n and "text" not in later and later["tokens_out"] == 40


def test_hooks_never_hurt_codex(repo: Path, codex_home: Path, tmp_path: Path) -> None:
    assert trail("hooks", "install", "codex", "--scope", "project", cwd=repo).returncode == 0
    codex = Codex(repo, codex_home)
    (command,) = codex.commands["Stop"]
    for stdin in (b"", b"not json", b"[1, 2]", json.dumps({"hook_event_name": "Stop"}).encode()):
        done = subprocess.run(["sh", "-lc", command], input=stdin, cwd=repo, capture_output=True)
        assert done.returncode == 0 and done.stdout == b""
    # A payload naming a file outside Codex's folders: the step is recorded, the file is not read.
    codex.fire("SessionStart", transcript_path="/etc/passwd")
    codex.fire("Stop", transcript_path="/etc/passwd")
    assert "/etc/passwd is not a file under" in (repo / ".git" / "trail" / "errors.log").read_text()
    outside = tmp_path / "outside"
    outside.mkdir()
    done = subprocess.run(
        ["sh", "-lc", command],
        input=json.dumps(payload("Stop", **{**codex.values, "cwd": str(outside)})).encode(),
        cwd=outside,
        capture_output=True,
    )
    assert done.returncode == 0 and done.stdout == b""


def test_a_subagent_gets_a_session_of_its_own(repo: Path, codex_home: Path) -> None:
    assert trail("hooks", "install", "codex", "--scope", "project", cwd=repo).returncode == 0
    codex = Codex(repo, codex_home)
    codex.write("session_meta")
    codex.fire("SessionStart")
    codex.fire("SubagentStart")
    codex.fire("PostToolUse", agent_id="agent-7", agent_type="explorer", tool_name="Bash", tool_use_id="call_sub")
    codex.fire("SubagentStop")
    child = steps_of(repo, f"{SESSION}.agent-agent-7")
    assert [s.kind for s in child] == ["session_start", "tool_call", "response", "session_end"]
    assert child[0].event.payload["parent_session"] == SESSION
    assert child[2].event.payload["text"] == "greet.py has one function."
    assert [s.kind for s in steps_of(repo)] == ["session_start"]


def test_a_turn_recorded_through_the_legacy_notify(repo: Path, codex_home: Path, tmp_path: Path, greet: Path) -> None:
    """Codex before hooks: `notify` in config.toml, chained after the person's own notify program."""
    heard = tmp_path / "heard.json"
    config = codex_home / "config.toml"
    config.write_text(f'model = "gpt-5.4"\nnotify = ["sh", "-c", "printf %s \\"$1\\" > {heard}", "sh"]\n')
    installed = trail("hooks", "install", "codex", "--scope", "notify", cwd=repo)
    assert installed.returncode == 0, installed.stderr
    argv = tomllib.loads(config.read_text())["notify"]
    rollout = rollout_path(codex_home)
    rollout.parent.mkdir(parents=True)
    rollout.write_text("".join(rollout_lines(session_id=SESSION, cwd=str(repo))))
    greet.write_text("def greet():\n    return 'hello, world'\n")
    notification = json.dumps(payload("notify", session_id=SESSION, cwd=str(repo)))
    done = subprocess.run([*argv, notification], cwd=repo, capture_output=True)  # as Codex spawns it
    assert done.returncode == 0 and done.stdout == b"", done.stderr
    steps = steps_of(repo)
    kinds = [s.kind for s in steps]
    assert kinds == [
        "session_start",
        "note",
        "prompt",
        "response",
        "tool_call",
        "response",
        "tool_call",
        "response",
    ]
    assert steps[0].tree_source and "notify" in steps[0].tree_source
    assert git("show", f"{steps[-1].commit}:greet.py", cwd=repo) == "def greet():\n    return 'hello, world'\n"
    assert git("diff", "--name-only", steps[-2].commit, steps[-1].commit, cwd=repo).split() == ["greet.py"]
    assert sum(s.event.payload.get("tokens_in", 0) for s in steps) == 3500
    for _ in range(50):  # the chained program is started, not waited for
        if heard.exists() and heard.read_text():
            break
        subprocess.run(["sleep", "0.1"])
    assert json.loads(heard.read_text())["thread-id"] == SESSION
    again = subprocess.run([*argv, notification], cwd=repo, capture_output=True)
    assert again.returncode == 0
    assert [s.kind for s in steps_of(repo)][: len(kinds)] == kinds and len(steps_of(repo)) == len(kinds) + 1


def test_notify_without_a_rollout_records_what_it_says(repo: Path, codex_home: Path) -> None:
    assert trail("hooks", "install", "codex", "--scope", "notify", cwd=repo).returncode == 0
    argv = tomllib.loads((codex_home / "config.toml").read_text())["notify"]
    notification = json.dumps(payload("notify", session_id=SESSION, cwd=str(repo)))
    assert subprocess.run([*argv, notification], cwd=repo, capture_output=True).returncode == 0
    steps = steps_of(repo)
    assert [s.kind for s in steps] == ["session_start", "prompt", "response"]
    assert steps[2].event.payload == {**steps[2].event.payload, "text": "Done: greet() now says hello, world."}

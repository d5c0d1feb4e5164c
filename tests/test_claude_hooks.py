"""Claude Code sessions recorded end to end through the hook commands that `trail hooks install claude` writes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import payload, transcript_lines
from conftest import git, trail, tree_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trail.capture import hook
from trail.install.agents import CLAUDE_EVENTS
from trail.repo import TrailRepo
from trail.store.steps import Store

SESSION = "5c1d8b3e-7f2a-4c6e-9b1d-0a2b3c4d5e6f"
CHILD = f"{SESSION}.agent-a1b2c3d"


class ClaudeCode:
    """Plays Claude Code: runs the hook commands from settings.json with a payload on stdin, as it does."""

    def __init__(self, repo: Path, tmp_path: Path) -> None:
        self.repo = repo
        # Where Claude Code writes it: the only place trail reads transcripts from (HOME is the tests' own).
        project = Path.home() / ".claude" / "projects" / str(repo).replace("/", "-").replace(".", "-")
        self.transcript = project / f"{SESSION}.jsonl"
        self.transcript.parent.mkdir(parents=True)
        self.transcript.write_text("")
        self.agent_transcript = self.transcript.with_suffix("") / "subagents" / "agent-a1b2c3d.jsonl"
        self.agent_transcript.parent.mkdir(parents=True)
        settings_file = repo / ".claude" / "settings.json"
        self.settings = json.loads(settings_file.read_text())
        values = dict(
            session_id=SESSION,
            cwd=str(repo),
            transcript_path=str(self.transcript),
            agent_transcript_path=str(self.agent_transcript),
        )
        self.values = values
        self.lines = transcript_lines("transcript.jsonl", session_id=SESSION, cwd=str(repo))
        self.agent_lines = transcript_lines("subagent.jsonl", session_id=SESSION, cwd=str(repo))
        self.calls: list[subprocess.CompletedProcess[bytes]] = []

    def write_transcript(self, *indexes: int) -> None:
        with open(self.transcript, "a") as f:
            f.writelines(self.lines[i] for i in indexes)

    def write_agent_transcript(self, *indexes: int) -> None:
        with open(self.agent_transcript, "a") as f:
            f.writelines(self.agent_lines[i] for i in indexes)

    def fire(self, event: str, **overrides: Any) -> None:
        data = {**payload(event, **self.values), **overrides}
        commands = [h["command"] for group in self.settings["hooks"][event] for h in group["hooks"]]
        assert commands, f"no hook installed for {event}"
        for command in commands:
            result = subprocess.run(
                ["bash", "-c", command], input=json.dumps(data).encode(), cwd=self.repo, capture_output=True
            )
            self.calls.append(result)
            assert result.returncode == 0, result.stderr
            assert result.stdout == b"", f"{event} wrote to stdout: {result.stdout!r}"


@pytest.fixture
def claude(repo: Path, tmp_path: Path) -> ClaudeCode:
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n")
    git("add", "greet.py", cwd=repo)
    git("commit", "-qm", "greet", cwd=repo)
    result = trail("hooks", "install", "claude", cwd=repo)
    assert result.returncode == 0, result.stderr
    return ClaudeCode(repo, tmp_path)


def test_a_whole_session_end_to_end(claude: ClaudeCode) -> None:
    repo = claude.repo
    claude.fire("SessionStart")
    claude.write_transcript(0, 1)  # the person's prompt
    claude.fire("UserPromptSubmit")
    claude.write_transcript(2, 3, 4, 5)  # thinking, text, then the Edit tool call
    claude.fire("PreToolUse")
    (repo / "greet.py").write_text("def greet():\n    return 'hello, world'\n")  # the Edit tool's work
    claude.write_transcript(6)
    claude.fire("PostToolUse")
    (repo / "NOTES.md").write_text("the person typed this\n")  # an edit that is not the agent's
    claude.write_transcript(7)
    # Stop arrives before the transcript holds the final answer (it is written asynchronously).
    claude.fire("Stop", last_assistant_message="greet() now says hello, world;\n\nthe tests pass.")
    claude.fire("SubagentStart")
    claude.write_agent_transcript(0, 1, 2, 3)
    claude.fire(
        "PostToolUse",
        agent_id="a1b2c3d",
        tool_name="Grep",
        tool_input={"pattern": "greet\\("},
        tool_response={"mode": "content", "numFiles": 1},
        tool_use_id="toolu_S1",
        duration_ms=20,
    )
    claude.write_agent_transcript(4)
    claude.fire("SubagentStop")
    claude.fire("Notification")
    claude.fire("PreCompact")
    claude.fire("PostToolUseFailure")
    claude.write_transcript(8, 9, 10, 11)  # the final answer catches up, then a line still being written
    claude.fire("SessionEnd")

    store = Store(TrailRepo.discover(repo))
    steps = store.steps(SESSION)
    assert [(s.kind, s.event.payload.get("name") or s.event.payload.get("source") or "") for s in steps] == [
        ("session_start", "startup"),
        ("prompt", ""),
        ("response", ""),
        ("tool_call", "Edit"),
        ("note", ""),
        ("external_change", ""),
        ("response", "stop_hook"),
        ("note", ""),
        ("note", ""),
        ("tool_call", "Bash"),
        ("response", ""),
        ("note", ""),
        ("session_end", ""),
    ]
    start, prompt, thought, edit, future, external, final, notice, compact, failed, usage, truncated, end = steps
    assert future.event.payload["transcript_type"] == "some-future-line-type"  # an unknown line kind, kept whole
    assert start.event.payload["model"] == "claude-sonnet-4-5-20250929"
    assert prompt.event.payload["text"] == "Make greet() say hello to the world"
    assert prompt.event.payload["hook"]["prompt_id"] == "prm_01"
    assert thought.event.payload["text"] == "I'll update the greeting in greet.py."
    assert thought.event.payload["thinking"] == "The greeting lives in greet.py; change the string."
    assert (thought.event.payload["tokens_in"], thought.event.payload["tokens_out"]) == (2109, 57)
    assert thought.event.payload["model"] == "claude-sonnet-4-5-20250929"
    assert edit.event.payload["input"]["new_string"] == "hello, world"
    assert edit.event.payload["output"]["newString"] == "hello, world"
    assert edit.event.payload["duration_ms"] == 14 and edit.event.payload["tool_use_id"] == "toolu_01Edit"
    # The tree of each step is the code of that moment; the person's edit is its own step.
    assert git("show", f"{thought.commit}:greet.py", cwd=repo).endswith("'hi'\n")
    assert git("show", f"{edit.commit}:greet.py", cwd=repo).endswith("'hello, world'\n")
    assert "NOTES.md" not in tree_files(repo, edit.commit)
    assert git("diff", "--name-only", edit.commit, external.commit, cwd=repo) == "NOTES.md\n"
    assert final.event.payload["text"].endswith("the tests pass.")
    assert notice.event.payload["text"] == "Claude needs your permission to use Bash"
    assert "manual" in compact.event.payload["text"]
    assert failed.event.payload["error"].startswith("Exit code 1")
    # The final message's tokens arrive with the transcript, once, without repeating the text.
    assert usage.event.payload["text_recorded_at"] == final.n and "text" not in usage.event.payload
    assert (usage.event.payload["tokens_in"], usage.event.payload["tokens_out"]) == (2145, 21)
    assert sum(s.event.payload.get("tokens_out", 0) for s in steps) == 57 + 21
    assert truncated.event.payload["raw"].startswith('{"parentUuid":"s1"')
    assert end.event.payload["reason"] == "prompt_input_exit"

    child = store.steps(CHILD)
    assert [(s.kind, s.event.payload.get("name", "")) for s in child] == [
        ("session_start", ""),
        ("prompt", ""),
        ("response", ""),
        ("tool_call", "Grep"),
        ("response", ""),
        ("session_end", ""),
    ]
    link = child[0].event.payload
    assert link["parent_session"] == SESSION and link["parent_step"] == final.n
    assert child[1].event.payload["text"] == "Find every caller of greet()"
    assert child[3].event.payload["duration_ms"] == 20  # from the hook, not duplicated from the transcript
    assert sum(s.event.payload.get("tokens_out", 0) for s in child) == 30 + 12
    assert child[2].event.payload["model"] == "claude-haiku-4-5-20251001"
    assert "Trail-Parent-Session: " + SESSION in git("log", "-1", f"{child[0].commit}", cwd=repo)
    assert not (repo / ".git" / "trail" / "errors.log").exists()


def test_commands_context_and_late_calls_live(claude: ClaudeCode) -> None:
    """Live, as in an import: a slash command is a `command` (once, though both the hook and the transcript have
    it) and never the title; context lines and queued prompts are kept; a result the transcript writes before its
    call (2.1.97) is paired with it by id, never recorded as an unknown call."""

    def line(**fields: Any) -> str:
        base = {"sessionId": SESSION, "cwd": str(claude.repo), "timestamp": "2026-11-20T10:00:00.000Z"}
        return json.dumps({**base, **fields}) + "\n"

    def append(*lines: str) -> None:
        with open(claude.transcript, "a") as f:
            f.writelines(lines)

    claude.fire("SessionStart")
    claude.fire("UserPromptSubmit", prompt="/compact keep the tests")
    command = (
        "<command-name>/compact</command-name>\n<command-message>compact</command-message>\n"
        "<command-args>keep the tests</command-args>"
    )
    append(
        line(type="user", uuid="c1", parentUuid=None, message={"role": "user", "content": command}),
        line(type="queue-operation", operation="enqueue", content="and then run the linter"),
        line(
            type="attachment",
            uuid="x1",
            parentUuid="c1",
            attachment={"type": "hook_additional_context", "content": "lint: 3 warnings"},
        ),
    )
    claude.fire("UserPromptSubmit", prompt="Make greet() say hello to the world")
    use = {"type": "tool_use", "id": "toolu_late", "name": "Bash", "input": {"command": "ls"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_late", "content": "greet.py"}
    append(
        line(type="user", uuid="r1", parentUuid="a1", message={"role": "user", "content": [result]}),
        line(
            type="assistant",
            uuid="a1",
            parentUuid="x1",
            message={"id": "msg_L", "model": "m", "role": "assistant", "content": [use]},
        ),
    )
    claude.fire("Stop", last_assistant_message="")
    claude.fire("SessionEnd")

    store = Store(TrailRepo.discover(claude.repo))
    steps = store.steps(SESSION, full=True)
    kinds = [(s.kind, s.summary) for s in steps]
    assert (
        kinds.count(("command", "/compact keep the tests")) == 1 and ("prompt", "/compact keep the tests") not in kinds
    )
    assert store.session(SESSION).title == "Make greet() say hello to the world"  # type: ignore[union-attr]
    payloads = [s.event.payload for s in steps]
    assert [p["text"] for p in payloads if p.get("transcript_type") == "queue-operation"] == [
        "Typed while the agent was busy (queued): and then run the linter"
    ]
    assert [p["line"]["attachment"]["content"] for p in payloads if p.get("transcript_type") == "attachment"] == [
        "lint: 3 warnings"
    ]
    (call,) = [s for s in steps if s.kind == "tool_call"]
    assert call.event.payload["name"] == "Bash" and call.event.payload["input"] == {"command": "ls"}
    assert call.event.payload["output"] == "greet.py"
    answer = next(s for s in steps if s.kind == "response" and s.event.payload.get("tool_uses"))
    assert answer.n < call.n


def test_parallel_hooks_lose_nothing(claude: ClaudeCode) -> None:
    claude.fire("SessionStart")
    data = [
        {**payload("PostToolUse", **claude.values), "tool_use_id": f"toolu_{i}", "tool_input": {"n": i}}
        for i in range(12)
    ]
    command = claude.settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"]
    procs = [
        subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=claude.repo)
        for _ in data
    ]
    for proc, item in zip(procs, data, strict=True):
        proc.stdin.write(json.dumps(item).encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
        assert proc.stdout.read() == b""  # type: ignore[union-attr]
    steps = Store(TrailRepo.discover(claude.repo)).steps(SESSION)
    assert sorted(s.event.payload["input"]["n"] for s in steps if s.kind == "tool_call") == list(range(12))
    assert [s.n for s in steps] == list(range(1, len(steps) + 1))


def test_not_a_repository_writes_nothing(tmp_path: Path) -> None:
    data = payload("UserPromptSubmit", session_id=SESSION, cwd=str(tmp_path), transcript_path="/nope")
    result = subprocess.run(
        [sys.executable, "-m", "trail.capture.hook", "claude"], input=json.dumps(data).encode(), capture_output=True
    )
    assert result.returncode == 0 and result.stdout == b""
    assert result.stderr.decode().count("\n") == 1 and "not in a git repository" in result.stderr.decode()
    assert list(tmp_path.iterdir()) == [tmp_path / "cwd"]


def test_malformed_payload_is_kept_as_a_note(repo: Path) -> None:
    raw = b'{"session_id": "' + SESSION.encode() + b'", "hook_event_name": "PostToolUse", "tool_inp'
    result = subprocess.run(
        [sys.executable, "-m", "trail.capture.hook", "claude"], input=raw, cwd=repo, capture_output=True
    )
    assert result.returncode == 0 and result.stdout == b""
    note = Store(TrailRepo.discover(repo)).steps(SESSION)[-1]
    assert note.kind == "note" and "could not read" in note.event.payload["text"]
    assert note.event.payload["raw"].encode("utf-8", "surrogateescape") == raw
    assert "malformed" in (repo / ".git" / "trail" / "errors.log").read_text()
    assert "errors" in trail("doctor", cwd=repo).stdout


def steps_everywhere(repo: Path) -> int:
    store = Store(TrailRepo.discover(repo))
    return sum(info.steps for info in store.sessions())


def run_in_process(raw: bytes, cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(raw))
    try:
        import os

        old = os.getcwd()
        os.chdir(cwd)
        try:
            assert hook.main(["claude"]) == 0
        finally:
            os.chdir(old)
    finally:
        sys.stdin = stdin
    assert capsys.readouterr().out == ""


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
EVENTS = st.sampled_from([*CLAUDE_EVENTS, "SomethingNew"])


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=200))
    base: dict[str, Any] = {
        "session_id": draw(st.sampled_from([SESSION, "fuzz-2", ""])),
        "hook_event_name": draw(EVENTS),
    }
    for key in (
        "tool_name",
        "tool_input",
        "tool_response",
        "prompt",
        "transcript_path",
        "agent_id",
        "last_assistant_message",
        "tool_use_id",
        "duration_ms",
        "source",
    ):
        if draw(st.booleans()):
            base[key] = draw(JSONISH)
    if draw(st.booleans()):
        base["cwd"] = draw(st.sampled_from([None, 5, "", "{repo}"]))
    if choice == 2:
        base["prompt"] = "x" * draw(st.integers(0, 300_000))
    text = json.dumps(base)
    if choice == 3:
        text = text[: draw(st.integers(0, len(text)))]  # truncated
    return text.encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=payloads())
def test_fuzzed_payloads_never_hurt_and_are_never_lost(
    repo: Path, raw: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    before = steps_everywhere(repo)
    failed = repo / ".git" / "trail" / "failed"
    kept_before = len(list(failed.iterdir())) if failed.exists() else 0
    run_in_process(raw.replace(b"{repo}", str(repo).encode()), repo, capsys)
    kept_after = len(list(failed.iterdir())) if failed.exists() else 0
    try:
        event = json.loads(raw).get("hook_event_name")
    except (ValueError, AttributeError):
        event = None
    if event in ("PreToolUse", "Stop"):
        return  # by design these record a step only when there is something new (a change, an answer)
    assert steps_everywhere(repo) > before or kept_after > kept_before

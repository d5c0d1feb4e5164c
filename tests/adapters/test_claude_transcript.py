"""Claude Code transcripts: incremental reading, one response per message, tokens counted once per message."""

from __future__ import annotations

import json
from pathlib import Path

from claude_fixtures import transcript_lines
from conftest import git

from trail.adapters.claude_import import import_claude
from trail.adapters.claude_transcript import Cursor, TranscriptConverter, read_lines
from trail.repo import TrailRepo
from trail.store.steps import Store


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines))


def test_read_lines_waits_for_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = transcript_lines("transcript.jsonl", session_id="s", cwd="/w")
    write(path, lines)
    complete, offset = read_lines(path, 0)
    assert len(complete) == len(lines) - 1
    assert offset == len("".join(lines[:-1]).encode())
    assert read_lines(path, offset) == ([], offset)
    final, end = read_lines(path, offset, final=True)
    assert len(final) == 1 and final[0].data is None and end == path.stat().st_size


def test_import_mode_records_every_prompt_response_and_tool(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, transcript_lines("transcript.jsonl", session_id="s", cwd="/w"))
    lines, _ = read_lines(path, 0, final=True)
    events = TranscriptConverter("s", Cursor(), prompts=True, defer_tools=False).feed(lines)
    assert [e.kind for e in events] == ["prompt", "response", "tool_call", "response", "note"]
    prompt, first, tool, second, truncated = events
    assert prompt.payload["text"] == "Make greet() say hello to the world"
    assert first.payload["thinking"] == "The greeting lives in greet.py; change the string."
    assert first.payload["text"] == "I'll update the greeting in greet.py."
    # msg_A is three lines repeating one usage (output grows to 57 on the last): counted once, largest value.
    assert (first.payload["tokens_in"], first.payload["tokens_out"]) == (9 + 100 + 2000, 57)
    assert first.payload["tool_uses"] == [{"id": "toolu_01Edit", "name": "Edit"}]
    assert first.payload["model"] == "claude-sonnet-4-5-20250929"
    assert tool.payload["name"] == "Edit" and tool.payload["input"]["new_string"] == "hello, world"
    assert tool.payload["output"] == "The file greet.py has been updated."
    assert tool.payload["result"]["newString"] == "hello, world"
    assert second.payload["text"] == "greet() now says hello, world;\n\nthe tests pass."
    assert (second.payload["tokens_in"], second.payload["tokens_out"]) == (5 + 40 + 2100, 21)
    assert second.payload["stop_reason"] == "end_turn"
    assert truncated.payload["raw"].startswith('{"parentUuid":"s1"')
    assert str(first.time) == "2026-11-20 10:00:03+00:00"


def test_lines_fed_in_pieces_count_tokens_once(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = transcript_lines("transcript.jsonl", session_id="s", cwd="/w")
    cursor = Cursor()
    events = []
    for end in range(1, len(lines)):  # a hook after every line
        write(path, lines[:end])
        new, cursor.offset = read_lines(path, cursor.offset)
        events += TranscriptConverter("s", cursor, prompts=True, defer_tools=False).feed(new)
        cursor = Cursor.from_json(json.loads(json.dumps(cursor.to_json())))  # saved and loaded between hooks
    responses = [e for e in events if e.kind == "response"]
    assert sum(e.payload.get("tokens_out", 0) for e in responses) == 57 + 21
    assert sum(e.payload.get("tokens_in", 0) for e in responses) == 2109 + 2145
    assert "".join(e.payload.get("text", "") for e in responses).count("the tests pass.") == 1
    assert len([e for e in events if e.kind == "tool_call"]) == 1


def test_hooks_mode_leaves_prompts_and_tools_to_hooks(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, transcript_lines("transcript.jsonl", session_id="s", cwd="/w"))
    lines, _ = read_lines(path, 0)
    cursor = Cursor()
    converter = TranscriptConverter("s", cursor, prompts=False, defer_tools=True)
    assert [e.kind for e in converter.feed(lines)] == ["response", "response"]
    late = converter.deferred()  # no PostToolUse hook came: the transcript's record is used at the end of the turn
    assert [(e.kind, e.payload["name"], e.payload["source"]) for e in late] == [("tool_call", "Edit", "transcript")]


def test_import_is_idempotent_and_continues(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    lines = transcript_lines("transcript.jsonl", session_id="imp-1", cwd=str(repo))[:-1]
    write(path, lines[:5])
    trail_repo = TrailRepo.discover(repo)
    first = import_claude(trail_repo, path)
    assert first.added == 4  # session_start, prompt, response, and the Edit call with no result yet
    assert import_claude(trail_repo, path).added == 0
    write(path, lines)
    more = import_claude(trail_repo, path)
    assert more.added == 2  # the tool call and the last response
    steps = Store(trail_repo).steps("imp-1")
    assert [s.kind for s in steps] == ["session_start", "prompt", "response", "tool_call", "tool_call", "response"]
    assert steps[3].event.payload["status"] == "no result in the transcript"
    assert steps[4].event.payload["input"]["new_string"] == "hello, world"
    assert steps[4].event.payload["output"] == "The file greet.py has been updated."
    assert sum(s.event.payload.get("tokens_out", 0) for s in steps) == 57 + 21
    head_tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    assert all(s.tree == head_tree and s.tree_source for s in steps)
    assert "Trail-Tree: HEAD at import" in git("log", "-1", "trail/sessions/imp-1", cwd=repo)


def test_import_all_finds_this_repositorys_transcripts(repo: Path, tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    config = tmp_path / "claude-config"
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(repo))
    project = config / "projects" / escaped
    (project / "sess-all" / "subagents").mkdir(parents=True)
    write(project / "sess-all.jsonl", transcript_lines("transcript.jsonl", session_id="sess-all", cwd=str(repo))[:-1])
    write(
        project / "sess-all" / "subagents" / "agent-a1b2c3d.jsonl",
        transcript_lines("subagent.jsonl", session_id="sess-all", cwd=str(repo)),
    )
    elsewhere = config / "projects" / (escaped + "-other")  # a name that looks like a subfolder, but is not ours
    elsewhere.mkdir()
    write(elsewhere / "foreign.jsonl", transcript_lines("transcript.jsonl", session_id="foreign", cwd="/elsewhere"))
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    cli = [sys.executable, "-m", "trail.cli", "import", "claude", "--all"]
    first = subprocess.run(cli, cwd=repo, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    store = Store(TrailRepo.discover(repo))
    assert store.session_ids() == ["sess-all", "sess-all.agent-a1b2c3d"]
    child = store.steps("sess-all.agent-a1b2c3d")
    assert child[0].event.payload["parent_session"] == "sess-all"
    again = subprocess.run(cli, cwd=repo, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.count("already imported") == 2

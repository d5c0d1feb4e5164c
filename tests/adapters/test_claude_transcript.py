"""Claude Code transcripts: incremental reading, one response per message, tokens counted once per message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_fixtures import transcript_lines
from conftest import git, trail

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
    assert [e.kind for e in events] == ["prompt", "response", "tool_call", "note", "response", "note"]
    prompt, first, tool, future, second, truncated = events
    # A line of a kind this version does not know is kept whole, as a note.
    assert future.payload["transcript_type"] == "some-future-line-type"
    assert future.payload["line"] == {"payload": {"x": 1}}
    # The progress and turn_duration lines are bookkeeping: not recorded, but their place in the tree is.
    assert tool.payload["links"] == [["p1", None, "progress"]]
    assert second.payload["links"] == [["s1", "a5", "system:turn_duration"]]
    assert [e.payload["transcript_uuid"] for e in events[:5]] == ["u1", "a3", "t1", "f1", "a5"]
    assert [e.payload.get("parent_uuid") for e in events[:5]] == [None, "a2", "a3", None, "a4"]
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
    assert [e.kind for e in converter.feed(lines)] == ["response", "note", "response"]
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
    assert more.added == 3  # the call's result, the note for a line of an unknown kind, and the last response
    steps = Store(trail_repo).steps("imp-1")
    assert [s.kind for s in steps] == [
        "session_start",
        "prompt",
        "response",
        "tool_call",
        "tool_result",
        "note",
        "response",
    ]
    assert steps[3].event.payload["status"] == "no result in the transcript"
    # Steps are immutable: the result that came later completes the call's step; the call is not recorded twice.
    late = steps[4].event.payload
    assert late["completes_step"] == 4 and late["tool_use_id"] == steps[3].event.payload["tool_use_id"]
    assert late["name"] == "Edit" and late["input"]["new_string"] == "hello, world"
    assert late["output"] == "The file greet.py has been updated."
    assert steps[4].summary == "Edit result of step 4"
    assert import_claude(trail_repo, path).added == 0
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


def line_json(**fields: object) -> str:
    base = {"sessionId": "s", "cwd": "/w", "timestamp": "2026-11-20T10:00:00.000Z"}
    return json.dumps({**base, **fields}) + "\n"


def test_a_result_written_before_its_call_waits_for_it_across_hook_calls(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    use = {"type": "tool_use", "id": "toolu_X", "name": "Read", "input": {"file_path": "a.py"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_X", "content": "print(1)"}
    write(path, [line_json(type="user", uuid="r", parentUuid="a", message={"role": "user", "content": [result]})])
    cursor = Cursor()
    lines, cursor.offset = read_lines(path, 0)
    assert TranscriptConverter("s", cursor, prompts=True, defer_tools=False).feed(lines) == []
    cursor = Cursor.from_json(json.loads(json.dumps(cursor.to_json())))  # saved and loaded between hooks
    assistant = {"id": "msg_1", "model": "m", "role": "assistant", "content": [use]}
    with open(path, "a") as f:
        f.write(line_json(type="assistant", uuid="a", parentUuid=None, message=assistant))
    lines, cursor.offset = read_lines(path, cursor.offset)
    events = TranscriptConverter("s", cursor, prompts=True, defer_tools=False).feed(lines)
    assert [e.kind for e in events] == ["response", "tool_call"]
    assert events[1].payload["name"] == "Read" and events[1].payload["input"] == {"file_path": "a.py"}
    assert events[1].payload["output"] == "print(1)" and events[1].payload["transcript_uuid"] == "r"


def test_an_empty_session_says_so_and_what_is_not_a_transcript_is_refused(repo: Path, tmp_path: Path) -> None:
    from trail.errors import TrailError

    empty = tmp_path / "0b7e6a3c-1111-4222-8333-444455556666.jsonl"
    write(empty, [json.dumps({"type": "file-history-snapshot", "messageId": "m", "snapshot": {}}) + "\n"])
    result = trail("import", "claude", str(empty), cwd=repo)
    assert result.returncode == 0 and "an empty session" in result.stdout
    assert git("for-each-ref", "refs/trail", cwd=repo) == ""
    rollout = tmp_path / "rollout-2026-01-01T00-00-00-019b0254-78dd-7ea3-9224-5ae646e225ea.jsonl"
    write(rollout, [json.dumps({"timestamp": "2026-01-01T00:00:00Z", "type": "session_meta", "payload": {}}) + "\n"])
    with pytest.raises(TrailError, match="not a Claude Code transcript"):
        import_claude(TrailRepo.discover(repo), rollout)
    assert git("for-each-ref", "refs/trail", cwd=repo) == ""


def test_a_line_still_being_written_waits_for_the_next_import(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    lines = transcript_lines("transcript.jsonl", session_id="imp-3", cwd=str(repo))
    write(path, lines[:2] + [lines[2][:40]])
    trail_repo = TrailRepo.discover(repo)
    first = import_claude(trail_repo, path)
    assert first.added == 2 and "still being written" in first.note
    write(path, lines[:-1])
    assert import_claude(trail_repo, path).added > 0
    kinds = [s.kind for s in Store(trail_repo).steps("imp-3")]
    assert "note" not in kinds[:3]  # the cut line was not recorded as a broken line
    assert kinds.count("response") == 2


def test_slash_commands_are_shown_as_commands_never_as_the_title(repo: Path, tmp_path: Path) -> None:
    from trail.views.replay import parts

    path = tmp_path / "cmd.jsonl"
    command = "<command-name>/review</command-name>\n<command-message>review</command-message>\n"
    command += "<command-args>src</command-args>"
    write(
        path,
        [
            line_json(type="user", uuid="c1", parentUuid=None, message={"role": "user", "content": command}),
            line_json(
                type="user",
                uuid="o1",
                parentUuid="c1",
                message={"role": "user", "content": "<local-command-stdout>ok</local-command-stdout>"},
            ),
            line_json(
                type="user",
                uuid="i1",
                parentUuid="o1",
                message={"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]},
            ),
            line_json(type="custom-title", customTitle="Review of src"),
            line_json(
                type="user", uuid="p1", parentUuid="i1", message={"role": "user", "content": "look at src/app.py"}
            ),
        ],
    )
    trail_repo = TrailRepo.discover(repo)
    session_id = import_claude(trail_repo, path).session_id
    store = Store(trail_repo)
    steps = store.steps(session_id, full=True)
    assert [s.kind for s in steps] == ["session_start", "command", "note", "note", "note", "prompt"]
    assert steps[2].event.payload["command_output"] == "stdout" and steps[3].event.payload["interrupted"] is True
    assert store.session(session_id).title == "Review of src"  # type: ignore[union-attr]
    log = trail("log", session_id, cwd=repo)
    assert log.returncode == 0 and "command" in log.stdout and "/review src" in log.stdout
    shown = trail("show", f"{session_id}@2", cwd=repo)
    assert shown.returncode == 0 and "/review src" in shown.stdout
    assert parts(steps[1].event, "x")[0][2] == "/review src"

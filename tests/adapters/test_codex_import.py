"""Codex CLI rollouts written by real users (0.66 and 0.117) import completely, once, and in pieces as they grow.

Counts are checked against a reading of the file done here, independently of trail's converter: the person's
messages (`event_msg` user_message), the calls (distinct `call_id`s of function, custom and local shell calls, and
web searches), and the tokens (Codex's last cumulative `total_token_usage`: what the differences must add up to).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL, transcript_lines
from codex_fixtures import SESSION, rollout_lines, rollout_path
from conftest import git, trail

from trail.adapters import codex_rollout
from trail.adapters.codex_import import find_rollouts, import_codex, sniff
from trail.adapters.formats import detect
from trail.repo import TrailRepo
from trail.store.steps import Store

ROLLOUTS = sorted(REAL.glob("codex-*.jsonl")) if REAL.is_dir() else []
CALLS = ("function_call", "custom_tool_call", "local_shell_call")
real = pytest.mark.skipif(not ROLLOUTS, reason="../shared/fixtures/real (the real Codex rollouts) is not here")


@pytest.fixture(autouse=True)
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    return home


def expected(path: Path) -> dict[str, Any]:
    prompts = 0
    calls: set[str] = set()
    searches = 0
    totals: dict[str, int] = {}
    for raw in path.read_bytes().splitlines():
        line = json.loads(raw)
        payload = line["payload"]
        kind = payload.get("type")
        if line["type"] == "event_msg" and kind == "user_message":
            prompts += 1
        elif line["type"] == "response_item" and kind in CALLS:
            calls.add(payload["call_id"])
        elif line["type"] == "response_item" and kind == "web_search_call":
            searches += 1
        elif line["type"] == "event_msg" and kind == "token_count" and payload.get("info"):
            total = payload["info"]["total_token_usage"]
            assert all(total[k] >= totals.get(k, 0) for k in total), "the fixture's count never starts again"
            totals = total
    return {"prompts": prompts, "calls": calls, "searches": searches, "totals": totals}


def steps_of(repo: Path, session: str) -> list[Any]:
    return Store(TrailRepo.discover(repo)).steps(session, full=True)


@real
@pytest.mark.parametrize("path", ROLLOUTS, ids=lambda p: p.name)
def test_a_real_rollout_imports_completely(repo: Path, path: Path) -> None:
    result = import_codex(TrailRepo.discover(repo), path)
    steps = steps_of(repo, result.session_id)
    want = expected(path)
    kinds = Counter(s.kind for s in steps)
    assert kinds["session_start"] == 1 and steps[0].kind == "session_start"
    assert kinds["prompt"] == want["prompts"]
    tool_ids = [s.event.payload["tool_use_id"] for s in steps if s.kind == "tool_call"]
    assert len(tool_ids) == len(set(tool_ids)) == len(want["calls"]) + want["searches"]
    assert want["calls"] <= set(tool_ids)
    assert all("output" in s.event.payload or "error" in s.event.payload for s in steps if s.kind == "tool_call")
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p.get("tokens_in", 0) for p in responses) == want["totals"]["input_tokens"]
    assert sum(p.get("tokens_out", 0) for p in responses) == want["totals"]["output_tokens"]
    assert (
        sum(p.get("usage", {}).get("cached_input_tokens", 0) for p in responses)
        == want["totals"]["cached_input_tokens"]
    )
    assert all(p.get("model") for p in responses)
    assert all(s.tree_source and "Codex rollout" in s.tree_source for s in steps)
    assert steps[0].event.payload["imported_from"] == str(path.resolve())
    again = import_codex(TrailRepo.discover(repo), path)
    assert again.added == 0 and again.note == "already imported"


@real
def test_the_two_formats_keep_what_each_version_writes(repo: Path) -> None:
    """0.66: reasoning summaries as thinking (noted as summaries of encrypted reasoning), an interrupted turn.
    0.117: turns with ids, encrypted-only reasoning noted, exec results' exit codes and durations, context notes."""
    trail_repo = TrailRepo.discover(repo)
    old = steps_of(repo, import_codex(trail_repo, REAL / "codex-dslint.jsonl").session_id)
    thinking = [s.event.payload for s in old if s.kind == "response" and s.event.payload.get("thinking")]
    summaries = sum(
        1
        for raw in (REAL / "codex-dslint.jsonl").read_bytes().splitlines()
        if (line := json.loads(raw))["type"] == "response_item"
        and line["payload"].get("type") == "reasoning"
        and any(part.get("text") for part in line["payload"].get("summary") or [])
    )
    assert len(thinking) == summaries
    assert all(p["thinking_summary"] is True and p["thinking_encrypted"] >= 1 for p in thinking)
    aborted = [s for s in old if s.kind == "note" and s.event.payload.get("aborted")]
    assert [s.event.payload["reason"] for s in aborted] == ["interrupted"]
    assert old[-1].kind == "note" and old[-1].event.payload.get("aborted")
    context = [s.event.payload["text"] for s in old if s.kind == "note" and s.event.payload.get("context")]
    assert context and context[0].startswith("<environment_context>")
    patches = [s.event.payload for s in old if s.kind == "tool_call" and s.event.payload["name"] == "apply_patch"]
    assert len(patches) == 4 and all(p["input"].startswith("*** Begin Patch") for p in patches)
    assert all(p["output"].startswith("Success.") and p["metadata"]["exit_code"] == 0 for p in patches)

    new = steps_of(repo, import_codex(trail_repo, REAL / "codex-idaho-mar29.jsonl").session_id)
    responses = [s.event.payload for s in new if s.kind == "response"]
    assert all(p["turn_id"] and p["effort"] == "high" and p["model"] == "gpt-5.4" for p in responses)
    assert sum(1 for p in responses if p.get("stop_reason") == "turn_complete") == 5  # five task_complete
    assert all("thinking" not in p for p in responses) and any(p.get("thinking_encrypted") for p in responses)
    shells = [s.event.payload for s in new if s.kind == "tool_call" and s.event.payload["name"] == "shell_command"]
    assert all(isinstance(p.get("exit_code"), int) and p.get("duration_ms") is not None for p in shells)
    roles = {s.event.payload["role"] for s in new if s.kind == "note" and s.event.payload.get("context")}
    assert roles == {"developer", "user"}  # permissions, then AGENTS.md: what the model saw, not what was typed
    prompts = [s.event.payload["text"] for s in new if s.kind == "prompt"]
    assert prompts[1:] == ["exit", "quit", "end", "kill"]
    # A turn's settings are kept where they change: once in each file (0.66 repeats them before every request).
    for steps in (old, new):
        (settings,) = [s.event.payload["turn_context"] for s in steps if "turn_context" in s.event.payload]
        assert settings["sandbox_policy"]["type"] == "workspace-write" and settings["approval_policy"] == "on-request"


@real
@pytest.mark.parametrize("cut", [0.1, 0.37, 0.5, 0.83])
def test_a_rollout_that_grew_adds_only_its_new_lines(repo: Path, tmp_path: Path, cut: float) -> None:
    """Imported while Codex was writing it, then again: every call once, every token once, nothing twice."""
    source = REAL / "codex-idaho-mar29.jsonl"
    lines = source.read_bytes().splitlines(keepends=True)
    growing = tmp_path / source.name
    at = int(len(lines) * cut)
    growing.write_bytes(b"".join(lines[:at]))
    trail_repo = TrailRepo.discover(repo)
    first = import_codex(trail_repo, growing)
    growing.write_bytes(b"".join(lines))
    second = import_codex(trail_repo, growing)
    assert first.added > 0 and second.added > 0
    steps = steps_of(repo, first.session_id)
    want = expected(source)
    tool_ids = [s.event.payload["tool_use_id"] for s in steps if s.kind == "tool_call"]
    assert sorted(tool_ids) == sorted(want["calls"])
    assert sum(1 for s in steps if s.kind == "prompt") == want["prompts"]
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p.get("tokens_in", 0) for p in responses) == want["totals"]["input_tokens"]
    assert sum(p.get("tokens_out", 0) for p in responses) == want["totals"]["output_tokens"]
    assert import_codex(trail_repo, growing).added == 0


def test_a_call_waiting_for_its_output_is_recorded_once_it_has_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codex_rollout, "STALE_AFTER", timedelta(days=365 * 100))  # Codex is still writing it
    lines = rollout_lines(session_id=SESSION, cwd=str(repo))
    path = tmp_path / f"rollout-2026-03-29T20-15-51-{SESSION}.jsonl"
    at = next(i for i, line in enumerate(lines) if '"custom_tool_call"' in line) + 1
    path.write_text("".join(lines[:at]))
    trail_repo = TrailRepo.discover(repo)
    first = import_codex(trail_repo, path)
    assert "1 tool calls wait for their output" in first.note
    assert not [s for s in steps_of(repo, SESSION) if s.kind == "tool_call"]
    path.write_text("".join(lines))
    import_codex(trail_repo, path)
    calls = [s.event.payload for s in steps_of(repo, SESSION) if s.kind == "tool_call"]
    assert [c["tool_use_id"] for c in calls][:1] == ["call_edit"] and len(calls) == 2
    assert calls[0]["output"].startswith("Success.") and calls[0]["end"]["success"] is True


def test_an_old_session_whose_calls_never_got_output_records_them(repo: Path, tmp_path: Path) -> None:
    """A rollout not written for a day is over: its open calls are recorded, saying they have no result."""
    lines = rollout_lines(session_id=SESSION, cwd=str(repo))
    at = next(i for i, line in enumerate(lines) if '"custom_tool_call"' in line) + 1
    path = tmp_path / "rollout.jsonl"
    path.write_text("".join(lines[:at]))
    import_codex(TrailRepo.discover(repo), path)  # the fixture's lines are from March 2026: long over
    (call,) = [s.event.payload for s in steps_of(repo, SESSION) if s.kind == "tool_call"]
    assert call["tool_use_id"] == "call_edit" and call["status"] == "no result in the rollout"


def test_a_rollout_from_before_the_envelope_is_read(repo: Path, tmp_path: Path) -> None:
    """Codex of mid 2025 wrote a bare header, `{"record_type":"state"}` markers and bare items, no user_message
    events (the shape other rollout readers document, e.g. a header `{id, timestamp, instructions, git}`)."""
    sid = "c27a914d-0000-4000-8000-000000000001"
    rows = [
        {"id": sid, "timestamp": "2025-08-20T13:20:47.060Z", "instructions": None, "git": {"branch": "main"}},
        {"record_type": "state"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>x"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "function_call", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "call_1"},
        {"type": "function_call_output", "call_id": "call_1", "output": {"content": "README.md", "success": True}},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "One file."}]},
    ]
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect(path) == "codex"
    import_codex(TrailRepo.discover(repo), path)
    steps = steps_of(repo, sid)
    assert [s.kind for s in steps] == ["session_start", "note", "prompt", "response", "tool_call", "response"]
    assert steps[4].event.payload["input"] == {"command": ["ls"]} and steps[4].event.payload["output"] == "README.md"


def test_trail_import_recognises_a_rollout_and_refuses_other_files(repo: Path, tmp_path: Path) -> None:
    rollout = tmp_path / "r.jsonl"
    rollout.write_text("".join(rollout_lines(session_id=SESSION, cwd=str(repo))))
    result = trail("import", str(rollout), cwd=repo)  # problem 6: a rollout was "no steps", exit 0
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{SESSION}: ") and "steps" in result.stdout
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("".join(transcript_lines("transcript.jsonl", session_id="s", cwd=str(repo))[:-1]))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"timestamp": "2026-01-01T00:00:00Z", "type": "x", "payload": {}}) + "\n")
    markdown = tmp_path / "notes.md"
    markdown.write_text("# notes\n\nsome text\n")
    for wrong in (transcript, other, markdown):
        before = git("for-each-ref", "refs/trail", cwd=repo)
        refused = trail("import", "codex", str(wrong), cwd=repo)
        assert refused.returncode == 1 and "is not a Codex CLI rollout" in refused.stderr
        assert git("for-each-ref", "refs/trail", cwd=repo) == before
    assert not sniff(transcript.read_bytes(), transcript) and not sniff(b"", transcript)


def test_a_first_line_longer_than_the_sniffed_head_is_still_recognised(tmp_path: Path) -> None:
    line = json.dumps(
        {"timestamp": "2026-03-30T02:15:56.623Z", "type": "session_meta", "payload": {"base_instructions": "x" * 99999}}
    )
    assert sniff(line.encode()[: 64 << 10], tmp_path / "r.jsonl")


def test_import_all_finds_the_rollouts_of_this_repository(repo: Path, tmp_path: Path, codex_home: Path) -> None:
    here = rollout_path(codex_home)
    here.parent.mkdir(parents=True)
    here.write_text("".join(rollout_lines(session_id=SESSION, cwd=str(repo / "src"))))
    other_id = "019d3c86-a9b5-7911-b12a-000000000002"
    elsewhere = rollout_path(codex_home, other_id)
    elsewhere.write_text("".join(rollout_lines(session_id=other_id, cwd=str(tmp_path))))
    archived = codex_home / "archived_sessions" / f"rollout-2026-03-01T10-00-00-{other_id[:-1]}3.jsonl"
    archived.parent.mkdir(parents=True)
    archived.write_text("".join(rollout_lines(session_id=other_id[:-1] + "3", cwd=str(repo))))
    assert find_rollouts(TrailRepo.discover(repo)) == [archived, here]
    result = trail("import", "codex", "--all", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {SESSION, other_id[:-1] + "3"}


def test_an_import_of_a_rollout_trail_resume_wrote_is_linked_to_the_fork_step(
    repo: Path, tmp_path: Path, codex_home: Path
) -> None:
    rollout = tmp_path / "r.jsonl"
    rollout.write_text("".join(rollout_lines(session_id=SESSION, cwd=str(repo))))
    assert trail("import", "codex", str(rollout), cwd=repo).returncode == 0
    step = next(s for s in steps_of(repo, SESSION) if s.kind == "tool_call")
    resumed = trail("resume", f"{SESSION}@{step.n}", "--agent", "codex", str(tmp_path / "fork"), cwd=repo)
    assert resumed.returncode == 0, resumed.stderr
    new_id = resumed.stdout.strip().splitlines()[-1].split()[-1]
    (written,) = codex_home.glob(f"sessions/*/*/*/rollout-*-{new_id}.jsonl")
    # `codex resume NEW` goes on in that file: the import records it as the fork of the step.
    with open(written, "a") as f:
        f.write(rollout_lines(session_id=new_id, cwd=str(tmp_path / "fork"))[5].replace("Make greet()", "Now make"))
    imported = trail("import", str(written), cwd=repo)
    assert imported.returncode == 0, imported.stderr
    start = steps_of(repo, new_id)[0].event.payload
    assert (start["parent_session"], start["parent_step"]) == (SESSION, step.n)
    assert start["forked_from"]["commit"] == step.commit
    assert not (repo / ".git" / "trail" / "forks" / f"{new_id}.json").exists()
    assert os.path.exists(written)

"""Transcripts written by real Claude Code users import completely: every prompt, tool call and token."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL

from trail.adapters.claude_import import import_claude
from trail.repo import TrailRepo
from trail.store.steps import Store

TRANSCRIPTS = sorted(REAL.glob("claude-*.jsonl")) if REAL.is_dir() else []
FIELDS_IN = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def expected(path: Path) -> dict[str, Any]:
    """What the transcript holds, counted here independently of trail's converter."""
    prompts, results, uses = 0, set(), set()
    usage: dict[str, dict[str, int]] = defaultdict(dict)
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        message = line.get("message") or {}
        content = message.get("content")
        if line.get("type") == "assistant":
            for key, value in (message.get("usage") or {}).items():
                if isinstance(value, int):
                    usage[message["id"]][key] = max(usage[message["id"]].get(key, 0), value)
            uses |= {b["id"] for b in content if isinstance(b, dict) and b.get("type") == "tool_use"}
        elif line.get("type") == "user":
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            results |= {b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"}
            typed = any(
                b.get("type") in ("text", "image") and (b.get("text") or b.get("type") == "image") for b in blocks
            )
            if typed and not line.get("isMeta") and not line.get("isCompactSummary"):
                prompts += 1
    return {
        "prompts": prompts,
        "tool_calls": len(uses | results),
        "tokens_out": sum(u.get("output_tokens", 0) for u in usage.values()),
        "tokens_in": sum(sum(u.get(f, 0) for f in FIELDS_IN) for u in usage.values()),
    }


@pytest.mark.skipif(not TRANSCRIPTS, reason="../shared/fixtures/real is not here")
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_real_transcript_imports_completely(repo: Path, path: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    if ".subagent-" in path.name:  # import its parent first, so the link can be made
        parent = path.with_name(path.name.split(".subagent-")[0] + ".jsonl")
        import_claude(trail_repo, parent)
    result = import_claude(trail_repo, path)
    steps = Store(trail_repo).steps(result.session_id)
    want = expected(path)
    kinds = [s.kind for s in steps]
    assert kinds.count("prompt") == want["prompts"]
    assert kinds.count("tool_call") == want["tool_calls"]
    assert len({s.event.payload["tool_use_id"] for s in steps if s.kind == "tool_call"}) == want["tool_calls"]
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p.get("tokens_out", 0) for p in responses) == want["tokens_out"]
    assert sum(p.get("tokens_in", 0) for p in responses) == want["tokens_in"]
    assert all(p.get("model") for p in responses)
    assert import_claude(trail_repo, path).added == 0  # idempotent
    if ".subagent-" in path.name:
        start = steps[0].event.payload
        assert start["parent_session"] == steps[0].session_id.split(".agent-")[0]
        assert isinstance(start.get("parent_step"), int)


@pytest.mark.skipif(not TRANSCRIPTS, reason="../shared/fixtures/real is not here")
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_bulk_import_writes_what_step_by_step_recording_writes(repo: Path, path: Path) -> None:
    """The same steps, byte for byte, as writing each event on its own would give; and no loose object."""
    from conftest import git

    from trail.adapters.claude_transcript import Cursor, TranscriptConverter, iter_lines
    from trail.capture.writer import StepWriter

    trail_repo = TrailRepo.discover(repo)
    loose = git("count-objects", cwd=repo)
    result = import_claude(trail_repo, path)
    assert git("count-objects", cwd=repo) == loose  # everything went into the pack
    bulk = [s.record["event"] for s in Store(trail_repo).steps(result.session_id, full=True)]

    converter = TranscriptConverter("one-by-one", Cursor(), prompts=True, defer_tools=False)
    events = []
    for lines in iter_lines(path):
        events += converter.feed(lines, flush=False)
    events += converter.finish() + converter.unresolved()
    writer = StepWriter(trail_repo)
    for event in events:
        event.session_id = "one-by-one"
        writer.write(event, None)
    single = [s.record["event"] for s in Store(trail_repo).steps("one-by-one", full=True)]
    assert len(single) == len(bulk) - 1  # the import's session_start is its own
    for one, other in zip(single, bulk[1:], strict=True):
        assert json.dumps({**one, "session": None, "step": one["step"] + 1}, sort_keys=True) == json.dumps(
            {**other, "session": None}, sort_keys=True
        )

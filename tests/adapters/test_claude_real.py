"""Transcripts written by real Claude Code users import completely: every prompt, tool call and token, counted here
independently of trail's converter; and their conversation can be rebuilt, block by block, from the steps alone."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL
from conftest import git

from trail.adapters.claude_import import find_claude_transcripts, import_claude
from trail.adapters.claude_rebuild import rebuild_messages
from trail.repo import TrailRepo
from trail.store.steps import Store

TRANSCRIPTS = sorted(REAL.glob("claude-*.jsonl")) if REAL.is_dir() else []
SUBAGENT_DIRS = sorted(REAL.glob("claude-*/subagents/agent-*.jsonl")) if REAL.is_dir() else []
COPIES = [p for p in SUBAGENT_DIRS if p.name.startswith(("agent-acompact-", "agent-aside_question-"))]
FIELDS_IN = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
needs_real = pytest.mark.skipif(not TRANSCRIPTS, reason="../shared/fixtures/real is not here")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text().splitlines() if raw.strip()]


def parent_of(path: Path) -> Path | None:
    """The parent transcript a subagent's needs imported first (for its link), where the fixtures keep it."""
    if ".subagent-" in path.name:
        return path.with_name(path.name.split(".subagent-")[0] + ".jsonl")
    if path.parent.name == "subagents":
        return path.parent.parent.parent / f"{path.parent.parent.name}.jsonl"
    return None


def typed_text(line: dict[str, Any]) -> str | None:
    """What a person typed on a user line (None for a line of tool results only)."""
    content = (line.get("message") or {}).get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
    if blocks and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
        return None
    return "\n".join(str(b.get("text") or "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")


def expected(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What the transcript holds, counted here independently of trail's converter. A prompt is what a person
    typed: not Claude Code's own text (isMeta, a compaction's summary), not a slash command or its output, not the
    "[Request interrupted by user…]" marker; a pasted image with no words is a prompt too."""
    prompts, commands, results, uses = 0, 0, set(), set()
    usage: dict[str, dict[str, int]] = defaultdict(dict)
    for line in lines:
        message = line.get("message") or {}
        content = message.get("content")
        if line.get("type") == "assistant":
            for key, value in (message.get("usage") or {}).items():
                if isinstance(value, int):
                    usage[message["id"]][key] = max(usage[message["id"]].get(key, 0), value)
            uses |= {b["id"] for b in content if isinstance(b, dict) and b.get("type") == "tool_use"}
        elif line.get("type") == "system" and "<command-name>" in str(line.get("content")):
            commands += 1  # a local command, as versions before 2.1 wrote it
        elif line.get("type") == "user":
            blocks = content if isinstance(content, list) else []
            results |= {b["tool_use_id"] for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"}
            text = typed_text(line)
            if text is None or line.get("isMeta") or line.get("isCompactSummary"):
                continue
            stripped = text.strip()
            if "<command-name>" in stripped:
                commands += 1
            elif stripped.startswith(("<local-command-stdout>", "<local-command-stderr>", "[Request interrupted")):
                continue
            elif stripped or any(isinstance(b, dict) and b.get("type") == "image" for b in blocks):
                prompts += 1
    return {
        "prompts": prompts,
        "commands": commands,
        "tool_calls": len(uses | results),
        "tokens_out": sum(u.get("output_tokens", 0) for u in usage.values()),
        "tokens_in": sum(sum(u.get(f, 0) for f in FIELDS_IN) for u in usage.values()),
    }


def tree_order(lines: list[dict[str, Any]], only: set[str] | None = None) -> list[dict[str, Any]]:
    """The transcript's user and assistant messages in the order of its parentUuid tree, parsed from the file:
    each root in file order, then each line's children in file order, depth first."""
    nodes: dict[str, dict[str, Any]] = {}
    for line in lines:
        if isinstance(line.get("uuid"), str):
            nodes.setdefault(line["uuid"], line)
    children: dict[str | None, list[str]] = defaultdict(list)
    for uuid, line in nodes.items():
        parent = line.get("parentUuid")
        children[parent if parent in nodes else None].append(uuid)
    out = []
    stack = list(reversed(children[None]))
    while stack:
        uuid = stack.pop()
        line = nodes[uuid]
        if line.get("type") in ("user", "assistant") and (only is None or uuid in only):
            parent = line.get("parentUuid")
            content = line["message"].get("content")
            out.append({"uuid": uuid, "parent_uuid": parent, "role": line["type"], "content": content})
        stack.extend(reversed(children[uuid]))
    return out


def imported(repo: Path, path: Path) -> tuple[TrailRepo, str]:
    trail_repo = TrailRepo.discover(repo)
    parent = parent_of(path)
    if parent is not None and parent.is_file():
        import_claude(trail_repo, parent)
    return trail_repo, import_claude(trail_repo, path).session_id


@needs_real
@pytest.mark.parametrize("path", TRANSCRIPTS + [p for p in SUBAGENT_DIRS if p not in COPIES], ids=lambda p: p.name)
def test_real_transcript_imports_completely(repo: Path, path: Path) -> None:
    trail_repo, session_id = imported(repo, path)
    steps = Store(trail_repo).steps(session_id, full=True)
    want = expected(read(path))
    kinds = [s.kind for s in steps]
    assert kinds.count("prompt") == want["prompts"]
    assert kinds.count("command") == want["commands"]
    assert kinds.count("tool_call") == want["tool_calls"]
    assert len({s.event.payload["tool_use_id"] for s in steps if s.kind == "tool_call"}) == want["tool_calls"]
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p.get("tokens_out", 0) for p in responses) == want["tokens_out"]
    assert sum(p.get("tokens_in", 0) for p in responses) == want["tokens_in"]
    assert all(p.get("model") for p in responses)
    # No call without its name and input: results written before their call (2.1.97) are paired by id.
    calls = [s.event.payload for s in steps if s.kind == "tool_call"]
    assert all(p.get("name") not in (None, "unknown") and "input" in p for p in calls)
    assert import_claude(trail_repo, path).added == 0  # idempotent
    assert [s.commit for s in Store(trail_repo).steps(session_id)] == [s.commit for s in steps]
    if parent_of(path) is not None:
        start = steps[0].event.payload
        assert start["parent_session"] == session_id.split(".agent-")[0]
        assert isinstance(Store(trail_repo).session(session_id).parent[1], int)  # type: ignore[index]


@needs_real
@pytest.mark.parametrize("path", TRANSCRIPTS + SUBAGENT_DIRS, ids=lambda p: p.name)
def test_the_conversation_is_rebuilt_from_the_steps(repo: Path, path: Path) -> None:
    """Every user and assistant line, its content block for block (text, thinking and its signature, tool calls
    with their input, tool results in their own form, images byte for byte) and its place in the tree, from the
    steps alone. Of a copy of its parent (compaction, side question), the lines its parent does not hold."""
    trail_repo, session_id = imported(repo, path)
    lines = read(path)
    only = None
    if path in COPIES:
        parent = parent_of(path)
        assert parent is not None
        held = {line.get("uuid") for line in read(parent)}
        only = {line["uuid"] for line in lines if line.get("uuid") and line["uuid"] not in held}
    store = Store(trail_repo)
    assert not any(s.redacted for s in store.steps(session_id, full=True))  # nothing redacted: compared exactly
    assert rebuild_messages(store, session_id) == tree_order(lines, only)


@needs_real
def test_results_written_before_their_call_come_after_it(repo: Path) -> None:
    path = REAL / "claude-omarchy-images.jsonl"
    lines = read(path)
    seen: set[str] = set()
    early = set()
    for line in lines:
        for block in (line.get("message") or {}).get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                seen.add(block["id"])
            elif block.get("type") == "tool_result" and block["tool_use_id"] not in seen:
                early.add(block["tool_use_id"])
    assert len(early) == 10
    trail_repo, session_id = imported(repo, path)
    steps = Store(trail_repo).steps(session_id, full=True)
    made_at = {u["id"]: s.n for s in steps if s.kind == "response" for u in s.event.payload.get("tool_uses", [])}
    for step in steps:
        tool_id = step.event.payload.get("tool_use_id")
        if step.kind == "tool_call" and tool_id in early:
            assert made_at[tool_id] < step.n
            assert step.event.payload["input"] is not None and step.event.payload["name"] != "unknown"


@needs_real
def test_context_the_model_saw_is_kept(repo: Path) -> None:
    """Attachment lines, queued prompts, pull-request links, permission modes, compaction notices, the whole usage
    object and thinking signatures; slash commands and interruptions are not prompts and never the title."""
    trail_repo = TrailRepo.discover(repo)
    store = Store(trail_repo)
    omarchy = import_claude(trail_repo, REAL / "claude-omarchy-images.jsonl").session_id
    steps = store.steps(omarchy, full=True)
    lines = read(REAL / "claude-omarchy-images.jsonl")
    notes = [s.event.payload for s in steps if s.kind == "note"]
    attached = [p for p in notes if p.get("transcript_type") == "attachment"]
    assert [p["line"]["attachment"] for p in attached] == [
        ln["attachment"] for ln in lines if ln["type"] == "attachment"
    ]
    assert [p["line"]["permissionMode"] for p in notes if p.get("transcript_type") == "permission-mode"] == [
        "default",
        "acceptEdits",
    ]
    assert [p["text"] for p in notes if p.get("interrupted")] == ["[Request interrupted by user for tool use]"]
    assert store.session(omarchy).title == "my screen saver comes up way to fast"  # type: ignore[union-attr]
    # The whole usage object, each number counted once per message: the 1-hour cache writes add up.
    per_message: dict[str, int] = {}
    for line in lines:
        if line["type"] == "assistant":
            usage = line["message"]["usage"]
            one_hour = usage["cache_creation"]["ephemeral_1h_input_tokens"]
            per_message[line["message"]["id"]] = max(per_message.get(line["message"]["id"], 0), one_hour)
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] for p in responses if "usage" in p) == sum(
        per_message.values()
    )
    assert {p["usage"]["service_tier"] for p in responses if "usage" in p} == {"standard"}
    assert all("server_tool_use" in p["usage"] for p in responses if "usage" in p)
    signatures = [e["signature"] for p in responses for e in p.get("content", []) if e.get("type") == "thinking"]
    assert len(signatures) == 76 and all(signatures)

    idaho = import_claude(trail_repo, REAL / "claude-idaho-aside.jsonl").session_id
    payloads = [s.event.payload for s in store.steps(idaho, full=True)]
    queued = [
        p["line"]["content"]
        for p in payloads
        if p.get("transcript_type") == "queue-operation" and "content" in p["line"]
    ]
    assert queued == ["/rate-limit-options", "/dream", "/rate-limit-options"]
    assert [p["text"] for p in payloads if p.get("transcript_type") == "pr-link"] == [
        "Pull request: https://github.com/loganfinney27/IDAHO-VAULT/pull/98",
        "Pull request: https://github.com/loganfinney27/IDAHO-VAULT/pull/98",
        "Pull request: https://github.com/loganfinney27/IDAHO-VAULT/pull/100",
    ]
    assert [p["name"] for p in payloads if "name" in p and "tool_use_id" not in p] == ["/rate-limit-options"] * 3

    mclaude = import_claude(trail_repo, REAL / "claude-mclaude-compact-redacted.jsonl").session_id
    steps = store.steps(mclaude, full=True)
    assert [s.event.payload["name"] for s in steps if s.kind == "command"] == ["/compact", "/config", "/context"]
    assert [s.event.payload["command_output"] for s in steps if "command_output" in s.event.payload] == ["stdout"] * 3
    assert store.session(mclaude).title == "Claude API Integration Setup"  # type: ignore[union-attr]  # its summary
    assert any(s.event.payload.get("compact") for s in steps)  # the compaction boundary and its metadata
    assert git("log", "--format=%s", f"trail/sessions/{mclaude}", cwd=repo).count("command: /compact") == 1


@needs_real
def test_copies_of_a_conversation_are_not_subagents(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code's copies for a compaction or a side question repeat their parent's message ids: `--all` skips
    them, and one imported by name records only the lines its parent does not hold (the side question and its
    answer), never the parent's messages again."""
    parent = REAL / "claude-idaho-aside.jsonl"
    trail_repo = TrailRepo.discover(repo)
    store = Store(trail_repo)
    parent_id = import_claude(trail_repo, parent).session_id
    for copy in COPIES:
        result = import_claude(trail_repo, copy)
        held = {line.get("uuid") for line in read(parent)}
        new = [line for line in read(copy) if line.get("uuid") not in held]
        steps = store.steps(result.session_id, full=True)
        assert steps[0].event.payload["copy_of_parent"] in ("acompact", "aside_question")
        assert steps[0].event.payload["parent_session"] == parent_id
        users = [ln for ln in new if ln["type"] == "user"]
        answers = {ln["message"]["id"] for ln in new if ln["type"] == "assistant"}
        assert [s.kind for s in steps] == ["session_start"] + ["prompt"] * len(users) + ["response"] * len(answers)
        tokens = sum(s.event.payload.get("tokens_out", 0) for s in steps)
        assert tokens == expected(new)["tokens_out"]
        assert import_claude(trail_repo, copy).added == 0
    # A copy whose parent's transcript is not beside it cannot tell what is new: refused, nothing recorded.
    alone = tmp_path / "x" / "subagents" / COPIES[0].name
    alone.parent.mkdir(parents=True)
    alone.write_bytes(COPIES[0].read_bytes())
    before = store.session_ids()
    with pytest.raises(Exception, match="not a subagent"):
        import_claude(trail_repo, alone)
    assert store.session_ids() == before
    # --all finds the parent and its real subagents only.
    config = tmp_path / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    project = config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(repo))
    project.mkdir(parents=True)
    session = project / "s.jsonl"
    lines = [json.dumps({**ln, "cwd": str(repo)}) + "\n" for ln in read(parent)[:5]]
    session.write_text("".join(lines))
    (project / "s" / "subagents").mkdir(parents=True)
    for name in (
        "agent-acompact-0123456789abcdef.jsonl",
        "agent-aside_question-0123456789abcdef.jsonl",
        "agent-a1b2.jsonl",
    ):
        (project / "s" / "subagents" / name).write_text(lines[0])
    assert [p.name for p in find_claude_transcripts(trail_repo)] == ["s.jsonl", "agent-a1b2.jsonl"]


@needs_real
def test_a_subagent_imported_before_its_parent_is_linked_when_the_parent_comes(repo: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    store = Store(trail_repo)
    child = import_claude(trail_repo, REAL / "claude-dogs-boot-task.subagent-aa8db2a.jsonl").session_id
    assert store.session(child).parent == (child.split(".agent-")[0], None)  # type: ignore[union-attr]
    parent = import_claude(trail_repo, REAL / "claude-dogs-boot-task.jsonl").session_id
    info = store.session(child)
    assert info is not None and info.parent is not None
    started_by = store.step_at(parent, info.parent[1])  # type: ignore[arg-type]
    assert started_by.kind == "tool_call" and started_by.event.payload["name"] == "Task"
    assert started_by.event.payload["result"]["agentId"] == "aa8db2a"
    assert store.tip(child).event.payload["links_parent"] is True
    assert import_claude(trail_repo, REAL / "claude-dogs-boot-task.jsonl").added == 0
    assert import_claude(trail_repo, REAL / "claude-dogs-boot-task.subagent-aa8db2a.jsonl").added == 0


@needs_real
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_bulk_import_writes_what_step_by_step_recording_writes(repo: Path, path: Path) -> None:
    """The same steps, byte for byte, as writing each event on its own would give; and no loose object."""
    from trail.adapters.claude_transcript import Cursor, TranscriptConverter, iter_lines
    from trail.capture.writer import StepWriter

    trail_repo = TrailRepo.discover(repo)
    loose = git("count-objects", cwd=repo)
    result = import_claude(trail_repo, path)
    assert git("count-objects", cwd=repo) == loose  # everything went into the pack, attachments too
    bulk = [s.record["event"] for s in Store(trail_repo).steps(result.session_id, full=True)]

    writer = StepWriter(trail_repo)
    converter = TranscriptConverter(
        "one-by-one", Cursor(), prompts=True, defer_tools=False, blob_sink=writer.store.write_blob
    )
    events = []
    for lines in iter_lines(path):
        events += converter.feed(lines, flush=False)
    events += converter.finish() + converter.unresolved()
    for event in events:
        event.session_id = "one-by-one"
        writer.write(event, None)
    single = [s.record["event"] for s in Store(trail_repo).steps("one-by-one", full=True)]
    assert len(single) == len(bulk) - 1  # the import's session_start is its own
    bulk[-1]["payload"].pop("imported_to")  # where the import stopped reading, for the next one
    for one, other in zip(single, bulk[1:], strict=True):
        assert json.dumps({**one, "session": None, "step": one["step"] + 1}, sort_keys=True) == json.dumps(
            {**other, "session": None}, sort_keys=True
        )

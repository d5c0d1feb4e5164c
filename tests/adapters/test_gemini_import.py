"""`trail import gemini`: Gemini CLI's saved chats (JSON lines, and the single JSON object of older versions).

The chats are tests/fixtures/gemini/ (built from google-gemini/gemini-cli `packages/core/src/services/
chatRecordingService.ts` and `chatRecordingTypes.ts`; see its README). What trail records is checked against counts
this test makes on its own from the raw file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import transcript_lines
from conftest import git, trail
from gemini_cursor_fixtures import gemini_chat

from trail.repo import TrailRepo
from trail.store.steps import Store

SESSION = "5f0c2a7e-91d3-4b8e-a6c4-2f1e0d9c8b7a"
LEGACY = "3bacc8a0-24d6-4415-9b2e-a2635c02e54c"


def project_folder(repo: Path) -> Path:
    """Gemini CLI's folder for `repo`, as a current version names it: a short id with a .project_root marker."""
    folder = Path.home() / ".gemini" / "tmp" / f"{repo.parent.name}-{repo.name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".project_root").write_text(str(repo))
    return folder


def write_chat(repo: Path, name: str, fixture: str, session: str = SESSION) -> Path:
    values = {"session_id": session, "cwd": str(repo), "project_hash": hashlib.sha256(str(repo).encode()).hexdigest()}
    path = project_folder(repo) / "chats" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gemini_chat(fixture, **values))
    return path


def expected(lines: list[str]) -> dict[str, Any]:
    """What the chat holds, counted here from the raw lines: the last version of each message."""
    latest: dict[str, dict[str, Any]] = {}
    rewinds = 0
    for line in lines:
        record = json.loads(line)
        if "$rewindTo" in record:
            rewinds += 1
        elif "id" in record and "type" in record:
            latest[record["id"]] = record
    messages = list(latest.values())
    answers = [m for m in messages if m["type"] == "gemini"]
    calls = [c for m in answers for c in m.get("toolCalls", []) if c["status"] in ("success", "error", "cancelled")]
    return {
        "prompts": sum(m["type"] == "user" for m in messages),
        "responses": len(answers),
        "notes": sum(m["type"] in ("info", "error", "warning") for m in messages) + rewinds,
        "tools": len(calls),
        "tokens_in": sum(m["tokens"]["input"] + m["tokens"]["tool"] for m in answers if m.get("tokens")),
        "tokens_out": sum(m["tokens"]["output"] + m["tokens"]["thoughts"] for m in answers if m.get("tokens")),
    }


def recorded(repo: Path, session: str) -> dict[str, Any]:
    steps = Store(TrailRepo.discover(repo)).steps(session)
    return {
        "prompts": sum(s.kind == "prompt" for s in steps),
        "responses": sum(s.kind == "response" for s in steps),
        "notes": sum(s.kind == "note" for s in steps),
        "tools": sum(s.kind == "tool_call" for s in steps),
        "tokens_in": sum(s.event.payload.get("tokens_in", 0) for s in steps),
        "tokens_out": sum(s.event.payload.get("tokens_out", 0) for s in steps),
    }


def test_a_chat_is_imported_with_every_prompt_answer_tool_and_token(repo: Path) -> None:
    chat = write_chat(repo, f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl", "session.jsonl")
    result = trail("import", "gemini", "--all", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{SESSION}: ")

    want = expected(chat.read_text().splitlines())
    assert want == {"prompts": 3, "responses": 4, "notes": 2, "tools": 2, "tokens_in": 34831, "tokens_out": 290}
    assert recorded(repo, SESSION) == want
    steps = Store(TrailRepo.discover(repo)).steps(SESSION)
    start = steps[0].event.payload
    assert start["imported_from"] == str(chat) and start["cwd"] == str(repo) and start["summary"]
    assert steps[0].tree_source and "HEAD at import" in steps[0].tree_source
    first_answer = next(s for s in steps if s.kind == "response")
    assert first_answer.event.payload["model"] == "gemini-2.5-pro"
    assert first_answer.event.payload["thinking"].startswith("Locating the greeting")
    assert first_answer.event.payload["tool_uses"][0]["name"] == "replace"
    edit, shell = [s for s in steps if s.kind == "tool_call"]
    assert edit.event.payload["output"].startswith("Successfully modified file")
    assert edit.event.payload["result_display"]["fileName"] == "greet.py"
    assert shell.event.payload["error"].startswith("Command exited with code 1") and shell.failed
    rewind = next(s for s in steps if "rewind_to" in s.event.payload)
    assert rewind.event.payload["rewind_to"] == "0b7e6c1a-4f2d-4e0b-9a51-2d3c4b5a6f02"
    # Rewound messages happened: they stay, before the note that says they left the context.
    assert [s.kind for s in steps] == [
        "session_start",
        *("prompt", "response", "tool_call", "response"),
        *("prompt", "response", "tool_call", "note"),
        "note",  # the rewind
        *("prompt", "response"),  # its call still runs: the next import records it
    ]
    assert "Trail-Model: gemini-2.5-flash" in git("log", "--format=%B", f"trail/sessions/{SESSION}", cwd=repo)


def test_importing_again_adds_only_what_is_new(repo: Path) -> None:
    chat = write_chat(repo, f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl", "session.jsonl")
    assert trail("import", str(chat), cwd=repo).returncode == 0
    before = Store(TrailRepo.discover(repo)).steps(SESSION)
    again = trail("import", "gemini", str(chat), cwd=repo)
    assert again.returncode == 0 and "already imported" in again.stdout
    assert len(Store(TrailRepo.discover(repo)).steps(SESSION)) == len(before)
    # The call still running at the first import finishes: the next import records it, and only it.
    with open(chat, "a") as f:
        f.write(gemini_chat("continued.jsonl", session_id=SESSION, cwd=str(repo)))
    more = trail("import", str(chat), cwd=repo)
    assert more.returncode == 0, more.stderr
    after = Store(TrailRepo.discover(repo)).steps(SESSION)
    assert [s.kind for s in after[len(before) :]] == ["tool_call"]
    assert after[-1].event.payload["input"] == {"command": "git diff"}
    assert recorded(repo, SESSION) == expected(chat.read_text().splitlines())


def test_a_legacy_json_chat_is_imported(repo: Path) -> None:
    chat = write_chat(repo, "session-2025-10-18T14-57-3bacc8a0.json", "session-legacy.json", LEGACY)
    data = json.loads(chat.read_text())
    result = trail("import", str(chat), cwd=repo)  # recognised without naming the format
    assert result.returncode == 0, result.stderr
    got = recorded(repo, LEGACY)
    answers = [m for m in data["messages"] if m["type"] == "gemini"]
    assert got["prompts"] == sum(m["type"] == "user" for m in data["messages"]) == 1
    assert got["responses"] == len(answers) == 2
    assert got["tools"] == 1 and got["notes"] == 1
    assert got["tokens_in"] == sum(m["tokens"]["input"] + m["tokens"]["tool"] for m in answers)
    assert got["tokens_out"] == sum(m["tokens"]["output"] + m["tokens"]["thoughts"] for m in answers)
    # Resuming it, Gemini CLI copies it whole into a .jsonl and goes on there: --all takes that one only, and adds
    # only what the .json did not have.
    lines = [{k: v for k, v in data.items() if k != "messages"}, *data["messages"]]
    extra = {"id": "ffff0000-0000-4000-8000-000000000001", "timestamp": "2025-10-19T08:00:00.000Z", "type": "user"}
    lines.append({**extra, "content": [{"text": "And the tests?"}]})
    chat.with_suffix(".jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    again = trail("import", "gemini", "--all", cwd=repo)
    assert again.returncode == 0, again.stderr
    assert recorded(repo, LEGACY)["prompts"] == 2
    assert len(Store(TrailRepo.discover(repo)).steps(LEGACY)) == 1 + 1 + 2 + 1 + 1 + 1


def test_a_subagent_chat_becomes_a_child_session(repo: Path) -> None:
    write_chat(repo, f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl", "session.jsonl")
    write_chat(repo, f"{SESSION}/7d3a9f10.jsonl", "subagent.jsonl")
    result = trail("import", "gemini", "--all", cwd=repo)
    assert result.returncode == 0, result.stderr
    child = Store(TrailRepo.discover(repo)).steps(f"{SESSION}.agent-7d3a9f10")
    assert [s.kind for s in child] == ["session_start", "prompt", "response", "tool_call"]
    assert child[0].event.payload["parent_session"] == SESSION
    assert child[2].event.payload["tokens_out"] == 18 + 12


def test_files_in_other_formats_are_refused_and_nothing_is_recorded(repo: Path, tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    claude = tmp_path / "claude.jsonl"
    claude.write_text("".join(transcript_lines("transcript.jsonl", session_id="s", cwd=str(repo))))
    for bad in (passwd, claude):
        result = trail("import", "gemini", str(bad), cwd=repo)
        assert result.returncode == 1 and "is not a Gemini CLI chat" in result.stderr
    assert "It looks like claude" in trail("import", "gemini", str(claude), cwd=repo).stderr
    assert git("for-each-ref", "refs/trail", cwd=repo) == ""


def test_a_short_chat_is_not_taken_for_a_claude_transcript(repo: Path, tmp_path: Path) -> None:
    """Its metadata line has a sessionId, as Claude Code's lines do: the format trail tries first must be Gemini's."""
    lines = gemini_chat("session.jsonl", session_id=SESSION, cwd=str(repo), project_hash="0" * 64).splitlines()[:2]
    chat = tmp_path / "short.jsonl"
    chat.write_text("\n".join(lines) + "\n")
    result = trail("import", str(chat), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert [s.kind for s in Store(TrailRepo.discover(repo)).steps(SESSION)] == ["session_start", "prompt"]


def test_a_session_recorded_by_hooks_is_not_imported_again(repo: Path) -> None:
    from gemini_cursor_fixtures import gemini_payload, run_hook

    from trail.install.agents import hook_command

    chat = write_chat(repo, f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl", "session.jsonl")
    payload = gemini_payload("SessionStart", session_id=SESSION, cwd=str(repo), transcript_path=str(chat))
    assert run_hook(f"{hook_command()} gemini", payload, repo).returncode == 0
    result = trail("import", str(chat), cwd=repo)
    assert result.returncode == 0 and "recorded live by hooks" in result.stdout


@pytest.mark.parametrize("hashed", [True, False])
def test_all_finds_the_chats_of_this_repository_only(repo: Path, tmp_path: Path, hashed: bool) -> None:
    tmp = Path.home() / ".gemini" / "tmp"
    # Before short ids, the folder was named by the sha256 of the project's path.
    folder = tmp / hashlib.sha256(str(repo).encode()).hexdigest() if hashed else project_folder(repo)
    chats = folder / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    values = {"session_id": SESSION, "cwd": str(repo), "project_hash": "0" * 64}
    (chats / f"session-2026-04-02T09-14-{SESSION[:8]}.jsonl").write_text(gemini_chat("session.jsonl", **values))
    elsewhere = tmp / "someone-else"
    (elsewhere / "chats").mkdir(parents=True, exist_ok=True)
    (elsewhere / ".project_root").write_text(str(tmp_path / "other"))
    other = {**values, "session_id": LEGACY}
    (elsewhere / "chats" / "session-x.jsonl").write_text(gemini_chat("session.jsonl", **other))
    result = trail("import", "gemini", "--all", cwd=repo)
    assert result.returncode == 0, result.stderr
    refs = git("for-each-ref", "--format=%(refname)", "refs/trail/sessions", cwd=repo).split()
    assert refs == [f"refs/trail/sessions/{SESSION}"]

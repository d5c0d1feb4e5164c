"""`trail export --dataset`: sessions as chat lines a fine-tuning API takes (every tool call answered by a result
with its id) or as trajectories (base commit, each step's action and observation, how it ended, final diff)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL
from conftest import git, trail

from trail import Recorder

SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def export(repo: Path, *args: str) -> list[dict[str, Any]]:
    out = repo.parent / "dataset.jsonl"
    done = trail("export", *args, "--dataset", str(out), cwd=repo)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def check_chat(record: dict[str, Any]) -> None:
    """What a chat fine-tuning API checks of one example: known roles and keys, string contents, tool calls with
    JSON-object arguments and valid names, each call answered by the next messages and no answer without a call."""
    assert list(record) == ["messages"]
    messages = record["messages"]
    assert {m["role"] for m in messages} >= {"user", "assistant"}
    waiting: list[str] = []
    for m in messages:
        role = m["role"]
        assert role in ("user", "assistant", "tool"), m
        if role == "tool":
            assert set(m) == {"role", "tool_call_id", "content"} and isinstance(m["content"], str)
            assert waiting and m["tool_call_id"] == waiting.pop(0), "a result must answer the next open call"
            continue
        assert not waiting, f"calls {waiting} were never answered"
        if role == "user":
            assert set(m) == {"role", "content"} and isinstance(m["content"], str) and m["content"]
        else:
            assert set(m) <= {"role", "content", "tool_calls"}
            assert isinstance(m["content"], str) or (m["content"] is None and m.get("tool_calls"))
            for call in m.get("tool_calls", []):
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", call["function"]["name"])
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                waiting.append(call["id"])
    assert not waiting, f"calls {waiting} were never answered"
    ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
    assert len(ids) == len(set(ids))


def recorded_session(repo: Path, session_id: str, fail: bool = False) -> None:
    try:
        with Recorder(repo, session_id=session_id, agent="reminders", model="gpt-test") as rec:
            rec.prompt(f"Send the overdue reminders; token {SECRET}")
            rec.response("I will query the overdue invoices first.")
            rec.tool_call("sql", input={"query": "select * from overdue_invoices"}, output=[{"id": 1}])
            rec.tool_call("sql", input={"query": "select 2"}, error="no such table")
            (repo / "sent.txt").write_text("customer 1\n")
            rec.tool_call("send_email", input={"to": "a@example.com"}, output="queued")
            rec.decision("send to all overdue customers", reasoning="they are all overdue")
            rec.response("Sent 1 reminder.")
            if fail:
                raise ValueError("boom")
    except ValueError:
        pass


def test_chat_lines_pair_every_call_with_its_result_and_stay_redacted(repo: Path) -> None:
    recorded_session(repo, "reminders-1")
    (line,) = export(repo, "reminders-1")
    check_chat(line)
    messages = line["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "tool", "assistant"]
    calls = messages[1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["sql", "sql", "send_email"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": "select * from overdue_invoices"}
    assert json.loads(messages[2]["content"]) == [{"id": 1}] and messages[3]["content"] == "no such table"
    assert SECRET not in json.dumps(line) and "[REDACTED" in messages[0]["content"]


def test_trajectory_has_the_base_each_action_and_observation_and_the_final_diff(repo: Path) -> None:
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    recorded_session(repo, "reminders-2")
    (record,) = export(repo, "reminders-2", "--format", "trajectory")
    assert record["session"] == "reminders-2" and record["base_commit"] == base and record["ended"] == "exit"
    kinds = [s["kind"] for s in record["steps"]]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    calls = [s for s in record["steps"] if s["kind"] == "tool_call"]
    assert calls[0]["action"] == {
        "type": "tool_call",
        "tool": "sql",
        "input": {"query": calls[0]["action"]["input"]["query"]},
        "id": None,
    }
    assert calls[1]["observation"] == "no such table" and calls[1]["error"] is True
    assert calls[2]["files_changed"] == ["sent.txt"]
    decision = next(s for s in record["steps"] if s["kind"] == "decision")
    assert decision["action"]["reasoning"] == "they are all overdue"
    tip = git("rev-parse", "trail/sessions/reminders-2", cwd=repo).strip()
    assert record["final_diff"] == git("diff", "--no-color", base, tip, cwd=repo)


def test_sessions_chosen_by_how_they_ended(repo: Path) -> None:
    recorded_session(repo, "ok-1")
    recorded_session(repo, "failed-1", fail=True)
    open_one = Recorder(repo, session_id="open-1")
    open_one.prompt("still going")
    open_one.response("working on it")
    assert [r["session"] for r in export(repo, "--format", "trajectory")] == ["ok-1", "failed-1", "open-1"]
    assert [r["session"] for r in export(repo, "--format", "trajectory", "--ended", "error")] == ["failed-1"]
    ended = export(repo, "--format", "trajectory", "--ended", "unfinished", "--ended", "exit")
    assert [r["session"] for r in ended] == ["ok-1", "open-1"]
    assert [r["ended"] for r in ended] == ["exit", None]
    assert export(repo, "--since", "2099-01-01") == []


def test_refusals(repo: Path) -> None:
    recorded_session(repo, "r-1")
    both = trail("export", "r-1", "--dataset", "x.jsonl", "--markdown", cwd=repo)
    assert both.returncode == 2 and "one format at a time" in both.stderr
    named = trail("export", "r-1", "--dataset", "x.jsonl", "--since", "yesterday", cwd=repo)
    assert named.returncode == 2 and "--since chooses sessions" in named.stderr
    several = trail("export", "r-1", "r-1", "--markdown", cwd=repo)
    assert several.returncode == 2 and "exports one session" in several.stderr
    (repo / "taken").mkdir()
    unwritable = trail("export", "--dataset", str(repo / "taken"), cwd=repo)
    assert unwritable.returncode == 1 and "cannot write" in unwritable.stderr
    assert not list(repo.glob("*.partial"))


REAL_SESSIONS = [
    ("claude", REAL / "claude-conducktor-rig.jsonl"),
    ("claude", REAL / "claude-idaho-aside.jsonl"),
    ("codex", REAL / "codex-dslint.jsonl"),
    ("codex", REAL / "codex-idaho-mar29.jsonl"),
]


@pytest.mark.parametrize(("fmt", "path"), REAL_SESSIONS, ids=[p.stem for _, p in REAL_SESSIONS])
def test_real_sessions_make_valid_chat_examples(repo: Path, fmt: str, path: Path) -> None:
    if not path.is_file():
        pytest.skip("../shared/fixtures/real is not here")
    imported = trail("import", fmt, path, cwd=repo)
    assert imported.returncode == 0, imported.stderr
    (line,) = export(repo)
    check_chat(line)
    # Every call whose result was recorded is in it, once.
    steps = json.loads(trail("log", "--json", cwd=repo).stdout)
    answered = {
        s["event"]["payload"]["tool_use_id"]
        for s in steps
        if s["kind"] in ("tool_call", "tool_result")
        and s["event"]["payload"].get("tool_use_id")
        and any(s["event"]["payload"].get(k) not in (None, "") for k in ("output", "error"))
    }
    listed = {m["tool_call_id"] for m in line["messages"] if m["role"] == "tool"}
    assert listed == answered

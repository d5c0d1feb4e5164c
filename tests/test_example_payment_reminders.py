"""examples/payment_reminders, run as its README says: two agents in two processes, the real `openai` client under
trail.instrument() against a local stand-in for the API; the closed accounts get reminders, and the README's
commands lead from that to the planner's query that forgot `active = 1`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import trail

EXAMPLE = Path(__file__).parent.parent / "examples" / "payment_reminders"
pytest.importorskip("openai")


def run_json(folder: Path, *args: str) -> Any:
    done = trail(*args, "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_walk_through_finds_the_query_that_mailed_closed_accounts(tmp_path: Path) -> None:
    folder = tmp_path / "reminders"
    env = {k: v for k, v in os.environ.items() if k not in ("TRACEPARENT", "TRAIL_PARENT_STEP")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), str(folder)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    # The bug, reproduced: the two closed accounts got a reminder.
    sent = [json.loads(line)["to"] for line in (folder / "outbox.jsonl").read_text().splitlines()]
    assert sorted(sent) == ["ada@example.com", "dana@example.com", "evan@example.com", "grace@example.com"]
    assert done.stdout.count("this account is closed") == 2

    # `trail log --tree`: the mailer's session hangs from the planner's step that started it.
    tree = run_json(folder, "log", "--tree")
    (planner,) = tree["roots"]
    assert planner["agent"] == "planner" and planner["ended"] is True
    (spawn,) = planner["children"]
    assert spawn["kind"] == "tool_call" and spawn["summary"].startswith("start_mailer")
    (mailer,) = spawn["sessions"]
    assert mailer["agent"] == "mailer" and mailer["trace_id"] == planner["trace_id"]

    # `trail search overdue_invoices`: the tool call that ran the model's query.
    hits = run_json(folder, "search", "overdue_invoices", "--kind", "tool_call")
    (query,) = [h for h in hits if h["tool"] == "run_sql"]
    shown = trail("show", query["address"], "--json", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    step = json.loads(shown.stdout)
    sql = step["event"]["payload"]["input"]["query"]
    assert "FROM overdue_invoices" in sql and "active" not in sql  # the missing condition
    assert "Dana Closed" in json.dumps(step["event"]["payload"]["output"])

    # The LLM calls were recorded by trail.instrument() alone: the exact request, the answer, the tokens.
    steps = run_json(folder, "log", planner["session"])
    responses = [s for s in steps if s["kind"] == "response"]
    assert len(responses) == 2 and all(s["event"]["payload"]["tokens_in"] > 0 for s in responses)
    decision = next(s for s in steps if s["kind"] == "decision")
    assert "Every one of them gets a reminder" in decision["event"]["payload"]["reasoning"]
    mails = run_json(folder, "log", mailer["session"])
    assert sum(s["kind"] == "response" for s in mails) == 4
    assert sum(s["kind"] == "tool_call" and s["event"]["payload"]["name"] == "send_email" for s in mails) == 4

    # As a dataset line, the planner's run is a valid chat example: the query call answered by its rows.
    out = tmp_path / "runs.jsonl"
    exported = trail("export", planner["session"], "--dataset", str(out), cwd=folder)
    assert exported.returncode == 0, exported.stderr
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert [m["role"] for m in line["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert line["messages"][2]["tool_call_id"] == line["messages"][1]["tool_calls"][0]["id"]

    # As OpenTelemetry spans, the run is one trace: the mailer's invoke_agent under the step that started it.
    spans_file = tmp_path / "spans.json"
    assert trail("export", planner["session"], "--otlp", str(spans_file), cwd=folder).returncode == 0
    spans = [
        sp
        for rs in json.loads(spans_file.read_text())["resourceSpans"]
        for ss in rs["scopeSpans"]
        for sp in ss["spans"]
    ]
    by_name = {sp["name"]: sp for sp in spans}
    assert by_name["invoke_agent mailer"]["parentSpanId"] == by_name["execute_tool start_mailer"]["spanId"]
    assert len({sp["traceId"] for sp in spans}) == 1

    # The viewer's page holds the run.
    page = tmp_path / "run.html"
    viewed = trail("view", planner["session"], "-o", str(page), cwd=folder)
    assert viewed.returncode == 0, viewed.stderr
    assert "overdue_invoices" in page.read_text()

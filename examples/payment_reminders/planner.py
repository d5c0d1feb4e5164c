"""The planner agent: asks its model who should get a payment reminder, runs the SQL the model writes, decides,
and hands the list to the mailer, a process of its own.

trail.instrument() records each call of the `openai` client (the messages sent, the answer, its tool calls and
tokens) into the session of the `with trail.Recorder(...)` block; the tool's result is recorded as a tool_call
step when the next request hands it back to the model. The mailer inherits TRACEPARENT from this process, so its
session is linked to the step that started it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import openai

import trail

MODEL = "gpt-4.1-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run_sql",
            "description": "Run a read-only SQL query on the billing database (SQLite) and return the rows.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
]
SYSTEM = (
    "You plan payment reminders. The billing database has customers(id, name, email, active) and the view "
    "overdue_invoices(invoice_id, customer_id, name, email, active, amount, due_date). Use run_sql to find who "
    "gets a reminder, then say who."
)


def run_sql(query: str) -> list[dict[str, object]]:
    with sqlite3.connect("billing.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(query)]


def main() -> None:
    client = openai.OpenAI(max_retries=0)
    with trail.Recorder(agent="planner", model=MODEL) as rec, trail.instrument():
        messages: list[dict[str, object]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Send this month's payment reminders for overdue invoices."},
        ]
        rows: list[dict[str, object]] = []
        while True:
            reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                break
            for call in message.tool_calls:
                rows = run_sql(json.loads(call.function.arguments)["query"])
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(rows)})
        rec.decision(
            f"remind {len(rows)} customers",
            reasoning=message.content,
            alternatives=["ask a person to check the list first"],
        )
        Path("reminders.json").write_text(json.dumps(rows, indent=2) + "\n")
        rec.tool_call("start_mailer", input={"customers": len(rows), "file": "reminders.json"})
        subprocess.run([sys.executable, str(Path(__file__).with_name("mailer.py")), "reminders.json"], check=True)
        rec.note("the mailer is done")


if __name__ == "__main__":
    main()

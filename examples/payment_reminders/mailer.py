"""The mailer agent: for each customer on the planner's list, asks its model for a short reminder and sends it
(here: appends it to outbox.jsonl). Started by the planner, it inherits TRACEPARENT, so trail links its session to
the planner's step that started it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openai

import trail

MODEL = "gpt-4.1-mini"


def send_email(to: str, subject: str, body: str) -> str:
    with open("outbox.jsonl", "a") as outbox:
        outbox.write(json.dumps({"to": to, "subject": subject, "body": body}) + "\n")
    return "queued"


def main() -> None:
    customers = json.loads(Path(sys.argv[1]).read_text())
    client = openai.OpenAI(max_retries=0)
    with trail.Recorder(agent="mailer", model=MODEL) as rec, trail.instrument():
        for customer in customers:
            reply = client.chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": "You write short, polite payment reminders."},
                    {
                        "role": "user",
                        "content": f"Customer: {customer['name']}\nInvoice of {customer['amount']:.2f} EUR, "
                        f"due {customer['due_date']}.",
                    },
                ],
            )
            body = reply.choices[0].message.content or ""
            subject = "Your invoice is overdue"
            status = send_email(str(customer["email"]), subject, body)
            rec.tool_call("send_email", input={"to": customer["email"], "subject": subject}, output=status)


if __name__ == "__main__":
    main()

"""Run the payment-reminder agents once, recorded by trail, in a throwaway git repository.

    python examples/payment_reminders/run.py [DIR]

Makes DIR (default: a new temporary folder) a git repository holding the billing database's schema, starts the
stand-in for the OpenAI API (fake_llm.py) on 127.0.0.1, and runs the planner (planner.py), which starts the mailer
(mailer.py) in a process of its own. Both use the real `openai` client under `trail.instrument()`, so every LLM
call is recorded without a line of recording code around it; the mailer's session is linked to the planner's step
that started it through TRACEPARENT. Then it prints who got a reminder and what to run to find out why the
closed accounts did.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fake_llm  # noqa: E402


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def prepare(folder: Path) -> None:
    """A repository with the schema committed, and the database built from it (ignored: it is data, not code)."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise SystemExit(f"{folder} is not empty; name a new folder")
    git("init", "-q", cwd=folder)
    shutil.copy(HERE / "billing.sql", folder / "billing.sql")
    (folder / ".gitignore").write_text("billing.db\n")
    git("add", "-A", cwd=folder)
    git("-c", "user.name=Billing", "-c", "user.email=billing@example.com", "commit", "-q", "-m", "schema", cwd=folder)
    with sqlite3.connect(folder / "billing.db") as db:
        db.executescript((HERE / "billing.sql").read_text())


def trail_command() -> str:
    """How to run trail from here: `trail` when the shell finds it, else the one beside this Python."""
    found = shutil.which("trail")
    beside = Path(sys.executable).parent / "trail"
    return "trail" if found else str(beside)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="trail-reminders-"))
    prepare(folder)
    server, base_url = fake_llm.start()
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-example-not-a-real-key"}
    try:
        subprocess.run([sys.executable, str(HERE / "planner.py")], cwd=folder, env=env, check=True)
    finally:
        server.shutdown()
    sent = [json.loads(line) for line in (folder / "outbox.jsonl").read_text().splitlines()]
    with sqlite3.connect(folder / "billing.db") as db:
        closed = {email for (email,) in db.execute("SELECT email FROM customers WHERE active = 0")}
    print(f"The agents sent {len(sent)} reminders from {folder}:")
    for mail in sent:
        flag = "   <- this account is closed!" if mail["to"] in closed else ""
        print(f"  {mail['to']}{flag}")
    trail = trail_command()
    print(f"\nWhy? Find the decision (cd {folder} first):")
    print(f"  {trail} log --tree                  # the planner, and the mailer under the step that started it")
    print(f"  {trail} search overdue_invoices     # the query the planner's model wrote")
    print(f"  {trail} show <STEP>                 # that step in full: the SQL has no `active = 1`")
    print(f"  {trail} view --open                 # the whole run as a page")


if __name__ == "__main__":
    main()

"""Three real processes recording into one repository, each started by the one before while its recorder is
entered: a planner that starts a mailer that starts a formatter. Each reports what it saw in its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The formatter's title and agent name are attacks on the page that shows the tree.
HOSTILE_TITLE = "Format it <img src=x onerror=\"window.__pwned='trace-title'\">"
HOSTILE_AGENT = "formatter<script>window.__pwned='trace-agent'</script>"

SCRIPT = r"""
import json, os, subprocess, sys
import trail

repo, level, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
AGENTS = {1: "planner", 2: "mailer", 3: HOSTILE_AGENT}
TITLES = {1: "Plan the release", 2: "Send the release mail", 3: HOSTILE_TITLE}
NAMES = ("TRACEPARENT", "TRAIL_PARENT_STEP")
seen = {"level": level, "before": {name: os.environ.get(name) for name in NAMES}}
with trail.Recorder(repo, agent=AGENTS[level]) as rec:
    seen["session"] = rec.session_id
    rec.prompt(TITLES[level])
    rec.note("looking around")
    if level < 3:
        step = rec.tool_call("spawn", input=AGENTS[level + 1] if level < 2 else "formatter", output="started")
        seen["spawn_step"] = step.n
        seen["traceparent"] = rec.traceparent
        seen["inside"] = {name: os.environ.get(name) for name in NAMES}
        subprocess.run([sys.executable, __file__, repo, str(level + 1), report], check=True)
    rec.response("done")
seen["after"] = {name: os.environ.get(name) for name in NAMES}
with open(report, "a") as f:
    f.write(json.dumps(seen) + "\n")
"""


@dataclass
class Family:
    """What the three processes recorded: by level (1 planner, 2 mailer, 3 formatter), their reports."""

    repo: Path
    reports: dict[int, dict[str, Any]]

    def session(self, level: int) -> str:
        return str(self.reports[level]["session"])

    def spawn_step(self, level: int) -> int:
        return int(self.reports[level]["spawn_step"])


def record_three_processes(repo: Path, folder: Path, environment: dict[str, str] | None = None) -> Family:
    """Run the planner (which runs the others) with `environment` added to a TRACEPARENT-free environment."""
    script = folder / "agent.py"
    script.write_text(f"HOSTILE_AGENT = {HOSTILE_AGENT!r}\nHOSTILE_TITLE = {HOSTILE_TITLE!r}\n" + SCRIPT)
    report = folder / "report.jsonl"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TRACEPARENT", "TRAIL_PARENT_STEP")}
    env.update(environment or {})
    done = subprocess.run(
        [sys.executable, str(script), str(repo), "1", str(report)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    reports = {r["level"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert sorted(reports) == [1, 2, 3]
    return Family(repo, reports)

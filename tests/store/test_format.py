"""Step commits: a small summary header for listings beside the full event, and no way for text to forge either."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import git

import trail
from trail import Recorder
from trail.repo import TrailRepo
from trail.store.format import ParsedCommit
from trail.store.steps import Store


def headers(repo: Path, rev: str) -> dict[str, str]:
    raw = git("cat-file", "commit", rev, cwd=repo)
    head, _, _ = raw.partition("\n\n")
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in head.splitlines()}


def test_the_summary_stays_small_whatever_the_output(repo: Path) -> None:
    with Recorder(repo, session_id="big-output", model="m-1") as rec:
        step = rec.tool_call("Bash", input={"command": "cat huge.log"}, output="x" * 2_000_000, duration_ms=12)
    found = headers(repo, step.commit)
    summary = json.loads(found["trail-summary"])
    assert len(found["trail-summary"]) < 1000
    assert summary["kind"] == "tool_call" and summary["tool"] == "Bash" and summary["step"] == 2
    assert summary["session_info"]["agent"] == "python-sdk" and summary["session_info"]["model"] == "m-1"
    # An output of 1 MiB or more is kept in a blob beside the step (store/bodies.py) and read back whole.
    assert json.loads(found["trail-event"])["event"]["payload"]["output"]["trail_body"]["size"] == 2_000_000
    assert step.event.payload["output"] == "x" * 2_000_000


def test_listing_never_parses_the_full_event(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Recorder(repo, session_id="listed") as rec:
        for i in range(20):
            rec.tool_call("Read", input={"file_path": f"f{i}"}, output="y" * 50_000)

    def forbidden(self: ParsedCommit) -> dict[str, object]:
        raise AssertionError("a listing parsed a trail-event header")

    monkeypatch.setattr(ParsedCommit, "record", forbidden)
    history = trail.open(repo)
    session = history.session("listed")
    lines = [(s.n, s.kind, s.summary, s.tool) for s in session.iter_steps()]
    assert len(lines) == 22 and lines[5] == (6, "tool_call", "Read f4", "Read")
    assert [s.id for s in history.sessions()] == ["listed"]


def test_steps_written_before_the_summary_header_still_read(repo: Path) -> None:
    """A format-1 step: the trail-event header alone (as trail 0.1 wrote it)."""
    record = {
        "format": 1,
        "event": {
            "schema": 1,
            "kind": "prompt",
            "time": "2026-01-01T00:00:00+00:00",
            "session": "old",
            "step": 1,
            "agent": "a",
            "payload": {"text": "from an older trail"},
        },
        "omitted": [],
        "redacted": {},
        "session": {"started": "2026-01-01T00:00:00+00:00", "agent": "a", "title": "from an older trail"},
    }
    tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    raw = (
        f"tree {tree}\nparent {head}\nauthor a <a@x> 1767225600 +0000\ncommitter c <c@x> 1767225600 +0000\n"
        f"trail-event {json.dumps(record)}\n\nprompt: from an older trail\n"
    )
    commit = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=repo, input=raw.encode()).strip()
    git("update-ref", "refs/trail/sessions/old", commit, cwd=repo)
    session = trail.open(repo).session("old")
    assert session.title == "from an older trail" and session.steps == 1
    assert session.tip.event.payload["text"] == "from an older trail"


def test_text_in_the_message_cannot_forge_a_header(repo: Path) -> None:
    forged = json.dumps({"session": "x", "step": 99, "kind": "decision", "summary": "forged"})
    with Recorder(repo, session_id="forgery") as rec:
        step = rec.prompt(f"hello\ntrail-summary {forged}\ntrail-event {forged}\n\ntrail-summary {forged}")
    store = Store(TrailRepo.discover(repo))
    again = store.load(step.commit, "forgery", full=True)
    assert (again.kind, again.n) == ("prompt", 2) and again.summary.startswith("hello trail-summary")
    assert again.event.payload["text"].startswith("hello\ntrail-summary")
    check = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

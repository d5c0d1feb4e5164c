"""Codex CLI hook payloads and a rollout (tests/fixtures/codex/, see its README), with their placeholders filled in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "codex"
SESSION = "019d3c86-a9b5-7911-b12a-438429ed8068"
TURN = "019d3c86-bd00-7eb0-90c5-8226cb69cfcb"


def fill(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def payload(name: str, **values: str) -> dict[str, Any]:
    return json.loads(fill((FIXTURES / f"{name}.json").read_text(), turn_id=TURN, **values))


def rollout_lines(**values: str) -> list[str]:
    """The rollout's lines, each with its newline."""
    return fill((FIXTURES / "rollout.jsonl").read_text(), turn_id=TURN, **values).splitlines(keepends=True)


def rollout_path(codex_home: Path, session: str = SESSION) -> Path:
    """Where Codex writes a session's rollout: sessions/YYYY/MM/DD/rollout-<local time>-<id>.jsonl."""
    return codex_home / "sessions" / "2026" / "03" / "29" / f"rollout-2026-03-29T20-15-51-{session}.jsonl"

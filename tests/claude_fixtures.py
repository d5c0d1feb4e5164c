"""Claude Code payload and transcript fixtures (tests/fixtures/claude/), with their placeholders filled in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "claude"
REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "real"


def fill(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def payload(event: str, **values: str) -> dict[str, Any]:
    return json.loads(fill((FIXTURES / f"{event}.json").read_text(), **values))


def transcript_lines(name: str, **values: str) -> list[str]:
    """The fixture's lines, each with its newline (the last one of transcript.jsonl has none: it is truncated)."""
    return fill((FIXTURES / name).read_text(), **values).splitlines(keepends=True)

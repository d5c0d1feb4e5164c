"""Gemini CLI and Cursor fixtures (tests/fixtures/gemini/, tests/fixtures/cursor/; their README.md names the source of
each shape), with their placeholders filled in, and the agents played: their installed hook commands run as they
run them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fill(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def gemini_payload(event: str, **values: str) -> dict[str, Any]:
    return json.loads(fill((FIXTURES / "gemini" / f"{event}.json").read_text(), **values))


def gemini_chat(name: str, **values: str) -> str:
    return fill((FIXTURES / "gemini" / name).read_text(), **values)


def cursor_payload(event: str, **values: str) -> dict[str, Any]:
    return json.loads(fill((FIXTURES / "cursor" / f"{event}.json").read_text(), **values))


def run_hook(command: str, payload: dict[str, Any] | bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run an installed hook command as the agents do: through a shell, the payload on stdin."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return subprocess.run(["bash", "-c", command], input=data, cwd=cwd, capture_output=True, timeout=120)

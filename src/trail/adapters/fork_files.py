"""What writing an agent's session file for `trail resume` takes, whichever the agent: a new file for its owner only,
the agents' timestamps, and a tool's recorded output as the text the model saw."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trail import events as ev


def write_new_private(path: Path, lines: Sequence[bytes]) -> None:
    """Write a new session file, readable by its owner only; an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.writelines(lines)


def stamp(when: datetime) -> str:
    """A UTC time as both agents write it: milliseconds and a Z."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def output_text(value: Any) -> str:
    """A tool's recorded output as text: a shell's stdout (and stderr), a string as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("stdout"), str):
        return value["stdout"] + (("\n" + value["stderr"]) if value.get("stderr") else "")
    return json.dumps(value, ensure_ascii=False, default=str)


def start_values(steps: Sequence[Any], *names: str) -> list[str]:
    """The non-empty strings the session's start steps (among its first 50) give for `names`, in order: a payload
    field (`cwd`), or one of the hook payload the step kept (`hook.cwd`)."""
    found: list[str] = []
    for step in steps[:50]:
        if step.kind != ev.SESSION_START:
            continue
        payload = step.event.payload
        hook = payload.get("hook") if isinstance(payload.get("hook"), dict) else {}
        for name in names:
            value = hook.get(name[5:]) if name.startswith("hook.") else payload.get(name)
            if isinstance(value, str) and value:
                found.append(value)
    return found

"""Generated stores of recorded sessions for the read and team benchmarks, written fast through trail's bulk writer.

Steps look like a coding agent's: a prompt, responses with thinking and token usage, tool calls whose outputs range
from a line to 100 KB, an occasional decision; the code changes every few steps (a file of a small project is
edited), so diffs between steps are real. Everything comes from a seeded random, so every run builds the same store.
"""

from __future__ import annotations

import os
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2

from trail.capture.writer import StepWriter
from trail.events import Event
from trail.repo import TrailRepo

GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
WORDS = (
    "the invoice customer overdue reminder send query active account balance test fails because value index "
    "list empty return function module import error retry timeout request response payload field column table"
).split()
TREE_VARIANTS = 40


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "gc.auto=0", "-C", os.fspath(repo), *args],
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def init_repo(path: Path, files: int = 20) -> Path:
    """A small project with one commit (git's automatic gc off, so nothing runs in the background)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "gc.auto", "0")
    git(path, "config", "user.name", "bench")
    git(path, "config", "user.email", "bench@example.invalid")
    rng = random.Random(files)
    for i in range(files):
        folder = path / ("src" if i % 2 else "tests")
        folder.mkdir(exist_ok=True)
        (folder / f"module_{i}.py").write_text(_text(rng, 60, code=True))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def tree_variants(repo: TrailRepo, count: int = TREE_VARIANTS) -> list[str]:
    """Trees that each differ from the previous one by an edit to one file."""
    git_repo = repo.git
    rng = random.Random(7)
    tree = git_repo.head.peel(pygit2.Commit).tree
    files = [(folder, entry.name) for folder in ("src", "tests") for entry in tree[folder].peel(pygit2.Tree)]
    out = []
    for _ in range(count):
        folder, name = rng.choice(files)
        sub = git_repo.TreeBuilder(tree[folder].peel(pygit2.Tree))
        blob = git_repo.create_blob(_text(rng, 60, code=True).encode())
        sub.insert(name, blob, pygit2.enums.FileMode.BLOB)
        top = git_repo.TreeBuilder(tree)
        top.insert(folder, sub.write(), pygit2.enums.FileMode.TREE)
        tree = git_repo[top.write()].peel(pygit2.Tree)
        out.append(str(tree.id))
    return out


def _text(rng: random.Random, words: int, code: bool = False) -> str:
    chosen = rng.choices(WORDS, k=words)
    if not code:
        return " ".join(chosen)
    return "\n".join(
        f"def {a}_{b}(value):\n    return value  # {c}" for a, b, c in zip(chosen, chosen[1:], chosen[2:], strict=False)
    )


def session_events(session_id: str, steps: int, seed: int, start: datetime) -> list[Event]:
    """`steps` events of a plausible agent session (session_start first)."""
    rng = random.Random(seed)
    when = start
    events = [
        Event(
            "session_start", {"source": "startup", "model": "claude-sonnet-4-5"}, session_id, when, agent="claude-code"
        )
    ]
    while len(events) < steps:
        when += timedelta(seconds=rng.uniform(0.5, 20))
        roll = rng.random()
        if roll < 0.08:
            events.append(
                Event("prompt", {"text": _text(rng, rng.randint(10, 120))}, session_id, when, agent="claude-code")
            )
        elif roll < 0.4:
            usage = {
                "input_tokens": rng.randint(1, 50),
                "cache_creation_input_tokens": rng.randint(0, 3000),
                "cache_read_input_tokens": rng.randint(1000, 90000),
                "output_tokens": rng.randint(20, 2000),
            }
            events.append(
                Event(
                    "response",
                    {
                        "text": _text(rng, rng.randint(5, 200)),
                        "thinking": _text(rng, rng.randint(0, 150)),
                        "model": "claude-sonnet-4-5",
                        "tokens_in": usage["input_tokens"]
                        + usage["cache_creation_input_tokens"]
                        + usage["cache_read_input_tokens"],
                        "tokens_out": usage["output_tokens"],
                        "usage": usage,
                    },
                    session_id,
                    when,
                    agent="claude-code",
                )
            )
        elif roll < 0.95:
            name = rng.choice(["Bash", "Read", "Edit", "Grep", "Write"])
            big = rng.random() < 0.02
            output = _text(rng, 20000 if big else rng.randint(10, 1200))
            if rng.random() < 0.002:  # a rare event, for searches that find a handful of steps among many
                output += f" DROP TABLE staging_{rng.randrange(100)}"
            events.append(
                Event(
                    "tool_call",
                    {
                        "name": name,
                        "input": {"command": _text(rng, 8)}
                        if name == "Bash"
                        else {"file_path": f"src/{rng.choice(WORDS)}.py"},
                        "output": output,
                        "duration_ms": rng.randint(5, 4000),
                        "tool_use_id": f"toolu_{seed}_{len(events)}",
                    },
                    session_id,
                    when,
                    agent="claude-code",
                )
            )
        else:
            events.append(
                Event(
                    "decision",
                    {"choice": _text(rng, 8), "reasoning": _text(rng, 60), "alternatives": [_text(rng, 6)]},
                    session_id,
                    when,
                    agent="claude-code",
                )
            )
    return events[:steps]


def write_sessions(repo_path: Path, sessions: dict[str, int], seed: int = 1) -> None:
    """Write each session (id -> number of steps) through the bulk writer, code changing every few steps."""
    repo = TrailRepo.discover(repo_path)
    trees = tree_variants(repo)
    writer = StepWriter(repo)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for number, (sid, count) in enumerate(sessions.items()):
        rng = random.Random(seed * 1000 + number)
        events = session_events(sid, count, seed * 1000 + number, start + timedelta(minutes=number))
        tree_at = rng.randrange(len(trees))
        with writer.bulk() as bulk:
            for i, event in enumerate(events):
                if event.kind == "tool_call" and i % 3 == 0:
                    tree_at = (tree_at + 1) % len(trees)
                bulk.write(event, tree=trees[tree_at])


def claude_transcript(path: Path, steps: int, session_id: str, cwd: str, seed: int = 5, dense: bool = True) -> Path:
    """A Claude Code transcript (JSONL, the format of 2.1.x) in which nearly every line becomes a step: prompts,
    assistant text with usage, tool uses and their results. `dense` keeps lines short, so that the per-step
    cost of an import shows rather than the cost of reading long texts."""
    import json

    rng = random.Random(seed)
    when = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    lines = []
    parent = None
    n = 0

    def line(kind: str, message: dict[str, object], **extra: object) -> None:
        nonlocal parent, when, n
        n += 1
        when += timedelta(seconds=rng.uniform(0.2, 5))
        uuid = f"{seed:04x}{n:08x}-0000-4000-8000-000000000000"
        record = {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": cwd,
            "sessionId": session_id,
            "version": "2.1.19",
            "gitBranch": "main",
            "uuid": uuid,
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "type": kind,
            "message": message,
            **extra,
        }
        parent = uuid
        lines.append(json.dumps(record))

    words = (lambda k: _text(rng, k)) if not dense else (lambda k: _text(rng, min(k, 12)))
    turn = 0
    while len(lines) < steps:
        line("user", {"role": "user", "content": words(20)})
        for _ in range(rng.randint(1, 4)):
            turn += 1
            msg = f"msg_{seed}_{turn}"
            usage = {
                "input_tokens": 5,
                "cache_creation_input_tokens": 120,
                "cache_read_input_tokens": 9000,
                "output_tokens": rng.randint(10, 400),
                "service_tier": "standard",
            }
            line(
                "assistant",
                {
                    "model": "claude-sonnet-4-5",
                    "id": msg,
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "text", "text": words(40)}],
                    "stop_reason": None,
                    "usage": usage,
                },
                requestId=f"req_{turn}",
            )
            tool = f"toolu_{seed}_{turn}"
            line(
                "assistant",
                {
                    "model": "claude-sonnet-4-5",
                    "id": msg,
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": tool, "name": "Bash", "input": {"command": words(6)}}],
                    "stop_reason": "tool_use",
                    "usage": usage,
                },
                requestId=f"req_{turn}",
            )
            line(
                "user",
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool, "content": words(60)}]},
                toolUseResult={"stdout": words(10), "stderr": "", "interrupted": False},
            )
    path.write_text("\n".join(lines[:steps]) + "\n")
    return path

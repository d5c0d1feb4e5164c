"""`trail demo`: a throwaway repository with a realistic recorded session, to try trail on.

The session is what an agent fixing a small bug would produce: a prompt, responses with thinking and token
counts, tool calls that read, edit and test the code (the files really change between steps), and a decision.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from trail.capture.recorder import Recorder
from trail.errors import TrailError
from trail.store.steps import Step

AGENT = "demo-agent"
MODEL = "claude-sonnet-4-5"

STATS_BEFORE = '''\
"""Small statistics helpers."""


def average(values):
    return sum(values) / len(values)


def spread(values):
    return max(values) - min(values)
'''

STATS_AFTER = '''\
"""Small statistics helpers."""


def average(values):
    if not values:
        return 0.0
    return sum(values) / len(values)


def spread(values):
    return max(values) - min(values)
'''

TESTS = """\
from stats import average


def test_average():
    assert average([1, 2, 3]) == 2


def test_average_of_nothing():
    assert average([]) == 0.0
"""

FAILING_RUN = """\
.F                                                                       [100%]
=================================== FAILURES ===================================
___________________________ test_average_of_nothing ____________________________

    def test_average_of_nothing():
>       assert average([]) == 0.0

test_stats.py:9:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def average(values):
>       return sum(values) / len(values)
E       ZeroDivisionError: division by zero

stats.py:5: ZeroDivisionError
1 failed, 1 passed in 0.02s
"""

# Looks like a real key so that the demo shows redaction at work; it is not one. (A run of zeros would not do:
# redaction takes `sk-proj-0000…` for a placeholder.)
FAKE_KEY = "sk-proj-" + "demo" + "Tq7mZ2vLp9xR4wKb8NcY3fHs6JuA1gEo5iWzKEY"


@dataclass(frozen=True)
class DemoResult:
    path: Path
    session_id: str
    steps: list[Step]


def create_demo_repo(directory: str | os.PathLike[str] | None = None) -> Path:
    if directory is None:
        path = Path(tempfile.mkdtemp(prefix="trail-demo-"))
    else:
        path = Path(directory).absolute()
        if path.exists() and any(path.iterdir()):
            raise TrailError(f"{path} is not empty; give `trail demo` a new folder (or none, for a temporary one)")
        path.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(os.fspath(path), initial_head="main")
    (path / "stats.py").write_text(STATS_BEFORE)
    (path / "test_stats.py").write_text(TESTS)
    (path / ".gitignore").write_text("__pycache__/\n.env\n")
    (path / ".env").write_text(f"OPENAI_API_KEY={FAKE_KEY}\n")  # ignored: never snapshotted
    index = repo.index
    index.add_all()
    index.write()
    author = pygit2.Signature("Dana Developer", "dana@example.com", 1764151200, 0)
    repo.create_commit("HEAD", author, author, "Add statistics helpers", index.write_tree(), [])
    return path


def run_demo(directory: str | os.PathLike[str] | None = None) -> DemoResult:
    """Create the demo repository and record the sample session into it."""
    path = create_demo_repo(directory)
    steps: list[Step] = []  # what each call returned; the full list (with start and end) comes from the store
    with Recorder(path, agent=AGENT, model=MODEL) as rec:
        steps.append(rec.prompt("`test_average_of_nothing` fails. Find the bug in stats.py and fix it."))
        steps.append(
            rec.response(
                "I'll run the tests first to see the failure.",
                tokens_in=1830,
                tokens_out=42,
                thinking="The user says one test fails. Reproduce before reading code.",
                stop_reason="tool_use",
            )
        )
        steps.append(
            rec.tool_call("Bash", input={"command": "python -m pytest -q"}, output=FAILING_RUN, duration_ms=412)
        )
        steps.append(rec.tool_call("Read", input={"file_path": "stats.py"}, output=STATS_BEFORE, duration_ms=3))
        steps.append(
            rec.decision(
                "Return 0.0 for an empty list",
                reasoning="The new test expects 0.0, and callers sum averages of possibly empty groups.",
                alternatives=[
                    "Raise ValueError (breaks the test's contract)",
                    "Return None (callers would crash)",
                ],
            )
        )
        (path / "stats.py").write_text(STATS_AFTER)
        steps.append(
            rec.tool_call(
                "Edit",
                input={
                    "file_path": "stats.py",
                    "old_string": "    return sum(values) / len(values)",
                    "new_string": "    if not values:\n        return 0.0\n    return sum(values) / len(values)",
                },
                output="The file stats.py has been updated.",
                duration_ms=5,
            )
        )
        steps.append(
            rec.tool_call(
                "Bash",
                input={"command": "python -m pytest -q"},
                output="..                                                                       [100%]\n"
                "2 passed in 0.01s\n",
                duration_ms=398,
            )
        )
        steps.append(
            rec.tool_call(
                "Bash",
                input={"command": "cat .env"},
                output=f"OPENAI_API_KEY={FAKE_KEY}\n",
                duration_ms=2,
            )
        )
        steps.append(
            rec.response(
                "Fixed: `average([])` divided by zero. It now returns 0.0 for an empty list, and both tests pass.",
                tokens_in=2410,
                tokens_out=96,
                stop_reason="end_turn",
            )
        )
    return DemoResult(path=path, session_id=rec.session_id, steps=rec.store.steps(rec.session_id))

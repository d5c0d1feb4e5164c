"""The Python SDK as a home-grown agent uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import git

import trail
from trail.errors import NotARepositoryError, SessionEndedError


def test_with_block_records_start_steps_and_end(repo: Path) -> None:
    with trail.Recorder(repo, agent="my-agent", model="gpt-5") as rec:
        prompt = rec.prompt("fix it", prompt_id="p-1")
        response = rec.response("ok", tokens_in=10, tokens_out=2, thinking="hmm", stop_reason="end_turn")
        tool = rec.tool_call("bash", input={"command": "ls"}, output="a b", error=None, duration_ms=12)
        decision = rec.decision("plan A", reasoning="cheaper", alternatives=["plan B"])
        note = rec.note("fyi")
    steps = rec.store.steps(rec.session_id)
    assert [s.kind for s in steps] == [
        "session_start",
        "prompt",
        "response",
        "tool_call",
        "decision",
        "note",
        "session_end",
    ]
    assert (prompt.session_id, prompt.n) == (rec.session_id, 2)
    assert len(prompt.commit) == 40 and git("cat-file", "-t", prompt.commit, cwd=repo).strip() == "commit"
    assert prompt.event.payload == {"text": "fix it", "prompt_id": "p-1"}
    assert response.event.payload == {
        "text": "ok",
        "model": "gpt-5",
        "tokens_in": 10,
        "tokens_out": 2,
        "thinking": "hmm",
        "stop_reason": "end_turn",
    }
    assert tool.event.payload == {"name": "bash", "input": {"command": "ls"}, "output": "a b", "duration_ms": 12}
    assert decision.event.payload == {"choice": "plan A", "reasoning": "cheaper", "alternatives": ["plan B"]}
    assert note.n == 6
    start = steps[0].event.payload
    assert start["source"] == "startup" and start["model"] == "gpt-5" and start["branch"] == "main"
    assert start["head"] == git("rev-parse", "HEAD", cwd=repo).strip()
    assert steps[-1].event.payload == {"reason": "exit"}


def test_exception_in_block_is_recorded_and_raised(repo: Path) -> None:
    with pytest.raises(ZeroDivisionError), trail.Recorder(repo) as rec:
        rec.prompt("divide")
        1 / 0  # noqa: B018
    last = rec.store.steps(rec.session_id)[-1]
    assert last.kind == "session_end"
    assert last.event.payload["reason"] == "error: ZeroDivisionError: division by zero"


def test_recording_after_end_is_refused(repo: Path) -> None:
    rec = trail.Recorder(repo)
    rec.prompt("first")  # starts the session by itself
    rec.end()
    with pytest.raises(SessionEndedError, match="has ended"):
        rec.note("too late")


def test_resuming_a_session_continues_its_chain(repo: Path) -> None:
    with trail.Recorder(repo, session_id="resumable") as first:
        first.prompt("part one")
    with trail.Recorder(repo, session_id="resumable") as second:
        step = second.prompt("part two")
    steps = second.store.steps("resumable")
    assert [s.n for s in steps] == list(range(1, 7))
    assert steps[3].event.payload["source"] == "resume"
    assert step.n == 5
    info = second.store.session("resumable")
    assert info is not None and info.title == "part one" and info.ended


def test_from_a_subdirectory_and_with_odd_values(repo: Path) -> None:
    with trail.Recorder(repo / "src") as rec:
        step = rec.tool_call("t", input={"when": __import__("datetime").date(2026, 1, 2), "raw": b"\xff"})
    assert step.event.payload["input"] == {"when": "2026-01-02", "raw": "\\xff"}


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError, match="not inside a git repository"):
        trail.Recorder(tmp_path)


def test_version_and_lazy_names() -> None:
    assert trail.__version__
    assert trail.Step.__name__ == "Step"
    with pytest.raises(AttributeError):
        trail.nothing  # noqa: B018


def test_the_current_recorder_is_the_innermost_with_block_else_the_last_one_entered(repo: Path) -> None:
    import threading

    from trail.capture.recorder import current

    assert current() is None
    with trail.Recorder(repo, session_id="outer") as outer:
        assert current() is outer
        with trail.Recorder(repo, session_id="inner") as inner:
            assert current() is inner
            seen: list[Any] = []
            worker = threading.Thread(target=lambda: seen.append(current()))  # a thread that entered none
            worker.start()
            worker.join()
            assert seen == [inner]
        assert current() is outer
        outer.end()
        assert current() is None  # an ended recorder records nothing more
    assert current() is None

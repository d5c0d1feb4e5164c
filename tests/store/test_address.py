"""Short handles for sessions, as git abbreviates commit ids, and the addresses people type."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from conftest import trail as run_trail

import trail
from trail import Recorder
from trail.errors import AmbiguousStepError, StepNotFoundError
from trail.events import new_session_id
from trail.store.handles import MIN_HANDLE, Handles


def test_time_ordered_ids_get_short_handles_from_their_random_part() -> None:
    ids = [new_session_id() for _ in range(500)]  # made within milliseconds: long shared prefixes
    handles = Handles(ids)
    shown = [handles.handle(sid) for sid in ids]
    assert len(set(shown)) == 500
    assert max(map(len, shown)) <= 10 and min(map(len, shown)) == MIN_HANDLE
    for sid, handle in zip(ids, shown, strict=True):
        assert handles.matches(handle) == [sid]
        assert handles.matches(sid) == [sid] and handles.matches(sid[:30]) == [sid]


def test_random_ids_are_shown_by_their_shortest_unique_prefix() -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)] + [
        "abcdef01-0000-4000-8000-000000000001",
        "abcdef01-0000-4000-8000-000000000002",
    ]
    handles = Handles(ids)
    assert handles.handle(ids[0]) == ids[0][: len(handles.handle(ids[0]))]
    assert handles.handle("abcdef01-0000-4000-8000-000000000001") == "abcdef01-0000-4000-8000-000000000001"
    assert all(handles.matches(handles.handle(sid)) == [sid] for sid in ids)


def test_children_and_chosen_ids() -> None:
    parent = "3f2a9b1c-1111-4222-8333-444455556666"
    ids = [parent, f"{parent}.agent-a1b2c3", f"{parent}.agent-ffee00", "payment-run-42", "payment-run-43"]
    handles = Handles(ids)
    assert handles.handle(parent) == "3f2a9b1c"
    assert handles.handle(f"{parent}.agent-a1b2c3") == "3f2a9b1c.agent-a1b2c3"
    assert handles.handle("payment-run-42") == "payment-run-42"  # chosen by a person: shown as it is
    assert handles.matches("3f2a9b1c") == [parent]  # the parent, not its subagents
    assert handles.matches("3f2a9b1c.agent-a1") == [f"{parent}.agent-a1b2c3"]
    assert handles.matches("3f2a9b1c.agent") == [f"{parent}.agent-a1b2c3", f"{parent}.agent-ffee00"]
    assert handles.matches("payment-run") == ["payment-run-42", "payment-run-43"]


def test_addresses_through_the_read_api(repo: Path) -> None:
    first = Recorder(repo)
    first.note("one")
    second = Recorder(repo)
    second.note("two")
    target = second.note("three")
    history = trail.open(repo)
    handle = history.handle(second.session_id)
    assert len(handle) == MIN_HANDLE and second.session_id.endswith(handle) is False
    assert history.step(f"{handle}@3").commit == target.commit
    assert history.step("@3").commit == target.commit
    assert history.step("@0").commit == target.commit and history.step("@-1").n == 2
    session, step = history.resolve(handle)
    assert session.id == second.session_id and step is None
    session, step = history.resolve(target.commit[:10])
    assert session.id == second.session_id and step is not None and step.n == 3
    with pytest.raises(StepNotFoundError, match="steps 1 to 3"):
        history.step(f"{handle}@4")
    with pytest.raises(AmbiguousStepError):
        history.session(second.session_id[:4])  # both ids start with the same milliseconds


def test_commands_show_and_accept_handles(repo: Path) -> None:
    rec = Recorder(repo)
    rec.prompt("the prompt")
    handle = trail.open(repo).handle(rec.session_id)
    listed = run_trail("sessions", cwd=repo).stdout
    assert handle in listed and rec.session_id not in listed
    shown = run_trail("show", f"{handle}@2", cwd=repo)
    assert shown.returncode == 0 and "the prompt" in shown.stdout
    assert run_trail("log", handle, cwd=repo).stdout.startswith(f"session {handle}")

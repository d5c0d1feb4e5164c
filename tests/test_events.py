"""Events: lossless JSON, schema version, kept unknown fields, one-line summaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trail.events import SCHEMA_VERSION, Event, new_session_id

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(
    kind=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    payload=st.dictionaries(st.text(), JSON),
    extra=st.dictionaries(
        st.text().filter(lambda k: k not in {"schema", "kind", "time", "session", "step", "agent", "payload"}),
        JSON,
        max_size=3,
    ),
)
def test_json_round_trip_is_lossless(kind: str, payload: dict, extra: dict) -> None:
    event = Event(kind=kind, payload=payload, session_id="s", step=3, agent="a", extra=extra)
    again = Event.from_json(event.to_json())
    assert again == event
    assert "\n" not in event.to_json()
    assert event.to_json().isascii()


def test_schema_version_travels() -> None:
    data = Event("note", {"text": "x"}).to_dict()
    assert data["schema"] == SCHEMA_VERSION
    assert Event.from_dict({**data, "schema": 99}).to_dict()["schema"] == 99


def test_lone_surrogates_survive() -> None:
    event = Event("prompt", {"text": "bad \udc80 byte"})
    assert Event.from_json(event.to_json()).payload["text"] == "bad \udc80 byte"


def test_naive_times_become_aware_and_times_round_trip() -> None:
    event = Event("note", time=datetime(2026, 1, 1, 12, 0))
    assert event.time.tzinfo is not None
    exact = Event("note", time=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))
    assert Event.from_json(exact.to_json()).time == exact.time


def test_bad_kinds_are_refused() -> None:
    for bad in ("", "Prompt", "has space", "x" * 70, None):
        with pytest.raises(ValueError):
            Event(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "payload", "summary"),
    [
        ("prompt", {"text": "  Fix\nthe   bug  "}, "Fix the bug"),
        ("tool_call", {"name": "Bash", "input": {"command": "pytest -q"}}, "Bash pytest -q"),
        ("tool_call", {"name": "Edit", "input": {"file_path": "a.py"}, "error": "denied"}, "Edit a.py (failed)"),
        ("decision", {"choice": "use sqlite"}, "use sqlite"),
        ("response", {"thinking": "hmm"}, "(thinking) hmm"),
        ("response", {"text_recorded_at": 6, "tokens_out": 3}, "(the answer of step 6, with its token usage)"),
        ("response", {"tool_uses": [{"id": "t", "name": "Grep"}]}, "(calls Grep)"),
        ("response", {"tokens_out": 3}, "(token usage only)"),
        ("session_end", {}, "session ended"),
        ("custom", {}, "custom"),
        ("prompt", {"text": "x" * 100}, "x" * 71 + "…"),
    ],
)
def test_summaries(kind: str, payload: dict, summary: str) -> None:
    assert Event(kind, payload).summary() == summary


def test_session_ids_are_uuid7_and_sortable() -> None:
    ids = [new_session_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == 50
    assert ids[0][:8] <= ids[-1][:8]

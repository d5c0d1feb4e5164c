"""Redaction against a corpus: every secret goes, reported as its kind; every look-alike stays, byte for byte.

The corpus (secrets_corpus.py) holds each secret format trail knows in the surroundings agents meet it (shell output,
a Bash tool call's JSON, a .env file, a URL, a Python line, JSON inside JSON, `\\u`-escaped), and the look-alikes
that a careless rule would take for one: UUIDs, digests, base64 data, placeholders, code that names a password.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from secrets_corpus import LOOK_ALIKES, SECRETS, LookAlike, Secret, redact_case, score

from trail.capture.escapes import EscapedView, unescaped_views
from trail.capture.redact import DEFAULT_RULES, Redactor

REDACTOR = Redactor()


def test_the_corpus_is_big_enough() -> None:
    assert len(SECRETS) >= 60
    assert len(LOOK_ALIKES) >= 40
    kinds = {rule.kind for rule in DEFAULT_RULES}
    assert {case.kind for case in SECRETS} <= kinds
    # Every kind of the catalog has at least one case.
    assert kinds <= {case.kind for case in SECRETS}


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.name)
def test_secret_is_redacted_as_its_kind(case: Secret) -> None:
    out, counts = redact_case(REDACTOR, case)
    assert case.spelled not in out
    assert f"[REDACTED:{case.kind}]" in out
    assert counts == Counter({case.kind: 1})


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.name)
def test_redacting_a_case_twice_is_the_same_as_once(case: Secret) -> None:
    if case.value is not None:
        once, _ = REDACTOR.redact_value(case.value)
        assert REDACTOR.redact_value(once) == (once, Counter())
    else:
        once, _ = REDACTOR.redact_text(case.text)
        assert REDACTOR.redact_text(once) == (once, Counter())


@pytest.mark.parametrize("case", [c for c in SECRETS if c.value is None], ids=lambda case: case.name)
def test_secret_in_a_structured_event_is_redacted_too(case: Secret) -> None:
    # The same text as a string inside an event, the way a hook payload or a transcript line carries it.
    out, counts = REDACTOR.redact_value({"tool_response": {"stdout": case.text, "exit_code": 0}})
    assert case.spelled not in out["tool_response"]["stdout"]
    assert counts == Counter({case.kind: 1})


@pytest.mark.parametrize("look", LOOK_ALIKES, ids=lambda look: look.name)
def test_look_alike_is_left_alone(look: LookAlike) -> None:
    assert REDACTOR.redact_text(look.text) == (look.text, Counter())
    value = {"message": {"content": [{"type": "text", "text": look.text}]}}
    out, counts = REDACTOR.redact_value(value)
    assert (out, counts) == (value, Counter())
    assert out is value


def test_recall_and_precision_on_the_corpus() -> None:
    result = score(REDACTOR)
    print(
        f"\nredaction corpus: {len(SECRETS)} secrets, {len(LOOK_ALIKES)} look-alikes: "
        f"recall {result.recall:.1%}, precision {result.precision:.1%}"
    )
    assert result.misses == []
    assert result.false_alarms == []
    assert (result.recall, result.precision) == (1.0, 1.0)


def test_whole_transcript_line_as_raw_json() -> None:
    # A transcript line redacted as text: its strings are JSON-escaped, newlines included, so a token at the start
    # of a line of tool output sits right after `\n`.
    for case in SECRETS:
        if case.value is not None:
            continue
        line = json.dumps({"type": "user", "message": {"content": [{"type": "tool_result", "content": case.text}]}})
        out, counts = REDACTOR.redact_text(line)
        assert counts == Counter({case.kind: 1}), case.name
        assert json.loads(out)  # still valid JSON
        decoded = json.dumps(json.loads(out)["message"]["content"][0]["content"])
        assert case.spelled not in out and case.spelled not in decoded, case.name


def test_escaped_view_maps_spans_back_to_whole_escapes() -> None:
    source = 'a\\u0073b\\"c\\\\d\\n'
    view = EscapedView(source)
    assert view.text == 'asb"c\\d\n'
    assert view.source_span(1, 2) == (1, 7)  # "s" was \u0073
    assert view.source_span(0, 3) == (0, 8)
    assert view.source_span(3, 4) == (8, 10)  # the quote was \"
    assert view.source_span(4, 5) == (10, 11)
    assert view.source_span(7, 8) == (14, 16)  # the newline was \n


def test_views_unescape_json_inside_json() -> None:
    inner = json.dumps({"Authorization": "Bearer abc"})
    outer = json.dumps(inner)[1:-1]
    views = unescaped_views(outer)
    assert [v.text for v in views] == [inner]
    start = inner.index("abc")
    assert views[0].root_span(start, start + 3) == (outer.index("abc"), outer.index("abc") + 3)
    assert unescaped_views("no escapes: C:\\Users\\dev") == []

"""OpenTelemetry in and out, over the real wire: the OpenTelemetry SDK's own OTLP/HTTP exporter sends GenAI spans to
`trail otel serve` running as a subprocess; OTLP JSON is posted by hand (gzip too) and imported from files; exports
are read back with the opentelemetry-proto classes and recorded again.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TRAIL, git, trail

pytest.importorskip("opentelemetry.proto")
pytest.importorskip("opentelemetry.sdk")

from google.protobuf import json_format  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from trail.repo import TrailRepo  # noqa: E402
from trail.store.steps import Step, Store  # noqa: E402

# -- helpers ------------------------------------------------------------------------------------------------------


class Receiver:
    """`trail otel serve --port 0` in a repository, as a user starts it; stopped with Ctrl-C (SIGINT)."""

    def __init__(self, repo: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*TRAIL, "otel", "serve", "--port", "0", *args],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + self.proc.stderr.read()  # type: ignore[union-attr]
        self.url = first.split("listening on ", 1)[1].strip()
        assert self.url.endswith("/v1/traces")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        assert "Stopped." in out
        return out


@pytest.fixture
def receiver(repo: Path) -> Iterator[Receiver]:
    server = Receiver(repo)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


def tracer_for(url: str, simple: bool = False) -> tuple[TracerProvider, Any]:
    provider = TracerProvider(resource=Resource.create({"service.name": "test-agent"}))
    exporter = OTLPSpanExporter(endpoint=url)
    provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter))
    return provider, provider.get_tracer("tests.otel")


def msgs(*items: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in items])


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def run_agent(tracer: Any, conversation: str = "conv-1") -> dict[str, ReadableSpan]:
    """A coding agent's turn, as GenAI instrumentations report it: invoke_agent around two model calls, a Read, a
    Task tool that runs a nested agent (with its own model call), and an HTTP span that is not GenAI."""
    spans: dict[str, Any] = {}
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Coder", "gen_ai.agent.id": "coder-1"}
    with tracer.start_as_current_span(
        "invoke_agent Coder", attributes={**agent, "gen_ai.conversation.id": conversation}
    ) as spans["root"]:
        with tracer.start_as_current_span(
            "chat claude-sonnet-4-5",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.conversation.id": conversation,
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 80,
                "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.response.finish_reasons": ["tool_use"],
                "gen_ai.system_instructions": json.dumps([text("You are a careful coder.")]),
                "gen_ai.input.messages": msgs(("user", [text("Fix the failing test in app.py")])),
                "gen_ai.output.messages": msgs(
                    (
                        "assistant",
                        [
                            {"type": "reasoning", "content": "Read the file first."},
                            text("Let me look."),
                            {"type": "tool_call", "id": "call-1", "name": "Read", "arguments": {"path": "app.py"}},
                        ],
                    )
                ),
                "custom.flag": True,
            },
        ) as spans["chat1"]:
            pass
        with tracer.start_as_current_span(
            "execute_tool Read",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "Read",
                "gen_ai.tool.call.id": "call-1",
                "gen_ai.tool.call.arguments": json.dumps({"path": "app.py"}),
                "gen_ai.tool.call.result": "print('hello')",
            },
        ) as spans["read"]:
            pass
        with (
            tracer.start_as_current_span(
                "execute_tool Task",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "Task",
                    "gen_ai.tool.call.id": "c2",
                },
            ) as spans["task"],
            tracer.start_as_current_span(
                "invoke_agent Researcher",
                attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Researcher"},
            ) as spans["sub"],
            tracer.start_as_current_span(
                "chat gpt-5",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-5",
                    "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 5,
                    "gen_ai.input.messages": msgs(("user", [text("Find the test")])),
                    "gen_ai.output.messages": msgs(("assistant", [text("tests/test_app.py")])),
                },
            ) as spans["subchat"],
        ):
            pass
        with tracer.start_as_current_span("GET /docs") as spans["http"]:
            pass
        with tracer.start_as_current_span(
            "chat claude-sonnet-4-5",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 1500,
                "gen_ai.usage.output_tokens": 20,
                "gen_ai.input.messages": msgs(
                    ("user", [text("Fix the failing test in app.py")]),
                    ("assistant", [text("Let me look.")]),
                    ("tool", [{"type": "tool_call_response", "id": "call-1", "response": "print('hello')"}]),
                ),
                "gen_ai.output.messages": msgs(("assistant", [text("Fixed.")])),
            },
        ) as spans["chat2"]:
            pass
    return spans


def hexid(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def trace_hex(span: Any) -> str:
    return format(span.get_span_context().trace_id, "032x")


def steps(repo: Path, session: str) -> list[Step]:
    return Store(TrailRepo.discover(repo)).steps(session, full=True)


def sessions(repo: Path) -> list[str]:
    return Store(TrailRepo.discover(repo)).session_ids()


def shape(repo: Path, session: str) -> list[tuple[Any, ...]]:
    """What a session says, without ids and times: kinds and their main fields."""
    out = []
    for step in steps(repo, session):
        p = step.event.payload
        if step.kind == "prompt":
            out.append(("prompt", p["text"]))
        elif step.kind == "response":
            uses = [(u["id"], u["name"], u.get("input")) for u in p.get("tool_uses") or []]
            out.append(("response", p.get("text"), p.get("thinking"), p.get("model"), p.get("tokens_in"), uses))
            out[-1] += (p.get("tokens_out"),)
        elif step.kind == "tool_call":
            out.append(("tool_call", p["name"], p.get("tool_use_id"), p.get("input"), p.get("output")))
        elif step.kind == "session_start":
            out.append(("session_start", step.agent, p.get("parent_step")))
        else:
            out.append((step.kind, step.summary))
    return out


def post(url: str, body: bytes, content_type: str, **headers: str) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def otlp_json(*spans: dict[str, Any], service: str = "hand") -> dict[str, Any]:
    """An ExportTraceServiceRequest in OTLP JSON, as the spec writes it: hex ids, camelCase, typed values."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "by-hand"}, "spans": list(spans)}],
            }
        ]
    }


def span_json(trace: str, span: str, name: str, start: int, parent: str = "", **attributes: Any) -> dict[str, Any]:
    values = []
    for key, value in attributes.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            values.append({"key": key, "value": {"boolValue": value}})
        elif isinstance(value, int):
            values.append({"key": key, "value": {"intValue": str(value)}})
        else:
            values.append({"key": key, "value": {"stringValue": value}})
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000),
        "attributes": values,
    }


TRACE = "5b8efff798038103d269b633813fc60c"
T0 = 1_767_225_600_000_000_000  # 2026-01-01


# -- OpenTelemetry in: the SDK's exporter to `trail otel serve` ------------------------------------------------------


def test_sdk_spans_sent_to_the_receiver_become_a_session_with_a_linked_subagent(repo: Path, receiver: Receiver) -> None:
    provider, tracer = tracer_for(receiver.url)
    spans = run_agent(tracer)
    provider.shutdown()  # flushes the batch: one OTLP/HTTP request in protobuf
    out = receiver.stop()
    assert "8 spans: 10 steps in 2 sessions, 2 new" in out

    sub = f"conv-1.agent-{hexid(spans['sub'])}"
    assert sorted(sessions(repo)) == ["conv-1", sub]
    assert shape(repo, "conv-1") == [
        ("session_start", "Coder", None),
        ("prompt", "Fix the failing test in app.py"),
        (
            "response",
            "Let me look.",
            "Read the file first.",
            "claude-sonnet-4-5-20250929",
            1200,
            [("call-1", "Read", {"path": "app.py"})],
            80,
        ),
        ("tool_call", "Read", "call-1", {"path": "app.py"}, "print('hello')"),
        ("tool_call", "Task", "c2", None, None),
        ("note", "GET /docs"),
        ("response", "Fixed.", None, "claude-sonnet-4-5", 1500, [], 20),
    ]
    assert shape(repo, sub) == [
        ("session_start", "Researcher", 5),  # linked to the Task call that ran it
        ("prompt", "Find the test"),
        ("response", "tests/test_app.py", None, "gpt-5", 50, [], 5),
    ]
    main, child = steps(repo, "conv-1"), steps(repo, sub)
    assert child[0].event.payload["parent_session"] == "conv-1"
    assert main[4].event.payload["span_id"] == hexid(spans["task"])
    assert child[0].event.payload["parent_span_id"] == hexid(spans["task"])
    # Every step keeps its span's trace, span and parent ids; the time is the span's start.
    by_name = {"root": main[0], "chat1": main[2], "read": main[3], "http": main[5], "chat2": main[6], "sub": child[0]}
    for name, step in by_name.items():
        span = spans[name]
        p = step.event.payload
        assert p["trace_id"] == trace_hex(span)
        assert p["span_id"] == hexid(span)
        assert p.get("parent_span_id") == (format(span.parent.span_id, "016x") if span.parent else None)
        assert step.time.timestamp() == pytest.approx(span.start_time / 1e9, abs=1e-5)
    response = main[2].event.payload
    assert response["usage"] == {"input_tokens": 1200, "output_tokens": 80, "cache_read.input_tokens": 1000}
    assert response["stop_reason"] == "tool_use"
    assert response["provider"] == "anthropic"
    assert response["attributes"] == {"custom.flag": True}
    assert main[1].event.payload["system_instructions"] == "You are a careful coder."
    # The second call's new input is a tool's result, not a prompt: kept with the response, no prompt step.
    assert main[6].event.payload["input_messages"][0]["role"] == "tool"
    assert main[0].event.payload["conversation_id"] == "conv-1"
    assert main[0].event.payload["service"] == "test-agent"
    # The steps carry the repository's code: the commit the session began on.
    head_tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    assert {step.tree for step in main + child} == {head_tree}
    assert git("status", "--porcelain", cwd=repo) == ""


def test_spans_sent_one_at_a_time_append_in_arrival_order_and_a_resend_adds_nothing(
    repo: Path, receiver: Receiver
) -> None:
    provider, tracer = tracer_for(receiver.url, simple=True)  # one request per span, as each span ends
    run_agent(tracer, conversation="one-by-one")
    provider.shutdown()
    recorded = steps(repo, "one-by-one")
    # Children end (and arrive) before their parents: the agent's span comes last, so the session's start is made
    # from the first span that came, and the agent's own span is a note at the end.
    assert [s.kind for s in recorded][:3] == ["session_start", "prompt", "response"]
    assert recorded[-1].kind == "note" and recorded[-1].summary == "invoke_agent Coder"
    assert [s.n for s in recorded] == list(range(1, len(recorded) + 1))

    # The exporter retrying a batch (the same spans again) records nothing new.
    exporter = InMemorySpanExporter()
    again = TracerProvider()
    again.add_span_processor(SimpleSpanProcessor(exporter))
    run_agent(again.get_tracer("t"), conversation="retried")
    finished = exporter.get_finished_spans()
    sender = OTLPSpanExporter(endpoint=receiver.url)
    assert sender.export(finished).name == "SUCCESS"
    tips = {sid: steps(repo, sid)[-1].commit for sid in sessions(repo)}
    assert "retried" in tips
    assert sender.export(finished).name == "SUCCESS"
    assert {sid: steps(repo, sid)[-1].commit for sid in sessions(repo)} == tips
    assert "8 spans: 0 steps in 0 sessions, 8 already recorded" in receiver.stop()


def test_json_posts_gzip_or_not_are_recorded_and_answered_in_json(repo: Path, receiver: Receiver) -> None:
    chat = span_json(
        TRACE,
        "a1a1a1a1a1a1a1a1",
        "chat m",
        T0,
        gen_ai__operation__name="chat",
        gen_ai__request__model="m",
        gen_ai__usage__input_tokens=7,
        gen_ai__input__messages=msgs(("user", [text("hello")])),
        gen_ai__output__messages=msgs(("assistant", [text("hi")])),
    )
    status, kind, body = post(receiver.url, json.dumps(otlp_json(chat)).encode(), "application/json")
    assert (status, kind) == (200, "application/json")
    json_format.Parse(body, ExportTraceServiceResponse())
    tool = span_json(
        TRACE,
        "b2b2b2b2b2b2b2b2",
        "execute_tool Bash",
        T0 + 10**9,
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name="Bash",
    )
    packed = gzip.compress(json.dumps(otlp_json(tool)).encode())
    status, kind, _ = post(receiver.url, packed, "application/json; charset=utf-8", **{"Content-Encoding": "gzip"})
    assert status == 200
    # No conversation id: the session is the trace's.
    assert [(s.kind, s.summary) for s in steps(repo, TRACE)] == [
        ("session_start", "hand session started"),  # the service's name, for want of an agent's
        ("prompt", "hello"),
        ("response", "hi"),
        ("tool_call", "Bash"),
    ]
    assert steps(repo, TRACE)[3].event.payload["span_id"] == "b2b2b2b2b2b2b2b2"
    # A protobuf body is answered in protobuf.
    request = json_format.ParseDict(_base64_ids(otlp_json(chat)), ExportTraceServiceRequest())
    status, kind, body = post(receiver.url, request.SerializeToString(), "application/x-protobuf")
    assert (status, kind) == (200, "application/x-protobuf")
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    assert len(steps(repo, TRACE)) == 4  # that span was recorded already


def _base64_ids(data: dict[str, Any]) -> dict[str, Any]:
    import base64

    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return data


def test_bad_requests_are_refused_with_a_message(repo: Path, receiver: Receiver) -> None:
    url = receiver.url
    status, kind, body = post(url, b"hello", "text/plain")
    assert status == 415 and b"application/x-protobuf" in body
    status, kind, body = post(url, b"\xff\x00garbage", "application/x-protobuf")
    assert status == 400 and kind == "application/x-protobuf"
    assert b"not an OTLP ExportTraceServiceRequest" in body  # a google.rpc.Status: code 3, the message
    status, kind, body = post(url, b"{not json", "application/json")
    assert status == 400 and json.loads(body)["message"].startswith("the body is not JSON")
    status, _, body = post(url, b"[1, 2]", "application/json")
    assert status == 400 and b"resourceSpans" in body
    status, _, body = post(url, b"not gzip", "application/json", **{"Content-Encoding": "gzip"})
    assert status == 400 and b"gzip" in body
    status, _, body = post(url, b"{}", "application/json", **{"Content-Encoding": "br"})
    assert status == 415
    status, _, body = post(url.replace("/v1/traces", "/v1/metrics"), b"{}", "application/json")
    assert status == 404 and b"/v1/traces" in body
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "POST"
    status, _, body = post(url, b"{}", "application/json", Host="evil.example:4318")
    assert status == 421
    status, _, body = post(url, b"{}", "application/json")
    assert status == 200  # an empty request is fine, and records nothing
    assert sessions(repo) == []


def test_parallel_requests_for_one_session_lose_nothing(repo: Path, receiver: Receiver) -> None:
    def send(i: int) -> None:
        spans = [
            span_json(
                TRACE,
                f"{i:04x}{j:012x}",
                "execute_tool Bash",
                T0 + i * 10**6 + j,
                gen_ai__operation__name="execute_tool",
                gen_ai__tool__name="Bash",
                gen_ai__conversation__id="busy",
            )
            for j in range(1, 6)
        ]
        status, _, body = post(receiver.url, json.dumps(otlp_json(*spans)).encode(), "application/json")
        assert status == 200, body

    threads = [threading.Thread(target=send, args=(i,)) for i in range(1, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recorded = steps(repo, "busy")
    assert [s.n for s in recorded] == list(range(1, 62))
    span_ids = [s.event.payload["span_id"] for s in recorded[1:]]
    assert len(set(span_ids)) == 60
    # Requests are recorded whole, one after another; within one, spans are in start order.
    for i in range(1, 13):
        mine = [s for s in span_ids if s.startswith(f"{i:04x}")]
        first = span_ids.index(mine[0])
        assert span_ids[first : first + 5] == mine == sorted(mine)


def test_conversation_ids_that_cannot_be_session_ids_get_a_stable_one(repo: Path, receiver: Receiver) -> None:
    body = otlp_json(
        span_json(
            TRACE, "c3c3c3c3c3c3c3c3", "chat m", T0, gen_ai__operation__name="chat", gen_ai__conversation__id="a b/ü"
        )
    )
    assert post(receiver.url, json.dumps(body).encode(), "application/json")[0] == 200
    [sid] = sessions(repo)
    assert sid.startswith("otel-") and len(sid) == 37
    assert steps(repo, sid)[0].event.payload["conversation_id"] == "a b/ü"
    later = otlp_json(
        span_json(
            TRACE,
            "d4d4d4d4d4d4d4d4",
            "chat m",
            T0 + 5,
            gen_ai__operation__name="chat",
            gen_ai__conversation__id="a b/ü",
        )
    )
    assert post(receiver.url, json.dumps(later).encode(), "application/json")[0] == 200
    assert sessions(repo) == [sid] and len(steps(repo, sid)) == 3


def test_a_session_recorded_by_an_agent_is_never_appended_to(repo: Path) -> None:
    from trail.capture.recorder import Recorder

    with Recorder(repo, session_id="shared-id", agent="claude-code") as rec:
        rec.prompt("hi")
    before = steps(repo, "shared-id")
    path = repo.parent / "spans.json"
    chat = span_json(
        TRACE, "e5e5e5e5e5e5e5e5", "chat m", T0, gen_ai__operation__name="chat", gen_ai__conversation__id="shared-id"
    )
    path.write_text(json.dumps(otlp_json(chat)))
    result = trail("import", "otlp", path, cwd=repo)
    assert result.returncode == 0, result.stderr
    assert [s.commit for s in steps(repo, "shared-id")] == [s.commit for s in before]
    other = [sid for sid in sessions(repo) if sid != "shared-id"]
    assert len(other) == 1 and other[0].startswith("otel-")


def test_other_spans_can_be_skipped_and_what_is_inside_them_is_still_placed(repo: Path) -> None:
    assert trail("config", "otel.otherSpans", "skip", cwd=repo).returncode == 0
    bad = trail("config", "otel.otherSpans", "drop", cwd=repo)
    assert bad.returncode == 1 and "note" in bad.stderr
    spans = [
        span_json(
            TRACE,
            "1111111111111111",
            "invoke_agent A",
            T0,
            gen_ai__operation__name="invoke_agent",
            gen_ai__agent__name="A",
            gen_ai__conversation__id="skipping",
        ),
        span_json(TRACE, "2222222222222222", "POST /api", T0 + 1, parent="1111111111111111"),
        span_json(
            TRACE,
            "3333333333333333",
            "invoke_agent B",
            T0 + 2,
            parent="2222222222222222",
            gen_ai__operation__name="invoke_agent",
            gen_ai__agent__name="B",
        ),
        span_json(TRACE, "4444444444444444", "db query", T0 + 3),  # a root span of the same trace
        span_json("7" * 32, "5555555555555555", "GET /health", T0 + 4),  # a trace with no GenAI span
    ]
    path = repo.parent / "spans.jsonl"
    path.write_text(json.dumps(otlp_json(*spans[:3])) + "\n" + json.dumps(otlp_json(*spans[3:])) + "\n")
    result = trail("import", path, cwd=repo)  # the format is recognised
    assert result.returncode == 0, result.stderr
    assert sorted(sessions(repo)) == ["skipping", "skipping.agent-3333333333333333"]
    assert [s.kind for s in steps(repo, "skipping")] == ["session_start"]
    child = steps(repo, "skipping.agent-3333333333333333")
    assert child[0].event.payload["parent_step"] == 1  # the nearest recorded step above the skipped span
    assert trail("config", "otel.otherSpans", "note", cwd=repo).returncode == 0
    path.write_text(json.dumps(otlp_json(*spans)))
    trail("import", "otlp", path, cwd=repo)
    # Notes now, for the spans of the GenAI trace not recorded yet; the other trace is still nobody's session.
    assert [(s.kind, s.summary) for s in steps(repo, "skipping")][1:] == [("note", "POST /api"), ("note", "db query")]
    assert len(sessions(repo)) == 2


# -- `trail import otlp` --------------------------------------------------------------------------------------------


def saved_run(tmp_path: Path) -> tuple[Path, dict[str, ReadableSpan]]:
    """The SDK's spans written as the collector's file exporter writes them: JSON lines of requests."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "test-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = run_agent(provider.get_tracer("t"), conversation="saved")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    finished = exporter.get_finished_spans()
    lines = []
    for half in (finished[:4], finished[4:]):
        data = json_format.MessageToDict(encode_spans(half))
        for rs in data["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in s:
                            import base64

                            s[key] = base64.b64decode(s[key]).hex()
        lines.append(json.dumps(data))
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, spans


def test_import_otlp_json_lines_once(repo: Path, tmp_path: Path) -> None:
    path, spans = saved_run(tmp_path)
    result = trail("import", "otlp", path, cwd=repo)
    assert result.returncode == 0, result.stderr
    sub = f"saved.agent-{hexid(spans['sub'])}"
    assert "saved, " + sub in result.stdout and "10 steps" in result.stdout
    # The whole file is one batch: the agent's span comes first (by start time), though it was written last.
    assert [s.kind for s in steps(repo, "saved")] == [
        "session_start",
        "prompt",
        "response",
        "tool_call",
        "tool_call",
        "note",
        "response",
    ]
    tips = {sid: steps(repo, sid)[-1].commit for sid in sessions(repo)}
    again = trail("import", path, cwd=repo)
    assert again.returncode == 0 and "already imported (8 spans)" in again.stdout
    assert {sid: steps(repo, sid)[-1].commit for sid in sessions(repo)} == tips


def test_import_refuses_a_file_that_is_not_otlp(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}')
    result = trail("import", "otlp", path, cwd=repo)
    assert result.returncode == 1 and "not an OTLP ExportTraceServiceRequest" in result.stderr
    path.write_text('{"hello": 1}')
    result = trail("import", "otlp", path, cwd=repo)
    assert result.returncode == 1 and "is not OTLP trace data" in result.stderr


def test_without_the_package_the_otel_commands_say_how_to_install_it(repo: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # a package with no proto in it hides the real namespace package
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    for args in (["otel", "serve", "--port", "0"], ["import", "otlp", str(saved_run(tmp_path)[0])]):
        result = subprocess.run([*TRAIL, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 1, result.stderr
        assert "pip install 'trail-recorder[otel]'" in result.stderr


def test_other_commands_never_import_opentelemetry(repo: Path) -> None:
    code = (
        "import sys\nfrom trail.cli import main\n"
        f"main(['-C', {str(repo)!r}, 'sessions'])\nmain(['-C', {str(repo)!r}, 'import', '--help'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'google.protobuf'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


# -- OpenTelemetry out: `trail export --otlp` ----------------------------------------------------------------------


def record_native(repo: Path) -> None:
    """A session as the agent hooks record it (no OpenTelemetry in it), with a subagent started by its Task call."""
    from datetime import UTC, datetime, timedelta

    from trail.capture.writer import StepWriter
    from trail.events import Event

    writer = StepWriter(TrailRepo.discover(repo))
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    model = "claude-sonnet-4-5"
    main = [
        ("session_start", {"source": "startup", "model": model}),
        ("prompt", {"text": "Add a test"}),
        (
            "response",
            {
                "text": "I'll check.",
                "thinking": "Tests first.",
                "model": model,
                "tokens_in": 900,
                "tokens_out": 40,
                "usage": {"input_tokens": 100, "cache_read_input_tokens": 800},
                "stop_reason": "tool_use",
                "tool_uses": [{"id": "tu1", "name": "Task"}],
            },
        ),
        (
            "tool_call",
            {
                "name": "Task",
                "input": {"prompt": "find tests"},
                "output": "found",
                "tool_use_id": "tu1",
                "duration_ms": 1500,
            },
        ),
        ("response", {"text": "Done.", "model": model, "tokens_in": 1000, "tokens_out": 5, "stop_reason": "end_turn"}),
        ("session_end", {"reason": "exit"}),
    ]
    child = [
        ("session_start", {"parent_session": "native-1", "parent_step": 4, "agent_type": "Explore"}),
        ("prompt", {"text": "find tests"}),
        ("response", {"text": "tests/", "model": "claude-haiku-4-5", "tokens_in": 10, "tokens_out": 2}),
    ]
    for sid, events, start in (("native-1", main, 0), ("native-1.agent-a1", child, 3)):
        for i, (kind, payload) in enumerate(events):
            when = t0 + timedelta(seconds=start + i * 0.25 if sid != "native-1" else (i if i < 4 else i + 2))
            event = Event(kind=kind, payload=payload, session_id=sid, time=when, agent="claude-code")
            with writer.session_lock(sid):
                writer.write(event, None)


def read_back(text: str) -> ExportTraceServiceRequest:
    """OTLP JSON read as a receiver reads it: hex ids to protobuf's base64, then json_format.Parse."""
    import base64

    data = json.loads(text)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        assert len(span[key]) in (32, 16) and int(span[key], 16)
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.Parse(json.dumps(data), ExportTraceServiceRequest())


def attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which)
        out[kv.key] = list(v.string_value for v in value.values) if which == "array_value" else value
    return out


def test_export_writes_genai_spans_with_the_conventions_names_ids_and_parents(repo: Path, tmp_path: Path) -> None:
    import hashlib

    from trail.traceids import step_span_id

    record_native(repo)
    out = tmp_path / "spans.json"
    result = trail("export", "native-1", "--otlp", out, "--content", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "Wrote" in result.stdout and "6 spans" in result.stdout
    request = read_back(out.read_text())
    [rs] = request.resource_spans
    assert attrs(rs.resource)["service.name"] == "claude-code"
    spans = list(rs.scope_spans[0].spans)
    assert [s.name for s in spans] == [
        "invoke_agent claude-code",
        "chat claude-sonnet-4-5",
        "execute_tool Task",
        "chat claude-sonnet-4-5",
        "invoke_agent Explore",
        "chat claude-haiku-4-5",
    ]
    trace = hashlib.sha256(b"trail-trace\0native-1").hexdigest()[:32]
    assert {s.trace_id.hex() for s in spans} == {trace}
    ids = [s.span_id.hex() for s in spans]
    assert ids == [
        step_span_id("native-1", 1),
        step_span_id("native-1", 3),
        step_span_id("native-1", 4),
        step_span_id("native-1", 5),
        step_span_id("native-1.agent-a1", 1),
        step_span_id("native-1.agent-a1", 3),
    ]
    parents = [s.parent_span_id.hex() for s in spans]
    assert parents == ["", ids[0], ids[0], ids[0], ids[2], ids[4]]  # the subagent under the Task call
    root, chat, tool, chat2, sub, subchat = spans
    assert attrs(root) | {} == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "claude-code",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.conversation.id": "native-1",
        "trail.session.id": "native-1",
        "trail.step": 1,
    }
    assert [e.name for e in root.events] == ["trail.prompt", "trail.session_end"]
    assert root.end_time_unix_nano >= tool.end_time_unix_nano
    a = attrs(chat)
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "anthropic"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (900, 40)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 800
    assert a["gen_ai.response.finish_reasons"] == ["tool_use"]
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [text("Add a test")]}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Tests first."},
                text("I'll check."),
                {"type": "tool_call", "id": "tu1", "name": "Task"},
            ],
            "finish_reason": "tool_use",
        }
    ]
    assert chat.kind == 3  # CLIENT
    t = attrs(tool)
    assert (t["gen_ai.tool.name"], t["gen_ai.tool.call.id"]) == ("Task", "tu1")
    assert json.loads(t["gen_ai.tool.call.arguments"]) == {"prompt": "find tests"}
    assert t["gen_ai.tool.call.result"] == "found"
    assert tool.end_time_unix_nano - tool.start_time_unix_nano == 1_500_000_000
    assert attrs(sub)["gen_ai.conversation.id"] == "native-1.agent-a1"
    assert attrs(subchat)["gen_ai.conversation.id"] == "native-1.agent-a1"
    assert "gen_ai.input.messages" not in attrs(chat2)  # no prompt since the last answer

    # Without --content, no message content at all.
    bare = read_back(trail("export", "native-1", "--otlp", cwd=repo).stdout)
    names = {kv.key for s in bare.resource_spans[0].scope_spans[0].spans for kv in s.attributes}
    assert names.isdisjoint(
        {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}
    )
    assert "gen_ai.usage.input_tokens" in names


def test_export_to_an_endpoint_that_is_not_there_says_so(repo: Path) -> None:
    record_native(repo)
    result = trail("export", "native-1", "--otlp", "--endpoint", "http://127.0.0.1:9/v1/traces", cwd=repo)
    assert result.returncode == 1
    assert "could not send the spans to http://127.0.0.1:9/v1/traces" in result.stderr


def equivalent(repo: Path, session: str) -> list[tuple[Any, ...]]:
    """A session's conversation: what survives export and import (other kinds travel as span events)."""
    return [step for step in shape(repo, session) if step[0] in ("prompt", "response", "tool_call")]


def test_round_trip_through_import_and_through_the_receiver(repo: Path, tmp_path: Path) -> None:
    record_native(repo)
    out = tmp_path / "spans.json"
    assert trail("export", "native-1", "--otlp", out, "--content", cwd=repo).returncode == 0

    def fresh(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        git("init", "-q", cwd=path)
        git("commit", "-q", "--allow-empty", "-m", "init", cwd=path)
        return path

    imported = fresh("imported")
    result = trail("import", "otlp", out, cwd=imported)
    assert result.returncode == 0, result.stderr
    served = fresh("served")
    server = Receiver(served)
    try:
        sent = trail("export", "native-1", "--otlp", "--endpoint", server.url, "--content", cwd=repo)
        assert sent.returncode == 0 and "Sent 6 spans" in sent.stdout, sent.stderr
    finally:
        server.stop()
    for other in (imported, served):
        assert sorted(sessions(other)) == ["native-1", "native-1.agent-a1"]
        for sid in ("native-1", "native-1.agent-a1"):
            assert equivalent(other, sid) == equivalent(repo, sid)
        child = steps(other, "native-1.agent-a1")[0]
        assert (child.event.payload["parent_session"], child.event.payload["parent_step"]) == ("native-1", 4)
        assert child.agent == "Explore"
        # Exported again, the recorded session gives the same trace and span ids: an import adds nothing.
        again = tmp_path / f"again-{other.name}.json"
        assert trail("export", "native-1", "--otlp", again, "--content", cwd=other).returncode == 0
        first, second = read_back(out.read_text()), read_back(again.read_text())
        ids = [(s.trace_id, s.span_id, s.parent_span_id) for s in first.resource_spans[0].scope_spans[0].spans]
        assert [(s.trace_id, s.span_id, s.parent_span_id) for s in second.resource_spans[0].scope_spans[0].spans] == ids
        assert "already imported" in trail("import", "otlp", again, cwd=other).stdout

"""OTLP traces read as plain spans, and a GenAI span's attributes read as the fields of trail's events.

Requests are decoded with the opentelemetry-proto classes (protobuf, or OTLP JSON, whose trace and span ids are hex
where protobuf's JSON mapping has base64). That package is optional (`pip install 'trail-recorder[otel]'`):
`proto()` imports it when OTLP is read or written, never on the start-up path of other commands.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from trail.errors import TrailError

INSTALL_HINT = "pip install 'trail-recorder[otel]'"
AGENT = "otel"  # the agent of a session whose spans name none

# gen_ai.operation.name values, by what trail makes of them.
CHAT_OPERATIONS = frozenset(("chat", "generate_content", "text_completion"))
TOOL_OPERATION = "execute_tool"
AGENT_OPERATION = "invoke_agent"
OPERATIONS = CHAT_OPERATIONS | {
    TOOL_OPERATION,
    AGENT_OPERATION,
    "create_agent",
    "invoke_workflow",
    "embeddings",
    "retrieval",
}
# Attributes read into an event's own fields; every other attribute is kept in the payload's `attributes`.
MAPPED = frozenset(
    (
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.response.finish_reasons",
        "gen_ai.conversation.id",
        "gen_ai.agent.name",
        "gen_ai.agent.id",
        "gen_ai.agent.description",
        "gen_ai.agent.version",
        "gen_ai.tool.name",
        "gen_ai.tool.call.id",
        "gen_ai.tool.type",
        "gen_ai.tool.description",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "error.type",
    )
)
_USAGE_PREFIX = "gen_ai.usage."
_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OtlpError(TrailError):
    """A request or file that is not OTLP trace data trail can read; the message says what is wrong."""


@functools.cache
def proto() -> SimpleNamespace:
    """The opentelemetry-proto classes trail uses; a TrailError saying how to install them when they are missing."""
    try:
        from google.protobuf import json_format
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2
        from opentelemetry.proto.trace.v1 import trace_pb2
    except ImportError as e:
        raise TrailError(
            f"OpenTelemetry support needs the opentelemetry-proto package ({e.name or e} is missing): {INSTALL_HINT}"
        ) from None
    return SimpleNamespace(
        Request=trace_service_pb2.ExportTraceServiceRequest,
        Response=trace_service_pb2.ExportTraceServiceResponse,
        trace=trace_pb2,
        common=common_pb2,
        resource=resource_pb2,
        json_format=json_format,
        DecodeError=DecodeError,
    )


@dataclass
class OtelSpan:
    """One span, its ids as lowercase hex and its attributes as Python values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    kind: str = "internal"
    status: str = "unset"
    status_message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    @property
    def operation(self) -> str | None:
        """The GenAI operation (gen_ai.operation.name; else the first word of the name of a span with gen_ai.*
        attributes, as instrumentations written before the attribute name them), or None: not a GenAI span."""
        op = self.attributes.get("gen_ai.operation.name")
        if isinstance(op, str) and op:
            return op
        word = self.name.split(" ", 1)[0]
        if word in OPERATIONS and any(key.startswith("gen_ai.") for key in self.attributes):
            return word
        return None

    @property
    def start(self) -> datetime:
        return time_of(self.start_ns)

    @property
    def duration_ms(self) -> float | int | None:
        if self.end_ns < self.start_ns or not self.end_ns:
            return None
        ms = round((self.end_ns - self.start_ns) / 1e6, 3)
        return int(ms) if ms == int(ms) else ms

    def text(self, key: str) -> str | None:
        value = self.attributes.get(key)
        return value if isinstance(value, str) and value else None


def time_of(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def unix_nanos(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# -- decoding ----------------------------------------------------------------------------------------------------


def parse_protobuf(body: bytes) -> Any:
    p = proto()
    try:
        return p.Request.FromString(body)
    except (p.DecodeError, ValueError) as e:
        raise OtlpError(f"the body is not an OTLP ExportTraceServiceRequest in protobuf ({e})") from None


def parse_json(body: bytes | str) -> Any:
    """An ExportTraceServiceRequest from OTLP JSON (hex ids; unknown fields ignored, as OTLP asks of receivers)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise OtlpError(f"the body is not JSON ({e})") from None
    return request_from_dict(data)


def request_from_dict(data: Any) -> Any:
    p = proto()
    if not isinstance(data, dict):
        raise OtlpError("OTLP JSON must be an object with resourceSpans")
    _ids_to_base64(data)
    request = p.Request()
    try:
        p.json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (p.json_format.ParseError, ValueError, TypeError) as e:
        raise OtlpError(f"not an OTLP ExportTraceServiceRequest ({e})") from None
    return request


def _ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP JSON writes ids as hex; protobuf's JSON mapping (json_format) reads bytes as base64. A hex id has 32 or
    16 digits, lengths a base64 id of the right size never has, so ids already in base64 are left alone."""
    for resource_spans in _items(data, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _fix(span, _HEX32, "traceId", "trace_id")
                _fix(span, _HEX16, "spanId", "span_id", "parentSpanId", "parent_span_id")
                for link in _items(span, "links"):
                    _fix(link, _HEX32, "traceId", "trace_id")
                    _fix(link, _HEX16, "spanId", "span_id")


def _items(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _fix(obj: Any, pattern: re.Pattern[str], *keys: str) -> None:
    if not isinstance(obj, dict):
        return
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and pattern.fullmatch(value):
            obj[key] = base64.b64encode(bytes.fromhex(value)).decode()


def spans_of(request: Any) -> list[OtelSpan]:
    """The spans of an ExportTraceServiceRequest, in the order they came. Spans without a valid trace or span id
    (all zero, or not 16 and 8 bytes) are left out: OTLP says they are invalid."""
    out = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for s in scope_spans.spans:
                trace_id, span_id = s.trace_id.hex(), s.span_id.hex()
                if len(trace_id) != 32 or len(span_id) != 16 or not int(trace_id, 16) or not int(span_id, 16):
                    continue
                parent = s.parent_span_id.hex()
                out.append(
                    OtelSpan(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=parent if len(parent) == 16 and int(parent, 16) else None,
                        name=s.name,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes=attributes(s.attributes),
                        kind=_KINDS[s.kind] if 0 <= s.kind < len(_KINDS) else str(s.kind),
                        status=_STATUS[s.status.code] if 0 <= s.status.code < len(_STATUS) else str(s.status.code),
                        status_message=s.status.message,
                        events=[
                            {"name": e.name, "time": time_of(e.time_unix_nano).isoformat(), **_attrs(e.attributes)}
                            for e in s.events
                        ],
                        links=[
                            {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(), **_attrs(link.attributes)}
                            for link in s.links
                        ],
                        resource=resource,
                        scope=scope,
                    )
                )
    return out


def _attrs(kvs: Any) -> dict[str, Any]:
    found = attributes(kvs)
    return {"attributes": found} if found else {}


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def any_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


# -- GenAI attributes into event fields ---------------------------------------------------------------------------


def structured(value: Any) -> Any:
    """A content attribute's value: JSON text (as the SDKs set gen_ai.input.messages) parsed, anything else as is."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


def messages(value: Any) -> list[dict[str, Any]]:
    found = structured(value)
    if isinstance(found, dict):
        found = [found]
    return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []


def part_texts(message: dict[str, Any], kind: str = "text") -> list[str]:
    """The text of a message's parts of one type (`content` in the conventions' schema; older ones: a plain
    `content` string on the message)."""
    parts = message.get("parts")
    if not isinstance(parts, list):
        content = message.get("content")
        return [content] if kind == "text" and isinstance(content, str) and content else []
    out = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == kind:
            text = part.get("content")
            if isinstance(text, str) and text:
                out.append(text)
    return out


def new_input(input_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages of a model call that are new since the model last spoke: those after the last assistant
    message (all of them on the first call). Earlier ones were recorded with the calls that made them."""
    for i in range(len(input_messages) - 1, -1, -1):
        if input_messages[i].get("role") == "assistant":
            return input_messages[i + 1 :]
    return input_messages


def prompt_text(trailing: list[dict[str, Any]]) -> str:
    return "\n\n".join(t for m in trailing if m.get("role") == "user" for t in part_texts(m))


def system_instructions(span: OtelSpan) -> Any:
    value = structured(span.attributes.get("gen_ai.system_instructions"))
    if isinstance(value, list):
        texts = [p.get("content") for p in value if isinstance(p, dict) and p.get("type", "text") == "text"]
        if texts and all(isinstance(t, str) for t in texts) and len(texts) == len(value):
            return "\n\n".join(str(t) for t in texts)
    return value


def common_fields(span: OtelSpan) -> dict[str, Any]:
    """What every step taken from a span keeps: its ids, name, timing and status, and attributes trail has no
    field for."""
    payload: dict[str, Any] = {
        "source": "otel",
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "span_name": span.name,
        "span_kind": span.kind if span.kind not in ("internal", "unspecified") else None,
        "duration_ms": span.duration_ms,
    }
    if span.status != "unset":
        payload["status"] = {"code": span.status, "message": span.status_message or None}
    rest = {k: v for k, v in span.attributes.items() if k not in MAPPED and not k.startswith(_USAGE_PREFIX)}
    if rest:
        payload["attributes"] = rest
    if span.events:
        payload["events"] = span.events
    if span.links:
        payload["links"] = span.links
    return payload


def provider(span: OtelSpan) -> str | None:
    return span.text("gen_ai.provider.name") or span.text("gen_ai.system")


def agent_fields(span: OtelSpan) -> dict[str, Any]:
    a = span.attributes
    return {
        "agent_name": span.text("gen_ai.agent.name"),
        "agent_id": span.text("gen_ai.agent.id"),
        "agent_description": span.text("gen_ai.agent.description"),
        "agent_version": span.text("gen_ai.agent.version"),
        "model": span.text("gen_ai.request.model") or span.text("gen_ai.response.model"),
        "provider": provider(span),
        "conversation_id": a.get("gen_ai.conversation.id"),
    }


def chat_fields(span: OtelSpan) -> dict[str, Any]:
    """A model call's answer as a response step's fields: text, thinking, tool calls, model, tokens, stop reason."""
    a = span.attributes
    output = messages(a.get("gen_ai.output.messages"))
    text = "\n\n".join(t for m in output for t in part_texts(m))
    thinking = "\n\n".join(t for m in output for t in part_texts(m, "reasoning"))
    tool_uses = [
        {"id": p.get("id"), "name": p.get("name"), "input": structured(p.get("arguments"))}
        for m in output
        for p in m.get("parts") or []
        if isinstance(p, dict) and p.get("type") == "tool_call"
    ]
    usage = {k[len(_USAGE_PREFIX) :]: v for k, v in a.items() if k.startswith(_USAGE_PREFIX)}
    tokens_in = _int(a.get("gen_ai.usage.input_tokens", a.get("gen_ai.usage.prompt_tokens")))
    tokens_out = _int(a.get("gen_ai.usage.output_tokens", a.get("gen_ai.usage.completion_tokens")))
    reasons = a.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, str):
        reasons = [reasons]
    if not reasons:
        reasons = [m["finish_reason"] for m in output if isinstance(m.get("finish_reason"), str)]
    request_model = span.text("gen_ai.request.model")
    model = span.text("gen_ai.response.model") or request_model
    return {
        "text": text or None,
        "thinking": thinking or None,
        "tool_uses": tool_uses or None,
        "model": model,
        "request_model": request_model if request_model != model else None,
        "provider": provider(span),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "usage": usage or None,
        "stop_reason": reasons[0] if isinstance(reasons, list) and reasons and isinstance(reasons[0], str) else None,
        "finish_reasons": reasons if isinstance(reasons, list) and len(reasons) > 1 else None,
        "response_id": span.text("gen_ai.response.id"),
        "error": (span.status_message or span.text("error.type") or "failed") if span.status == "error" else None,
    }


def tool_fields(span: OtelSpan) -> dict[str, Any]:
    a = span.attributes
    failed = span.status == "error" or "error.type" in a
    return {
        "name": span.text("gen_ai.tool.name") or span.name.removeprefix("execute_tool ").strip() or "tool",
        "tool_use_id": span.text("gen_ai.tool.call.id"),
        "input": structured(a.get("gen_ai.tool.call.arguments")),
        "output": a.get("gen_ai.tool.call.result"),
        "error": (span.status_message or span.text("error.type") or "failed") if failed else None,
        "error_type": span.text("error.type"),
        "tool_type": span.text("gen_ai.tool.type"),
        "tool_description": span.text("gen_ai.tool.description"),
    }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def compact(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}

"""A recorded session as OpenTelemetry GenAI spans (`trail export SESSION --otlp`): an OTLP ExportTraceServiceRequest
to write as OTLP JSON or to post as protobuf to a collector.

The session is an `invoke_agent {agent}` span; each response a `chat {model}` span, each tool call an
`execute_tool {name}` span under it; a subagent session a nested `invoke_agent` span under the span of the step that
started it; steps of other kinds are events of the session's span. Trace id: the one the session recorded (its
session_start's `trace_id`), else one derived from the session id; span ids are the steps' (traceids.span_of), so an
export imported again is recognised span by span. Message content (prompts, answers, tool arguments and results,
error texts, attributes kept from other instrumentations) is written only when asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from trail import __version__
from trail import events as ev
from trail.adapters.otel import proto, unix_nanos
from trail.errors import TrailError
from trail.store.steps import Step, Store
from trail.traceids import span_of

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_KIND = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("codex", "openai"),
    ("gemini", "gcp.gemini"),
)


def session_trace_id(session_id: str, start: dict[str, Any]) -> str:
    """The trace a session's spans belong to: the one its start recorded, else one derived from its id."""
    given = start.get("trace_id")
    if isinstance(given, str) and _HEX32.fullmatch(given) and given != "0" * 32:
        return given
    digest = hashlib.sha256(f"trail-trace\0{session_id}".encode()).hexdigest()[:32]
    return digest if digest != "0" * 32 else "0" * 31 + "1"


@dataclass
class _Span:
    span_id: str
    parent: str | None
    name: str
    kind: int
    start: int
    end: int
    attributes: dict[str, Any]
    error: str | None = None
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


class _SessionExport:
    """The spans of one session and, nested, of its subagents."""

    def __init__(self, store: Store, trace_id: str, content: bool) -> None:
        self.store = store
        self.trace_id = trace_id
        self.content = content
        self.spans: list[_Span] = []
        self._started: dict[str, list[tuple[str, int | None]]] | None = None

    def started_by(self, session_id: str) -> list[tuple[str, int | None]]:
        """The sessions `session_id` started, with the step that started each: its subagents, and the sessions of
        processes it started (their description names it as parent). Read from the session list once."""
        if self._started is None:
            self._started = {}
            for info in self.store.scan()[0]:
                if info.parent is not None:
                    self._started.setdefault(info.parent[0], []).append((info.id, info.parent[1]))
        return sorted(self._started.get(session_id, []))

    def add(self, session_id: str, parent: str | None) -> _Span:
        steps = self.store.steps(session_id, full=True)
        first = steps[0]
        start = first.event.payload if first.kind == ev.SESSION_START else {}
        ids = {step.n: span_of(session_id, step.n, step.event.payload) for step in steps}
        conversation = start.get("conversation_id") if isinstance(start.get("conversation_id"), str) else session_id
        recorded_parent = start.get("parent_span_id")
        if parent is None and isinstance(recorded_parent, str) and _HEX16.fullmatch(recorded_parent):
            parent = recorded_parent
        agent_name = start.get("agent_name") or start.get("agent_type") or first.agent or "agent"
        model = start.get("model") or first.session.get("model") or steps[-1].session.get("model")
        root = _Span(
            ids[first.n],
            parent,
            f"invoke_agent {agent_name}",
            _KIND.get(str(start.get("span_kind")), 1),
            unix_nanos(first.time),
            unix_nanos(first.time),
            _clean(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": agent_name,
                    "gen_ai.agent.id": start.get("agent_id"),
                    "gen_ai.agent.description": start.get("agent_description"),
                    "gen_ai.agent.version": start.get("agent_version"),
                    "gen_ai.provider.name": start.get("provider") or _provider(model, first.agent),
                    "gen_ai.request.model": model,
                    "gen_ai.conversation.id": conversation,
                    "trail.session.id": session_id,
                    "trail.step": first.n,
                    **self._kept(start),
                }
            ),
        )
        self.spans.append(root)
        own = set(ids.values())
        prompts: list[Step] = []
        tools: dict[int, _Span] = {}
        for step in steps[1:] if first.kind == ev.SESSION_START else steps:
            payload = step.event.payload
            recorded = payload.get("parent_span_id")
            span_parent = recorded if isinstance(recorded, str) and recorded in own else root.span_id
            time = unix_nanos(step.time)
            end = time + int(float(payload.get("duration_ms") or 0) * 1e6)
            common = {"gen_ai.conversation.id": conversation, "trail.session.id": session_id, "trail.step": step.n}
            if step.kind == ev.PROMPT:
                prompts.append(step)
                self._event(root, step)
            elif step.kind == ev.RESPONSE:
                span = self._chat(step, prompts, span_parent, ids[step.n], time, end, common, first.agent)
                prompts = []
                self.spans.append(span)
            elif step.kind == ev.TOOL_CALL:
                span = self._tool(step, span_parent, ids[step.n], time, end, common)
                tools[step.n] = span
                self.spans.append(span)
            elif (
                step.kind == ev.TOOL_RESULT
                and isinstance(payload.get("completes_step"), int)
                and (payload["completes_step"] in tools)
            ):
                self._complete(tools[payload["completes_step"]], step, time)
            else:
                self._event(root, step)
            root.end = max(root.end, end)
        for child, parent_step in self.started_by(session_id):
            child_parent = ids.get(parent_step, root.span_id) if isinstance(parent_step, int) else root.span_id
            child_span = self.add(child, child_parent)
            root.end = max(root.end, child_span.end)
        return root

    def _chat(
        self,
        step: Step,
        prompts: list[Step],
        parent: str,
        span_id: str,
        start: int,
        end: int,
        common: dict[str, Any],
        agent: str | None,
    ) -> _Span:
        p = step.event.payload
        model = p.get("model") if isinstance(p.get("model"), str) else None
        usage: dict[str, Any] = p["usage"] if isinstance(p.get("usage"), dict) else {}
        reasons = p.get("finish_reasons") or ([p["stop_reason"]] if isinstance(p.get("stop_reason"), str) else None)
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": p.get("provider") or _provider(model, agent),
            "gen_ai.request.model": p.get("request_model") or model,
            "gen_ai.response.model": model,
            "gen_ai.response.id": p.get("response_id"),
            "gen_ai.response.finish_reasons": reasons,
            "gen_ai.usage.input_tokens": p.get("tokens_in"),
            "gen_ai.usage.output_tokens": p.get("tokens_out"),
            "gen_ai.usage.cache_read.input_tokens": usage.get("cache_read.input_tokens")
            or usage.get("cache_read_input_tokens"),
            "gen_ai.usage.cache_creation.input_tokens": usage.get("cache_creation.input_tokens")
            or usage.get("cache_creation_input_tokens"),
            "gen_ai.usage.reasoning.output_tokens": usage.get("reasoning.output_tokens"),
            **common,
        }
        if self.content:
            attributes.update(self._messages(p, prompts))
            attributes.update(self._kept(p))
        error = p.get("error")
        return _Span(
            span_id,
            parent,
            f"chat {model}" if model else "chat",
            _KIND.get(str(p.get("span_kind")), 3),
            start,
            end,
            _clean(attributes),
            error=None if not error else (str(error) if self.content else "the model call failed"),
        )

    def _messages(self, p: dict[str, Any], prompts: list[Step]) -> dict[str, Any]:
        """gen_ai.input.messages (the prompts since the last answer, or what the call got, as recorded),
        gen_ai.output.messages and gen_ai.system_instructions, as JSON text in the conventions' schema."""
        out: dict[str, Any] = {}
        given = p.get("input_messages")
        if isinstance(given, list):
            inputs = given
        else:
            inputs = [
                {"role": "user", "parts": [{"type": "text", "content": s.event.payload["text"]}]}
                for s in prompts
                if isinstance(s.event.payload.get("text"), str)
            ]
        if inputs:
            out["gen_ai.input.messages"] = _json(inputs)
        parts: list[dict[str, Any]] = []
        if isinstance(p.get("thinking"), str) and p["thinking"]:
            parts.append({"type": "reasoning", "content": p["thinking"]})
        if isinstance(p.get("text"), str) and p["text"]:
            parts.append({"type": "text", "content": p["text"]})
        for use in p.get("tool_uses") or []:
            if isinstance(use, dict):
                call = {"type": "tool_call", "id": use.get("id"), "name": use.get("name")}
                if use.get("input") is not None:
                    call["arguments"] = use["input"]
                parts.append(call)
        if parts:
            reason = p.get("stop_reason") if isinstance(p.get("stop_reason"), str) else "stop"
            out["gen_ai.output.messages"] = _json([{"role": "assistant", "parts": parts, "finish_reason": reason}])
        system = p.get("system_instructions")
        for s in prompts:
            system = s.event.payload.get("system_instructions") or system
        if system:
            out["gen_ai.system_instructions"] = _json(
                [{"type": "text", "content": system}] if isinstance(system, str) else system
            )
        return out

    def _tool(self, step: Step, parent: str, span_id: str, start: int, end: int, common: dict[str, Any]) -> _Span:
        p = step.event.payload
        name = str(p.get("name") or "tool")
        error = p.get("error")
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": p.get("tool_use_id"),
            "gen_ai.tool.type": p.get("tool_type"),
            "gen_ai.tool.description": p.get("tool_description"),
            "error.type": (p.get("error_type") or "_OTHER") if error not in (None, "", False) else None,
            **common,
        }
        if self.content:
            if p.get("input") is not None:
                attributes["gen_ai.tool.call.arguments"] = _text(p["input"])
            if p.get("output") is not None:
                attributes["gen_ai.tool.call.result"] = _text(p["output"])
            attributes.update(self._kept(p))
        span = _Span(
            span_id,
            parent,
            f"execute_tool {name}",
            _KIND.get(str(p.get("span_kind")), 1),
            start,
            end,
            _clean(attributes),
        )
        if error not in (None, "", False):
            span.error = _text(error) if self.content else "the tool call failed"
        return span

    def _complete(self, span: _Span, step: Step, time: int) -> None:
        """A result recorded after its call (a tool_result step) completes the call's span."""
        p = step.event.payload
        span.end = max(span.end, time)
        if p.get("error") not in (None, "", False):
            span.error = _text(p["error"]) if self.content else "the tool call failed"
            span.attributes.setdefault("error.type", "_OTHER")
        elif self.content and p.get("output") is not None:
            span.attributes["gen_ai.tool.call.result"] = _text(p["output"])

    def _event(self, root: _Span, step: Step) -> None:
        attributes: dict[str, Any] = {"trail.step": step.n, "trail.kind": step.kind}
        if self.content:
            attributes["trail.summary"] = step.summary
        root.events.append((f"trail.{step.kind}", unix_nanos(step.time), attributes))

    def _kept(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Attributes an instrumentation sent that trail had no field for (kept at import): with content only, since
        trail cannot tell which of them hold content."""
        kept = payload.get("attributes")
        if not self.content or not isinstance(kept, dict):
            return {}
        return {k: v for k, v in kept.items() if isinstance(k, str) and not k.startswith(("gen_ai.", "trail."))}


def build_request(store: Store, session_ids: list[str], content: bool = False) -> Any:
    """An ExportTraceServiceRequest of the sessions (each with its subagents; one trace each)."""
    p = proto()
    request = p.Request()
    for session_id in session_ids:
        first = store.step_at(session_id, 1)
        start = first.event.payload if first.kind == ev.SESSION_START else {}
        export = _SessionExport(store, session_trace_id(session_id, start), content)
        export.add(session_id, None)
        resource_spans = request.resource_spans.add()
        service = start.get("service") or first.agent or "trail"
        _set_attributes(resource_spans.resource.attributes, {"service.name": service})
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "trail"
        scope_spans.scope.version = __version__
        for span in export.spans:
            _write_span(scope_spans.spans.add(), export.trace_id, span, p)
    return request


def _write_span(out: Any, trace_id: str, span: _Span, p: Any) -> None:
    out.trace_id = bytes.fromhex(trace_id)
    out.span_id = bytes.fromhex(span.span_id)
    if span.parent:
        out.parent_span_id = bytes.fromhex(span.parent)
    out.name = span.name
    out.kind = span.kind
    out.start_time_unix_nano = span.start
    out.end_time_unix_nano = max(span.end, span.start)
    _set_attributes(out.attributes, span.attributes)
    for name, time, attributes in span.events:
        event = out.events.add()
        event.name = name
        event.time_unix_nano = time
        _set_attributes(event.attributes, attributes)
    if span.error is not None:
        out.status.code = p.trace.Status.STATUS_CODE_ERROR
        out.status.message = span.error


def _set_attributes(out: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        kv = out.add()
        kv.key = key
        _set_value(kv.value, value)


def _set_value(out: Any, value: Any) -> None:
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int) and -(2**63) <= value < 2**63:
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, (list, tuple)):
        out.array_value.SetInParent()
        for item in value:
            _set_value(out.array_value.values.add(), item)
    elif isinstance(value, dict):
        out.kvlist_value.SetInParent()
        _set_attributes(out.kvlist_value.values, {str(k): v for k, v in value.items()})
    elif value is not None:
        out.string_value = str(value)


def to_otlp_json(request: Any) -> str:
    """OTLP JSON: protobuf's JSON mapping with enums as numbers and trace and span ids in hex (as OTLP asks)."""
    import base64

    p = proto()
    data = p.json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data, ensure_ascii=False)


def post(request: Any, url: str, timeout: float = 30.0) -> str:
    """Send the spans to an OTLP/HTTP endpoint as protobuf; what it answered (partial success), or TrailError."""
    import urllib.error
    import urllib.request

    p = proto()
    body = request.SerializeToString()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as e:
        detail = e.read(4096).decode("utf-8", "replace").strip()
        raise TrailError(
            f"{url} refused the spans: HTTP {e.code} {e.reason}{': ' + detail if detail else ''}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise TrailError(f"could not send the spans to {url}: {reason}") from None
    try:
        partial = p.Response.FromString(answer).partial_success
    except (p.DecodeError, ValueError):
        return ""
    if partial.rejected_spans or partial.error_message:
        return f"{partial.rejected_spans} spans rejected: {partial.error_message}".strip()
    return ""


def span_count(request: Any) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _provider(model: Any, agent: str | None) -> str | None:
    for name in (model, agent):
        if isinstance(name, str):
            low = name.lower()
            for prefix, provider in _PROVIDERS:
                if low.startswith(prefix):
                    return provider
    return None


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None and v != [] and v != ""}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)

"""A local stand-in for the OpenAI and Anthropic HTTP APIs, answering in their real wire formats (JSON and SSE).

The real `openai` and `anthropic` clients talk to it through `base_url`. What it answers depends on the request:

- a model name with `error-<status>` in it gets that HTTP status and the provider's error body;
- a request that offers tools and carries no tool result gets a call of its first tool with {"city": "Paris"};
- anything else gets the text "echo: <the last user text>";
- `"stream": true` gets the same answer as server-sent events, cut into pieces; with `midstream-error` in the
  model name, the stream breaks off with the provider's error event after the first pieces.

Token usage is fixed (OpenAI: 11 in; Anthropic: 11 in + 2 cache writes + 5 cache reads) and one per output word.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_INPUT = {"city": "Paris"}
CREATED = 1767225600


class StubLLM:
    """The server, on 127.0.0.1 at a free port, serving from a thread until `close()` (or the `with` block ends)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # every request body, in order, with its path under "_path"
        stub = self

        class Handler(_Handler):
            owner = stub

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StubLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client that hung up mid-stream: tests of streams closed early do that on purpose."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: StubLLM
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs; streams are sent chunked
    disable_nagle_algorithm = True  # else headers and body wait on the client's delayed ACK: 40 ms a call

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.owner.requests.append({**body, "_path": self.path})
        anthropic = self.path.endswith("/messages")
        error = re.search(r"error-(\d{3})", str(body.get("model")))
        if error:
            self.send_json(int(error.group(1)), _error_body(anthropic, int(error.group(1))))
            return
        answer = _answer(self.path, body)
        if self.path.endswith("/chat/completions"):
            events: Iterator[tuple[str | None, Any]] = chat_events(body, *answer)
            whole: Any = chat_completion(body, *answer)
        elif self.path.endswith("/responses"):
            events, whole = responses_events(body, *answer), response(body, *answer)
        elif anthropic:
            events, whole = messages_events(body, *answer), message(body, *answer)
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if body.get("stream"):
            self.send_events(events, "midstream-error" in str(body.get("model")), anthropic)
        else:
            self.send_json(200, whole)

    def send_json(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-request-id" if "chat" in self.path or "responses" in self.path else "request-id", "req_1")
        self.end_headers()
        self.wfile.write(raw)

    def send_events(self, events: Iterator[tuple[str | None, Any]], break_off: bool, anthropic: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, (name, data) in enumerate(events):
            if break_off and n == 4:
                error = _error_body(anthropic, 529)
                name, data = ("error", error) if anthropic else (None, error)
            text = (f"event: {name}\n" if name else "") + f"data: {json.dumps(data) if data != '[DONE]' else data}\n\n"
            self.write_chunk(text.encode())
            if break_off and n == 4:
                break
        self.write_chunk(b"")

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _error_body(anthropic: bool, status: int) -> dict[str, Any]:
    if anthropic:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"stub says {status}"}}
    return {"error": {"message": f"stub says {status}", "type": "requests", "param": None, "code": str(status)}}


def _answer(path: str, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(text, tool call or None) for this request."""
    tools = body.get("tools") or []
    if tools and not _has_tool_result(path, body):
        tool = tools[0]
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        return "", {"id": "call_stub_1" if "messages" not in path else "toolu_stub_1", "name": name}
    return f"echo: {_last_user_text(path, body)}", None


def _has_tool_result(path: str, body: dict[str, Any]) -> bool:
    text = json.dumps(body.get("messages") or body.get("input"))
    return '"role": "tool"' in text or "function_call_output" in text or '"tool_result"' in text


def _last_user_text(path: str, body: dict[str, Any]) -> str:
    given = body.get("input") if path.endswith("/responses") else body.get("messages")
    if isinstance(given, str):
        return given
    for message in reversed(given or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            texts = [p.get("text") for p in content if p.get("type") in ("text", "input_text")]
            if texts:
                return "".join(texts)
    return ""


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or [""]


def _words(text: str) -> int:
    return max(1, len(text.split()))


# -- OpenAI chat.completions -----------------------------------------------------------------------------------


def chat_completion(body: dict[str, Any], text: str, call: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if call:
        arguments = json.dumps(TOOL_INPUT)
        message["tool_calls"] = [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": arguments}}
        ]
    return {
        "id": "chatcmpl-stub1",
        "object": "chat.completion",
        "created": CREATED,
        "model": body["model"] + "-2026-01-01",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if call else "stop"}
        ],
        "usage": _chat_usage(text),
        "system_fingerprint": "fp_stub",
    }


def _chat_usage(text: str) -> dict[str, Any]:
    out = _words(text)
    return {
        "prompt_tokens": 11,
        "completion_tokens": out,
        "total_tokens": 11 + out,
        "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def chat_events(body: dict[str, Any], text: str, call: dict[str, Any] | None) -> Iterator[tuple[str | None, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-stub1",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": body["model"] + "-2026-01-01",
            "system_fingerprint": "fp_stub",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    yield None, chunk({"role": "assistant", "content": "", "refusal": None})
    if call:
        yield None, chunk({"tool_calls": [_chat_call_piece(call, name=True, arguments="")]})
        arguments = json.dumps(TOOL_INPUT)
        for i in range(0, len(arguments), 6):
            yield None, chunk({"tool_calls": [_chat_call_piece(call, name=False, arguments=arguments[i : i + 6])]})
    for piece in _pieces(text) if text else ():
        yield None, chunk({"content": piece})
    yield None, chunk({}, "tool_calls" if call else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield None, {**chunk({}), "choices": [], "usage": _chat_usage(text)}
    yield None, "[DONE]"


def _chat_call_piece(call: dict[str, Any], name: bool, arguments: str) -> dict[str, Any]:
    if name:
        return {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": ""}}
    return {"index": 0, "function": {"arguments": arguments}}


# -- OpenAI responses ------------------------------------------------------------------------------------------


def response(body: dict[str, Any], text: str, call: dict[str, Any] | None, status: str = "completed") -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if text:
        output.append(_output_message(text))
    if call:
        output.append(_function_call(call))
    out = _words(text)
    return {
        "id": "resp_stub1",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": body["model"] + "-2026-01-01",
        "output": output if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 11 + out,
        }
        if status == "completed"
        else None,
    }


def _output_message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_stub1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _function_call(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_stub1",
        "call_id": call["id"],
        "name": call["name"],
        "arguments": json.dumps(TOOL_INPUT),
        "status": "completed",
    }


def responses_events(body: dict[str, Any], text: str, call: dict[str, Any] | None) -> Iterator[tuple[str, Any]]:
    seq = iter(range(1000))

    def event(kind: str, **fields: Any) -> tuple[str, Any]:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    yield event("response.created", response=response(body, text, call, status="in_progress"))
    index = 0
    if text:
        item = {**_output_message(""), "status": "in_progress", "content": []}
        yield event("response.output_item.added", output_index=0, item=item)
        part = {"type": "output_text", "text": "", "annotations": []}
        yield event("response.content_part.added", item_id="msg_stub1", output_index=0, content_index=0, part=part)
        for piece in _pieces(text):
            yield event(
                "response.output_text.delta",
                item_id="msg_stub1",
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        yield event(
            "response.output_text.done", item_id="msg_stub1", output_index=0, content_index=0, text=text, logprobs=[]
        )
        yield event("response.output_item.done", output_index=0, item=_output_message(text))
        index = 1
    if call:
        yield event("response.output_item.added", output_index=index, item={**_function_call(call), "arguments": ""})
        arguments = json.dumps(TOOL_INPUT)
        yield event("response.function_call_arguments.delta", item_id="fc_stub1", output_index=index, delta=arguments)
        yield event(
            "response.function_call_arguments.done", item_id="fc_stub1", output_index=index, arguments=arguments
        )
        yield event("response.output_item.done", output_index=index, item=_function_call(call))
    yield event("response.completed", response=response(body, text, call))


# -- Anthropic messages ----------------------------------------------------------------------------------------


def _anthropic_usage(text: str) -> dict[str, Any]:
    return {
        "input_tokens": 11,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 5,
        "output_tokens": _words(text),
        "service_tier": "standard",
    }


def message(body: dict[str, Any], text: str, call: dict[str, Any] | None) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    if call:
        content.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": TOOL_INPUT})
    return {
        "id": "msg_stub1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": "tool_use" if call else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(text),
    }


def messages_events(body: dict[str, Any], text: str, call: dict[str, Any] | None) -> Iterator[tuple[str, Any]]:
    start = {**message(body, "", None), "stop_reason": None, "usage": {**_anthropic_usage(""), "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    index = 0
    if text:
        block = {"type": "text", "text": ""}
        yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
        yield "ping", {"type": "ping"}
        for piece in _pieces(text):
            delta = {"type": "text_delta", "text": piece}
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": 0}
        index = 1
    if call:
        block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        arguments = json.dumps(TOOL_INPUT)
        for i in range(0, len(arguments), 6):
            delta = {"type": "input_json_delta", "partial_json": arguments[i : i + 6]}
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    delta = {"stop_reason": "tool_use" if call else "end_turn", "stop_sequence": None}
    usage = {"output_tokens": _words(text)}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
    yield "message_stop", {"type": "message_stop"}

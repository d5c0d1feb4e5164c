"""Where the `openai` SDK keeps its chat.completions and responses methods, and how to read their requests, answers
and streamed chunks.

Imported only by `instrument()`, and only when `openai` is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

from trail.capture.instrument.calls import Reply, ToolResult, dumped, parse_json, text_of

if TYPE_CHECKING:
    from trail.capture.instrument import Target

_CHAT_MODULES = ("openai.resources.chat.completions.completions", "openai.resources.chat.completions")
_RESPONSES_MODULES = ("openai.resources.responses.responses", "openai.resources.responses")
_STREAM_TYPES = tuple(t for t in (getattr(openai, "Stream", None), getattr(openai, "AsyncStream", None)) if t)


def targets() -> list[Target]:
    from trail.capture.instrument import CALL, VIA_CREATE, Target

    found = []
    for modules, api, classes in (
        (_CHAT_MODULES, ChatCompletions(), ("Completions", "AsyncCompletions")),
        (_RESPONSES_MODULES, Responses(), ("Responses", "AsyncResponses")),
    ):
        for owner in classes:
            found += [
                Target(modules, owner, "create", api, CALL),
                Target(modules, owner, "parse", api, CALL),
                Target(modules, owner, "stream", api, VIA_CREATE),
            ]
    return found


class _OpenAI:
    provider = "openai"

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, _STREAM_TYPES)


class ChatCompletions(_OpenAI):
    """`client.chat.completions`: messages in, choices out; the first choice is recorded."""

    name = "chat.completions"

    def prompt_text(self, request: dict[str, Any]) -> str:
        for message in reversed(_list(request.get("messages"))):
            if isinstance(message, dict) and message.get("role") == "user":
                text = text_of(message.get("content"))
                if text:
                    return text
        return ""

    def tool_results(self, request: dict[str, Any]) -> list[ToolResult]:
        return [
            ToolResult(m["tool_call_id"], _tool_output(m.get("content")))
            for m in _list(request.get("messages"))
            if isinstance(m, dict) and m.get("role") == "tool" and isinstance(m.get("tool_call_id"), str)
        ]

    def reply(self, result: Any) -> Reply | None:
        choices = getattr(result, "choices", None)
        if not isinstance(choices, list):
            return None
        reply = Reply(model=result.model, response_id=result.id)
        _usage(reply, getattr(result, "usage", None), "prompt_tokens", "completion_tokens")
        if choices:
            message = choices[0].message
            reply.stop_reason = choices[0].finish_reason
            reply.text = message.content or getattr(message, "refusal", None) or ""
            reply.thinking = _str(getattr(message, "reasoning_content", None))
            reply.tool_uses = [_chat_tool_use(call) for call in message.tool_calls or ()]
        return reply

    def accumulator(self) -> ChatAccumulator:
        return ChatAccumulator()


class ChatAccumulator:
    """Chunks of `chat.completions.create(stream=True)`: text and tool-call arguments arrive in pieces, by index."""

    def __init__(self) -> None:
        self.answer = Reply()
        self.texts: list[str] = []
        self.thinking: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}

    def add(self, chunk: Any) -> None:
        self.answer.model = self.answer.model or chunk.model
        self.answer.response_id = self.answer.response_id or chunk.id
        if getattr(chunk, "usage", None) is not None:
            _usage(self.answer, chunk.usage, "prompt_tokens", "completion_tokens")
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                self.texts.append(delta.content)
            reasoning = getattr(delta, "reasoning_content", None)
            if isinstance(reasoning, str):
                self.thinking.append(reasoning)
            for piece in delta.tool_calls or ():
                call = self.calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = piece.id or call["id"]
                if piece.function is not None:
                    call["name"] += piece.function.name or ""
                    call["arguments"] += piece.function.arguments or ""
            if choice.finish_reason:
                self.answer.stop_reason = choice.finish_reason

    def reply(self) -> Reply:
        reply = self.answer
        reply.text = "".join(self.texts)
        reply.thinking = "".join(self.thinking) or None
        reply.tool_uses = [
            {"id": c["id"], "name": c["name"], "input": parse_json(c["arguments"])}
            for _, c in sorted(self.calls.items())
        ]
        return reply


class Responses(_OpenAI):
    """`client.responses`: input items in, output items out."""

    name = "responses"

    def prompt_text(self, request: dict[str, Any]) -> str:
        given = request.get("input")
        if isinstance(given, str):
            return given
        for item in reversed(_list(given)):
            if isinstance(item, dict) and item.get("role") == "user":
                text = text_of(item.get("content"), ("input_text", "text"))
                if text:
                    return text
        return ""

    def tool_results(self, request: dict[str, Any]) -> list[ToolResult]:
        return [
            ToolResult(item["call_id"], _tool_output(item.get("output")))
            for item in _list(request.get("input"))
            if isinstance(item, dict)
            and item.get("type") in ("function_call_output", "custom_tool_call_output")
            and isinstance(item.get("call_id"), str)
        ]

    def reply(self, result: Any) -> Reply | None:
        if not isinstance(getattr(result, "output", None), list):
            return None
        return response_reply(result)

    def accumulator(self) -> ResponsesAccumulator:
        return ResponsesAccumulator()


def response_reply(response: Any) -> Reply:
    """A Responses API `Response` (from `create`, or the `response.completed` event of a stream)."""
    reply = Reply(model=response.model, response_id=response.id)
    _usage(reply, getattr(response, "usage", None), "input_tokens", "output_tokens")
    texts: list[str] = []
    thinking: list[str] = []
    for item in response.output:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in item.content or ():
                texts.append(getattr(part, "text", None) or getattr(part, "refusal", None) or "")
        elif kind in ("function_call", "custom_tool_call"):
            reply.tool_uses.append(_responses_tool_use(item))
        elif kind == "reasoning":
            thinking += [s.text for s in getattr(item, "summary", None) or () if getattr(s, "text", None)]
    reply.text = "".join(texts)
    reply.thinking = "\n".join(thinking) or None
    details = getattr(response, "incomplete_details", None)
    reply.stop_reason = getattr(details, "reason", None) or getattr(response, "status", None)
    return reply


class ResponsesAccumulator:
    """Events of `responses.create(stream=True)`: the closing event carries the whole response; before it, the text
    deltas and finished tool calls are what arrived."""

    def __init__(self) -> None:
        self.final: Any = None
        self.started: Any = None
        self.texts: list[str] = []
        self.tool_uses: list[dict[str, Any]] = []

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event.response
        elif kind == "response.created":
            self.started = event.response
        elif kind == "response.output_text.delta":
            self.texts.append(event.delta)
        elif kind == "response.output_item.done" and getattr(event.item, "type", None) in (
            "function_call",
            "custom_tool_call",
        ):
            self.tool_uses.append(_responses_tool_use(event.item))

    def reply(self) -> Reply:
        if self.final is not None:
            return response_reply(self.final)
        reply = Reply(text="".join(self.texts), tool_uses=self.tool_uses)
        if self.started is not None:
            reply.model, reply.response_id = self.started.model, self.started.id
        return reply


def _chat_tool_use(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    if function is not None:
        return {"id": call.id, "name": function.name, "input": parse_json(function.arguments)}
    custom = getattr(call, "custom", None)  # a custom (free-text) tool
    return {"id": call.id, "name": getattr(custom, "name", None), "input": getattr(custom, "input", None)}


def _responses_tool_use(item: Any) -> dict[str, Any]:
    if item.type == "function_call":
        return {"id": item.call_id, "name": item.name, "input": parse_json(item.arguments)}
    return {"id": item.call_id, "name": item.name, "input": getattr(item, "input", None)}


def _usage(reply: Reply, usage: Any, tokens_in: str, tokens_out: str) -> None:
    """OpenAI's input counts already include cached tokens, and output counts reasoning tokens."""
    if usage is None:
        return
    reply.usage = dumped(usage)
    reply.tokens_in = getattr(usage, tokens_in, None)
    reply.tokens_out = getattr(usage, tokens_out, None)


def _tool_output(content: Any) -> Any:
    """A tool result's content: its text when it is text parts, else as given."""
    if isinstance(content, list) and all(isinstance(p, dict) and "text" in p for p in content):
        return text_of(content, tuple({str(p.get("type")) for p in content}))
    return content


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

"""Where the `anthropic` SDK keeps its messages methods (and the beta ones), and how to read their requests, answers
and streamed events.

Imported only by `instrument()`, and only when `anthropic` is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic

from trail.capture.instrument.calls import Reply, ToolResult, dumped, parse_json, plain, text_of

if TYPE_CHECKING:
    from trail.capture.instrument import Target

_MODULES = ("anthropic.resources.messages.messages", "anthropic.resources.messages")
_BETA_MODULES = ("anthropic.resources.beta.messages.messages", "anthropic.resources.beta.messages")
_STREAM_TYPES = tuple(t for t in (getattr(anthropic, "Stream", None), getattr(anthropic, "AsyncStream", None)) if t)
# Blocks that ask for a tool: the client's tools, and the server's own (web search, code execution), by any prefix.
_TOOL_USE = ("tool_use", "server_tool_use", "mcp_tool_use")


def targets() -> list[Target]:
    from trail.capture.instrument import CALL, OWN_STREAM, Target

    found = []
    for modules, api in ((_MODULES, Messages("messages")), (_BETA_MODULES, Messages("beta.messages"))):
        for owner in ("Messages", "AsyncMessages"):
            found += [
                Target(modules, owner, "create", api, CALL),
                Target(modules, owner, "parse", api, CALL),
                Target(modules, owner, "stream", api, OWN_STREAM),
            ]
    return found


class Messages:
    """`client.messages` (and `client.beta.messages`): messages in, content blocks out."""

    provider = "anthropic"

    def __init__(self, name: str) -> None:
        self.name = name

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, _STREAM_TYPES)

    def prompt_text(self, request: dict[str, Any]) -> str:
        for message in reversed(_list(request.get("messages"))):
            if isinstance(message, dict) and message.get("role") == "user":
                text = text_of(message.get("content"))
                if text:
                    return text
        return ""

    def tool_results(self, request: dict[str, Any]) -> list[ToolResult]:
        found = []
        for message in _list(request.get("messages")):
            if not isinstance(message, dict) or message.get("role") != "user":
                continue
            for block in _list(message.get("content")):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    content = block.get("content")
                    if isinstance(content, list) and all(
                        isinstance(b, dict) and b.get("type") == "text" for b in content
                    ):
                        content = text_of(content)
                    found.append(ToolResult(str(block.get("tool_use_id")), content, bool(block.get("is_error"))))
        return found

    def reply(self, result: Any) -> Reply | None:
        if getattr(result, "type", None) != "message" or not isinstance(getattr(result, "content", None), list):
            return None
        reply = Reply(model=result.model, response_id=result.id, stop_reason=result.stop_reason)
        _usage(reply, dumped(result.usage))
        texts, thinking = [], []
        for block in result.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "thinking":
                thinking.append(block.thinking)
            elif kind in _TOOL_USE:
                reply.tool_uses.append({"id": block.id, "name": block.name, "input": plain(block.input)})
        reply.text = "".join(texts)
        reply.thinking = "".join(thinking) or None
        return reply

    def accumulator(self) -> MessagesAccumulator:
        return MessagesAccumulator()


class MessagesAccumulator:
    """Raw stream events: `message_start` carries the id, model and input usage, content blocks arrive as deltas by
    index, `message_delta` the stop reason and the final output usage."""

    def __init__(self) -> None:
        self.answer = Reply()
        self.usage: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            self.answer.model, self.answer.response_id = message.model, message.id
            self.usage.update(dumped(message.usage) or {})
        elif kind == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = {
                "type": block.type,
                "text": getattr(block, "text", None) or getattr(block, "thinking", None) or "",
                "id": getattr(block, "id", None),
                "name": getattr(block, "name", None),
                "json": "",
            }
        elif kind == "content_block_delta" and event.index in self.blocks:
            block, delta = self.blocks[event.index], event.delta
            if delta.type == "text_delta":
                block["text"] += delta.text
            elif delta.type == "thinking_delta":
                block["text"] += delta.thinking
            elif delta.type == "input_json_delta":
                block["json"] += delta.partial_json
        elif kind == "message_delta":
            self.answer.stop_reason = getattr(event.delta, "stop_reason", None) or self.answer.stop_reason
            # The delta's counts are running totals: the newest replaces what message_start said.
            self.usage.update({k: v for k, v in (dumped(getattr(event, "usage", None)) or {}).items() if v is not None})

    def reply(self) -> Reply:
        reply = self.answer
        blocks = [b for _, b in sorted(self.blocks.items())]
        reply.text = "".join(b["text"] for b in blocks if b["type"] == "text")
        reply.thinking = "".join(b["text"] for b in blocks if b["type"] == "thinking") or None
        reply.tool_uses = [
            {"id": b["id"], "name": b["name"], "input": parse_json(b["json"])} for b in blocks if b["type"] in _TOOL_USE
        ]
        _usage(reply, self.usage or None)
        return reply


def _usage(reply: Reply, usage: dict[str, Any] | None) -> None:
    """Anthropic counts cached input apart: tokens_in is the whole input (uncached + cache writes + cache reads)."""
    if not usage:
        return
    reply.usage = usage
    parts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    if isinstance(parts[0], int):
        reply.tokens_in = sum(p for p in parts if isinstance(p, int))
    out = usage.get("output_tokens")
    reply.tokens_out = out if isinstance(out, int) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

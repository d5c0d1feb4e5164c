"""A Claude Code session's conversation rebuilt from its steps alone: the messages of its transcript, block by block.

Each user or assistant line of the transcript the steps came from gives one message (`uuid`, `parent_uuid`,
`role`, `content` as the line had it: a string or a list of blocks, images with their bytes again), in the order
of the transcript's `parentUuid` tree: from each root down, a line's children in the order they were recorded.
What a step keeps and where is the converter's business (claude_transcript.py); this reads it back. Steps that
hooks recorded (not from the transcript) have no line to rebuild: a live session rebuilds only the lines the
transcript gave (its responses and the calls no hook saw).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from trail import events as ev
from trail.store.steps import Step, Store

_USER_KINDS = (ev.PROMPT, ev.NOTE, ev.COMMAND)


@dataclass
class _Node:
    parent: str | None
    role: str | None = None
    parts: dict[int, Any] = field(default_factory=dict)  # position in the line's content -> block
    content: Any = None
    listed: bool = True  # the content is a list (else a string, or null)


def rebuild_messages(store: Store, session_id: str) -> list[dict[str, Any]]:
    """The transcript's messages as the session's steps recorded them (see the module's docstring)."""
    return messages_from_steps(store.steps(session_id, full=True), store.attachment)


def messages_from_steps(steps: Iterable[Step], read_blob: Callable[[str], bytes]) -> list[dict[str, Any]]:
    events = [step.event for step in steps]
    inputs = {
        e.payload["tool_use_id"]: e.payload.get("input")
        for e in events
        if e.kind in (ev.TOOL_CALL, ev.TOOL_RESULT) and isinstance(e.payload.get("tool_use_id"), str)
    }
    nodes: dict[str, _Node] = {}

    def node(uuid: str, parent: Any) -> _Node:
        found = nodes.get(uuid)
        if found is None:
            found = nodes[uuid] = _Node(parent if isinstance(parent, str) else None)
        return found

    inline = _Inliner(read_blob)
    for event in events:
        p = event.payload
        for link in p.get("links") or ():
            if isinstance(link, list) and link and isinstance(link[0], str):
                node(link[0], link[1] if len(link) > 1 else None)
        uuid = p.get("transcript_uuid")
        if event.kind == ev.RESPONSE and isinstance(p.get("content"), list):
            _response(p, inputs, node, inline)
        elif not isinstance(uuid, str):
            continue
        elif event.kind == ev.RESPONSE:  # recorded before responses kept their blocks
            _old_response(node(uuid, p.get("parent_uuid")), p, inputs)
        elif event.kind in (ev.TOOL_CALL, ev.TOOL_RESULT) and p.get("source") == "transcript":
            target = node(uuid, p.get("parent_uuid"))
            target.role = "user"
            index = p.get("result_index")
            target.parts[index if isinstance(index, int) else 0] = _result_block(p, inline)
        elif event.kind in _USER_KINDS and p.get("role") == "user":
            target = node(uuid, p.get("parent_uuid"))
            target.role = "user"
            if "content" in p and isinstance(p["content"], list):
                at = p.get("content_at")
                blocks = inline(p["content"])
                for i, block in enumerate(blocks):
                    target.parts[at[i] if isinstance(at, list) and i < len(at) else i] = block
            else:
                target.listed = False
                target.content = p["content"] if "content" in p else p.get("text")
        else:
            node(uuid, p.get("parent_uuid"))
    return _in_tree_order(nodes)


def _response(p: dict[str, Any], inputs: dict[str, Any], node: Callable[[str, Any], _Node], inline: _Inliner) -> None:
    for entry in p["content"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("uuid"), str):
            continue
        target = node(entry["uuid"], entry.get("parent_uuid"))
        target.role = "assistant"
        block = _assistant_block(entry, p, inputs, inline)
        if entry.get("as_string"):
            target.listed = False
            target.content = block.get("text")
        else:
            target.parts[len(target.parts)] = block


def _assistant_block(entry: dict[str, Any], p: dict[str, Any], inputs: dict[str, Any], inline: _Inliner) -> Any:
    kind = entry.get("type")
    extra = inline(entry.get("block") or {})
    if kind is None:
        return entry.get("block")
    if kind == "text":
        return {"type": "text", "text": entry.get("text", p.get("text", "")), **extra}
    if kind == "thinking":
        block = {"type": "thinking", "thinking": entry.get("thinking", p.get("thinking", ""))}
        if "signature" in entry:
            block["signature"] = entry["signature"]
        return {**block, **extra}
    if kind == "tool_use":
        return {
            "type": "tool_use",
            "id": entry.get("id"),
            "name": entry.get("name"),
            "input": inputs.get(str(entry.get("id"))),
            **extra,
        }
    return {"type": kind, **extra}


def _old_response(target: _Node, p: dict[str, Any], inputs: dict[str, Any]) -> None:
    target.role = "assistant"
    blocks: list[Any] = []
    if p.get("thinking"):
        blocks.append({"type": "thinking", "thinking": p["thinking"]})
    if p.get("text"):
        blocks.append({"type": "text", "text": p["text"]})
    for use in p.get("tool_uses") or ():
        if isinstance(use, dict):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": use.get("id"),
                    "name": use.get("name"),
                    "input": inputs.get(str(use.get("id"))),
                }
            )
    for block in blocks:
        target.parts[len(target.parts)] = block


def _result_block(p: dict[str, Any], inline: _Inliner) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": p.get("tool_use_id")}
    if "content" in p:
        block["content"] = inline(p["content"])
    elif not p.get("no_content"):
        block["content"] = p["error"] if "error" in p else p.get("output")
    block.update(p.get("result_block") or {})
    return block


def _in_tree_order(nodes: dict[str, _Node]) -> list[dict[str, Any]]:
    children: dict[str | None, list[str]] = {}
    for uuid, item in nodes.items():
        parent = item.parent if item.parent in nodes else None
        children.setdefault(parent, []).append(uuid)
    out: list[dict[str, Any]] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        uuid = stack.pop()
        item = nodes[uuid]
        if item.role is not None:
            content = [item.parts[i] for i in sorted(item.parts)] if item.listed else item.content
            out.append({"uuid": uuid, "parent_uuid": item.parent, "role": item.role, "content": content})
        stack.extend(reversed(children.get(uuid, [])))
    return out


class _Inliner:
    """Puts the bytes of each attachment back where the converter named its blob (`trail_blob`), as base64."""

    def __init__(self, read_blob: Callable[[str], bytes]) -> None:
        self.read_blob = read_blob

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self(v) for k, v in value.items() if k not in ("trail_blob", "trail_blob_key")}
        blob = value.get("trail_blob")
        if isinstance(blob, str):
            out[str(value.get("trail_blob_key") or "data")] = base64.b64encode(self.read_blob(blob)).decode("ascii")
        return out

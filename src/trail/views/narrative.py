"""A session told in the terminal step after step, as `git log -p` tells a branch: what was asked, what the model
answered, the tools it ran and what they gave back, the decisions and their reasons, and each step's code change;
printed as a stream (`narrate`), or shown a step at a time by stepper.py.

Whatever came from the session goes through `clean` (or `clean_bytes`, for patches) before it is shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pygit2

from trail import events as ev
from trail.api import History, Session
from trail.store.steps import Step
from trail.views.term import Terminal, clean, clean_bytes
from trail.views.terminal import color_patch, kind_label, local, log_header, tokens

HEAD_LINES = 30  # of a long field (a tool's output), the lines kept from its start
TAIL_LINES = 10  # and from its end, where errors and summaries are
FIELD_CHARS = 6000  # characters kept of a long field, however few its lines
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


# -- the narrative -------------------------------------------------------------------------------------------------


def narrate(
    history: History, session: Session, term: Terminal, first: int = 1, full: bool = False
) -> Iterator[str | bytes]:
    """The session from step `first` on, oldest first, in pieces to write as they come (text, or patch bytes): each
    step is read when it is reached, and a step's diff is computed only when its tree differs from the one before."""
    handle = history.handle(session.id)
    yield log_header(session, term) + f"replay  steps {first} to {session.steps}\n"
    previous_tree: str | None = None
    previous_source: str | None = None
    for step in history.store.iter_steps(session.id, first):
        if previous_tree is None:
            previous_tree = parent_tree(history, step)
        note_source = step.tree_source != previous_source
        previous_source = step.tree_source
        yield "\n" + step_text(step, f"{handle}@{step.n}", term, full, tree_note=note_source)
        if step.tree != previous_tree:
            yield from change(history, step, term, previous_tree)
        previous_tree = step.tree


def parent_tree(history: History, step: Step) -> str:
    """The tree of the commit before `step` (the empty tree for a session begun on an unborn branch)."""
    if not step.parents:
        return _EMPTY_TREE
    try:
        return str(history.repo.git[step.parents[0]].peel(pygit2.Commit).tree_id)
    except (KeyError, ValueError, pygit2.GitError):
        return _EMPTY_TREE


def change(history: History, step: Step, term: Terminal, old_tree: str | None = None) -> Iterator[str | bytes]:
    """The code change of `step` (from `old_tree`, the tree before it, when known): a line counting files and
    lines, then the patch, coloured as git colours one."""
    if old_tree is None or old_tree == _EMPTY_TREE:
        diff = history.diff(None, step)
    else:  # the two trees by id: no commit to look up again, the step's change all the same
        git = history.repo.git
        old = git[pygit2.Oid(hex=old_tree)].peel(pygit2.Tree)
        diff = old.diff_to_tree(git[pygit2.Oid(hex=step.tree)].peel(pygit2.Tree))
        diff.find_similar()
    patches = [p for p in diff if p is not None]
    if not patches:
        return
    added = sum(p.line_stats[1] for p in patches)
    removed = sum(p.line_stats[2] for p in patches)
    files = "1 file" if len(patches) == 1 else f"{len(patches)} files"
    yield f"\n    {term.style('bold', 'change')} {files} changed, {added} insertions(+), {removed} deletions(-)\n\n"
    for patch in patches:
        yield color_patch(clean_bytes(patch.data), term)


def step_text(step: Step, address: str, term: Terminal, full: bool = False, tree_note: bool = True) -> str:
    """One step: a header line (number, kind, time, and the model and tokens or the tool), then its text."""
    try:
        event = step.event
    except (ValueError, TypeError, KeyError) as e:
        return f"{_header(step, term, '')}\n    {term.style('red', f'this step cannot be read: {clean(str(e))}')}\n"
    p = event.payload
    extra = ""
    if step.kind == ev.RESPONSE:
        model = event.model or step.model
        extra = " · ".join(x for x in (clean(model, True) if model else "", tokens(step)) if x)
    elif step.kind == ev.TOOL_CALL:
        extra = term.style("bold", clean(str(p.get("name") or "tool"), True))
        duration = p.get("duration_ms")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            extra += f" ({duration / 1000:.1f} s)" if duration >= 1000 else f" ({duration:g} ms)"
        if step.failed:
            extra += " " + term.style("red", "failed")
    out = [_header(step, term, extra)]
    for label, text in _sections(step, event, address, full):
        text = clean(text)
        out.append(f"    {term.style('bold', label + ':')}\n{_indent(text, 8)}" if label else _indent(text, 4))
    facts = []
    if tree_note and step.tree_source:
        facts.append(f"tree: {clean(step.tree_source, True)}")
    if step.redacted:
        facts.append("redacted: " + ", ".join(f"{clean(k, True)} x{v}" for k, v in sorted(step.redacted.items())))
    for item in step.omitted:
        why = clean(item.reason, True) if item.reason else "over the size limit"
        facts.append(f"left out: {clean(item.path, True)} ({item.size} bytes, {why})")
    out += [f"    {term.style('dim', fact)}" for fact in facts]
    return "\n".join(out) + "\n"


def _header(step: Step, term: Terminal, extra: str) -> str:
    dot = term.style("dim", "·")
    parts = [term.style("yellow", f"@{step.n}"), kind_label(step, term), dot, local(step.time)]
    if extra:
        parts += [dot, extra]
    return " ".join(parts)


def _sections(step: Step, event: ev.Event, address: str, full: bool) -> list[tuple[str, str]]:
    """The readable parts of a step, as (label, text): the prompt and the answer whole, the rest cut when long."""
    p = event.payload
    cut = lambda text: text if full else trimmed(text, address)  # noqa: E731
    out: list[tuple[str, str]] = []
    if step.kind in (ev.PROMPT, ev.NOTE):
        out.append(("", _text(p.get("text")) or event.summary()))
    elif step.kind == ev.RESPONSE:
        text = _text(p.get("text"))
        if text or not p.get("thinking"):  # thinking alone is shown under its label, not summed up first
            out.append(("", text or event.summary()))
        if p.get("thinking"):
            out.append(("Thinking", cut(_text(p["thinking"]))))
    elif step.kind == ev.TOOL_CALL:
        if p.get("input") not in (None, "", {}, []):
            out.append(("Input", cut(_input_text(p["input"]))))
        if p.get("error") not in (None, "", False):
            out.append(("Error", cut(_text(p["error"]))))
        elif "output" in p:
            for label, text in _output_parts(p["output"]):
                out.append((label, cut(text)))
        elif p.get("status"):
            out.append(("Output", f"({_text(p['status'])})"))
    elif step.kind == ev.DECISION:
        out.append(("", "Chose: " + _text(p.get("choice"))))
        if p.get("reasoning"):
            out.append(("Reasoning", cut(_text(p["reasoning"]))))
        alternatives = p.get("alternatives")
        if alternatives:
            items = alternatives if isinstance(alternatives, list) else [alternatives]
            out.append(("Alternatives", cut("\n".join("- " + _text(a) for a in items))))
    elif step.kind == ev.SESSION_START:
        out.append(("", event.summary()))
    elif step.kind == ev.SESSION_END:
        reason = _text(p.get("reason"))
        out.append(("", f"session ended: {reason}" if reason else "session ended"))
    else:
        out += [(label, cut(text)) for label, text in ev.sections(event)]
    return [(label, text) for label, text in out if text]


def trimmed(text: str, address: str, head: int = HEAD_LINES, tail: int = TAIL_LINES, chars: int = FIELD_CHARS) -> str:
    """`text` with its middle cut when long (its first `head` lines and last `tail`, at most `chars` characters),
    and a line saying how much was cut and how to see it all."""
    lines = text.count("\n") + 1
    if lines <= head + tail + 2 and len(text) <= chars:
        return text
    if lines > head + tail + 2:
        top_end = _nth_newline(text, head)
        bottom_start = _nth_newline_from_end(text, tail) if tail else len(text)
    else:
        top_end, bottom_start = len(text), len(text)
    top_end = min(top_end, chars)
    bottom_start = max(bottom_start, len(text) - chars // 4, top_end)
    middle = text[top_end:bottom_start]
    hidden = middle.strip("\n")
    if not hidden:
        return text
    count = hidden.count("\n") + 1
    what = f"{count:,} lines, {len(hidden):,} characters" if count > 1 else f"{len(hidden):,} characters"
    note = f"[… {what} cut; `trail show --full {address}` shows all]"
    bottom = text[bottom_start:].lstrip("\n")
    return text[:top_end].rstrip("\n") + "\n" + note + ("\n" + bottom if bottom else "")


def _nth_newline(text: str, n: int) -> int:
    at = -1
    for _ in range(n):
        at = text.find("\n", at + 1)
        if at < 0:
            return len(text)
    return max(at, 0)


def _nth_newline_from_end(text: str, n: int) -> int:
    at = len(text)
    for _ in range(n):
        at = text.rfind("\n", 0, at)
        if at < 0:
            return 0
    return at


def _input_text(value: Any) -> str:
    """A tool's input as a person reads it: a command as `$ command`, other fields one per line."""
    if not isinstance(value, dict):
        return _text(value)
    lines = []
    if isinstance(value.get("command"), str):
        lines.append("$ " + value["command"])
    for key, item in value.items():
        if (key == "command" and isinstance(item, str)) or item in (None, "", [], {}):
            continue
        if isinstance(item, str) and "\n" in item:
            lines.append(f"{key}:\n" + _indent(item, 4))
        else:
            lines.append(f"{key}: {item if isinstance(item, str) else _json(item)}")
    return "\n".join(lines)


def _output_parts(value: Any) -> list[tuple[str, str]]:
    """A tool's output: its streams (stdout, stderr) or a file's content where the tool gave them, else all of it."""
    if isinstance(value, dict):
        streams = [(label, value[key]) for key, label in (("stdout", "Output"), ("stderr", "Stderr"))]
        if any(isinstance(text, str) for _, text in streams):
            shown = [(label, text) for label, text in streams if isinstance(text, str) and text.strip()]
            return shown or [("Output", "(nothing)")]
        file = value.get("file")
        if isinstance(file, dict) and isinstance(file.get("content"), str):
            return [("Output", file["content"])]
        if isinstance(value.get("content"), str):
            return [("Output", value["content"])]
        return [("Output", _input_text(value))]
    text = _text(value)
    return [("Output", text if text.strip() else "(nothing)")]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.rstrip()
    return _json(value, indent=2)


def _json(value: Any, indent: int | None = None) -> str:
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return repr(value)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join((pad + line) if line.strip() else "" for line in text.split("\n"))

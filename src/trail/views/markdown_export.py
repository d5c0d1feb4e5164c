"""A session as Markdown for a pull request or an issue: the prompts and answers, tool calls one line each,
decisions with their reasoning, and each code change in a fenced diff block, kept under the size a comment takes.

What does not fit is left out in a stated order (first the patches, then the steps after the limit), and the end
of the text says what was cut and how to get all of it.
"""

from __future__ import annotations

import contextlib
import html
import re
from dataclasses import dataclass
from typing import Any

import pygit2

from trail import events as ev
from trail.api import History, Session
from trail.errors import TrailError
from trail.events import Event
from trail.store.steps import Step
from trail.views import markup

GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_LIMIT = 60_000  # under GitHub's limit, with room for what a person writes around it
TEXT_CHARS = 4_000  # of one prompt, answer or reasoning
LINE_CHARS = 160  # of a tool call's one line
PATCH_LINES = 60  # of one file's patch
_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")


@dataclass(frozen=True)
class MarkdownExport:
    """The Markdown, and a sentence saying what was cut ("" when nothing was)."""

    text: str
    cut: str


def export_markdown(history: History, session: Session, limit: int = DEFAULT_LIMIT) -> MarkdownExport:
    """`session` as Markdown of at most `limit` characters (0: no limit): patches go first when it is too long,
    then the steps that do not fit."""
    handle = history.handle(session.id)
    steps = list(session.iter_steps(full=True))
    changes = _changes(history, steps, f"{handle}@")
    started = _subagents(history, session)
    head = _header(session, handle, steps)
    full = [_step(step, handle, changes.get(step.n), True, started.get(step.n)) for step in steps]
    if not limit or _length(head, full) <= limit:
        return MarkdownExport(_join(head, full), "")
    brief = [_step(step, handle, changes.get(step.n), False, started.get(step.n)) for step in steps]
    notes = []
    if any(changes.values()):
        notes.append(f"the patches (with them it is {_length(head, full):,} characters)")
    budget = limit - len(head) - 600  # the closing note
    kept: list[str] = []
    used = 0
    for part in brief:
        if used + len(part) + 2 > budget:
            break
        kept.append(part)
        used += len(part) + 2
    if len(kept) < len(brief):
        first = steps[len(kept)].n
        notes.append(f"steps {first} to {steps[-1].n}")
    cut = "Cut to fit " + f"{limit:,} characters: " + " and ".join(notes) + "."
    tail = (
        f"\n---\n*{cut} `trail export {handle} --markdown --max-chars 0` writes all of it; "
        f"`trail view {handle}` makes a page of it.*\n"
    )
    return MarkdownExport(_join(head, kept) + tail, cut)


def _length(head: str, parts: list[str]) -> int:
    return len(_join(head, parts))


def _join(head: str, parts: list[str]) -> str:
    return head + "\n\n".join(parts) + ("\n" if parts else "")


def _header(session: Session, handle: str, steps: list[Step]) -> str:
    title = _inline(session.title) or "(no prompt)"
    who = _inline(session.agent or "agent") + (f" ({_inline(session.model)})" if session.model else "")
    tokens_in = sum(s.tokens_in or 0 for s in steps)
    tokens_out = sum(s.tokens_out or 0 for s in steps)
    lasted = (steps[-1].time - steps[0].time) if steps else None
    facts = [
        who,
        f"{len(steps):,} steps",
        f"started {session.started.astimezone().strftime('%Y-%m-%d %H:%M')}",
    ]
    if lasted is not None:
        minutes, seconds = divmod(int(lasted.total_seconds()), 60)
        facts.append(f"lasted {minutes} min {seconds} s" if minutes else f"lasted {seconds} s")
    if tokens_in or tokens_out:
        facts.append(f"{tokens_in:,} tokens in / {tokens_out:,} out")
    return f"### trail session {_code(handle)}: {title}\n\n" + " · ".join(facts) + "\n\n"


def _changes(history: History, steps: list[Step], prefix: str) -> dict[int, list[tuple[str, str, str | None]]]:
    """step number -> [(status line, path, patch)] for the steps that changed code."""
    out: dict[int, list[tuple[str, str, str | None]]] = {}
    previous: str | None = None
    for i, step in enumerate(steps):
        if i == 0 and step.parents:
            try:
                previous = str(history.repo.git[step.parents[0]].peel(pygit2.Commit).tree_id)
            except (KeyError, ValueError, pygit2.GitError):
                previous = None
        if step.tree != previous:
            with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
                out[step.n] = _patches(history.diff(None, step), f"{prefix}{step.n}")
        previous = step.tree
    return out


def _patches(diff: pygit2.Diff, address: str) -> list[tuple[str, str, str | None]]:
    found = []
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        _, added, removed = patch.line_stats
        path = markup.text(delta.new_file.path)
        line = f"{path} (+{added} −{removed})" if not delta.is_binary else f"{path} (binary)"
        text = None
        if not delta.is_binary:
            lines = markup.text(patch.data.decode("utf-8", "replace")).split("\n")
            start = next((i for i, s in enumerate(lines) if s.startswith("@@")), len(lines))
            body = [s for s in lines[start:] if s != ""] if start < len(lines) else []
            if len(body) > PATCH_LINES:
                hidden = len(body) - PATCH_LINES
                body = body[:PATCH_LINES] + [f"… {hidden} more lines: trail diff {address}"]
            text = "\n".join(body)
        found.append((line, path, text))
    return found


def _subagents(history: History, session: Session) -> dict[int, list[str]]:
    """step number -> a line for each subagent session that step started (with how much it did)."""
    out: dict[int, list[str]] = {}
    for sid in history.store.children(session.id):
        try:
            child = history.session(sid)
        except TrailError:
            continue
        parent = child.parent
        if parent is None or parent[0] != session.id or parent[1] is None:
            continue
        tokens = sum((s.tokens_in or 0) + (s.tokens_out or 0) for s in child.iter_steps())
        what = f"{child.steps:,} steps" + (f", {tokens:,} tokens" if tokens else "")
        title = f": {_inline(child.title)}" if child.title else ""
        out.setdefault(parent[1], []).append(f"↳ subagent {_code(history.handle(sid))} ({what}){title}")
    return out


def _step(
    step: Step,
    handle: str,
    change: list[tuple[str, str, str | None]] | None,
    patches: bool,
    subagents: list[str] | None = None,
) -> str:
    try:
        event = step.event
    except (ValueError, TypeError, KeyError):
        return f"**{step.n}.** {_inline(step.kind)}: {_inline(step.summary)}"
    address = f"{handle}@{step.n}"
    out = [_body(event, step, address), *(subagents or ())]
    if change:
        if patches:
            for line, _path, text in change:
                summary = html.escape(line, quote=False)
                if text:
                    out.append(f"<details><summary>{summary}</summary>\n\n{_fenced(text, 'diff')}\n</details>")
                else:
                    out.append(f"<details><summary>{summary}</summary>\n\nNo text change shown.\n</details>")
        else:
            out.append("Changed: " + ", ".join(_code(line) for line, _path, _text in change))
    return "\n\n".join(s for s in out if s)


def _body(event: Event, step: Step, address: str) -> str:
    p = event.payload
    kind = event.kind
    n = step.n
    if kind == ev.PROMPT:
        return f"**{n}. Prompt** ({_time(step)})\n\n" + _quote(_prose(p.get("text"), address))
    if kind == ev.RESPONSE:
        tokens = ""
        if step.tokens_in is not None or step.tokens_out is not None:
            tokens = f", {step.tokens_in or 0:,} in / {step.tokens_out or 0:,} out"
        model = f"{_inline(step.model)}" if step.model else "answer"
        text = _prose(p.get("text"), address)
        if not text:
            return f"**{n}. Answer** ({model}{tokens}): {_inline(step.summary)}"
        return f"**{n}. Answer** ({model}{tokens})\n\n{text}"
    if kind == ev.TOOL_CALL:
        name = _inline(str(p.get("name") or "tool"))
        subject = step.summary[len(str(p.get("name") or "tool")) :].strip().removesuffix("(failed)").strip()
        outcome = _outcome(p)
        duration = p.get("duration_ms")
        took = f" ({duration / 1000:.1f} s)" if isinstance(duration, int | float) and duration >= 1000 else ""
        return f"**{n}.** {'✗' if step.failed else '▸'} {_code(name)} {_code(_clip(subject))}{took}{outcome}".rstrip()
    if kind == ev.DECISION:
        out = f"**{n}. Decision:** {_inline(_clip(str(p.get('choice') or ''), 400))}"
        if p.get("reasoning"):
            out += "\n\n" + _quote(_prose(p.get("reasoning"), address))
        alternatives = p.get("alternatives")
        if alternatives:
            items = alternatives if isinstance(alternatives, list) else [alternatives]
            out += "\n\nAlternatives: " + "; ".join(_inline(_clip(_str(a), 200)) for a in items)
        return out
    return f"**{n}.** {_inline(kind)}: {_inline(step.summary)}"


def _outcome(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if error not in (None, "", False):
        return " → error: " + _code(_clip(_first_line(_str(error))))
    output = payload.get("output")
    if isinstance(output, dict) and isinstance(output.get("stdout"), str):
        output = output["stdout"] or output.get("stderr") or ""
    text = _str(output) if output not in (None, "") else ""
    if not text.strip():
        return ""
    lines = text.strip().count("\n") + 1
    more = f" (+{lines - 1} lines)" if lines > 1 else ""
    return " → " + _code(_clip(_first_line(text))) + more


def _prose(value: Any, address: str) -> str:
    """Markdown from the session, kept as Markdown but with HTML tags shown as text (outside code), so that no
    text can open a `<details>` or hide the rest of the comment."""
    if value in (None, ""):
        return ""
    text = _str(value).strip()
    if len(text) > TEXT_CHARS:
        text = (
            text[:TEXT_CHARS].rstrip()
            + f"\n\n*[… {len(text) - TEXT_CHARS:,} more characters: trail show --full {address}]*"
        )
    out = []
    fence: str | None = None
    for line in text.split("\n"):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            out.append(line)
        elif opener:
            fence = opener.group(1)
            out.append(line)
        else:
            out.append(_escape_tags(line))
    if fence is not None:
        out.append(fence)  # close it, so the rest of the comment is not swallowed
    return "\n".join(out)


def _escape_tags(line: str) -> str:
    parts = []
    last = 0
    for match in _CODE_SPAN.finditer(line):
        parts.append(_TAG.sub("&lt;", line[last : match.start()]))
        parts.append(match.group())
        last = match.end()
    parts.append(_TAG.sub("&lt;", line[last:]))
    return "".join(parts)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def _fenced(text: str, language: str = "") -> str:
    longest = max((len(m.group()) for m in re.finditer(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _code(text: str) -> str:
    """Inline code that no backtick inside it can end."""
    text = markup.text(text).replace("\n", " ")
    if not text:
        return ""
    longest = max((len(m.group()) for m in re.finditer(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _inline(text: str | None) -> str:
    """One line of session text as Markdown text: Markdown and HTML characters escaped."""
    if not text:
        return ""
    line = " ".join(markup.text(text).split())
    return re.sub(r"([\\`*_{}\[\]<>#|!~])", r"\\\1", line)


def _clip(text: str, width: int = LINE_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _first_line(text: str) -> str:
    for line in text.strip().split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _str(value: Any) -> str:
    return markup.text(value if isinstance(value, str) else ev.dumps(value))


def _time(step: Step) -> str:
    return step.time.astimezone().strftime("%H:%M:%S")

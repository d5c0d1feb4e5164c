"""Sessions and steps as text for the terminal; every function returns text already made safe to print.

Whatever came from a session goes through `clean` before it is shown (views/term.py), and lines are cut to the
terminal's width when there is one (`term.width`), never when the output is piped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from trail import events as ev
from trail.api import FileChange, Session
from trail.store.steps import Step
from trail.tracetree import Branch
from trail.views.term import Terminal, clean, fit, width_of

if TYPE_CHECKING:
    from trail.stats import Stats
    from trail.timetravel.credit import Credit
    from trail.tracetree import TraceTree, TreeSession

SECTION_LINES = 40
SECTION_CHARS = 4000
_KIND_STYLES = {
    "prompt": "bold green",
    "response": "blue",
    "tool_call": "cyan",
    "tool_result": "cyan",
    "command": "green",
    "decision": "magenta",
    "file_edit": "cyan",
    "external_change": "yellow",
    "user_commit": "yellow",
    "session_start": "dim",
    "session_end": "dim",
}


def local(when: datetime, seconds: bool = True) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def kind_label(step: Step, term: Terminal, width: int = 0) -> str:
    text = step.kind.ljust(width)
    style = "red" if step.failed else _KIND_STYLES.get(step.kind)
    return term.style(style, text) if style else text


def tokens(step: Step) -> str:
    tin, tout = step.tokens_in, step.tokens_out
    if tin is None and tout is None:
        return ""
    return f"{tin if tin is not None else '?'} in / {tout if tout is not None else '?'} out"


# -- sessions ------------------------------------------------------------------------------------------------------


def format_sessions(sessions: Sequence[Session], term: Terminal) -> str:
    if not sessions:
        return "No sessions recorded yet. Record one with trail.Recorder, or run `trail demo` to see one.\n"
    header = ("SESSION", "AGENT", "STEPS", "STARTED", "UPDATED", "TITLE")
    rows = []
    for s in sessions:
        title = clean(s.title, one_line=True) + (" (ended)" if s.ended else "")
        if fork_origin(s):
            title += f" (forked from {fork_origin(s)})"
        elif started_by(s):
            title += f" (started by {started_by(s)})"
        rows.append(
            (
                clean(s.handle),
                clean(s.agent or "-", True),
                str(s.steps),
                local(s.started, False),
                local(s.updated, False),
                title,
            )
        )
    widths = [max(width_of(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [_pad(row[c], widths[c], right=c == 2) for c in range(5)]
        if i == 0:
            cells = [term.style("bold", c) for c in cells]
        else:
            cells[0] = term.style("yellow", cells[0])
        prefix = "  ".join(cells) + "  "
        title = row[5] if i else term.style("bold", row[5])
        room = None if term.width is None else max(term.width - width_of(_strip(prefix)), 10)
        lines.append((prefix + (fit(title, room) if i else title)).rstrip())
    return "\n".join(lines) + "\n"


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(width - width_of(text), 0)
    return gap + text if right else text + gap


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip(text: str) -> str:
    return _ANSI.sub("", text)


# -- log -----------------------------------------------------------------------------------------------------------


def log_header(session: Session, term: Terminal) -> str:
    who = clean(session.agent or "agent", True)
    if session.model:
        who += f" ({clean(session.model, True)})"
    state = ", ended" if session.ended else ""
    line = f"session {term.style('yellow', clean(session.handle))}  {who}, {session.steps} steps{state}"
    out = line + "\n"
    if session.handle != session.id:
        out += f"id      {clean(session.id)}\n"
    if fork_origin(session):
        out += f"forked  from {fork_origin(session)}\n"
    elif session.parent:
        parent, step = session.parent
        out += f"parent  {clean(parent)}" + (f"@{step}" if step else "") + "\n"
    if session.title:
        out += f"title   {fit(clean(session.title, True), None if term.width is None else term.width - 8)}\n"
    return out


def fork_origin(session: Session) -> str | None:
    """`SESSION@N` of the step a session was forked from (`trail resume`); None for any other session, a subagent's
    included (its parent is the session its id starts with), and a process's a recorder started (it came with the
    span of its parent step: `trail log --tree`)."""
    if not session.parent or session.id.startswith(session.parent[0] + ".agent-") or session.info.parent_span_id:
        return None
    return _step_name(session, *session.parent)


def started_by(session: Session) -> str | None:
    """`SESSION@N` of the step of another process's session that started this one (TRACEPARENT and
    TRAIL_PARENT_STEP); None for any other session."""
    if not session.parent or not session.info.parent_span_id:
        return None
    return _step_name(session, *session.parent)


def _step_name(session: Session, parent: str, step: int | None) -> str:
    return clean(session.history.handle(parent), True) + (f"@{step}" if step else "")


def log_line(step: Step, term: Terminal, n_width: int = 4) -> str:
    """One step on one line: `@N  commit  time  kind  [tokens] summary`, cut to the terminal's width."""
    number = f"@{step.n}".rjust(n_width + 1)
    when = local(step.time)
    prefix_plain = f"{number}  {step.commit[:7]}  {when}  {step.kind:<15} "
    summary = clean(step.summary, one_line=True)
    count = tokens(step)
    if count:
        summary = f"[{count}] {summary}"
    room = None if term.width is None else max(term.width - width_of(prefix_plain), 10)
    return (
        f"{term.style('yellow', number)}  {term.style('dim', step.commit[:7])}  {when}  "
        f"{kind_label(step, term, 15)} {fit(summary, room)}\n"
    )


def format_tree(tree: TraceTree, term: Terminal) -> str:
    """`trail log --tree`: the sessions of a trace, each under the step that started it; `*` marks the one asked
    for. A session whose parent is not recorded here says what started it."""
    traces = tree.trace_ids
    head = "trace " + ", ".join(traces) if traces else "sessions started by one another (recorded with no trace id)"
    count = len(tree)
    lines = [term.style("bold", head) + f"  ({count} session{'s' if count != 1 else ''})"]
    for root in tree.roots:
        _tree_lines(root, "", "", term, lines)
    return "".join(line + "\n" for line in lines)


def _tree_lines(node: TreeSession, first: str, rest: str, term: Terminal, out: list[str]) -> None:
    s = node.session
    who = clean(s.agent or "agent", True) + (f" ({clean(s.model, True)})" if s.model else "")
    facts = f"{who}, {s.steps} step{'s' if s.steps != 1 else ''}" + (", ended" if s.ended else "")
    tail = clean(s.title, True) if s.title else ""
    if node.link is None and node.parent is not None:
        tail += f"  (started by {clean(node.parent[0], True)}{_at(node.parent[1])}, not recorded here)"
    elif node.link is None and s.info.parent_span_id is not None:
        tail += f"  (started by span {s.info.parent_span_id}, not recorded here)"
    mark = "* " if node.asked else "  "
    handle = clean(s.handle)
    out.append(_tree_line(mark + first, [("yellow", handle), (None, "  " + facts)], tail.strip(), term, node.asked))
    # A child whose parent named no step hangs from the session itself; the others from the step that started them.
    items: list[Branch | TreeSession] = []
    for branch in node.branches:
        items.extend(branch.sessions if branch.step is None else [branch])
    for i, item in enumerate(items):
        elbow, pipe = ("└─ ", "   ") if i == len(items) - 1 else ("├─ ", "│  ")
        if not isinstance(item, Branch):
            _tree_lines(item, rest + elbow, rest + pipe, term, out)
            continue
        parts: list[tuple[str | None, str]] = [("yellow", f"@{item.step}")]
        if item.kind:
            parts.append((None, f" {item.kind}"))
        out.append(_tree_line("  " + rest + elbow, parts, clean(item.summary or "", True), term))
        for j, child in enumerate(item.sessions):
            end = j == len(item.sessions) - 1
            inner = rest + pipe
            _tree_lines(child, inner + ("└─ " if end else "├─ "), inner + ("   " if end else "│  "), term, out)


def _tree_line(prefix: str, parts: list[tuple[str | None, str]], tail: str, term: Terminal, bold: bool = False) -> str:
    """One line of the tree: the drawing, styled parts, then `tail` cut to what the terminal has room for."""
    plain = prefix + "".join(text for _, text in parts) + "  "
    room = None if term.width is None else max(term.width - width_of(plain), 10)
    shown = term.style("bold", prefix) if bold else prefix
    shown += "".join(term.style(style, text) if style else text for style, text in parts)
    return shown + ("  " + fit(tail, room) if tail else "")


def _at(step: int | None) -> str:
    return f"@{step}" if step is not None else ""


# -- show ----------------------------------------------------------------------------------------------------------


def format_step(step: Step, address: str, changes: Sequence[FileChange], term: Terminal, full: bool = False) -> str:
    e = step.event
    field = lambda name: term.style("bold", f"{name:<9}")  # noqa: E731
    lines = [
        f"{field('step')}{term.style('yellow', clean(address))}",
        f"{field('kind')}{kind_label(step, term)}",
        f"{field('time')}{local(step.time)}",
        f"{field('commit')}{step.commit}",
    ]
    if step.parents:
        lines.append(f"{field('parent')}{' '.join(step.parents)}")
    who = clean(e.agent or "agent", True)
    model = e.model or step.session.get("model")
    if model:
        who += f" ({clean(str(model), True)})"
    lines.append(f"{field('agent')}{who}")
    if tokens(step):
        lines.append(f"{field('tokens')}{tokens(step)}")
    if e.payload.get("duration_ms") is not None:
        lines.append(f"{field('duration')}{clean(str(e.payload['duration_ms']), True)} ms")
    if step.tree_source:
        lines.append(f"{field('tree')}{clean(step.tree_source, True)}")
    if step.redacted:
        kinds = ", ".join(f"{clean(k, True)} x{v}" for k, v in sorted(step.redacted.items()))
        lines.append(f"{field('redacted')}{kinds}")
    for item in step.omitted:
        why = clean(item.reason, True) if item.reason else "over the size limit"
        lines.append(f"{field('omitted')}{clean(item.path, True)} ({item.size} bytes, {why})")
    lines.append(f"{field('files')}{diffstat(changes)}")
    lines += file_lines(changes, term, indent="  ")
    out = "\n".join(lines) + "\n"
    for label, text in ev.sections(e):
        text = clean(text)
        if not full:
            text = _cut(text, address)
        body = ev.indent(text)
        out += "\n" + (f"{term.style('bold', label + ':')}\n{body}" if label else body) + "\n"
    return out


def diffstat(changes: Sequence[FileChange]) -> str:
    if not changes:
        return "no change"
    added = sum(c.additions for c in changes)
    removed = sum(c.deletions for c in changes)
    files = "1 file" if len(changes) == 1 else f"{len(changes)} files"
    return f"{files} changed, {added} insertions(+), {removed} deletions(-)"


def file_lines(changes: Sequence[FileChange], term: Terminal, indent: str = "") -> list[str]:
    status_style = {"A": "green", "D": "red", "R": "cyan", "C": "cyan", "M": "yellow", "T": "magenta"}
    names = [clean(f"{c.old_path} -> {c.path}" if c.old_path else c.path, True) for c in changes]
    width = min(max((width_of(n) for n in names), default=0), 60)
    out = []
    for change, name in zip(changes, names, strict=True):
        counts = (
            "binary"
            if change.binary
            else " ".join(
                x
                for x in (
                    term.style("green", f"+{change.additions}") if change.additions else "",
                    term.style("red", f"-{change.deletions}") if change.deletions else "",
                )
                if x
            )
        )
        out.append(
            f"{indent}{term.style(status_style.get(change.status, 'yellow'), change.status)}  "
            f"{name}{' ' * max(width - width_of(name), 0)}  {counts}".rstrip()
        )
    return out


def _cut(text: str, address: str) -> str:
    lines = text.split("\n")
    kept = lines[:SECTION_LINES]
    shown = "\n".join(kept)
    if len(shown) > SECTION_CHARS:
        shown = shown[:SECTION_CHARS]
    hidden_chars = len(text) - len(shown)
    if hidden_chars <= 0:
        return text
    hidden_lines = text.count("\n") - shown.count("\n")
    what = f"{hidden_lines} more lines" if hidden_lines > 0 else f"{hidden_chars} more characters"
    return shown.rstrip("\n") + f"\n[… {what}; `trail show --full {address}` shows all]"


# -- diff ----------------------------------------------------------------------------------------------------------

_DIFF_STYLES = (
    (b"diff --git", "bold"),
    (b"index ", "bold"),
    (b"--- ", "bold"),
    (b"+++ ", "bold"),
    (b"old mode", "bold"),
    (b"new mode", "bold"),
    (b"deleted file", "bold"),
    (b"new file", "bold"),
    (b"similarity", "bold"),
    (b"rename ", "bold"),
    (b"Binary files", "bold"),
    (b"@@", "cyan"),
    (b"+", "green"),
    (b"-", "red"),
)


def color_patch(patch: bytes, term: Terminal) -> bytes:
    """A patch coloured as `git diff` colours one (file headers bold, hunks cyan, lines added green, removed red);
    unchanged when colour is off. Bytes: file contents and names need not be UTF-8."""
    if not term.color:
        return patch
    out = []
    in_header = False
    for line in patch.splitlines(keepends=True):
        if line.startswith(b"diff --git"):
            in_header = True
        elif line.startswith(b"@@"):
            in_header = False
        body, end = (line[:-1], b"\n") if line.endswith(b"\n") else (line, b"")
        style = None
        for prefix, name in _DIFF_STYLES:
            if line.startswith(prefix) and (in_header or prefix in (b"@@", b"+", b"-")):
                style = name
                break
        if style is None or not body:
            out.append(line)
        else:
            out.append(term.style(style, "\0").encode().replace(b"\0", body) + end)
    return b"".join(out)


# -- stats ---------------------------------------------------------------------------------------------------------


def format_stats(stats: Stats, term: Terminal, what: str) -> str:
    bold = lambda text: term.style("bold", text)  # noqa: E731
    hours, rest = divmod(int(stats.wall.total_seconds()), 3600)
    lines = [
        f"{bold('sessions')}  {stats.sessions} ({clean(what, True)})",
        f"{bold('steps')}     {stats.steps}: " + ", ".join(f"{n} {k}" for k, n in stats.kinds.most_common()),
        f"{bold('wall')}      {hours}h {rest // 60:02d}m {rest % 60:02d}s",
        f"{bold('files')}     {stats.files_changed} changed, {stats.insertions} insertions(+), "
        f"{stats.deletions} deletions(-)",
    ]
    if stats.tools:
        rows: list[tuple[str, ...]] = [("tool", "calls", "errors", "time")]
        for name, tool in sorted(stats.tools.items(), key=lambda kv: -kv[1].calls):
            rows.append((clean(name, True), str(tool.calls), str(tool.errors), f"{tool.duration_ms / 1000:.1f}s"))
        lines += ["", *table(rows, term)]
    if stats.models:
        rows = [("model", "responses", "tokens in", "tokens out", "fresh in", "cache read", "cache write", "cost")]
        for name, m in sorted(stats.models.items()):
            cost = f"{m.cost:.4f}" if m.cost is not None else "-"
            rows.append(
                (
                    clean(name, True),
                    str(m.responses),
                    str(m.tokens_in),
                    str(m.tokens_out),
                    str(m.input),
                    str(m.cache_read),
                    str(m.cache_write),
                    cost,
                )
            )
        total = f"{stats.cost:.4f}" if stats.cost is not None else "-"
        rows.append(("total", "", str(stats.tokens_in), str(stats.tokens_out), "", "", "", total))
        lines += ["", *table(rows, term)]
        if stats.cost is None:
            lines.append(
                "(no prices configured: `trail config price.<model>.input 3.00` and .output, per million tokens)"
            )
    return "\n".join(lines) + "\n"


def table(rows: Sequence[Sequence[str]], term: Terminal) -> list[str]:
    """Rows as aligned columns: the first column left-aligned, the others right-aligned, the header bold."""
    widths = [max(width_of(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for number, row in enumerate(rows):
        cells = [_pad(cell, widths[i], right=i > 0) for i, cell in enumerate(row)]
        line = "  ".join(cells).rstrip()
        out.append(term.style("bold", line) if number == 0 else line)
    return out


# -- commits -------------------------------------------------------------------------------------------------------


def format_commit_origins(commit: str, credits: Sequence[Credit], handle: Callable[[str], str], term: Terminal) -> str:
    if not credits:
        return f"No recorded session made a change of {commit}: none of its changes is in a step's tree.\n"
    out = []
    for c in credits:
        who = clean(c.session.agent or "agent", True)
        out.append(
            f"session {term.style('yellow', clean(handle(c.session.id), True))}  {who}: "
            f"{len(c.paths)} of the commit's changes ({', '.join(clean(p, True) for p in c.paths[:5])}"
            f"{' …' if len(c.paths) > 5 else ''})"
        )
        out += [f"  @{s.n:<5} {kind_label(s, term, 14)} {fit(clean(s.summary, True), 80)}" for s in c.steps]
    return "\n".join(out) + "\n"

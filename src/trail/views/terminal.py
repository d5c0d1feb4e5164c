"""Plain-text renderings of sessions and steps for the terminal; each function returns a string."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from trail import events as ev
from trail.store.steps import SessionInfo, Step


def local(when: datetime, seconds: bool = True) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_sessions(sessions: list[SessionInfo]) -> str:
    if not sessions:
        return "No sessions recorded yet. Record one with trail.Recorder, or run `trail demo` to see one.\n"
    rows = [("SESSION", "AGENT", "STEPS", "STARTED", "UPDATED", "TITLE")]
    for info in sessions:
        title = info.title + (" (ended)" if info.ended else "")
        rows.append(
            (
                info.id,
                info.agent or "-",
                str(info.steps),
                local(info.started, False),
                local(info.updated, False),
                ev.one_line(title, 60),
            )
        )
    return _table(rows, right_aligned=frozenset({2}))


def format_commit_origins(commit: str, origins: list[tuple[SessionInfo, list[Step]]]) -> str:
    if not origins:
        return f"No recorded session made commit {commit} (commits are recorded by `trail hooks install git`).\n"
    out = []
    for info, steps in origins:
        first, last = steps[0], steps[-1]
        out.append(f"session {info.id}  {info.agent or 'agent'}: steps @{first.n} to @{last.n}")
        out += [f"  @{s.n:<4} {s.kind:<14} {ev.one_line(step_line(s), 80)}" for s in steps]
    return "\n".join(out) + "\n"


def step_line(step: Step) -> str:
    summary = step.summary
    tokens = _tokens(step)
    if tokens:
        summary = f"[{tokens}] {summary}"
    return summary


def format_log(info: SessionInfo, steps: list[Step]) -> str:
    header = f"session {info.id}  {info.agent or 'agent'}, {info.steps} steps"
    if info.title:
        header += f"  {ev.one_line(info.title, 60)}"
    rows = [(f"@{s.n}", s.commit[:10], local(s.time), s.kind, ev.one_line(step_line(s), 80)) for s in steps]
    return header + "\n" + _table(rows, right_aligned=frozenset({0}), indent="  ")


def format_step(step: Step, diffstat: str | None) -> str:
    e = step.event
    lines = [
        f"step     {step.address}",
        f"kind     {step.kind}",
        f"time     {local(step.time)}",
        f"commit   {step.commit}",
    ]
    if step.parents:
        lines.append(f"parent   {' '.join(step.parents)}")
    who = e.agent or "agent"
    model = e.model or step.session.get("model")
    if model:
        who += f" ({model})"
    lines.append(f"agent    {who}")
    tokens = _tokens(step)
    if tokens:
        lines.append(f"tokens   {tokens}")
    if e.payload.get("duration_ms") is not None:
        lines.append(f"duration {e.payload['duration_ms']} ms")
    if step.redacted:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(step.redacted.items()))
        lines.append(f"redacted {kinds}")
    if diffstat:
        lines.append(f"files    {diffstat.strip()}")
    for item in step.omitted:
        lines.append(f"omitted  {item.path} ({item.size} bytes, over the size limit)")
    out = "\n".join(lines) + "\n"
    for label, text in ev.sections(e):
        out += "\n" + (f"{label}:\n" + ev.indent(text) if label else ev.indent(text)) + "\n"
    return out


def _tokens(step: Step) -> str:
    p = step.event.payload
    tin, tout = p.get("tokens_in"), p.get("tokens_out")
    if tin is None and tout is None:
        return ""
    return f"{tin if tin is not None else '?'} in / {tout if tout is not None else '?'} out"


def _table(rows: Sequence[tuple[str, ...]], right_aligned: frozenset[int] = frozenset(), indent: str = "") -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        out.append(indent + "  ".join(cells).rstrip())
    return "\n".join(out) + "\n"

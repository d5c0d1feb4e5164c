"""The web UI's own pages, besides the replay: the list of sessions with its filters and figures, and the files of
a session at one step. Plain HTML with no script; every text from a session or a file name is escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import pygit2

from trail.api import Session
from trail.views.html import Page, document
from trail.views.markup import esc

SINCE_CHOICES = (("", "any time"), ("1", "the last day"), ("7", "the last 7 days"), ("30", "the last 30 days"))


def session_url(session_id: str, rest: str = "") -> str:
    return f"/s/{quote(session_id, safe='')}/{rest}"


def files_url(session_id: str, step: int, segments: list[bytes] | None = None, folder: bool = True) -> str:
    path = "/".join(quote(s, safe="") for s in segments or ())
    tail = path + ("/" if folder and path else "")
    return session_url(session_id, f"files/{step}/{tail}")


@dataclass(frozen=True)
class SessionFilter:
    """What the list shows: text in the id, title, agent or model; one agent; active within the last N days."""

    text: str = ""
    agent: str = ""
    days: str = ""

    def keeps(self, session: Session, now: datetime) -> bool:
        if self.agent and (session.agent or "") != self.agent:
            return False
        if self.days.isdigit() and session.updated < now - timedelta(days=int(self.days)):
            return False
        if self.text:
            words = " ".join([session.id, session.handle, session.title, session.agent or "", session.model or ""])
            return self.text.lower() in words.lower()
        return True


def sessions_page(sessions: list[Session], chosen: SessionFilter, problems: int = 0) -> Page:
    """Every session, most recently active first, subagents under the session that started them."""
    now = datetime.now().astimezone()
    shown = [s for s in sessions if chosen.keeps(s, now)]
    ids = {s.id for s in shown}
    children: dict[str, list[Session]] = {}
    top = []
    for s in shown:
        parent = s.parent[0] if s.parent else None
        if parent in ids:
            children.setdefault(parent, []).append(s)
        else:
            top.append(s)
    agents = sorted({s.agent for s in sessions if s.agent})
    active = {s.agent for s in shown if s.agent}
    total_steps = sum(s.steps for s in shown)
    subagents = sum(1 for s in shown if s.parent)
    out = [
        '<div class="page"><h1>Sessions</h1>',
        '<div class="crumbs">trail web UI, read-only: nothing here changes the repository.</div>',
        '<div class="stats">',
        _stat(f"{len(shown):,}", "sessions" if len(shown) != 1 else "session"),
        _stat(f"{subagents:,}", "of them subagents") if subagents else "",
        _stat(f"{total_steps:,}", "steps"),
        _stat(f"{len(active):,}", "agent" if len(active) == 1 else "agents"),
    ]
    if shown:
        out.append(_stat(_when(max(s.updated for s in shown)), "last step"))
    if problems:
        out.append(_stat(f"{problems:,}", "unreadable refs (see trail doctor)"))
    out.append("</div>")
    out.append('<form class="filters" method="get" action="/">')
    out.append(
        f'<input type="search" name="q" value="{esc(chosen.text)}" placeholder="Text in the title, id, agent or model" '
        'aria-label="Filter by text" size="34">'
    )
    out.append('<select name="agent" aria-label="Agent"><option value="">every agent</option>')
    for agent in agents:
        selected = " selected" if agent == chosen.agent else ""
        out.append(f'<option value="{esc(agent)}"{selected}>{esc(agent)}</option>')
    out.append('</select><select name="days" aria-label="Active since">')
    for value, label in SINCE_CHOICES:
        selected = " selected" if value == chosen.days else ""
        out.append(f'<option value="{value}"{selected}>{label}</option>')
    out.append('</select><button type="submit">Filter</button>')
    if chosen != SessionFilter():
        out.append('<a href="/">clear</a>')
    out.append("</form>")
    if not shown:
        message = "No session matches these filters." if sessions else "No sessions recorded in this repository yet."
        out.append(f'<p class="empty">{message}</p></div>')
        return document("Sessions · trail", "".join(out), forms=True)
    out.append(
        '<table class="sessions"><thead><tr><th>Session</th><th>Title</th><th>Agent</th><th class="num">Steps</th>'
        '<th class="num">Started</th><th class="num">Last step</th><th class="num">Lasted</th></tr></thead><tbody>'
    )
    for s in top:
        out.append(_session_row(s, False))
        out.extend(_session_row(c, True) for c in _descendants(s.id, children))
    out.append("</tbody></table></div>")
    return document("Sessions · trail", "".join(out), forms=True)


def _descendants(session_id: str, children: dict[str, list[Session]]) -> list[Session]:
    out = []
    for child in sorted(children.get(session_id, ()), key=lambda c: c.started):
        out.append(child)
        out.extend(_descendants(child.id, children))
    return out


def _session_row(s: Session, child: bool) -> str:
    who = esc(s.agent or "agent") + (f' <span class="muted">({esc(s.model)})</span>' if s.model else "")
    title = esc(s.title) if s.title else '<span class="muted">(no prompt)</span>'
    ended = "" if s.ended else ' <span class="muted">(active)</span>'
    mark = "↳ " if child else ""
    return (
        f'<tr class="{"child" if child else ""}"><td class="handle">{mark}<a href="{esc(session_url(s.id))}">'
        f"{esc(s.handle)}</a></td><td class='title-cell'>{title}{ended}</td><td class='agent'>{who}</td>"
        f'<td class="num">{s.steps:,}</td><td class="num">{_when(s.started)}</td>'
        f'<td class="num">{_when(s.updated)}</td>'
        f'<td class="num">{_lasted(s.updated - s.started)}</td></tr>'
    )


def _stat(value: str, label: str) -> str:
    return f'<span class="stat"><b>{esc(value)}</b> {esc(label)}</span>'


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _lasted(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def tree_page(session: Session, step: int, segments: list[bytes], tree: pygit2.Tree) -> Page:
    """The folder `segments` of the working tree recorded at a step: its entries, each a link."""
    sid = session.id
    crumbs = [
        '<a href="/">Sessions</a>',
        f'<a href="{esc(session_url(sid))}">{esc(session.handle)}</a>',
        f'<a href="{esc(session_url(sid))}#step-{step}">step {step}</a>',
        f'<a href="{esc(files_url(sid, step))}">files</a>',
    ]
    for i, name in enumerate(segments):
        crumbs.append(f'<a href="{esc(files_url(sid, step, segments[: i + 1]))}">{esc(_name(name))}</a>')
    where = "/".join(_name(s) for s in segments) or "The top folder"
    out = [
        f'<div class="page"><h1>Files at step {step}</h1><div class="crumbs">{" / ".join(crumbs)}</div>',
        f'<p class="muted">{esc(where)} of the working tree as it was at step {step} of session '
        f"{esc(session.handle)}. Files open as plain text.</p>",
        '<table class="tree"><thead><tr><th>Name</th><th>Kind</th><th class="num">Size</th></tr></thead><tbody>',
    ]
    entries = sorted(tree, key=lambda e: (e.filemode != pygit2.enums.FileMode.TREE, e.raw_name or b""))
    if segments:
        up = esc(files_url(sid, step, segments[:-1]))
        out.append(f'<tr><td class="name"><a href="{up}">..</a></td><td></td><td></td></tr>')
    for entry in entries:
        raw = entry.raw_name or b""
        mode = entry.filemode
        shown = esc(_name(raw))
        if mode == pygit2.enums.FileMode.TREE:
            link = f'<a href="{esc(files_url(sid, step, [*segments, raw]))}">{shown}/</a>'
            out.append(f'<tr><td class="name">{link}</td><td>folder</td><td></td></tr>')
        elif mode == pygit2.enums.FileMode.COMMIT:
            at = esc(str(entry.id)[:12])
            out.append(f'<tr><td class="name">{shown}</td><td>submodule at {at}</td><td></td></tr>')
        else:
            kind = "link" if mode == pygit2.enums.FileMode.LINK else "file"
            size = entry.size if isinstance(entry, pygit2.Blob) else 0
            link = f'<a href="{esc(files_url(sid, step, [*segments, raw], folder=False))}">{shown}</a>'
            out.append(f'<tr><td class="name">{link}</td><td>{kind}</td><td class="num">{size:,}</td></tr>')
    out.append("</tbody></table></div>")
    return document(f"Files at step {step} · {session.handle} · trail", "".join(out))


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")

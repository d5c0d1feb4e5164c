"""Search hits as text for the terminal: `SESSION@N  kind  time  summary`, then the snippet with its matches marked.

Imports nothing heavy: `trail search` answers without loading libgit2 when its index is current.
"""

from __future__ import annotations

from datetime import datetime

from trail.search.index import Hit
from trail.views.term import Terminal, clean, fit, width_of


def format_hit(hit: Hit, handle: str, term: Terminal) -> str:
    when = datetime.fromisoformat(hit.time).astimezone().strftime("%Y-%m-%d %H:%M")
    address = f"{handle}@{hit.n}"
    shown_in_summary = hit.tool and hit.summary.startswith(hit.tool)  # a tool call's summary begins with its tool
    what = hit.kind + (f" {hit.tool}" if hit.tool and not shown_in_summary else "")
    head = f"{term.style('yellow', clean(address, True))}  {when}  {clean(what, True)}"
    summary = clean(hit.summary, True)
    room = None if term.width is None else max(term.width - width_of(f"{address}  {when}  {what}  "), 10)
    lines = [f"{head}  {fit(summary, room)}".rstrip()]
    snippet = _highlight(hit, term)
    if snippet and snippet != summary:
        lines.append("    " + snippet)
    return "\n".join(lines) + "\n"


def _highlight(hit: Hit, term: Terminal) -> str:
    text = hit.snippet
    out = []
    pos = 0
    for start, end in hit.matches:
        out.append(clean(text[pos:start], True))
        out.append(term.style("bold red", clean(text[start:end], True)) if term.color else clean(text[start:end], True))
        pos = end
    out.append(clean(text[pos:], True))
    return " ".join("".join(out).split())

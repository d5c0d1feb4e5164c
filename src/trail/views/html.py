"""HTML documents: the replay of a session as one self-contained file (inline CSS and script, the data as JSON
blocks parsed when shown, nothing fetched), and the plain pages of the web UI, each with its Content-Security-Policy.

The policy lets run only the page's own script and style, by their hashes: whatever a session holds, nothing it
smuggled into the page can execute, load or send anything.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

from trail import __version__
from trail.views import markup
from trail.views.markup import esc
from trail.views.replay import Replay

# A session's first step bodies and changes go before the script, so that it shows the first screen without
# waiting for the rest of the file to be read; every other block follows it.
_END = '<template id="trail-end"></template>'


@dataclass(frozen=True)
class Page:
    """A document and the Content-Security-Policy a server sends with it (the file carries the same in a meta tag,
    where `frame-ancestors` cannot be said)."""

    html: str
    csp: str

    @cached_property
    def data(self) -> bytes:
        """The page as UTF-8, encoded once (the web UI sends a cached page many times)."""
        return markup.encode(self.html)

    def encode(self) -> bytes:
        return self.data


@lru_cache(maxsize=4)
def asset(name: str) -> str:
    """A file of views/static/, shipped with the package."""
    return (resources.files("trail.views") / "static" / name).read_text("utf-8")


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(script: str | None, style: str, forms: bool = False, header: bool = False) -> str:
    """A Content-Security-Policy allowing only this inline script and style (by hash) and data: images."""
    parts = [
        "default-src 'none'",
        f"script-src {_hash(script)}" if script is not None else "script-src 'none'",
        f"style-src {_hash(style)}",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'self'" if forms else "form-action 'none'",
    ]
    if header:
        parts.append("frame-ancestors 'none'")
    return "; ".join(parts)


def document(
    title: str,
    body: str,
    data: Sequence[tuple[str, Any]] | None = None,
    tail: Sequence[tuple[str, Any]] | None = None,
    script: bool = False,
    forms: bool = False,
    body_class: str = "",
) -> Page:
    """A page: `body` (HTML already escaped), then JSON blocks (`data`), the replay script when asked, and more
    JSON blocks (`tail`) after it. `title` is plain text."""
    style = asset("replay.css")
    code = asset("replay.js") if script else None
    meta_policy = policy(code, style, forms)
    out = [
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n",
        f'<meta http-equiv="Content-Security-Policy" content="{meta_policy}">\n',
        "<meta name=referrer content=no-referrer>\n",
        '<meta name=viewport content="width=device-width, initial-scale=1">\n',
        f'<meta name=generator content="trail {__version__}">\n<title>{esc(title)}</title>\n',
        f"<style>{style}</style>\n</head>\n",
        f'<body class="{esc(body_class)}">\n{body}\n',
    ]
    for element_id, value in data or ():
        out.append(_block(element_id, value))
    if code is not None:
        out.append(f"<script>{code}</script>\n")
    for element_id, value in tail or ():
        out.append(_block(element_id, value))
    out.append(f"{_END}\n</body>\n</html>\n")
    return Page("".join(out), policy(code, style, forms, header=True))


def _block(element_id: str, value: object) -> str:
    return f'<script type="application/json" id="{esc(element_id)}">{markup.script_json(value)}</script>'


def replay_page(replay: Replay) -> Page:
    """The replay of a session: a timeline of its steps, to step through with the keyboard."""
    first: list[tuple[str, Any]] = [("trail-index", replay.index)]
    rest: list[tuple[str, Any]] = []
    for element_id, bodies in replay.bodies.items():
        (first if element_id == "b-0-0" else rest).append((element_id, bodies))
    for element_id, changes in replay.change_blocks():
        (first if element_id == "d-0" else rest).append((element_id, changes))
    title = replay.index["title"]
    return document(f"{title} · trail replay", _REPLAY_BODY, first, rest, script=True, body_class="replay")


def diff_page(title: str, heading: str, change: dict[str, Any], links: dict[str, Any] | None = None) -> Page:
    """One code change on a page of its own (the web UI's diff between two steps), drawn by the replay script."""
    index = {"v": 1, "mode": "diff", "title": title, "heading": heading, "change": change, "links": links}
    body = (
        '<header class="top"><div class="title-row"><h1 id="title"></h1><nav id="links" class="links"></nav></div>'
        '<div id="meta" class="meta"></div></header><main id="diff-page" class="diff-page"></main>'
    )
    return document(title, body, [("trail-index", index)], script=True, body_class="diffview")


_REPLAY_BODY = """\
<header class="top">
 <div class="title-row"><h1 id="title"></h1><nav id="links" class="links"></nav></div>
 <div id="meta" class="meta"></div>
 <div id="stats" class="stats"></div>
 <div id="trace"></div>
</header>
<div class="toolbar" role="toolbar">
 <div class="transport">
  <button id="prev" type="button" title="Previous step (k, ←)" aria-label="Previous step">\
<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M10 3 5 8l5 5"/></svg></button>
  <button id="play" type="button" title="Play (space)" aria-label="Play">\
<svg viewBox="0 0 16 16" aria-hidden="true"><path class="i-play" d="M5 3v10l8-5z"/>\
<path class="i-pause" d="M5 3v10M11 3v10"/></svg></button>
  <button id="next" type="button" title="Next step (j, →)" aria-label="Next step">\
<svg viewBox="0 0 16 16" aria-hidden="true"><path d="m6 3 5 5-5 5"/></svg></button>
 </div>
 <label class="jump" title="Jump to step (g)">Step <input id="jump" type="text" inputmode="numeric" \
autocomplete="off" spellcheck="false" aria-label="Jump to step"> <span id="count"></span></label>
 <input id="filter" type="search" placeholder="Filter steps  /" autocomplete="off" spellcheck="false" \
aria-label="Filter steps by text">
 <div id="kinds" class="kinds" role="group" aria-label="Filter by kind"></div>
 <span id="shown" class="shown"></span>
 <button id="help-button" type="button" class="help-button" title="Keyboard shortcuts (?)">?</button>
</div>
<canvas id="strip" class="strip" aria-label="Timeline: click to jump"></canvas>
<main class="panes">
 <div id="list" class="list" tabindex="0" role="listbox" aria-label="Steps">\
<div id="list-space" class="space"></div></div>
 <section id="detail" class="detail" tabindex="-1" aria-live="polite"></section>
</main>
<div id="help" class="help" hidden>
 <div class="help-box" role="dialog" aria-label="Keyboard shortcuts">
  <h2>Keyboard</h2>
  <dl>
   <dt><kbd>j</kbd> <kbd>↓</kbd> <kbd>→</kbd></dt><dd>next step</dd>
   <dt><kbd>k</kbd> <kbd>↑</kbd> <kbd>←</kbd></dt><dd>previous step</dd>
   <dt><kbd>n</kbd> / <kbd>p</kbd></dt><dd>next / previous prompt</dd>
   <dt><kbd>d</kbd> / <kbd>D</kbd></dt><dd>next / previous decision</dd>
   <dt><kbd>e</kbd> / <kbd>E</kbd></dt><dd>next / previous failed tool call</dd>
   <dt><kbd>Home</kbd> / <kbd>End</kbd></dt><dd>first / last step</dd>
   <dt><kbd>g</kbd></dt><dd>jump to step</dd>
   <dt><kbd>/</kbd></dt><dd>filter steps (text; click the kinds to filter by kind)</dd>
   <dt><kbd>x</kbd></dt><dd>show or hide the subagents this step started</dd>
   <dt><kbd>space</kbd></dt><dd>play / pause</dd>
   <dt><kbd>Esc</kbd></dt><dd>leave a field, close this</dd>
  </dl>
  <p>Each step has its own link: <code>#step-42</code> opens the page at step 42.</p>
 </div>
</div>
<noscript><p class="noscript">This replay needs JavaScript to show the steps. Nothing in it is fetched from \
the network.</p></noscript>
"""

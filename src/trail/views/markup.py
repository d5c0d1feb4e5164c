"""Session text made safe for a web page: escaped, Markdown rendered with raw HTML off and only http, https and
mailto links, and JSON that no text inside it can close the `<script>` element it is embedded in.

Everything recorded from an agent is hostile here: a prompt, a tool's output or a file name may hold `<script>`,
`onerror=`, `javascript:` links or `</script>`. The page shows such text, and nothing in it ever runs.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

from trail.views.term import clean

# Longer texts are shown as plain text: Markdown rendering is linear but not free, and such texts are logs, not prose.
MARKDOWN_LIMIT = 200_000
SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Characters that would let JSON text end its <script> element or an HTML comment, or (U+2028/9) end a JS line.
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ALIGN = re.compile(r"^text-align:(left|right|center)$")


def text(value: str) -> str:
    """Session text fit for a page: Windows line ends as `\\n`, control characters and bidi overrides made visible
    (`^[`, `<U+202E>`), lone surrogates (half an emoji) as U+FFFD, so the text always encodes as UTF-8."""
    if "\r" in value:
        value = value.replace("\r\n", "\n")
    return clean(value)


def esc(value: object) -> str:
    """`value` as HTML text or attribute content (quotes escaped too)."""
    return html.escape(text(value if isinstance(value, str) else str(value)), quote=True)


def safe_link(url: str) -> bool:
    """Only web and mail links: `javascript:`, `data:`, `file:`, `vbscript:` and relative links are refused (a
    relative link in a file opened from disk would open the reader's own files)."""
    return url.strip().lower().startswith(SAFE_SCHEMES)


def markdown(source: str) -> str:
    """Markdown as HTML safe to insert in the page: raw HTML is shown as text, links are web or mail links that open
    in a new tab without a referrer, and images are shown as their links (a page loads nothing)."""
    return _renderer().render(text(source))


def script_json(value: Any) -> str:
    """`value` as JSON to put inside `<script type="application/json">`: `<`, `>`, `&`, U+2028 and U+2029 are
    escaped (as \\u003c …), so no string in it can close the element, open a comment or break a line of script."""
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    return _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], out)


def encode(document: str) -> bytes:
    """A page as UTF-8; a lone surrogate that escaped cleaning becomes U+FFFD rather than an error."""
    try:
        return document.encode("utf-8")
    except UnicodeEncodeError:
        return document.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.core.ruler.push("trail_attributes", _attributes)
    return md


def _attributes(state: StateCore) -> None:
    """Links open in a new tab with no opener and no referrer; table alignment becomes a class, since the page's
    Content-Security-Policy refuses inline style attributes."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if style is not None:
                token.attrs.pop("style", None)
                match = _ALIGN.match(str(style))
                if match:
                    token.attrSet("class", "ta-" + match.group(1))
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("target", "_blank")
                child.attrSet("rel", "noopener noreferrer nofollow")

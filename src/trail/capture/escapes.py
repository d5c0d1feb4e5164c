"""An unescaped view of text that holds JSON string escapes, with a map from the view's offsets back to the text's.

Secrets hide behind escapes when a tool prints JSON inside JSON (`\\"Authorization\\": \\"Bearer …\\"`), when a key's
characters are written as `\\u0073k-…`, when a URL's slashes are `\\/`, or simply when a raw JSON line puts `\\n`
right before a token. The redactor searches the view as well and replaces the escaped span of the original text.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["EscapedView", "unescaped_views"]

# JSON's escapes; anything else after a backslash (`\d` in a regex, `\U` in a Windows path) is kept as it is.
# (A string, compiled on first use and kept in `re`'s cache.)
_ESCAPE = r"\\(?:u[0-9a-fA-F]{4}|[\"\\/bfnrt])"
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _decode(match: re.Match[str]) -> str:
    escape = match.group()
    return _SIMPLE[escape[1]] if len(escape) == 2 else chr(int(escape[2:], 16))


class EscapedView:
    """`text` is `source` with its JSON escapes decoded, each to one character; `source_span` maps back.

    The map is built on first use: most views are searched and found to hold nothing.
    """

    __slots__ = ("_escapes", "parent", "source", "text")

    def __init__(self, source: str, parent: EscapedView | None = None) -> None:
        self.source = source
        self.parent = parent
        self.text = re.sub(_ESCAPE, _decode, source)
        # For each escape: its offset in the view, its offset in the source, its length in the source.
        self._escapes: tuple[list[int], list[int], list[int]] | None = None

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `source` that the view's [start, end) was decoded from (whole escapes, never half of one)."""
        return self._to_source(start, at_end=False), self._to_source(end - 1, at_end=True)

    def root_span(self, start: int, end: int) -> tuple[int, int]:
        """Like `source_span`, through every view this one was made from, down to the original text."""
        view: EscapedView | None = self
        while view is not None:
            start, end = view.source_span(start, end)
            view = view.parent
        return start, end

    def _to_source(self, offset: int, *, at_end: bool) -> int:
        if self._escapes is None:
            view_at: list[int] = []
            source_at: list[int] = []
            lengths: list[int] = []
            shrink = 0
            for match in re.finditer(_ESCAPE, self.source):
                start, end = match.span()
                view_at.append(start - shrink)
                source_at.append(start)
                lengths.append(end - start)
                shrink += end - start - 1
            self._escapes = (view_at, source_at, lengths)
        view_at, source_at, lengths = self._escapes
        i = bisect.bisect_right(view_at, offset) - 1
        if i < 0:
            return offset + 1 if at_end else offset
        if view_at[i] == offset:  # the character was an escape: take all of it
            return source_at[i] + (lengths[i] if at_end else 0)
        return source_at[i] + lengths[i] + (offset - view_at[i] - 1) + (1 if at_end else 0)


def unescaped_views(source: str, depth: int = 3) -> list[EscapedView]:
    """The views of `source`, each unescaping the one before (JSON inside JSON), up to `depth`; none if no escapes."""
    views: list[EscapedView] = []
    text = source
    parent: EscapedView | None = None
    while len(views) < depth and "\\" in text:
        view = EscapedView(text, parent)
        if view.text == text:
            break
        views.append(view)
        text, parent = view.text, view
    return views

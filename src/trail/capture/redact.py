"""Secret redaction: finds credentials in event text and replaces each with a `[REDACTED:<kind>]` marker.

It runs on every event before anything is written to git, so a recorded session never carries a usable secret. This
is the engine; what each kind of secret looks like is the catalog's business (`secrets.py`, re-exported here).
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from trail.capture.escapes import EscapedView, unescaped_views
from trail.capture.placeholders import is_generic_secret
from trail.capture.secrets import DEFAULT_RULES, Rule, secret_name_kind
from trail.errors import ConfigError

__all__ = ["DEFAULT_RULES", "Redactor", "Rule"]


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Patterns are strings compiled by `re` on first use (and kept in its cache), so importing compiles nothing.
_MARKER = r"\[REDACTED:[A-Za-z0-9_.-]+\]"
_SEPARATOR = "\n"
# In a JSON dump, a string's own `\uXXXX` or `\/` escape, its backslash doubled by the dump. (A string's backslash
# before a non-ASCII character's escape looks the same: taking that value apart too costs time, not secrets.)
_HIDING = r"\\\\(?:u[0-9a-fA-F]{4}|/)"
try:  # one pass over a text for every rule's keywords; without it, one pass per keyword
    from ahocorasick_rs import BytesAhoCorasick, Implementation

    _HAVE_AC = True
except ImportError:  # pragma: no cover - a platform without its wheel
    _HAVE_AC = False


class Redactor:
    """Replaces every secret its rules find with `[REDACTED:<kind>]`, counting them by kind.

    All the strings of an event are searched as one text, once: a keyword pass (Aho-Corasick over the text in
    lower case) finds where the rules' keywords are, and a rule is tried only where one of its keywords is (or, for
    a rule with no fixed place for its keyword, searched through the text only when the keyword is there at all).
    Strings that hold JSON escapes are searched a second time through an unescaped view (`escapes.py`), and what is
    found there replaces the escaped span of the original. Matches never cross from one string into the next
    (each is cut at the end of the string it starts in), never touch a marker already there, and when two rules
    match the same text the earlier rule (the more specific) wins. Replacing a secret can let a rule match where it
    could not before (a boundary check sees a marker's edge now), so the pass repeats until nothing more matches:
    redacting twice is the same as redacting once.
    """

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._always = tuple(i for i, rule in enumerate(self._rules) if not rule.keywords)
        by_keyword: dict[str, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for keyword in rule.keywords:
                by_keyword.setdefault(keyword, []).append(i)
        self._keywords = sorted(by_keyword)
        self._keyword_rules = [tuple(by_keyword[k]) for k in self._keywords]
        # Where a keyword is found matters only to anchored rules; for the others, that it is found at all.
        self._anchored = frozenset(
            k for k, rules in enumerate(self._keyword_rules) if any(self._rules[i].anchor is not None for i in rules)
        )
        self._automaton: BytesAhoCorasick | None = None

    @classmethod
    def with_extra_patterns(cls, patterns: Iterable[str]) -> Redactor:
        """DEFAULT_RULES plus user regexes (kind "custom"); a regex that does not compile is a ConfigError."""
        if isinstance(patterns, str):
            # A lone string is one pattern; iterating it would make every character a pattern of its own.
            patterns = [patterns]
        extra: list[Rule] = []
        for source in patterns:
            try:
                compiled = re.compile(source)
            except re.error as err:
                raise ConfigError(
                    f"redaction pattern {source!r} is not a valid regular expression ({err}); "
                    "fix or remove it among the `redact.pattern` entries of .git/trail/config"
                ) from err
            extra.append(Rule("custom", compiled))
        return cls((*DEFAULT_RULES, *extra))

    def redact_text(self, text: str) -> tuple[str, Counter[str]]:
        """Returns the redacted text and how many secrets of each kind were replaced."""
        counts: Counter[str] = Counter()
        if not text:
            return text, counts
        return self._redact_strings([text], counts)[0], counts

    def redact_value(self, value: Any) -> tuple[Any, Counter[str]]:
        """Recursively redacts every str in a JSON-like value (dict keys and values, lists, tuples -> lists).

        Other scalars are returned unchanged. A str under a key that names a secret (`{"DB_PASSWORD": …}`) is
        judged as the generic rules judge `DB_PASSWORD=…` in text. The input is never mutated: when a secret was
        found the result is a new structure; when none was, it is the input itself.
        """
        counts: Counter[str] = Counter()
        if not value:
            return value, counts
        if not self._always and isinstance(value, dict | list | tuple):
            # The value's JSON holds every keyword its strings hold (JSON escapes none of their characters):
            # when it holds none, no rule can match and the value need not be taken apart at all.
            try:
                dumped = json.dumps(value, ensure_ascii=True, default=str, check_circular=False)
            except (ValueError, TypeError, RecursionError):
                dumped = None
            # A string's `\u0073`-style and `\/` escapes may spell a keyword that the dump does not show (where
            # they are doubled): such a value is always taken apart. Its other escapes (`\n`, `\"`, `\\`) decode to
            # characters no keyword has, so they cannot.
            if dumped is not None and not re.search(_HIDING, dumped) and not self._keyword_hits(dumped)[1]:
                return value, counts
        strings: list[str] = []
        named: list[tuple[int, str, str]] = []
        _collect(value, strings, named)
        if not strings:
            return value, counts
        redacted = self._redact_strings(list(strings), counts)
        for index, kind, name in named:
            # A value under a secret's name (`{"DB_PASSWORD": "…"}`) is a secret as `DB_PASSWORD=…` in text would be.
            secret = redacted[index]
            if "[REDACTED:" not in secret and is_generic_secret(secret, name):
                redacted[index] = _marker(kind)
                counts[kind] += 1
        if not counts:
            return value, counts  # nothing to replace: no need for a copy
        return _rebuild(value, iter(redacted)), counts

    # -- inside ------------------------------------------------------------------------------------------------

    def _keyword_hits(self, text: str) -> tuple[bytes, list[tuple[int, int, int]]]:
        """`text` as lower-case UTF-8, and (keyword, start, end) in it, in bytes, for every keyword found."""
        data = text.encode("utf-8", "surrogatepass").lower()
        if _HAVE_AC and self._keywords:
            if self._automaton is None:
                # A DFA takes 1 ms to build for the ~450 keywords and then scans 2.5 times faster than the default.
                patterns = [k.encode() for k in self._keywords]
                self._automaton = BytesAhoCorasick(patterns, implementation=Implementation.DFA)
            return data, self._automaton.find_matches_as_indexes(data, overlapping=True)
        hits = []
        for index, keyword in enumerate(self._keywords):
            encoded = keyword.encode()
            start = data.find(encoded)
            while start >= 0:
                hits.append((index, start, start + len(encoded)))
                start = data.find(encoded, start + 1)
        return data, hits

    def _plan(self, text: str) -> tuple[list[int], dict[int, list[int]]]:
        """The rules that could match in `text`, in their order, and where each anchored one is to be tried."""
        data, hits = self._keyword_hits(text)
        if not hits:
            return list(self._always), {}
        rules = set(self._always)
        for keyword in {hit[0] for hit in hits}:
            rules.update(self._keyword_rules[keyword])
        anchored = self._anchored
        at: dict[int, list[int]] = {}
        for keyword, start, _ in hits:
            if keyword in anchored:
                at.setdefault(keyword, []).append(start)
        if len(data) != len(text):  # not ASCII: the automaton's offsets are in bytes
            at = _char_offsets(data, at)
        places: dict[int, list[int]] = {}
        for keyword, starts in at.items():
            for index in self._keyword_rules[keyword]:
                anchor = self._rules[index].anchor
                if anchor is not None:
                    places.setdefault(index, []).extend(start - anchor for start in starts)
        return sorted(rules), places

    def _matches(self, rule: Rule, text: str, places: list[int] | None) -> Iterator[re.Match[str]]:
        """The rule's matches in `text`: tried at `places` when it is anchored, searched for when it is not."""
        if rule.anchor is None:
            yield from rule.pattern.finditer(text)
            return
        pattern = rule.pattern
        end = 0
        for start in sorted(set(places or ())):
            # As with finditer, a match never starts inside the one before.
            if start >= end:
                match = pattern.match(text, start)
                if match is not None:
                    end = max(match.end(), start + 1)
                    yield match

    def _search(
        self,
        text: str,
        locate: Locate,
        taken: list[tuple[int, int]],
        found: list[list[tuple[int, int, str]]],
    ) -> bool:
        """Adds to `found` every new secret in `text`; `locate` maps a span of `text` to (string, start, end)."""
        rules, places = self._plan(text)
        any_found = False
        for index in rules:
            rule = self._rules[index]
            for match in self._matches(rule, text, places.get(index)):
                start, end = rule.secret_span(match)
                # An unmatched group (-1) or an empty one hides nothing; skipping empty spans also keeps a user
                # pattern such as `x*` from putting a marker between every two characters.
                if start >= end:
                    continue
                which, first, last = locate(start, end)
                if first >= last or _overlaps(taken, first, last):
                    continue
                if rule.check is not None and not rule.check(text[start:end], match):
                    continue
                bisect.insort(taken, (first, last))
                found[which].append((first, last, rule.kind))
                any_found = True
        return any_found

    def _redact_strings(self, strings: list[str], counts: Counter[str]) -> list[str]:
        while True:
            text = _SEPARATOR.join(strings)
            starts = _starts(strings)
            taken = [m.span() for m in re.finditer(_MARKER, text)] if "[REDACTED:" in text else []
            found: list[list[tuple[int, int, str]]] = [[] for _ in strings]
            any_found = self._search(text, _in_strings(strings, starts), taken, found)
            if "\\" in text:
                any_found = self._search_escaped(strings, starts, taken, found) or any_found
            if not any_found:
                return strings
            for which, spans in enumerate(found):
                if spans:
                    base = starts[which]
                    strings[which] = _replace(strings[which], [(s - base, e - base, k) for s, e, k in spans], counts)

    def _search_escaped(
        self,
        strings: list[str],
        starts: list[int],
        taken: list[tuple[int, int]],
        found: list[list[tuple[int, int, str]]],
    ) -> bool:
        """Searches the unescaped views of the strings that hold escapes; see escapes.py."""
        views = [(which, unescaped_views(s)) for which, s in enumerate(strings) if "\\" in s]
        any_found = False
        depth = 0
        while True:
            level = [(which, chain[depth]) for which, chain in views if len(chain) > depth]
            if not level:
                return any_found
            text = _SEPARATOR.join(view.text for _, view in level)
            any_found = self._search(text, _in_views(level, starts), taken, found) or any_found
            depth += 1


Locate = Callable[[int, int], tuple[int, int, int]]


def _starts(strings: Sequence[str]) -> list[int]:
    """Where each string starts in the strings joined by _SEPARATOR."""
    return list(itertools.accumulate((len(s) + 1 for s in strings[:-1]), initial=0))


def _in_strings(strings: list[str], starts: list[int]) -> Locate:
    """Maps a span of the joined strings to (string, start, end), cut at the end of the string it starts in."""

    def locate(start: int, end: int) -> tuple[int, int, int]:
        which = bisect.bisect_right(starts, start) - 1
        return which, start, min(end, starts[which] + len(strings[which]))

    return locate


def _in_views(level: list[tuple[int, EscapedView]], starts: list[int]) -> Locate:
    """Maps a span of the joined views to (string, start, end) in the original strings joined."""
    view_starts = _starts([view.text for _, view in level])

    def locate(start: int, end: int) -> tuple[int, int, int]:
        k = bisect.bisect_right(view_starts, start) - 1
        which, view = level[k]
        base = view_starts[k]
        first, last = view.root_span(start - base, min(end - base, len(view.text)))
        return which, starts[which] + first, starts[which] + last

    return locate


def _char_offsets(data: bytes, at: dict[int, list[int]]) -> dict[int, list[int]]:
    """`at` with byte offsets into `data` (UTF-8) turned into character offsets."""
    chars: dict[int, int] = {}
    byte = char = 0
    for offset in sorted({o for offsets in at.values() for o in offsets}):
        char += len(data[byte:offset].decode("utf-8", "surrogatepass"))
        byte = offset
        chars[offset] = char
    return {keyword: [chars[o] for o in offsets] for keyword, offsets in at.items()}


def _replace(text: str, spans: list[tuple[int, int, str]], counts: Counter[str]) -> str:
    pieces = []
    pos = 0
    for start, end, kind in sorted(spans):
        pieces.append(text[pos:start])
        pieces.append(_marker(kind))
        counts[kind] += 1
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    i = bisect.bisect_left(taken, (start, end))
    return (i > 0 and taken[i - 1][1] > start) or (i < len(taken) and taken[i][0] < end)


def _collect(value: Any, out: list[str], named: list[tuple[int, str, str]]) -> None:
    """Appends every str in `value` to `out`; notes in `named` the str values under a secret's name."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                out.append(key)
                if isinstance(item, str) and item:
                    kind = secret_name_kind(key)
                    if kind is not None:
                        named.append((len(out), kind, key))
            _collect(item, out, named)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, out, named)


def _rebuild(value: Any, strings: Iterator[str]) -> Any:
    """`value` with its strings replaced, in the order `_collect` found them; a new structure."""
    if isinstance(value, str):
        return next(strings)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new_key = next(strings) if isinstance(key, str) else key
            out[new_key] = _rebuild(item, strings)
        return out
    if isinstance(value, list | tuple):
        return [_rebuild(item, strings) for item in value]
    return value

"""Secret redaction: finds credentials in event text and replaces each with a `[REDACTED:<kind>]` marker.

It runs on every event before anything is written to git, so a recorded session never carries a usable secret.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from trail.errors import ConfigError

__all__ = ["DEFAULT_RULES", "Redactor", "Rule"]


@dataclass(frozen=True)
class Rule:
    """One kind of secret: `pattern` finds it and `group` says which part of a match is the secret.

    Text of the match outside `group` (a header name, a URL's user and host) is kept as it is. `keywords`, in
    lower case, are strings one of which every match contains (in any case): text with none of them is not
    searched by this rule at all. A rule without keywords (a user's pattern) searches every text.
    """

    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    keywords: tuple[str, ...] = ()


# Where a rule needs "not preceded by a word character", the lookbehind sits *after* the literal prefix
# (`sk-(?<![...]sk-)`): a pattern that starts with a literal lets `re` jump between occurrences of it, while a
# leading lookbehind makes it stop at every position, about twenty times slower on MB-sized tool outputs.

_PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
# A line break as it appears in a raw PEM file, or escaped inside a JSON or source string.
_LINE_BREAK = r"(?:\r?\n|(?:\\r)?\\n)"

PRIVATE_KEY = Rule(
    "private-key",
    re.compile(
        rf"-----BEGIN {_PEM_LABEL}"
        # Only a header followed by key material (a base64 line, or a `Proc-Type:`/`Version:` header) opens a
        # block, so code or prose that merely names the header is not redacted to the end of the text.
        rf"(?=[ \t]*(?:{_LINE_BREAK}[ \t]*)+(?:[A-Za-z0-9+/=]{{16}}|[A-Za-z][A-Za-z-]*:))"
        # Without an END line (truncated tool output) everything after the header may be key material.
        rf".*?(?:-----END {_PEM_LABEL}|\Z)",
        re.DOTALL,
    ),
    keywords=("-----begin",),
)
AWS_ACCESS_KEY = Rule(
    "aws-access-key",
    re.compile(
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
        r"(?<![A-Za-z0-9]....)[A-Z0-9]{16}(?![A-Za-z0-9])"
    ),
    keywords=("a3t", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa", "asca"),
)
AWS_SECRET_KEY = Rule(
    "aws-secret-key",
    re.compile(
        # Also catches `SecretAccessKey`, as `aws sts` and `aws iam create-access-key` print it in JSON; the
        # name is not anchored on the left, so `aws_`, `AWS_` or another S3 provider's prefix may precede it.
        r"secret_?access_?key[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        re.IGNORECASE,
    ),
    group=1,
    keywords=("secret_access_key", "secretaccesskey", "secret_accesskey", "secretaccess_key"),
)
GITHUB_TOKEN = Rule(
    "github-token",
    re.compile(
        r"gh[pousr]_(?<![A-Za-z0-9_]gh._)[A-Za-z0-9]{36,}"
        r"|github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}"
    ),
    keywords=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
)
ANTHROPIC_KEY = Rule(
    "anthropic-key",
    re.compile(r"sk-ant-(?<![A-Za-z0-9_-]sk-ant-)[A-Za-z0-9_-]{20,}"),
    keywords=("sk-ant-",),
)
OPENAI_KEY = Rule(
    "openai-key",
    re.compile(
        r"sk-(?<![A-Za-z0-9_-]sk-)(?!ant-)(?:proj-|svcacct-|admin-)?"
        # A real key's random part all but surely has an upper-case letter or a digit; requiring one keeps out
        # kebab-case names that happen to start with `sk-` (SpinKit's `sk-fading-circle-…` CSS classes).
        r"(?=[A-Za-z0-9_-]*[A-Z0-9])[A-Za-z0-9_-]{20,}"
    ),
    keywords=("sk-",),
)
SLACK_TOKEN = Rule(
    "slack-token",
    re.compile(r"xox[bpaosr]-(?<![A-Za-z0-9_-]xox.-)[A-Za-z0-9-]{10,}"),
    keywords=("xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxs-", "xoxr-"),
)
GOOGLE_API_KEY = Rule(
    "google-api-key",
    re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    keywords=("aiza",),
)
JWT = Rule(
    "jwt",
    re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    keywords=("eyj",),
)
BEARER_TOKEN = Rule(
    "bearer-token",
    re.compile(
        # The token alphabet is RFC 6750's, so `Bearer $TOKEN`, `Bearer {token}` and `Bearer <token>`
        # (references and placeholders, not secrets) do not match, and neither does a `[REDACTED:…]` marker.
        r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?bearer[ \t]+([A-Za-z0-9._~+/=-]+)",
        re.IGNORECASE,
    ),
    group=1,
    keywords=("bearer",),
)
URL_PASSWORD = Rule(
    "url-password",
    re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]\"'`<>]*:"
        # `@` is allowed in the password (people leave it unescaped; parsers split at the last one), quotes
        # and brackets are not, so a match cannot run on through compact JSON or into a marker.
        r"([^\s/?#\[\]\"'`<>]+)@(?=[^\s/?#@\"'`<>])"
    ),
    group=1,
    keywords=("://",),
)

# Most specific first: a rule only sees text that the rules before it left unredacted, so `sk-ant-…` is an
# anthropic-key rather than an openai-key, and `Authorization: Bearer <jwt>` is reported as a jwt.
DEFAULT_RULES: tuple[Rule, ...] = (
    PRIVATE_KEY,
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    GITHUB_TOKEN,
    ANTHROPIC_KEY,
    OPENAI_KEY,
    SLACK_TOKEN,
    GOOGLE_API_KEY,
    JWT,
    BEARER_TOKEN,
    URL_PASSWORD,
)


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_MARKER = re.compile(r"\[REDACTED:[A-Za-z0-9_.-]+\]")
_SEPARATOR = "\n"
try:  # one pass over a text for every rule's keywords; without it, one pass per keyword
    from ahocorasick_rs import BytesAhoCorasick

    _HAVE_AC = True
except ImportError:  # pragma: no cover - a platform without its wheel
    _HAVE_AC = False


class Redactor:
    """Replaces every secret its rules find with `[REDACTED:<kind>]`, counting them by kind.

    All the strings of an event are searched as one text, once: a keyword pass (Aho-Corasick over the text in
    lower case) picks the few rules that could match, and only those run. Matches never cross from one string
    into the next (each is cut at the end of the string it starts in), never touch a marker already there, and
    when two rules match the same text the earlier rule (the more specific) wins. Replacing a secret can let a
    rule match where it could not before (a boundary check sees a marker's edge now), so the pass repeats until
    nothing more matches: redacting twice is the same as redacting once.
    """

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._always = [i for i, rule in enumerate(self._rules) if not rule.keywords]
        keywords = sorted({k for rule in self._rules for k in rule.keywords})
        self._keyword_rules = [[i for i, r in enumerate(self._rules) if k in r.keywords] for k in keywords]
        self._keywords = keywords
        self._automaton = BytesAhoCorasick([k.encode() for k in keywords]) if _HAVE_AC and keywords else None

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

        Other scalars are returned unchanged. The input is never mutated: when a secret was found the result is a
        new structure; when none was, it is the input itself.
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
            if dumped is not None and not self._candidates(dumped):
                return value, counts
        strings: list[str] = []
        _collect(value, strings)
        if not strings:
            return value, counts
        redacted = self._redact_strings(list(strings), counts)
        if not counts:
            return value, counts  # nothing to replace: no need for a copy
        return _rebuild(value, iter(redacted)), counts

    # -- inside ------------------------------------------------------------------------------------------------

    def _candidates(self, text: str) -> list[int]:
        """The rules that could match somewhere in `text`, in their order."""
        found = set(self._always)
        lowered = text.encode("utf-8", "surrogatepass").lower()
        if self._automaton is not None:
            for index in {k for k, _, _ in self._automaton.find_matches_as_indexes(lowered, overlapping=True)}:
                found.update(self._keyword_rules[index])
        else:
            for index, keyword in enumerate(self._keywords):
                if keyword.encode() in lowered:
                    found.update(self._keyword_rules[index])
        return sorted(found)

    def _redact_strings(self, strings: list[str], counts: Counter[str]) -> list[str]:
        text = _SEPARATOR.join(strings)
        rules = self._candidates(text)
        if not rules:
            return strings
        while True:
            starts = list(itertools.accumulate((len(s) + 1 for s in strings[:-1]), initial=0))
            taken: list[tuple[int, int]] = [m.span() for m in _MARKER.finditer(text)] if "[REDACTED:" in text else []
            found: list[list[tuple[int, int, str]]] = [[] for _ in strings]
            any_found = False
            for index in rules:
                rule = self._rules[index]
                for match in rule.pattern.finditer(text):
                    start, end = match.span(rule.group)
                    # An unmatched group (-1) or an empty one hides nothing; skipping empty spans also keeps a
                    # user pattern such as `x*` from putting a marker between every two characters.
                    if start >= end:
                        continue
                    which = bisect.bisect_right(starts, start) - 1
                    end = min(end, starts[which] + len(strings[which]))  # a match stays within its own string
                    if start >= end or _overlaps(taken, start, end):
                        continue
                    bisect.insort(taken, (start, end))
                    found[which].append((start - starts[which], end - starts[which], rule.kind))
                    any_found = True
            if not any_found:
                return strings
            for which, spans in enumerate(found):
                if spans:
                    strings[which] = _replace(strings[which], spans, counts)
            text = _SEPARATOR.join(strings)


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


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                out.append(key)
            _collect(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, out)


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

"""Secret redaction: finds credentials in event text and replaces each with a `[REDACTED:<kind>]` marker.

It runs on every event before anything is written to git, so a recorded session never carries a usable secret.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trail.errors import ConfigError

__all__ = ["DEFAULT_RULES", "Redactor", "Rule"]


@dataclass(frozen=True)
class Rule:
    """One kind of secret: `pattern` finds it and `group` says which part of a match is the secret.

    Text of the match outside `group` (a header name, a URL's user and host) is kept as it is.
    """

    kind: str
    pattern: re.Pattern[str]
    group: int = 0


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
)
AWS_ACCESS_KEY = Rule(
    "aws-access-key",
    re.compile(
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
        r"(?<![A-Za-z0-9]....)[A-Z0-9]{16}(?![A-Za-z0-9])"
    ),
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
)
GITHUB_TOKEN = Rule(
    "github-token",
    re.compile(
        r"gh[pousr]_(?<![A-Za-z0-9_]gh._)[A-Za-z0-9]{36,}"
        r"|github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}"
    ),
)
ANTHROPIC_KEY = Rule(
    "anthropic-key",
    re.compile(r"sk-ant-(?<![A-Za-z0-9_-]sk-ant-)[A-Za-z0-9_-]{20,}"),
)
OPENAI_KEY = Rule(
    "openai-key",
    re.compile(
        r"sk-(?<![A-Za-z0-9_-]sk-)(?!ant-)(?:proj-|svcacct-|admin-)?"
        # A real key's random part all but surely has an upper-case letter or a digit; requiring one keeps out
        # kebab-case names that happen to start with `sk-` (SpinKit's `sk-fading-circle-…` CSS classes).
        r"(?=[A-Za-z0-9_-]*[A-Z0-9])[A-Za-z0-9_-]{20,}"
    ),
)
SLACK_TOKEN = Rule(
    "slack-token",
    re.compile(r"xox[bpaosr]-(?<![A-Za-z0-9_-]xox.-)[A-Za-z0-9-]{10,}"),
)
GOOGLE_API_KEY = Rule(
    "google-api-key",
    re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
)
JWT = Rule(
    "jwt",
    re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
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

# A substring every match of a pattern contains, for patterns that cannot start with a literal: checking it
# first skips a whole text in microseconds.
_REQUIRED_SUBSTRING: dict[re.Pattern[str], str] = {URL_PASSWORD.pattern: "://"}

# A piece of text being redacted, and whether it is a marker (never scanned again) or text still to scan.
_Piece = tuple[str, bool]


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


class Redactor:
    """Replaces every secret its rules find with `[REDACTED:<kind>]`, counting them by kind."""

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._plan = [(rule, _REQUIRED_SUBSTRING.get(rule.pattern)) for rule in self._rules]
        kinds = sorted({rule.kind for rule in self._rules})
        self._markers = re.compile("|".join(re.escape(_marker(kind)) for kind in kinds)) if kinds else None

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
        pieces = self._split_markers(text)
        # Once a later rule has replaced a secret, an earlier rule's boundary check sees a marker's edge there
        # and may match where it could not before; repeating until nothing changes makes redaction idempotent.
        while True:
            replaced = 0
            for rule, needle in self._plan:
                pieces, found = _apply(rule, needle, pieces)
                if found:
                    counts[rule.kind] += found
                    replaced += found
            if not replaced:
                break
        if len(pieces) == 1:
            return pieces[0][0], counts
        return "".join(piece for piece, _ in pieces), counts

    def redact_value(self, value: Any) -> tuple[Any, Counter[str]]:
        """Recursively redacts every str in a JSON-like value (dict keys and values, lists, tuples -> lists).

        Other scalars are returned unchanged; the result is a new structure and the input is never mutated.
        """
        counts: Counter[str] = Counter()
        return self._redact_value(value, counts), counts

    def _redact_value(self, value: Any, counts: Counter[str]) -> Any:
        if isinstance(value, str):
            text, found = self.redact_text(value)
            counts.update(found)
            return text
        if isinstance(value, dict):
            # Only str keys can hold a secret; other keys are kept as they are, so they stay hashable.
            return {
                (self._redact_value(k, counts) if isinstance(k, str) else k): self._redact_value(v, counts)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._redact_value(item, counts) for item in value]
        return value

    def _split_markers(self, text: str) -> list[_Piece]:
        # Markers already in the text (it was redacted before) are kept out of every rule's sight, user
        # patterns included, so they are neither re-matched nor counted again.
        if self._markers is None or "[REDACTED:" not in text:
            return [(text, False)]
        pieces: list[_Piece] = []
        pos = 0
        for match in self._markers.finditer(text):
            if match.start() > pos:
                pieces.append((text[pos : match.start()], False))
            pieces.append((match.group(), True))
            pos = match.end()
        if pos < len(text):
            pieces.append((text[pos:], False))
        return pieces


def _apply(rule: Rule, needle: str | None, pieces: list[_Piece]) -> tuple[list[_Piece], int]:
    """Runs one rule over the unredacted pieces; returns the new pieces and how many secrets it replaced."""
    out: list[_Piece] = []
    found = 0
    for piece, is_marker in pieces:
        if is_marker or (needle is not None and needle not in piece):
            out.append((piece, is_marker))
            continue
        pos = 0
        for match in rule.pattern.finditer(piece):
            start, end = match.span(rule.group)
            # An unmatched group (-1) or an empty one hides nothing; skipping empty spans also keeps a user
            # pattern such as `x*` from putting a marker between every two characters.
            if start >= end:
                continue
            if start > pos:
                out.append((piece[pos:start], False))
            out.append((_marker(rule.kind), True))
            pos = end
            found += 1
        if pos < len(piece):
            out.append((piece[pos:] if pos else piece, False))
    return out, found

"""What of a step is searchable, and how a query becomes an FTS5 expression that finds it in any language.

SQLite's `unicode61` tokenizer (diacritics removed: `cafe` finds `café`) splits text into words at anything that is
not a letter or a digit, so `overdue_invoices` is two words already. Two things it cannot do are added here, in a
column of their own: the parts of camelCase identifiers (`overdueInvoices` → `overdue invoices`), and overlapping
pairs of characters for scripts written without spaces (Chinese, Japanese, Korean, Thai…), which it would otherwise
take as one word per run. A query is turned the same way, every word quoted, so no user input is FTS syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FIELD_LIMIT = 32 * 1024  # characters of one field indexed (a megabyte of tool output is searched by its start)
BODY_LIMIT = 128 * 1024  # characters of one step indexed in all
_CAMEL = re.compile(r"[A-Za-z][a-z0-9]*[A-Z][A-Za-z0-9]*")
_HUMP = re.compile(r"[a-z0-9][A-Z]")
_WORD_AROUND = re.compile(r"[A-Za-z0-9]+")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b|[0-9])|[A-Z]?[a-z]+|[0-9]+|[A-Z]+")
# Scripts written without spaces between words: CJK ideographs, kana, hangul, Thai, Lao, Khmer, Myanmar.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
_QUERY_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Fields that say what happened, first; others are searched too, after them.
_FIRST = ("text", "prompt", "choice", "reasoning", "alternatives", "thinking", "name", "input", "output", "error")


def indexable(payload: dict[str, Any]) -> tuple[str, str]:
    """The text of a step to search (every field's values, each cut at FIELD_LIMIT) and the extra words that make
    identifiers and unspaced scripts findable."""
    parts: list[str] = []
    seen = set()
    for key in (*_FIRST, *sorted(k for k in payload if k not in _FIRST)):
        if key in payload and key not in seen:
            seen.add(key)
            parts.extend(_strings(payload[key]))
    body = "\n".join(p[:FIELD_LIMIT] for p in parts if p)[:BODY_LIMIT]
    return body, " ".join(extra_words(body))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def extra_words(text: str) -> Iterable[str]:
    # A camelCase word is found by its hump (a lower-case letter or digit, then a capital): a scan for that pair
    # is fast, where a pattern for whole words would try every word of a long tool output.
    seen = set()
    for hump in _HUMP.finditer(text):
        word = _WORD_AROUND.match(text, _word_start(text, hump.start()))
        if word is None or word.start() in seen:
            continue
        seen.add(word.start())
        parts = _CAMEL_PART.findall(word.group())
        if len(parts) > 1:
            yield " ".join(parts)
    if not text.isascii():
        for run in _UNSPACED.findall(text):
            yield " ".join(bigrams(run))


def _word_start(text: str, pos: int) -> int:
    while pos > 0 and (text[pos - 1].isalnum() and text[pos - 1].isascii()):
        pos -= 1
    return pos


def bigrams(run: str) -> list[str]:
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def fts_query(query: str) -> str:
    """An FTS5 expression for what a person typed: words (all of them must match), "quoted phrases", and a word
    ending in `*` for a prefix. Identifiers and unspaced scripts match through the extra column too."""
    terms = []
    for phrase, word in _QUERY_TOKEN.findall(query):
        text = phrase if phrase else word
        prefix = not phrase and text.endswith("*") and len(text) > 1
        text = text.rstrip("*") if prefix else text
        words = _WORD.findall(text)
        if not words:
            continue
        terms.append(_term(" ".join(words), prefix, text))
    if not terms:
        raise ValueError("the query has no word to search for")
    return " AND ".join(terms)


def _term(words: str, prefix: bool, original: str) -> str:
    """One word or phrase of the query: in the body as it is written, or in the extra column as its parts."""
    quoted = _quote(words) + ("*" if prefix else "")
    alternatives = [f"body : {quoted}", f"paths : {quoted}"]
    unspaced = _UNSPACED.findall(words)
    if unspaced:
        pairs = " ".join(" ".join(bigrams(run)) for run in unspaced)
        alternatives.append(f"extra : {_quote(pairs)}")
    camel = [" ".join(_CAMEL_PART.findall(m.group())) for m in _CAMEL.finditer(original)]
    if camel:
        alternatives.append(f"extra : {_quote(' '.join(camel))}")
    if not unspaced:
        alternatives.append(f"extra : {quoted}")  # `overdue` inside `overdueInvoices`
    return "(" + " OR ".join(alternatives) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'

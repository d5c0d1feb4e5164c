"""Tells a placeholder from a secret: what people write where a secret goes (`changeme`, `${TOKEN}`, `<password>`).

Rules with strong context (a URL's password, an `Authorization` header) reject only these; rules that have nothing
but a name to go on (`PASSWORD=…`) also ask for length and randomness (`is_generic_secret`), because in a coding
session most values next to the word "password" are references, types and examples, not passwords.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["entropy", "is_filler", "is_generic_secret", "is_placeholder"]

# Values that stand for a secret rather than being one, compared in lower case. A password that is one of these is
# no secret anyway: it is the first thing anyone would try.
_WORDS = frozenset(
    """
    changeme change_me change-me changeit pass password passwd pwd secret token apikey api_key api-key key keys
    null none nil undefined true false yes no on off test testing example sample dummy placeholder redacted hidden
    masked string str value foo bar baz foobar todo tbd fixme tba xxx user username admin root guest default
    """.split()
)
# Substrings that mark a value as a stand-in wherever they occur in it ("your-api-key", "mysecretpassword").
_MARKERS = (
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "your",
    "example",
    "sample",
    "dummy",
    "placeholder",
    "redacted",
    "replace",
    "password",
    "passwd",
    "xxxx",
    "****",
    "...",
    "\u2026",
    "\u2022\u2022",
)
# The patterns are strings, compiled by `re` on first use and kept in its cache: importing this module compiles
# nothing, and a process that never meets a candidate secret never compiles them.

# References and template slots: a shell or environment variable, a command substitution, a template
# ({{ x }}, {% x %}, <x>, [x], {x}, %s, %(x)s, %X%) or a run of one character (***, xxx, ---).
_SHAPE = r"""
    \$\{[^}]*\}? | \$[A-Za-z_][A-Za-z0-9_]* | \$\(.*\)? | \$\$.*
    | \{\{.*\}\}? | \{%.*%\}? | <[^<>]*>? | \[[^\[\]]*\] | \{[A-Za-z_][A-Za-z0-9_.]*\}
    | %[sdr] | %\([A-Za-z_][A-Za-z0-9_]*\)[sdr] | %[A-Za-z_][A-Za-z0-9_]*%
    | (.)\1*
"""
# What code puts after `password =` that is not a literal: a name, an attribute or call chain, a constant's name, a
# type; and what a configuration puts there that is not a secret: a path, a URL. (Names of letters and underscores
# alone are told apart by their capitals, in `_is_name`.)
_REFERENCE = r"""
    [a-z]+(?:[-.][a-z]+)+                        # lower-case words: my-app-secret, self.token
    | [A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+              # a constant or an environment variable's name: AWS_S3_TOKEN
    | [A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?   # settings.SECRET_KEY, getpass.getpass()
    | [~.]?/\S* | [A-Za-z]:\\\S* | [A-Za-z][A-Za-z0-9+.-]*://\S*           # a path, a URL
"""
_RUN = r"(.)\1{7}"
# "mytoken", "my-secret-key", "the_api_key", "sometoken123": a name for a secret, standing in for one.
_NAMED_STAND_IN = r"(?:my|the|some|a|an|test|fake)[-_]?(?:api[-_]?)?(?:token|secret|key|pass|pwd)\w*"

# A generic secret (found by its name alone) is at least this long and this random, in bits per character of
# Shannon entropy over its own characters. A chosen password ("hunter2hunter2", 2.8) or any random token clears
# the bar; a repeated pattern ("aaaa1111", 1.0; "abab1212", 2.0) does not.
MIN_GENERIC_LENGTH = 8
MIN_GENERIC_ENTROPY = 2.5


def entropy(value: str) -> float:
    """Shannon entropy of the characters of `value`, in bits per character."""
    import math  # only when a candidate secret is found: kept out of the import of every hook process

    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# Digits and symbols for letters, as in "P@55w0rd": the markers are looked for in the value spelled back.
_LEET = str.maketrans("4@310$57", "aaeiosst")


def is_placeholder(value: str) -> bool:
    """True when `value` stands for a secret instead of being one: a stand-in word, a variable, a template slot."""
    value = value.strip()
    lower = value.lower()
    if lower in _WORDS or re.fullmatch(_SHAPE, value, re.VERBOSE | re.DOTALL):
        return True
    if re.fullmatch(_NAMED_STAND_IN, lower):
        return True
    spelled = lower.translate(_LEET)
    return any(marker in lower or marker in spelled for marker in _MARKERS)


def is_filler(secret: str) -> bool:
    """True for a token-shaped value that a person typed: `ghp_xxxx…`, `sk_test_0000…`, `xoxb-your-token-here`.

    Eight equal characters in a row, or a value that is half `x`, are as good as impossible in a random token
    (about one chance in 10^6 for a 64-character hex token, far less for base62).
    """
    if re.search(_RUN, secret):
        return True
    lower = secret.lower()
    if len(secret) >= 8 and lower.count("x") * 2 >= len(secret):
        return True
    return "your" in lower or "placeholder" in lower or "redacted" in lower


def is_generic_secret(value: str, name: str = "") -> bool:
    """Whether a value found only by its name (`PASSWORD=…`, `"api_key": …`) is worth redacting.

    It must be at least MIN_GENERIC_LENGTH characters, without blanks (a value with one is a phrase: "development
    key", "RFC 2518"), not a placeholder, not the name itself, not a number, not a reference (a variable or
    attribute name, a constant's name, a path, a URL), and at least MIN_GENERIC_ENTROPY bits per character random.
    """
    value = value.strip()
    if len(value) < MIN_GENERIC_LENGTH or any(c.isspace() for c in value) or is_placeholder(value):
        return False
    if name and value.lower() in name.lower():
        return False
    if value.isdigit() or _is_name(value) or re.fullmatch(_REFERENCE, value, re.VERBOSE):
        return False
    return entropy(value) >= MIN_GENERIC_ENTROPY


def _is_name(value: str) -> bool:
    """Letters and underscores that read as a name in code (`Optional`, `_TokenType`, `SSHPrivateKeyTypes`, `API_KEY`).

    In a name the capitals start words: they are all capitals, or at most a quarter of the letters, or the words
    between them are long (2.5 lower-case letters or more on average). In random letters, capitals come about every
    other letter and lower-case runs average 2, so a token of letters alone is seldom taken for a name.
    """
    letters = value.replace("_", "")
    if not (letters.isascii() and letters.isalpha()):
        return False
    capitals = sum(c.isupper() for c in letters)
    if capitals * 4 <= len(letters) or capitals == len(letters):
        return True
    runs = [run for run in re.split("[A-Z]+", letters) if run]
    return sum(map(len, runs)) >= 2.5 * len(runs)

"""Files that hold credentials by their nature (`.env`, private keys, `.npmrc`…): left out of every snapshot even
when no ignore rule covers them, unless the user tracks them in git or allows them by name.

A step's tree is pushed wherever its session goes; an untracked `.env` that nobody thought to ignore must not
travel with it. Such files are listed in the step as omitted, with the reason, so nothing is left out silently.
"""

from __future__ import annotations

import fnmatch
import os

DEFAULT_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".git-credentials",
    "credentials*.json",
    "*.p12",
    "*.pfx",
    "*.keystore",
    "*.jks",
)
# Templates and public halves that share those names are not secrets.
DEFAULT_ALLOWED = ("*.example", "*.sample", "*.template", "*.dist", "*.pub")
REASON = "sensitive file (`trail config --add snapshot.allow PATTERN` records it)"


class SensitiveFiles:
    """Decides by file name (the last path component) whether an untracked file is left out."""

    def __init__(
        self, extra: list[str] | tuple[str, ...] = (), allowed: list[str] | tuple[str, ...] = (), defaults: bool = True
    ) -> None:
        self.patterns = tuple(p.lower() for p in ((DEFAULT_PATTERNS if defaults else ()) + tuple(extra)))
        self.allowed = tuple(p.lower() for p in DEFAULT_ALLOWED + tuple(allowed))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        name = os.path.basename(path.rstrip("/")).lower()
        if not any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
            return False
        return not any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path.lower(), p) for p in self.allowed)

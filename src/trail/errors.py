"""The one exception family trail raises for problems a user can act on.

Every message says what went wrong and what to do about it; the CLI shows it as is and exits 1.
"""

from __future__ import annotations


class TrailError(Exception):
    """A problem the user can fix; the message says how."""


class NotARepositoryError(TrailError):
    """The path is not inside a git working tree."""


class StepNotFoundError(TrailError):
    """A step address names no recorded step."""


class AmbiguousStepError(TrailError):
    """A step address matches more than one session or commit."""


class SessionEndedError(TrailError):
    """A recorder was asked to record after its session ended."""


class ConfigError(TrailError):
    """trail's configuration has a value that cannot be used."""

"""trail: a flight recorder for coding agents, stored in git.

Names are imported on first use, so that light entry points (agent hooks) do not pay for pygit2 and click.
"""

from __future__ import annotations

# The one place the version is written: pyproject.toml reads it from here (setuptools `attr`).
__version__ = "0.1.0"
__all__ = ["Event", "History", "Recorder", "Step", "TrailError", "__version__", "instrument", "open", "uninstrument"]

TYPE_CHECKING = False  # importing typing would slow every hook down
if TYPE_CHECKING:
    from trail.api import History, open
    from trail.capture.instrument import instrument, uninstrument
    from trail.capture.recorder import Recorder
    from trail.errors import TrailError
    from trail.events import Event
    from trail.store.steps import Step

_LAZY = {
    "open": "trail.api",
    "History": "trail.api",
    "Event": "trail.events",
    "Recorder": "trail.capture.recorder",
    "Step": "trail.store.steps",
    "TrailError": "trail.errors",
    "instrument": "trail.capture.instrument",
    "uninstrument": "trail.capture.instrument",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trail' has no attribute {name!r}")

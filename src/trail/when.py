"""Times and durations as people type them on a command line: `2026-11-01`, `3 days ago`, `2h`, `yesterday`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from trail.errors import TrailError

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
    "month": 2592000,
    "y": 31536000,
    "year": 31536000,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$")


def parse_duration(text: str) -> timedelta:
    """`30d`, `2h`, `90 minutes`, `1 week`: a duration; TrailError otherwise."""
    match = _DURATION.match(text.lower())
    if match and match.group(2) in _UNITS:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    raise TrailError(f"{text!r} is not a duration; write it as 30d, 12h, 45m or 2 weeks")


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A moment: an ISO date or time (local time unless it names an offset), `now`, `today`, `yesterday`, or a
    duration ago (`3 days ago`, `2h`); TrailError otherwise."""
    now = now or datetime.now(UTC).astimezone()
    raw = text.strip().lower()
    if raw == "now":
        return now
    if raw in ("today", "yesterday"):
        day = now.date() - timedelta(days=1 if raw == "yesterday" else 0)
        return datetime.combine(day, time(), tzinfo=now.tzinfo)
    relative = raw.removesuffix(" ago").strip()
    if relative != raw or _DURATION.match(relative):
        try:
            return now - parse_duration(relative)
        except TrailError:
            pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TrailError(
            f"{text!r} is not a time; write a date (2026-11-01), a time (2026-11-01T14:00), "
            "`yesterday`, or how long ago (3 days ago, 2h)"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()

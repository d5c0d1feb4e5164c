"""What sessions cost and did: steps by kind, tool calls by tool, tokens by model, wall time, files changed.

Read from the steps' summaries alone. Prices are never guessed: a model's cost is shown only when trail's config
has a price for it (`trail config price.<model>.input 3.00`, in currency units per million tokens).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from trail.api import Session, file_changes

PRICE_FIELDS = ("input", "output", "cacheRead", "cacheWrite")


@dataclass
class ToolStats:
    calls: int = 0
    errors: int = 0
    duration_ms: float = 0.0


@dataclass
class ModelStats:
    responses: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    input: int = 0  # read fresh, at the full input price
    cache_read: int = 0
    cache_write: int = 0
    cost: float | None = None


@dataclass
class Stats:
    sessions: int = 0
    steps: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    tools: dict[str, ToolStats] = field(default_factory=dict)
    models: dict[str, ModelStats] = field(default_factory=dict)
    wall: timedelta = timedelta(0)
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0

    @property
    def tokens_in(self) -> int:
        return sum(m.tokens_in for m in self.models.values())

    @property
    def tokens_out(self) -> int:
        return sum(m.tokens_out for m in self.models.values())

    @property
    def cost(self) -> float | None:
        costs = [m.cost for m in self.models.values() if m.cost is not None]
        return round(sum(costs), 6) if costs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "steps": self.steps,
            "kinds": dict(self.kinds.most_common()),
            "tools": {name: vars(t) for name, t in sorted(self.tools.items(), key=lambda kv: -kv[1].calls)},
            "models": {name: vars(m) for name, m in sorted(self.models.items())},
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "wall_seconds": self.wall.total_seconds(),
            "files_changed": self.files_changed,
            "insertions": self.insertions,
            "deletions": self.deletions,
        }


def session_stats(sessions: Iterable[Session], prices: dict[str, dict[str, float]] | None = None) -> Stats:
    stats = Stats()
    for session in sessions:
        stats.sessions += 1
        first = last = None
        for step in session.iter_steps(newest_first=True):
            last = last or step.time
            first = step.time
            stats.steps += 1
            stats.kinds[step.kind] += 1
            if step.tool is not None:
                tool = stats.tools.setdefault(step.tool, ToolStats())
                tool.calls += 1
                tool.errors += step.failed
                duration = step.facts.get("duration_ms")
                if isinstance(duration, int | float):
                    tool.duration_ms += duration
            if step.tokens_in is not None or step.tokens_out is not None:
                _count_tokens(stats.models.setdefault(step.model or "(unknown model)", ModelStats()), step.facts)
        if first is not None and last is not None:
            stats.wall += last - first
        changes = file_changes(session.diff())
        stats.files_changed += len(changes)
        stats.insertions += sum(c.additions for c in changes)
        stats.deletions += sum(c.deletions for c in changes)
    for name, model in stats.models.items():
        price = price_for(name, prices or {})
        if price is not None:
            model.cost = round(
                (
                    model.input * price.get("input", 0.0)
                    + model.cache_read * price.get("cacheRead", price.get("input", 0.0))
                    + model.cache_write * price.get("cacheWrite", price.get("input", 0.0))
                    + model.tokens_out * price.get("output", 0.0)
                )
                / 1_000_000,
                6,
            )
    return stats


def _count_tokens(model: ModelStats, facts: dict[str, Any]) -> None:
    tokens_in = facts.get("tokens_in") or 0
    model.responses += 1
    model.tokens_in += tokens_in
    model.tokens_out += facts.get("tokens_out") or 0
    usage = facts.get("usage") or {}
    if "input_tokens" in usage or "cache_read_input_tokens" in usage:  # Anthropic's split
        model.input += int(usage.get("input_tokens", 0))
        model.cache_read += int(usage.get("cache_read_input_tokens", 0))
        model.cache_write += int(usage.get("cache_creation_input_tokens", 0))
    elif "prompt_tokens_details.cached_tokens" in usage or "input_tokens_details.cached_tokens" in usage:
        cached = int(
            usage.get("prompt_tokens_details.cached_tokens", usage.get("input_tokens_details.cached_tokens", 0))
        )
        model.cache_read += cached
        model.input += max(tokens_in - cached, 0)
    else:
        model.input += tokens_in


def price_for(model: str, prices: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The configured price of `model`: its own, or that of the longest configured name it starts with
    (`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`)."""
    if model in prices:
        return prices[model]
    candidates = [name for name in prices if model.startswith(name)]
    return prices[max(candidates, key=len)] if candidates else None

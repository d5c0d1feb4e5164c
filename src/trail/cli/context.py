"""What every `trail` command shares: the folder it runs in, the repository found from it, JSON output."""

from __future__ import annotations

import json
from typing import Any

import click


class Context:
    """What every command shares: the directory trail runs in, and the repository found from it."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._repo: Any = None

    @property
    def repo(self) -> Any:
        if self._repo is None:
            from trail.repo import TrailRepo

            self._repo = TrailRepo.discover(self.directory)
        return self._repo

    @property
    def store(self) -> Any:
        from trail.store.steps import Store

        return Store(self.repo)


pass_ctx = click.make_pass_decorator(Context)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))

"""What every `trail` command shares: the folder it runs in, the repository found from it, and its output."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
# Kept as \u escapes in JSON output: lone surrogates (not encodable), C1 controls and bidi overrides (a terminal
# showing the JSON would act on them). The JSON means the same either way.
_ESCAPED_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class Context:
    """What every command shares: the directory trail runs in, the repository found from it, and how output
    goes to the terminal (`--color`, `--no-pager`, given before or after the command)."""

    def __init__(self, directory: str, color: str = "auto", paging: bool = True) -> None:
        self.directory = directory
        self.color = color
        self.paging = paging
        self._repo: Any = None
        self._history: Any = None

    @property
    def repo(self) -> Any:
        if self._repo is None:
            from trail.repo import TrailRepo

            self._repo = TrailRepo.discover(self.directory)
        return self._repo

    @property
    def store(self) -> Any:
        return self.history.store

    @property
    def history(self) -> Any:
        if self._history is None:
            import pygit2

            from trail.api import History

            # As git reads objects: without re-hashing each one (`git fsck` and `trail verify` check them).
            pygit2.option(pygit2.enums.Option.ENABLE_STRICT_HASH_VERIFICATION, 0)
            self._history = History(self.repo)
        return self._history

    def terminal(self, color: str | None = None, no_pager: bool = False) -> Any:
        """The output of a command that prints a lot: paged and coloured as git would."""
        from trail.views.term import Terminal

        # A light command (search) that has not loaded libgit2 asks git, and only if it comes to that.
        git_config: Any = self._repo.git.config if self._repo is not None else _GitConfig(self.directory)
        return Terminal(
            color=color or self.color,
            paging=self.paging and not no_pager,
            git_config=git_config,
        )


pass_ctx = click.make_pass_decorator(Context)


def output_options(command: F) -> F:
    """`--color WHEN` and `--no-pager` on a command, as git accepts them (they may also come before it)."""
    command = click.option(
        "--no-pager", "no_pager", is_flag=True, help="Print straight to standard output, never through a pager."
    )(command)
    command = click.option(
        "--color",
        "color",
        type=click.Choice(("auto", "always", "never")),
        default=None,
        help="Colour the output: auto (default: on a terminal, unless NO_COLOR is set), always or never.",
    )(command)
    return command


def json_text(value: Any, indent: int | None = 2) -> str:
    """JSON for people and programs alike: UTF-8 text, with characters a terminal would act on as \\u escapes."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return _ESCAPED_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_json(value: Any) -> None:
    sys.stdout.write(json_text(value) + "\n")


def echo_json_array(items: Iterable[Any]) -> None:
    """A JSON array written element by element, so the first ones appear before the last are read."""
    out = sys.stdout
    first = True
    for item in items:
        out.write(("[\n" if first else ",\n") + _indent(json_text(item)))
        first = False
    out.write("[]\n" if first else "\n]\n")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


class _GitConfig:
    """`git config --get KEY`, asked only when a value is needed (paging or colour on a terminal)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._values: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._values:
            import subprocess

            try:
                done = subprocess.run(
                    ["git", "config", "--get", key], cwd=self.directory, capture_output=True, text=True, timeout=5
                )
                self._values[key] = done.stdout.strip() if done.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                self._values[key] = None
        value = self._values[key]
        if value is None:
            raise KeyError(key)
        return value

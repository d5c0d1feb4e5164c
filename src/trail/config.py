"""trail's own settings: a git-config file at `.git/trail/config`, read with defaults, written by `trail config`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2
from pygit2.enums import ConfigLevel

from trail.errors import ConfigError, TrailError

if TYPE_CHECKING:
    from trail.repo import TrailRepo
    from trail.store.sensitive import SensitiveFiles

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
CONFIG_TEMPLATE = """\
# trail's settings for this repository (git-config syntax; edit with
#   git config -f .git/trail/config KEY VALUE).
#
# [snapshot]
#     maxFileSize = 10m      # files larger than this are left out of step trees and listed instead
# [redact]
#     pattern = my-secret-[0-9a-f]{32}    # extra regexes to redact; repeat the line for more
# [otel]
#     otherSpans = note      # spans that are not GenAI, in traces `trail otel serve` records: note or skip
"""


def user_config_path() -> Path:
    """Your own defaults for every repository: `$XDG_CONFIG_HOME/trail/config` (`~/.config/trail/config`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "trail" / "config"


class TrailConfig:
    """trail's own settings: the repository's `.git/trail/config` over your `~/.config/trail/config` (both
    git-config files, read only when present)."""

    def __init__(self, path: Path, user_path: Path | None = None) -> None:
        self.path = path
        self.user_path = user_path if user_path is not None else user_config_path()
        files = [
            (f, level) for f, level in ((self.user_path, ConfigLevel.GLOBAL), (path, ConfigLevel.LOCAL)) if f.is_file()
        ]
        self._config: pygit2.Config | None = None
        if files:
            self._config = pygit2.Config()
            for file, level in files:
                self._config.add_file(str(file), level=level)

    def get(self, key: str) -> str | None:
        return config_str(self._config, key) if self._config is not None else None

    def get_all(self, key: str) -> list[str]:
        if self._config is None:
            return []
        try:
            return [value for value in self._config.get_multivar(key) if value is not None]
        except (KeyError, pygit2.GitError):
            return []

    def get_bool(self, key: str, default: bool) -> bool:
        if self._config is None or key not in self._config:
            return default
        try:
            return self._config.get_bool(key)
        except (pygit2.GitError, ValueError) as e:
            raise ConfigError(f"{self.path}: {key} must be true or false ({e})") from None

    def get_size(self, key: str, default: int) -> int:
        if self._config is None or key not in self._config:
            return default
        try:
            return self._config.get_int(key)  # git's k/m/g suffixes work here
        except (pygit2.GitError, ValueError) as e:
            raise ConfigError(f"{self.path}: {key} must be a size such as 10m ({e})") from None

    @property
    def max_file_size(self) -> int:
        return self.get_size("snapshot.maxFileSize", DEFAULT_MAX_FILE_SIZE)

    @property
    def redact_enabled(self) -> bool:
        return self.get_bool("redact.enabled", True)

    @property
    def redact_patterns(self) -> list[str]:
        return self.get_all("redact.pattern")

    @property
    def sign(self) -> bool:
        """Sign each session's last step when it ends, with the user's git signing setup (store/sign.py)."""
        return self.get_bool(SIGN_KEY, False)

    @property
    def otel_other_spans(self) -> str:
        """What `trail otel serve` and `trail import otlp` make of a span that is not GenAI in a GenAI trace: a
        `note` step (the default) or nothing (`skip`; the spans inside it are placed all the same)."""
        value = (self.get("otel.otherSpans") or "note").lower()
        if value not in OTEL_OTHER_SPANS:
            raise ConfigError(f"{self.path}: otel.otherSpans must be note or skip, not {value!r}")
        return value

    @property
    def sensitive_files(self) -> SensitiveFiles:
        """Untracked files left out of snapshots by name (store/sensitive.py)."""
        from trail.store.sensitive import SensitiveFiles

        return SensitiveFiles(
            self.get_all("snapshot.sensitive"),
            self.get_all("snapshot.allow"),
            defaults=self.get_bool("snapshot.sensitiveDefaults", True),
        )

    @property
    def prices(self) -> dict[str, dict[str, float]]:
        """`[price "<model>"]` sections: input, output, cacheRead, cacheWrite per million tokens."""
        prices: dict[str, dict[str, float]] = {}
        if self._config is None:
            return prices
        for entry in self._config:
            section, _, rest = entry.name.partition(".")
            model, _, field = rest.rpartition(".")
            if section.lower() != "price" or not model:
                continue
            try:
                number = float(entry.value or "")
            except (TypeError, ValueError):
                continue  # `trail config` refuses such values; one written by hand is ignored
            name = {"cacheread": "cacheRead", "cachewrite": "cacheWrite"}.get(field.lower(), field.lower())
            prices.setdefault(model, {})[name] = number
        return prices


def config_str(config: pygit2.Config | None, key: str) -> str | None:
    if config is None:
        return None
    try:
        value = config[key]
    except (KeyError, pygit2.GitError):
        return None
    return value if isinstance(value, str) and value else None


def init_trail(repo: TrailRepo) -> bool:
    """Create trail's folders and a commented config file; False if they were already there."""
    created = not repo.trail_dir.exists()
    repo.ensure_dirs()
    config = repo.trail_dir / "config"
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE)
        created = True
    return created


CONFIG_KEYS = (
    "snapshot.maxfilesize",
    "snapshot.sensitive",
    "snapshot.allow",
    "snapshot.sensitivedefaults",
    "redact.pattern",
    "redact.enabled",
    "watch.auto",
    "watch.idleminutes",
    "claude.transcriptroot",
    "sign",  # stored as sign.enabled: git config keys need a section
    "sign.enabled",
    "otel.otherspans",
)
OTEL_OTHER_SPANS = ("note", "skip")  # otel.otherSpans: what becomes of a span that is not GenAI
SIGN_KEY = "sign.enabled"


def set_config(
    repo: TrailRepo, key: str | None, value: str | None, add: bool = False, unset: bool = False, as_list: bool = False
) -> str:
    """`git config` on trail's own file, for the keys trail knows; returns what to print."""
    from trail.gitcli import run_git

    path = repo.trail_dir / "config"
    if as_list:
        return run_git(["config", "-f", path, "--list"], cwd=repo.workdir)
    if key is None:
        raise ConfigError("name a key (or use --list); `trail config --help` lists them")
    if key.lower() == "sign":
        key = SIGN_KEY
    if _is_price(key):
        if value is not None and not unset:
            try:
                float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number (a price per million tokens), not {value!r}") from None
    elif key.lower() == "otel.otherspans" and value is not None and not unset:
        if value.lower() not in OTEL_OTHER_SPANS:
            raise ConfigError(
                f"otel.otherSpans must be note (spans that are not GenAI become notes) or skip, not {value!r}"
            )
    elif key.lower() not in CONFIG_KEYS:
        raise ConfigError(
            f"unknown key {key!r}; trail knows {', '.join(CONFIG_KEYS)} and price.<model>.input|output|cacheRead|"
            "cacheWrite"
        )
    if unset:
        run_git(["config", "-f", path, "--unset-all", key], cwd=repo.workdir)
    elif value is None:
        try:
            return run_git(["config", "-f", path, "--get-all", key], cwd=repo.workdir)
        except TrailError:
            return ""
    else:
        kind = {
            "redact.enabled": ["--type=bool"],
            "watch.auto": ["--type=bool"],
            SIGN_KEY: ["--type=bool"],
            "snapshot.sensitivedefaults": ["--type=bool"],
        }.get(key.lower(), [])
        run_git(["config", "-f", path, *kind, "--add" if add else "--replace-all", key, value], cwd=repo.workdir)
    repo.__dict__.pop("config", None)
    return ""


def _is_price(key: str) -> bool:
    section, _, rest = key.partition(".")
    model, _, field = rest.rpartition(".")
    return (
        section.lower() == "price" and bool(model) and field.lower() in ("input", "output", "cacheread", "cachewrite")
    )

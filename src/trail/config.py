"""trail's own settings: one schema of every key (type, default, help), read from `.git/trail/config` over
`~/.config/trail/config` so that a value trail cannot use falls back to its default, and written by `trail config`
only once it parses.

A hook must record whatever the files hold, so reading never raises: a bad value becomes a `ConfigProblem` (logged
once to errors.log, listed by `trail doctor`) and the key's default. Writing refuses it instead. pygit2 is imported
only when a file is read: the schema alone (for `--help`) costs nothing.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trail.errors import ConfigError

if TYPE_CHECKING:
    import pygit2

    from trail.repo import TrailRepo
    from trail.store.sensitive import SensitiveFiles

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
_SUFFIXES = {"": 1, "k": KiB, "m": MiB, "g": GiB}


def format_size(size: int) -> str:
    """A size as git writes one: the largest of g, m, k that divides it, else bytes."""
    for suffix, unit in (("g", GiB), ("m", MiB), ("k", KiB)):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


# Kinds: what a value's text may be. parse() returns the value or raises ValueError with the rest of a sentence
# that starts with the key ("snapshot.maxFileSize must be a size such as 10m"); write() is the text stored.


class Kind:
    label = "text"  # the type, as --help shows it

    def parse(self, text: str | None) -> Any:
        if not text:
            raise ValueError("must not be empty")
        return text

    def show(self, value: Any) -> str:
        return str(value)

    def write(self, text: str, value: Any) -> str:
        return self.show(value)


class Bool(Kind):
    label = "true or false"

    def parse(self, text: str | None) -> bool:
        if text is None:  # `[watch] auto` with no `=`: git reads it as true
            return True
        word = text.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0", ""):
            return False
        raise ValueError("must be true or false")

    def show(self, value: Any) -> str:
        return "true" if value else "false"


class Size(Kind):
    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.label = f"size, {format_size(minimum)} to {format_size(maximum)}"

    def parse(self, text: str | None) -> int:
        match = re.fullmatch(r"\s*(\d{1,15})\s*([kmg]?)\s*", text or "", re.IGNORECASE)
        if match is None:
            raise ValueError("must be a size such as 10m (bytes, or KiB, MiB, GiB with a k, m or g after the number)")
        size = int(match[1]) * _SUFFIXES[match[2].lower()]
        if not self.minimum <= size <= self.maximum:
            raise ValueError(f"must be a size from {format_size(self.minimum)} to {format_size(self.maximum)}")
        return size

    def show(self, value: Any) -> str:
        return format_size(int(value))


class Number(Kind):
    def __init__(self, minimum: float, maximum: float, unit: str) -> None:
        self.minimum, self.maximum, self.unit = minimum, maximum, unit
        self.label = f"{unit}, {_number_text(minimum)} to {_number_text(maximum)}"

    def parse(self, text: str | None) -> float:
        try:
            number = float((text or "").strip())
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and self.minimum <= number <= self.maximum):
            raise ValueError(
                f"must be a number ({self.unit}) from {_number_text(self.minimum)} to {_number_text(self.maximum)}"
            )
        return number

    def show(self, value: Any) -> str:
        return _number_text(float(value))

    def write(self, text: str, value: Any) -> str:
        return text.strip()


class Choice(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.label = " or ".join(choices)

    def parse(self, text: str | None) -> str:
        word = (text or "").strip().lower()
        if word not in self.choices:
            raise ValueError(f"must be {', '.join(self.choices[:-1])} or {self.choices[-1]}")
        return word


class Regex(Kind):
    label = "regular expression"

    def parse(self, text: str | None) -> str:
        if not text:
            raise ValueError("must be a regular expression")
        try:
            compiled_pattern(text)
        except re.error as e:
            raise ValueError(f"must be a regular expression that compiles ({e})") from None
        return text

    def write(self, text: str, value: Any) -> str:
        return text


class FileNamePattern(Kind):
    label = "file-name pattern"

    def parse(self, text: str | None) -> str:
        if not text or not text.strip():
            raise ValueError("must be a file-name pattern such as .env or *.secret")
        return text.strip()


class Folder(Kind):
    label = "folder"

    def parse(self, text: str | None) -> str:
        try:
            absolute = bool(text and text.strip()) and Path(text or "").expanduser().is_absolute()
        except RuntimeError:  # ~someone who does not exist
            absolute = False
        if not absolute:
            raise ValueError("must be a folder's absolute path (or one that starts with ~)")
        return text or ""

    def write(self, text: str, value: Any) -> str:
        return text


@lru_cache(maxsize=256)
def compiled_pattern(source: str) -> re.Pattern[str]:
    """A `redact.pattern` compiled as redaction compiles it (capture/redact.py: `re.compile`, no flags), once."""
    return re.compile(source)


@dataclass(frozen=True)
class Setting:
    key: str  # as the docs spell it; keys are matched in any case, as git matches them
    kind: Kind
    default: Any
    help: str
    example: str  # a good value, for the config template, --help and the tests
    multi: bool = False  # several values, each added with `trail config --add`

    def show_default(self) -> str:
        if self.multi or self.default is None:
            return "(none)"
        return self.kind.show(self.default)


BOOL = Bool()
PRICE_KINDS = ("input", "output", "cacheRead", "cacheWrite")
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "snapshot.maxFileSize",
        Size(KiB, GiB),
        10 * MiB,
        "files larger than this are left out of step trees (and listed in the step)",
        "20m",
    ),
    Setting(
        "snapshot.sensitive",
        FileNamePattern(),
        (),
        "a file name left out of snapshots, besides the built-in .env, *.pem, id_rsa* and others",
        "*.secret",
        multi=True,
    ),
    Setting(
        "snapshot.allow", FileNamePattern(), (), "a file name kept in snapshots after all", ".env.test", multi=True
    ),
    Setting(
        "snapshot.sensitiveDefaults",
        BOOL,
        True,
        "whether the built-in names (.env, *.pem…) are left out besides your own",
        "false",
    ),
    Setting(
        "store.maxObjectSize",
        Size(MiB, 4 * GiB),
        32 * MiB,
        "no object trail writes, nor pack `trail push` sends, is larger: large values are kept in pieces",
        "64m",
    ),
    Setting(
        "redact.pattern",
        Regex(),
        (),
        "an extra regular expression whose matches are redacted, besides the built-in secrets",
        "acme_[0-9a-f]{32}",
        multi=True,
    ),
    Setting("redact.enabled", BOOL, True, "whether events are redacted (off: `trail doctor` warns)", "true"),
    Setting("watch.auto", BOOL, True, "whether an agent session starts `trail watch` by itself", "false"),
    Setting(
        "watch.idleMinutes",
        Number(0.01, 7 * 24 * 60, "minutes"),
        60.0,
        "a watcher that served no request for this long stops",
        "120",
    ),
    Setting(
        "claude.transcriptRoot",
        Folder(),
        (),
        "another folder Claude Code transcripts may be read from",
        "~/claude-transcripts",
        multi=True,
    ),
    Setting(
        "codex.transcriptRoot", Folder(), (), "another folder Codex rollouts may be read from", "~/codex", multi=True
    ),
    Setting(
        "sign.enabled",
        BOOL,
        False,
        "whether each session is signed when it ends, with your git signing key",
        "true",
    ),
    Setting(
        "otel.otherSpans",
        Choice("note", "skip"),
        "note",
        "what `trail otel serve` and `trail import otlp` make of a span that is not GenAI: a note step, or nothing",
        "skip",
    ),
)
PRICE = Setting(
    "price.<model>.<kind>",
    Number(0, 1_000_000, "a price per million tokens"),
    None,
    "what a model's tokens cost, for `trail stats`; <kind> is input, output, cacheRead or cacheWrite (the last two "
    "default to the input price)",
    "3.00",
)
ALIASES = {"sign": "sign.enabled"}  # git config keys need a section
_BY_KEY = {setting.key.lower(): setting for setting in SETTINGS}
_LISTED = "; `trail config --help` lists every key"
_IGNORED_SECTIONS = ("include", "includeif")  # git's own: the files they name are read all the same


def resolve(key: str) -> tuple[str, Setting]:
    """`key` spelled as the schema spells it, and its setting; a ConfigError naming the closest key if trail has
    none. `price.<model>.<kind>` is a family: the model is kept as written (git compares it case-sensitively)."""
    lower = ALIASES.get(key.lower(), key.lower())
    if lower in _BY_KEY:
        return _BY_KEY[lower].key, _BY_KEY[lower]
    section, _, rest = key.partition(".")
    model, _, kind = rest.rpartition(".")
    if section.lower() == "price":
        if not model:
            raise ConfigError(f"{key!r}: a price names its model: price.<model>.<kind>, as in price.gpt-5.input")
        kinds = {k.lower(): k for k in PRICE_KINDS}
        if kind.lower() not in kinds:
            import difflib

            close = difflib.get_close_matches(kind.lower(), list(kinds), n=1)
            hint = f" (did you mean price.{model}.{kinds[close[0]]}?)" if close else ""
            raise ConfigError(f"unknown price kind {kind!r} in {key!r}{hint}; a price is {', '.join(PRICE_KINDS)}")
        return f"price.{model}.{kinds[kind.lower()]}", PRICE
    raise ConfigError(f"unknown key {key!r}{_suggestion(key)}{_LISTED}")


def _suggestion(key: str) -> str:
    import difflib

    names = [s.key for s in SETTINGS] + list(ALIASES) + [f"price.<model>.{kind}" for kind in PRICE_KINDS]
    by_lower = {name.lower(): name for name in names}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    if not close:  # `maxFileSize` without its section
        leaves = {s.key.rpartition(".")[2].lower(): s.key.lower() for s in SETTINGS}
        leaf = difflib.get_close_matches(key.rpartition(".")[2].lower(), list(leaves), n=1, cutoff=0.75)
        close = [leaves[leaf[0]]] if leaf else []
    return f" (did you mean {by_lower[close[0]]}?)" if close else ""


def user_config_path() -> Path:
    """Your own defaults for every repository: `$XDG_CONFIG_HOME/trail/config` (`~/.config/trail/config`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "trail" / "config"


@dataclass(frozen=True)
class Stored:
    """One value as a file holds it (`text` None: a bare `key` line, which git reads as true)."""

    key: str  # resolved, or as the file has it when trail does not know it
    text: str | None
    origin: Path


@dataclass(frozen=True)
class ConfigProblem:
    """A value trail cannot use, and what it does instead."""

    key: str
    origin: Path
    message: str

    def __str__(self) -> str:
        return self.message


class _Bad:
    """A value that did not parse (None is a good price's absence)."""


_BAD = _Bad()


class TrailConfig:
    """trail's own settings: the repository's `.git/trail/config` over your `~/.config/trail/config` (both
    git-config files, read only when present). Every value is typed and defaulted by the schema; a value that does
    not parse is its key's default (or, for a key of several values, left out) and a `problems` entry."""

    def __init__(self, path: Path, user_path: Path | None = None) -> None:
        self.path = path
        self.user_path = user_path if user_path is not None else user_config_path()
        self._stored: dict[str, list[Stored]] | None = None
        self._values: dict[str, Any] = {}
        self._problems: list[ConfigProblem] = []  # of the files themselves and of unknown keys, found on reading

    def _load(self) -> dict[str, list[Stored]]:
        """Every value of both files by resolved key, the user's before the repository's (so the last one wins)."""
        if self._stored is not None:
            return self._stored
        import pygit2

        self._stored = {}
        for origin in (self.user_path, self.path):
            if not origin.is_file():
                continue
            config = pygit2.Config()
            try:
                config.add_file(str(origin), level=1)  # one file at a time: its entries are its own
                entries = [(entry.name, entry.value) for entry in config]
            except (pygit2.GitError, OSError) as e:
                message = f"{origin} cannot be read ({e}); trail uses its defaults for every key it would set"
                self._problems.append(ConfigProblem("", origin, message))
                continue
            for name, text in entries:
                if name.partition(".")[0].lower() in _IGNORED_SECTIONS:
                    continue
                try:
                    key = resolve(name)[0]
                except ConfigError as e:
                    message = f"{origin}: {str(e).removesuffix(_LISTED)}; trail ignores it"
                    self._problems.append(ConfigProblem(name, origin, message))
                    key = name
                self._stored.setdefault(key, []).append(Stored(key, text, origin))
        return self._stored

    def names(self) -> list[str]:
        """Every key the files set, resolved (or as written, when trail does not know it)."""
        return list(self._load())

    def stored(self, key: str) -> list[Stored]:
        """What the files hold for `key`, lowest priority first."""
        return list(self._load().get(resolve(key)[0], []))

    def value(self, key: str) -> Any:
        """`key`'s value as trail uses it: parsed, or its default when unset or when what is set does not parse; a
        list for a key of several values (those that parse)."""
        name, setting = resolve(key)
        if name in self._values:
            return self._values[name]
        stored = self._load().get(name, [])
        if setting.multi:
            value: Any = [v for v in (self._parse(setting, s) for s in stored) if v is not _BAD]
        else:
            value = setting.default
            if stored:
                parsed = self._parse(setting, stored[-1])
                value = setting.default if parsed is _BAD else parsed
        self._values[name] = value
        return value

    @staticmethod
    def _parse(setting: Setting, stored: Stored) -> Any:
        """The value, or _BAD (`problems` says why: it checks every value, overridden ones too)."""
        try:
            return setting.kind.parse(stored.text)
        except ValueError:
            return _BAD

    @property
    def problems(self) -> list[ConfigProblem]:
        """Every value of both files that trail cannot use (overridden ones too), and what it does instead."""
        stored = self._load()
        problems = list(self._problems)
        for name, values in stored.items():
            try:
                setting = resolve(name)[1]
            except ConfigError:
                continue  # an unknown key: among self._problems already
            for item in values:
                try:
                    setting.kind.parse(item.text)
                except ValueError as e:
                    if setting.multi:
                        instead = "leaves this value out"
                    elif setting.default is None:
                        instead = "leaves it unset"
                    else:
                        instead = f"uses the default, {setting.show_default()}"
                    message = f"{item.origin}: {name} {e}, not {item.text!r}; trail {instead}"
                    problems.append(ConfigProblem(name, item.origin, message))
        return problems

    def get_bool(self, key: str) -> bool:
        return bool(self.value(key))

    def get_size(self, key: str) -> int:
        return int(self.value(key))

    def get_number(self, key: str) -> float:
        return float(self.value(key))

    def get_str(self, key: str) -> str:
        return str(self.value(key))

    def get_all(self, key: str) -> list[Any]:
        """The values of a key that holds several (`trail config --add`)."""
        value = self.value(key)
        return list(value) if isinstance(value, list | tuple) else [value]

    @property
    def max_file_size(self) -> int:
        return self.get_size("snapshot.maxFileSize")

    @property
    def max_object_size(self) -> int:
        return self.get_size("store.maxObjectSize")

    @property
    def redact_enabled(self) -> bool:
        return self.get_bool("redact.enabled")

    @property
    def redact_patterns(self) -> list[str]:
        """The user's extra regexes that compile (one that does not is a problem, logged and shown by doctor)."""
        return self.get_all("redact.pattern")

    @property
    def sign(self) -> bool:
        """Sign each session's last step when it ends, with the user's git signing setup (store/sign.py)."""
        return self.get_bool("sign.enabled")

    @property
    def otel_other_spans(self) -> str:
        """What `trail otel serve` and `trail import otlp` make of a span that is not GenAI in a GenAI trace: a
        `note` step (the default) or nothing (`skip`; the spans inside it are placed all the same)."""
        return self.get_str("otel.otherSpans")

    @property
    def sensitive_files(self) -> SensitiveFiles:
        """Untracked files left out of snapshots by name (store/sensitive.py)."""
        from trail.store.sensitive import SensitiveFiles

        return SensitiveFiles(
            self.get_all("snapshot.sensitive"),
            self.get_all("snapshot.allow"),
            defaults=self.get_bool("snapshot.sensitiveDefaults"),
        )

    @property
    def prices(self) -> dict[str, dict[str, float]]:
        """`[price "<model>"]` sections: input, output, cacheRead, cacheWrite per million tokens."""
        prices: dict[str, dict[str, float]] = {}
        for name in self._load():
            if not name.startswith("price.") or name.rpartition(".")[2] not in PRICE_KINDS:
                continue
            price = self.value(name)
            if price is not None:
                model, _, kind = name.removeprefix("price.").rpartition(".")
                prices.setdefault(model, {})[kind] = price
        return prices


def config_str(config: pygit2.Config | None, key: str) -> str | None:
    """A string from a git config (the user's git settings, not trail's), None if unset or empty."""
    import pygit2

    if config is None:
        return None
    try:
        value = config[key]
    except (KeyError, pygit2.GitError):
        return None
    return value if isinstance(value, str) and value else None


def log_problems(repo: TrailRepo) -> None:
    """Write each value trail cannot use to errors.log (`trail doctor` shows it), once: hooks run hundreds of
    times a session, and one entry per bad value says it all. Never raises."""
    try:
        problems = repo.config.problems
        if not problems:
            return
        from trail.capture import keep

        log = repo.trail_dir / keep.ERRORS_LOG
        logged = ""
        if log.is_file():
            with open(log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - (256 << 10)))
                logged = f.read().decode("utf-8", "replace")
        for problem in problems:
            if problem.message not in logged:
                keep.log_error(repo, "config", ConfigError(problem.message), trace=False)
    except Exception:  # noqa: BLE001 - a hook must record whatever its config says
        pass


def config_template() -> str:
    """The commented file `trail init` writes: every key, with its default or an example, from the schema."""
    lines = [
        "# trail's settings for this repository, in git-config syntax. `trail config KEY VALUE` changes one and",
        "# refuses a value trail cannot use; `trail config --list` shows every setting, its default and its source.",
        "# Your defaults for every repository go in ~/.config/trail/config; this file overrides them.",
    ]
    section = ""
    for setting in (*SETTINGS, PRICE):
        head, _, name = setting.key.partition(".")
        if setting is PRICE:
            head, name = 'price "claude-sonnet-4-5"', "input"
        if head != section:
            lines += ["#", f"# [{head}]"]
            section = head
        shown = setting.example if setting.multi or setting.default is None else setting.show_default()
        several = " (repeat the line for more)" if setting.multi else ""
        lines.append(f"#     {f'{name} = {shown}':<34}# {setting.help}{several}")
    return "\n".join(lines) + "\n"


def init_trail(repo: TrailRepo) -> bool:
    """Create trail's folders and a commented config file; False if they were already there."""
    created = not repo.trail_dir.exists()
    repo.ensure_dirs()
    config = repo.trail_dir / "config"
    if not config.exists():
        config.write_text(config_template())
        created = True
    return created


# `trail config`: reading, listing and writing, checked against the schema.


def keys_help() -> list[tuple[str, str]]:
    """(key, what it is) rows for `trail config --help`, made from the schema so that they cannot drift."""
    rows = []
    for setting in (*SETTINGS, PRICE):
        alias = next((f" (or {a})" for a, key in ALIASES.items() if key == setting.key), "")
        what = setting.kind.label + (", several with --add" if setting.multi else "")
        default = "" if setting.multi or setting.default is None else f", default {setting.show_default()}"
        rows.append((setting.key + alias, f"{what}{default}: {setting.help}"))
    return rows


def set_value(repo: TrailRepo, key: str, text: str, add: bool = False) -> str:
    """Write `key = text` to the repository's file (replacing what it held, or with `add` one more value) once it
    parses; a ConfigError, and nothing written, if it does not. Returns the key as written."""
    from trail.gitcli import run_git

    name, setting = resolve(key)
    if add and not setting.multi:
        several = ", ".join(s.key for s in SETTINGS if s.multi)
        raise ConfigError(f"{name} holds one value: `trail config {name} VALUE` sets it (--add is for {several})")
    try:
        value = setting.kind.parse(text)
    except ValueError as e:
        raise ConfigError(f"{name} {e}, not {text!r}") from None
    init_trail(repo)
    path = repo.trail_dir / "config"
    run_git(
        ["config", "-f", path, "--add" if add else "--replace-all", "--", name, setting.kind.write(text, value)],
        cwd=repo.workdir,
    )
    repo.__dict__.pop("config", None)
    return name


def unset_value(repo: TrailRepo, key: str) -> None:
    from trail.gitcli import run_git

    name, _ = resolve(key)
    path = repo.trail_dir / "config"
    if not any(s.origin == path for s in repo.config.stored(name)):
        elsewhere = [str(s.origin) for s in repo.config.stored(name)]
        where = f"; it is set in {elsewhere[-1]} (edit that file with git config -f)" if elsewhere else ""
        raise ConfigError(f"{name} is not set in {path}{where}")
    run_git(["config", "-f", path, "--unset-all", "--", name], cwd=repo.workdir)
    repo.__dict__.pop("config", None)


def _in_use(config: TrailConfig, name: str, setting: Setting) -> list[tuple[str, str]]:
    """(value, source) pairs of what trail uses for `name`: a file's path, or `default`."""
    stored = [s for s in config.stored(name) if TrailConfig._parse(setting, s) is not _BAD]
    if setting.multi:
        return [(setting.kind.show(setting.kind.parse(s.text)), str(s.origin)) for s in stored]
    last = config.stored(name)[-1:]
    if last and last == stored[-1:]:
        return [(setting.kind.show(config.value(name)), str(last[0].origin))]
    return [] if setting.default is None else [(setting.show_default(), "default")]


def show_value(config: TrailConfig, key: str, show_origin: bool = False) -> tuple[list[str], list[str]]:
    """`trail config KEY`: the lines of what trail uses (a bad stored value shows the default), and warnings."""
    name, setting = resolve(key)
    lines = [f"{_origin(source)}\t{text}" if show_origin else text for text, source in _in_use(config, name, setting)]
    return lines, [p.message for p in config.problems if p.key == name]


def list_values(config: TrailConfig, show_origin: bool = False) -> tuple[list[str], list[str]]:
    """`trail config --list`: every setting (and every price set) with what trail uses, its default and its source;
    with `show_origin`, git's `--list --show-origin` lines instead. Returns the lines and the problems."""
    keys = [(s.key, s) for s in SETTINGS]
    keys += [(name, PRICE) for name in config.names() if name.startswith("price.") and _known(name)]
    problems = config.problems
    if show_origin:
        lines = [
            f"{_origin(source)}\t{name}={text}"
            for name, setting in keys
            for text, source in _in_use(config, name, setting)
        ]
        return lines, [p.message for p in problems]
    rows = [("KEY", "VALUE", "DEFAULT", "SOURCE")]
    for name, setting in keys:
        bad = sorted({str(p.origin) for p in problems if p.key == name})
        note = f" (an invalid value in {', '.join(bad)} is left out)" if bad else ""
        for text, source in _in_use(config, name, setting) or [("(none)", "default")]:
            rows.append((name, text, setting.show_default(), source + note))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}" for row in rows]
    return lines, [p.message for p in problems]


def _known(name: str) -> bool:
    try:
        resolve(name)
    except ConfigError:
        return False
    return True


def _origin(source: str) -> str:
    return "default" if source == "default" else f"file:{source}"

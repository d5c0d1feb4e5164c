"""trail's entries in an agent's JSON hook file (Claude Code's and Gemini CLI's settings.json, Codex's and Cursor's
hooks.json): merged in, found, and taken out again so that the file is back byte for byte.

Two shapes of `hooks` object exist: grouped, `{event: [{matcher?, hooks: [{command, …}]}]}` (Claude Code, Codex,
Gemini CLI), and flat, `{event: [{command, …}]}` (Cursor). An entry is trail's when its command runs `trail-hook
SOURCE`, whatever path names trail-hook, so installing again, or from another installation of trail, replaces it in
place.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.install.files import drop_backup, load_backup, read_existing, save_backup, write_atomic

PLACEHOLDER = "{trail_hook}"  # in the templates (hooks/), where the command that runs trail-hook goes


@dataclass(frozen=True)
class HookFile:
    """How one agent's hook file is laid out, and the `trail-hook` source its entries run."""

    source: str  # trail-hook's argument: "claude", "codex", "gemini", "cursor"
    title: str  # the agent, for messages
    grouped: bool  # entries inside matcher groups (Claude Code, Codex, Gemini CLI) or listed under the event (Cursor)
    template_name: str  # trail's entries, in hooks/ (`{"hooks": {…}}` with PLACEHOLDER for the command)
    new_file: tuple[tuple[str, Any], ...] = ()  # top-level keys the agent requires, set when missing
    backup_kind: str = ""  # the backup's name (files.backup_path); default `SOURCE-hooks`

    def template(self, command: str) -> dict[str, list[Any]]:
        """trail's entries for the `hooks` object (event -> entries, or matcher groups), each running `COMMAND
        SOURCE`."""
        text = resources.files("trail._hooks").joinpath(self.template_name).read_text(encoding="utf-8")
        hooks: dict[str, list[Any]] = json.loads(text)["hooks"]
        for items in hooks.values():
            for entry in _entries(self, items):
                entry["command"] = entry["command"].replace(PLACEHOLDER, command)
        return dict(hooks)

    @property
    def backup(self) -> str:
        return self.backup_kind or f"{self.source}-hooks"

    @property
    def events(self) -> tuple[str, ...]:
        """The events trail records for this agent: those of the template."""
        return tuple(self.template("trail-hook"))

    def ours(self, entry: Any) -> str | None:
        """How an entry of trail's names trail-hook; None for anyone else's entry."""
        command = entry.get("command") if isinstance(entry, dict) else None
        if not isinstance(command, str):
            return None
        found = re.search(r"trail-hook['\"]?(?=\s+" + re.escape(self.source) + r"(?:\s|$))", command)
        return command[: found.end()] if found else None


@dataclass(frozen=True)
class Change:
    """What install or uninstall did to one file.

    action: installed | updated | unchanged (install); restored | deleted | removed | absent (uninstall).
    """

    path: Path
    action: str
    events: int

    def said(self, name: str) -> str:
        """What was done, in words (`name`: the agent as the messages call it)."""
        path, events = self.path, self.events
        return {
            "installed": f"Installed trail's {name} hooks in {path} ({events} events)",
            "updated": f"Updated trail's {name} hooks in {path} ({events} events)",
            "unchanged": f"trail's {name} hooks are already installed in {path} ({events} events)",
            "restored": f"Removed trail's {name} hooks: {path} is back as it was before install",
            "deleted": f"Removed trail's {name} hooks: deleted {path}, which install had created",
            "removed": f"Removed trail's {name} hooks from {path} ({events} events)",
            "absent": f"trail's {name} hooks are not installed in {path}: nothing to do",
        }[self.action]


@dataclass(frozen=True)
class Found:
    """trail's entries in one file: the events that have one, and how they name trail-hook."""

    path: Path
    installed: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    error: str | None = None


def install(spec: HookFile, path: Path, template: dict[str, list[Any]]) -> Change:
    """Add trail's entries (`template`: event -> entries, or matcher groups) to the file at `path`, keeping the
    rest; the file as it was is saved for uninstall."""
    raw, data = read_settings(path)
    merged = _merged(spec, data, template, path)
    if raw is not None and merged == data:
        return Change(path, "unchanged", len(template))
    _, found = _without_ours(spec, data)
    created_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not found:  # a file that already holds our entries is not what the user had: keep the first backup
        save_backup(spec.backup, path, raw, existed=raw is not None, created_dir=created_dir)
    write_atomic(path, _dump(merged))
    return Change(path, "updated" if found else "installed", len(template))


def uninstall(spec: HookFile, path: Path, template: dict[str, list[Any]]) -> Change:
    """Take trail's entries out of the file at `path`; if nothing else changed since install (`template`: what
    install adds), the file is put back exactly as it was (or deleted, if install created it)."""
    raw, data = read_settings(path)
    backup = _load_backup(spec, path)
    cleaned, found = _without_ours(spec, data)
    if raw is None or not found:
        drop_backup(spec.backup, path)
        return Change(path, "absent", 0)
    if backup is not None and _same_as_backup(spec, cleaned, backup, template):
        if backup.content is None:
            path.unlink()
            if backup.created_dir:
                with suppress(OSError):  # not empty: someone else's files are there now
                    path.parent.rmdir()
            action = "deleted"
        else:
            write_atomic(path, backup.content)
            action = "restored"
    else:
        write_atomic(path, _dump(cleaned))
        action = "removed"
    drop_backup(spec.backup, path)
    return Change(path, action, len(found))


def find(spec: HookFile, path: Path, events: tuple[str, ...]) -> Found:
    """Which of `events` have an entry of trail's in the file at `path`, and the programs those entries run."""
    try:
        _, data = read_settings(path)
    except TrailError as e:
        return Found(path, error=str(e))
    hooks = data.get("hooks")
    installed: list[str] = []
    programs: list[str] = []
    for event in events:
        items = hooks.get(event) if isinstance(hooks, dict) else None
        ours = [program for entry in _entries(spec, items) if (program := spec.ours(entry))]
        if ours:
            installed.append(event)
        programs.extend(program for program in ours if program not in programs)
    return Found(path, tuple(installed), tuple(programs))


def _entries(spec: HookFile, items: Any) -> list[Any]:
    if not isinstance(items, list):
        return []
    if not spec.grouped:
        return items
    return [entry for group in items if isinstance(group, dict) for entry in _list(group.get("hooks"))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strip(spec: HookFile, items: list[Any]) -> tuple[list[Any], int | None]:
    """The event's list without our entries, and where the first item that held ours was (None: no ours). A matcher
    group left empty by the removal goes; one the user left empty stays."""
    kept_items: list[Any] = []
    at: int | None = None
    for item in items:
        if not spec.grouped:
            if spec.ours(item) is None:
                kept_items.append(item)
            elif at is None:
                at = len(kept_items)
            continue
        entries = item.get("hooks") if isinstance(item, dict) else None
        if not isinstance(entries, list):
            kept_items.append(item)
            continue
        kept = [entry for entry in entries if spec.ours(entry) is None]
        if len(kept) == len(entries):
            kept_items.append(item)
            continue
        if at is None:
            at = len(kept_items)
        if kept:
            kept_items.append({**item, "hooks": kept})
    return kept_items, at


def _without_ours(spec: HookFile, settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings without trail's entries, and the events that had some."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return settings, []
    found: list[str] = []
    new_hooks: dict[str, Any] = {}
    for event, items in hooks.items():
        if not isinstance(items, list):
            new_hooks[event] = items  # Gemini CLI's own keys there ("enabled", "disabled") are not events
            continue
        kept, at = _strip(spec, items)
        if at is not None:
            found.append(event)
            if not kept:
                continue
        new_hooks[event] = kept
    result = dict(settings)
    if new_hooks or not found:
        result["hooks"] = new_hooks
    else:
        del result["hooks"]
    return result, found


def _with_ours(spec: HookFile, settings: dict[str, Any], template: dict[str, list[Any]], path: Path) -> dict[str, Any]:
    """The settings with trail's entries, each where an older one of ours was, else after the user's own (Cursor
    versions that run only the first entry of an event then still run the user's)."""
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise TrailError(f'{path}: "hooks" is not a JSON object; fix it by hand, then run the command again')
    new_hooks: dict[str, Any] = {}
    for event, items in hooks.items():
        if not isinstance(items, list):
            if event in template:
                raise TrailError(
                    f'{path}: "hooks.{event}" is not a JSON array; fix it by hand, then run the command again'
                )
            new_hooks[event] = items
            continue
        kept, at = _strip(spec, items)
        if event in template:
            at = len(kept) if at is None else at
            new_hooks[event] = [*kept[:at], *template[event], *kept[at:]]
        elif at is None or kept:
            new_hooks[event] = kept
    for event, ours in template.items():
        new_hooks.setdefault(event, ours)
    return {**settings, "hooks": new_hooks}


def _merged(spec: HookFile, data: dict[str, Any], template: dict[str, list[Any]], path: Path) -> dict[str, Any]:
    """What install makes of the settings `data`: trail's entries in, and the keys the agent requires."""
    merged = _with_ours(spec, data, template, path)
    for key, value in spec.new_file:
        if key not in merged:
            merged = {key: value, **merged}
    return merged


def read_settings(path: Path) -> tuple[bytes | None, dict[str, Any]]:
    """The file's bytes (None: there is no file) and its JSON object; anything else is refused, untouched."""
    raw = read_existing(path)
    if raw is None or not raw.strip():
        return raw, {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise TrailError(
            f"{path} is not valid JSON ({e}); trail left it unchanged. Fix it by hand, then run the command again."
        ) from None
    if not isinstance(data, dict):
        raise TrailError(
            f"{path} does not hold a JSON object; trail left it unchanged. Fix it by hand, then run the command again."
        )
    return raw, data


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# The file as it was before install, kept outside the repository so that uninstall can restore it.


@dataclass(frozen=True)
class _Backup:
    content: bytes | None  # None: there was no file
    data: dict[str, Any]  # what the file held, as install read it
    created_dir: bool


def _load_backup(spec: HookFile, path: Path) -> _Backup | None:
    kept = load_backup(spec.backup, path)
    if kept is None:
        return None
    content, record = kept
    try:
        data = json.loads(content) if content is not None and content.strip() else {}
    except ValueError:
        return None  # unreadable: uninstall then cleans the file as it finds it
    return _Backup(content, data, bool(record["created_dir"])) if isinstance(data, dict) else None


def _same_as_backup(spec: HookFile, cleaned: dict[str, Any], backup: _Backup, template: dict[str, list[Any]]) -> bool:
    """Whether the user changed nothing but trail's entries since install: compared with what removal does to an
    install over the backup, which also matches a file whose empty `hooks` or event lists the removal dropped, or
    to which install added the keys the agent requires."""
    before = backup.data
    if cleaned == before:
        return True
    try:
        return cleaned == _without_ours(spec, _merged(spec, before, template, Path()))[0]
    except TrailError:
        return False


def without_trail(spec: HookFile, data: bytes | None) -> Any:
    """A hook file's settings as the person has them, trail's entries taken out (None: no file; the bytes as they
    are when they are not a JSON object, which is then the person's own). A file made by install alone reads as
    an empty object, as no file at all does."""
    if data is None:
        return {}
    try:
        settings = json.loads(data)
    except ValueError:
        return data
    if not isinstance(settings, dict):
        return data
    cleaned, _ = _without_ours(spec, settings)
    return {k: v for k, v in cleaned.items() if (k, v) not in spec.new_file}

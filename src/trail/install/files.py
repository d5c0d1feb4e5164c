"""The person's files as install reads and changes them: replaced at once, and kept as they were for uninstall.

A copy is kept outside the repository (`$XDG_STATE_HOME/trail/backups/`), readable by its owner alone: settings may
carry API keys and tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path
from typing import Any

from trail.errors import TrailError


def read_existing(path: Path) -> bytes | None:
    """The file's bytes, None when there is no file; TrailError when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TrailError(f"cannot read {path}: {e.strerror}") from None


def write_atomic(path: Path, data: bytes, new_mode: int = 0o666) -> None:
    """Replace `path`'s content at once, keeping its mode; a new file gets `new_mode` less the umask.

    A symlink stays a link: its target is written (dotfile managers link ~/.claude/settings.json).
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = target.with_name(f".{target.name}.trail-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_mode if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise


def backup_path(kind: str, path: Path) -> Path:
    """Where the copy of the file at `path` is kept; `kind` names what the file is (`claude-settings`, …)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    key = hashlib.sha256(os.fsencode(path.absolute())).hexdigest()
    return base / "trail" / "backups" / f"{kind}-{key}.json"


def save_backup(kind: str, path: Path, content: bytes | None, **more: Any) -> None:
    """Keep `content`, the file's bytes before install (None: there was no file), with what else uninstall needs."""
    record = {
        "path": str(path.absolute()),
        **more,
        "content": None if content is None else base64.b64encode(content).decode("ascii"),
    }
    target = backup_path(kind, path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(target, (json.dumps(record, indent=2) + "\n").encode("utf-8"), new_mode=0o600)


def load_backup(kind: str, path: Path) -> tuple[bytes | None, dict[str, Any]] | None:
    """The file's bytes before install (None if there was none) and the whole record; None when no backup can be
    read (uninstall then cleans the file as it finds it)."""
    try:
        record = json.loads(backup_path(kind, path).read_bytes())
        content = None if record["content"] is None else base64.b64decode(record["content"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return content, record


def drop_backup(kind: str, path: Path) -> None:
    with suppress(FileNotFoundError):
        backup_path(kind, path).unlink()

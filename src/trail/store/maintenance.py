"""Keeping trail's objects packed, in the background, never in the way of a hook or of the user's git.

A live session writes one loose object or more per step; when it ends, they are packed (`git rev-list --objects
--unpacked` of the session above the commit it started from, into `git pack-objects`) and the loose copies removed
(only those: no folder is removed, so a concurrent writer never loses one). An import that wrote several packs has
them merged into one (`git pack-objects --stdin-packs`). Both run detached (`python -P -m trail.store.maintenance
...`), one at a time per repository (a lock held for the run), and `git gc` keeps working as always: nothing here is
needed for correctness. A session that ends is signed here too when `trail config sign true` asks for it
(store/sign.py), so a signer that is slow or waits for a passphrase never holds up a recording.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from trail.gitcli import clean_env

LOCK = "maintenance.lock"
LOG = "maintenance.log"


def pack_session_async(gitdir: Path, trail_dir: Path, session_id: str, base: str | None) -> None:
    """Pack, in a detached process, the loose objects of a session that just ended."""
    _spawn(trail_dir, ["pack-session", os.fspath(gitdir), session_id, base or ""])


def merge_packs_async(gitdir: Path, trail_dir: Path, packs: Sequence[Path]) -> None:
    """Merge packs an import wrote into one, in a detached process."""
    if len(packs) > 1:
        _spawn(trail_dir, ["merge-packs", os.fspath(gitdir), *(p.name for p in packs)])


def sign_session_async(gitdir: Path, trail_dir: Path, session_id: str, tip: str) -> None:
    """Sign, in a detached process, the last step of a session that just ended (`trail config sign true`)."""
    _spawn(trail_dir, ["sign-session", os.fspath(gitdir), session_id, tip])


def _spawn(trail_dir: Path, args: list[str]) -> None:
    try:
        trail_dir.mkdir(parents=True, exist_ok=True)
        with open(trail_dir / LOG, "ab") as log:
            subprocess.Popen(
                # -P: a `trail/` folder in the working tree must never shadow this package
                [sys.executable, "-P", "-m", "trail.store.maintenance", *args],
                cwd=os.fspath(trail_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                env=clean_env(),
            )
    except OSError:
        pass  # packing is an optimisation: the objects are safe loose


def pack_session(gitdir: str, session_id: str, base: str) -> None:
    """Pack the session's loose objects, then remove the loose copies of exactly those objects.

    Not `git prune-packed`: it also removes the fan-out folders it empties, and a process writing a loose object
    at that moment (the next step of another session, whose folder libgit2 has just made) fails to move it into
    place. Removing files only leaves every folder where writers expect it.
    """
    revs = [f"refs/trail/sessions/{session_id}"] + ([f"^{base}"] if base else [])
    listed = _git(gitdir, ["rev-list", "--objects", "--unpacked", *revs])
    if not listed.strip():
        return
    _git(gitdir, ["pack-objects", "--incremental", "-q", _pack_base(gitdir)], listed)
    objects = Path(gitdir) / "objects"
    for line in listed.splitlines():
        oid = line.split(" ", 1)[0]
        with contextlib.suppress(OSError):
            os.unlink(objects / oid[:2] / oid[2:])  # packed now: a reader that misses it re-reads the pack list


def merge_packs(gitdir: str, names: Sequence[str]) -> None:
    pack_dir = Path(gitdir) / "objects" / "pack"
    present = [name for name in names if (pack_dir / name).exists()]
    if len(present) < 2:
        return
    _git(gitdir, ["pack-objects", "--stdin-packs", "-q", _pack_base(gitdir)], "".join(n + "\n" for n in present))
    for name in present:  # every object is in the new pack now (a reader that misses one re-reads the pack list)
        for suffix in (".idx", ".pack", ".rev"):
            (pack_dir / name).with_suffix(suffix).unlink(missing_ok=True)


def sign_session(gitdir: str, session_id: str, tip: str) -> int:
    """Sign a session's last step; a failure is written to the log (this process's output), never raised."""
    import time

    import pygit2

    from trail.errors import TrailError
    from trail.repo import TrailRepo
    from trail.store.sign import sign_session as sign
    from trail.store.steps import Store

    try:
        sign(Store(TrailRepo(pygit2.Repository(gitdir))), session_id, tip)
    except (TrailError, pygit2.GitError, OSError) as e:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        print(f"{stamp} trail maintenance: sign-session {session_id}: not signed: {e}", file=sys.stderr)
        return 1
    return 0


def _pack_base(gitdir: str) -> str:
    return os.fspath(Path(gitdir) / "objects" / "pack" / "pack")


def _git(gitdir: str, args: list[str], stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", f"--git-dir={gitdir}", *args],
        input=stdin,
        text=True,
        check=True,
        stdout=subprocess.PIPE,
        env=clean_env(),
    ).stdout


def main(argv: Sequence[str]) -> int:
    command, gitdir, *rest = argv
    lock_path = Path(gitdir) / "trail" / LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one run at a time; the next waits its turn
        if command == "pack-session":
            pack_session(gitdir, rest[0], rest[1])
        elif command == "merge-packs":
            merge_packs(gitdir, rest)
        elif command == "sign-session":
            return sign_session(gitdir, rest[0], rest[1])
        else:
            print(f"trail maintenance: unknown command {command!r}", file=sys.stderr)
            return 2
    except subprocess.CalledProcessError as e:
        print(f"trail maintenance: {command} failed: {e}", file=sys.stderr)
        return 1
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

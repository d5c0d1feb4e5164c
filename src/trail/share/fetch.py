"""`trail fetch`: what is asked of a remote, and only that, through protocol v2 ref prefixes.

The remote lists only the refs the refspecs name (`ref-prefix`): its session refs (active and recent sessions, the
rest being archived) and the archive refs of the months asked for (`--since`, default 30 days; `--all`: every
month). The remote's session refs are kept as remote-tracking refs, `refs/trail/remotes/<remote>/<id>`, so a fetch
with nothing new writes no ref and sends no object; only the sessions whose tracking ref moved (or which differ from
ours) are taken into `refs/trail/sessions/` (share/remote.py `integrate`, which never overwrites). The remote's
archives land in `refs/trail/remote-archive/<remote>/<YYYY-MM>`, where store/archive.py finds their sessions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trail.errors import TrailError
from trail.gitcli import run_git
from trail.share.remote import STAGING, RefUpdate, TransferResult, integrate, staging_name
from trail.store import archive
from trail.store.reflist import session_tips
from trail.store.steps import REF_PREFIX, Store, check_session_id

DEFAULT_SINCE = timedelta(days=30)
PACK_AFTER = 100  # refs written by one fetch after which the refs are packed


@dataclass
class FetchResult(TransferResult):
    archives: list[str] = field(default_factory=list)  # archive refs of the remote that came in or moved

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "archives": self.archives}


def months(since: timedelta, now: datetime | None = None) -> list[str]:
    """The periods (YYYY-MM) from `now - since` to `now`."""
    now = now or datetime.now(UTC)
    first = archive.period_of(now - since)
    year, month = map(int, first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= archive.period_of(now):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def fetch(
    store: Store,
    remote: str,
    session_ids: Sequence[str] | None = None,
    since: timedelta = DEFAULT_SINCE,
    everything: bool = False,
) -> FetchResult:
    """Fetch the named sessions (with their subagents), or the remote's session refs and the archives of the months
    since `since` (every archive with `everything`), and take in what is safe to take in."""
    name = staging_name(remote)
    tracking = f"{STAGING}{name}/"
    archives = f"{archive.TRACKING_PREFIX}{name}/"
    commondir = store.repo.commondir
    if session_ids is not None:
        wanted = [check_session_id(s) for s in session_ids]
        refspecs = [f"+{REF_PREFIX}{sid}*:{tracking}{sid}*" for sid in wanted]
    else:
        refspecs = [f"+{REF_PREFIX}*:{tracking}*"]
        if everything:
            refspecs.append(f"+{archive.ARCHIVE_PREFIX}*:{archives}*")
        else:
            refspecs += [f"+{archive.ARCHIVE_PREFIX}{p}*:{archives}{p}*" for p in months(since)]
    before_archives = archive.refs_under(commondir, archives)
    before = archive.refs_under(commondir, tracking)
    fetch_refs(store, remote, refspecs, tracking, archives)
    after = archive.refs_under(commondir, tracking)
    staged = {ref[len(tracking) :]: oid for ref, oid in after.items()}
    if session_ids is not None:
        staged = {sid: oid for sid, oid in staged.items() if any(_belongs(sid, w) for w in wanted)}
    ours = {**archive.archived_tips(commondir), **session_tips(commondir)}
    differ = sorted(sid for sid, oid in staged.items() if ours.get(sid) != oid)
    moved = integrate(store, tracking, remote, names=differ, keep=True)
    result = FetchResult(remote, updates=moved.updates)
    result.updates += [RefUpdate(sid, "same") for sid in sorted(staged) if sid not in set(differ)]
    if session_ids is not None:
        missing = [sid for sid in wanted if sid not in staged]
        if missing:
            _from_archives(store, remote, missing, archives, result)
    after_archives = archive.refs_under(commondir, archives)
    result.archives = sorted(r for r, oid in after_archives.items() if before_archives.get(r) != oid)
    written = sum(before.get(r) != oid for r, oid in after.items()) + len(result.archives) + result.count("new")
    if written >= PACK_AFTER:
        _git(store, ["pack-refs", "--all"])
    return result


def _belongs(sid: str, wanted: str) -> bool:
    return sid == wanted or sid.startswith(wanted + ".agent-")


def _from_archives(store: Store, remote: str, missing: list[str], archives: str, result: FetchResult) -> None:
    """Named sessions the remote holds no ref for: found in the index of its archives (their index blobs fetched
    alone), then each fetched by its tip's id, or reported missing."""
    index = archive.load(store.repo.commondir, store.git)
    unknown = [sid for sid in missing if index.tip(sid) is None]
    found = _remote_archive_index(store, remote) if unknown else {}
    absent = []
    for sid in missing:
        if index.tip(sid) is not None:
            result.updates.append(RefUpdate(sid, "archived", f"in {index.where(sid)}"))
        elif sid in found:
            tip, ref = found[sid]
            # One commit asked for by id (protocol v2 serves any commit its refs reach): the session's steps only.
            staged = f"{STAGING}{staging_name(remote)}/{sid}"
            fetch_refs(store, remote, [f"+{tip}:{staged}"], None, archives)
            for update in integrate(store, f"{STAGING}{staging_name(remote)}/", remote, names=[sid]).updates:
                update.detail = update.detail or f"from {remote}'s {ref}"
                result.updates.append(update)
        else:
            absent.append(sid)
    if absent:
        raise TrailError(f"{remote} has no session {', '.join(absent)} (neither a ref nor in its archives)")


def _remote_archive_index(store: Store, remote: str) -> dict[str, tuple[str, str]]:
    """Session id -> (tip, archive ref) from the remote's archive index blobs. The archive commits are fetched at
    depth 1 into a scratch repository that borrows this one's objects: their trees and index blobs come, the
    sessions they hold (their other parents) do not, and this repository gets no shallow boundary."""
    import pygit2

    scratch = store.repo.commondir / "trail" / "archive-scratch"
    if not (scratch / "HEAD").exists():
        _git(store, ["init", "-q", "--bare", os.fspath(scratch)])
        alternates = scratch / "objects" / "info" / "alternates"
        alternates.write_text(os.fspath((store.repo.commondir / "objects").resolve()) + "\n", encoding="utf-8")
    url = remote
    if remote in store.git.remotes.names():
        url = store.git.remotes[remote].url or remote
    if "://" not in url and ":" not in url.split("/")[0]:
        url = os.fspath((Path(store.repo.workdir) / url).resolve())  # a path, relative to the worktree
    prefix = f"refs/archive/{staging_name(remote)}/"
    _git(
        store,
        ["-C", os.fspath(scratch), "-c", "protocol.version=2", "fetch", "-q", "--depth=1", "--no-tags", "--prune"]
        + ["--no-write-fetch-head", url, f"+{archive.ARCHIVE_PREFIX}*:{prefix}*"],
    )
    repo = pygit2.Repository(os.fspath(scratch))
    out: dict[str, tuple[str, str]] = {}
    for name in sorted(r for r in repo.references if r.startswith(prefix)):
        try:
            blob = repo.revparse_single(f"{name}:{archive.INDEX_BLOB}").peel(pygit2.Blob)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        ref = archive.ARCHIVE_PREFIX + name[len(prefix) :]
        out.update({sid: (tip, ref) for sid, tip in archive.parse_index(blob.data).items()})
    return out


def fetch_refs(store: Store, remote: str, refspecs: list[str], tracking: str | None, archives: str) -> None:
    """git fetch over protocol v2 (the remote lists only the refs under the refspecs' prefixes), pruning the
    tracking refs of sessions the remote no longer holds as refs (archived there), negotiating from the branches
    and what this remote sent before."""
    tips = ["refs/heads/*", "refs/remotes/*", f"{archives}*"] + ([f"{tracking}*"] if tracking else [])
    _git(
        store,
        [
            "-c",
            "protocol.version=2",
            "fetch",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            *[f"--negotiation-tip={t}" for t in tips],
            remote,
            *refspecs,
        ],
    )


def _git(store: Store, args: list[str]) -> str:
    return run_git(args, store.repo.workdir)

"""Archiving a remote's own session refs: its ended old sessions rolled into its archive refs, so that what every
fetch and push of the team lists stays few on the shared remote too.

Only what the remote already holds goes into what is pushed: the sessions of its refs, at its tips (a private
session, or a step not pushed yet, never leaves this repository this way). The invariant is the one of the local
archive, across the network: a month's archive moves first, by a fast-forward pushed under a lease on the value just
fetched (a concurrent archiver makes it fail: fetch again, rebuild, retry); a session ref is deleted last, each
under a lease on the tip archived, so a step pushed meanwhile keeps its ref and nothing is lost.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trail.errors import TrailError
from trail.gitcli import git_process
from trail.share.fetch import fetch_refs
from trail.share.remote import STAGING, staging_name
from trail.store import archive
from trail.store.steps import REF_PREFIX, Store

MAX_TRIES = 3  # fetch-rebuild-push rounds for a month's archive that another archiver moved meanwhile
DELETE_BATCH = 1000  # session refs deleted per `git push` (two short arguments each: far below ARG_MAX)


@dataclass
class RemoteArchiveResult:
    remote: str
    archived: dict[str, list[str]] = field(default_factory=dict)  # period -> session ids in its archive now
    deleted: list[str] = field(default_factory=list)  # session refs deleted on the remote
    kept: list[str] = field(default_factory=list)  # session refs that moved on the remote meanwhile: left as refs

    @property
    def count(self) -> int:
        return len(self.deleted)

    def to_json(self) -> dict[str, object]:
        return {"remote": self.remote, "archived": self.archived, "deleted": self.deleted, "kept": self.kept}


def tracked_session_refs(store: Store, remote: str) -> int:
    """How many session refs the remote had at the last fetch (read from the remote-tracking refs: no network)."""
    return len(archive.refs_under(store.repo.commondir, f"{STAGING}{staging_name(remote)}/"))


def archive_remote(
    store: Store, remote: str, older_than: timedelta, now: datetime | None = None, dry_run: bool = False
) -> RemoteArchiveResult:
    """Roll the remote's ended sessions whose last step is older than `older_than` into its archive refs, then
    delete their session refs there."""
    name = staging_name(remote)
    tracking = f"{STAGING}{name}/"
    archives = f"{archive.TRACKING_PREFIX}{name}/"
    commondir = store.repo.commondir
    fetch_refs(store, remote, [f"+{REF_PREFIX}*:{tracking}*"], tracking, archives)
    theirs = {ref[len(tracking) :]: oid for ref, oid in archive.refs_under(commondir, tracking).items()}
    chosen = archive.candidates(store, older_than, now, tips=theirs)
    result = RemoteArchiveResult(remote)
    if dry_run:
        result.archived = {period: sorted(entries) for period, entries in chosen.items()}
        return result
    archived: dict[str, str] = {}
    for period, entries in sorted(chosen.items()):
        index = _extend(store, remote, period, entries, archives)
        result.archived[period] = sorted(sid for sid in entries if index.get(sid) == entries[sid])
        archived.update({sid: entries[sid] for sid in result.archived[period]})
    deleted, result.kept = _delete(store, remote, archived)
    result.deleted = deleted
    # The tracking refs follow the remote (the next fetch would prune them too).
    archive.update_refs(store, [f"delete {tracking}{sid} {archived[sid]}" for sid in deleted], "trail: archive")
    return result


def _extend(store: Store, remote: str, period: str, entries: dict[str, str], archives: str) -> dict[str, str]:
    """Push the remote's archive of `period` extended with `entries` (on top of its current head); returns the
    index it holds afterwards."""
    ref = archive.ARCHIVE_PREFIX + period
    tracked = archives + period
    for _ in range(MAX_TRIES):
        fetch_refs(store, remote, [f"+{ref}*:{tracked}*"], None, archives)
        old = archive.refs_under(store.repo.commondir, tracked).get(tracked)
        existing = archive.read_index(store.git, old) if old else {}
        new_tips = sorted({tip for sid, tip in entries.items() if existing.get(sid) != tip})
        if not new_tips:
            return existing
        index = {**existing, **entries}
        top = archive.write_archive(store, period, old, index, new_tips, archive.ARCHIVE_PREFIX)
        # A fast-forward from the head just fetched, and only from it: a lease is git's compare-and-swap.
        lease = f"--force-with-lease={ref}:{old or ''}"
        done = _git(store, ["push", "--porcelain", "--quiet", lease, remote, f"{top}:{ref}"])
        if done.returncode == 0:
            archive.update_refs(store, [f"update {tracked} {top} {old or '0' * 40}"], "trail: archive")
            return index
    raise TrailError(f"{remote}'s {ref} kept moving while archiving into it ({MAX_TRIES} tries); run it again")


def _delete(store: Store, remote: str, archived: dict[str, str]) -> tuple[list[str], list[str]]:
    """Delete the remote's refs of the archived sessions, each only while it still points to the tip archived;
    returns (deleted, kept)."""
    deleted: list[str] = []
    kept: list[str] = []
    ids = sorted(archived)
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        leases = [f"--force-with-lease={REF_PREFIX}{sid}:{archived[sid]}" for sid in batch]
        done = _git(store, ["push", "--porcelain", *leases, remote, *[f":{REF_PREFIX}{sid}" for sid in batch]])
        gone = set()
        for line in done.stdout.splitlines():
            flag, _, rest = line.partition("\t")
            target = rest.split("\t", 1)[0].partition(":")[2]
            if flag == "-" and target.startswith(REF_PREFIX):
                gone.add(target[len(REF_PREFIX) :])
        if done.returncode != 0 and not gone and "[rejected]" not in done.stdout and "stale info" not in done.stdout:
            raise TrailError(f"git push failed: {(done.stderr or done.stdout).strip()}")
        deleted += [sid for sid in batch if sid in gone]
        kept += [sid for sid in batch if sid not in gone]
    return deleted, kept


def _git(store: Store, args: list[str]) -> subprocess.CompletedProcess[str]:
    return git_process(args, store.repo.workdir)

"""Sessions moved through any git remote with the git binary, so credentials and remote settings work as for git.

Pushing sends `refs/trail/sessions/<id>` under the same name, never forced: a session the remote holds in another
form is refused and reported, never overwritten. Fetching brings the remote's sessions into a staging namespace
(`refs/trail/remotes/<remote>/<id>`) first, then takes each into `refs/trail/sessions/` only when that is safe: a
session new here, or one whose local history the remote's extends. A local session whose history diverged from the
remote's is kept as it is, the remote's copy stays in the staging ref, and both are reported. Nothing is pushed
unless asked; a push larger than store.maxObjectSize is sent in parts below it (share/stages.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pygit2

from trail.errors import TrailError
from trail.gitcli import run_git
from trail.share import stages
from trail.store import archive
from trail.store.steps import REF_PREFIX, Store, check_session_id, session_ref

STAGING = "refs/trail/remotes/"


@dataclass
class RefUpdate:
    session: str
    status: str  # new, updated, same, ahead (ours has more), diverged, rejected, error
    detail: str = ""


@dataclass
class TransferResult:
    remote: str
    updates: list[RefUpdate] = field(default_factory=list)
    staged: int = 0  # pushes made before the session refs', to keep each below store.maxObjectSize

    def count(self, status: str) -> int:
        return sum(u.status == status for u in self.updates)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"remote": self.remote, "updates": [vars(u) for u in self.updates]}
        if self.staged:
            data["staged"] = self.staged
        return data


def default_remote(store: Store) -> str:
    names = [name for name in store.git.remotes.names() if name]
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    if not names:
        raise TrailError("this repository has no remote; add one with `git remote add NAME URL`, or name a URL")
    raise TrailError(f"name the remote to use ({', '.join(names)}): this repository has several and no origin")


def with_children(store: Store, session_ids: Iterable[str]) -> list[str]:
    """The sessions and, after each, the sessions it started (its subagents)."""
    out: list[str] = []
    for sid in session_ids:
        for one in (sid, *store.children(sid)):
            if one not in out:
                out.append(one)
    return out


def push(store: Store, remote: str, session_ids: Sequence[str] | None) -> TransferResult:
    """Push the named sessions (with their subagents), or every session when `session_ids` is None."""
    if session_ids is None:
        refspecs = [f"{REF_PREFIX}*:{REF_PREFIX}*", *archive.push_all_refspecs(store)]
        sessions = store.session_ids()
    else:
        sessions = with_children(store, session_ids)
        # An archived session has no ref: its tip goes under its name (store/archive.py).
        refspecs = [f"{archive.push_source(store, s)}:{session_ref(s)}" for s in sessions]
    if not refspecs:
        return TransferResult(remote)
    # A push larger than store.maxObjectSize goes in parts first, each below it (share/stages.py).
    tips = sorted({tip for tip in map(store.tip_commit, sessions) if tip is not None})
    first = stages.stages(store, remote, tips, store.max_object_size)
    temporary = stages.push_stages(store, remote, first)
    try:
        output = _git_transfer(store, ["push", "--porcelain", remote, *refspecs], allow_rejected=True)
    finally:
        stages.delete(store, remote, temporary)
    result = TransferResult(remote, staged=len(first))
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[1].startswith(REF_PREFIX):
            continue
        flag, refs, summary = parts[0], parts[1], parts[2]
        sid = refs.split(":")[-1][len(REF_PREFIX) :]
        status = {"*": "new", " ": "updated", "+": "updated", "=": "same", "!": "rejected", "-": "deleted"}.get(
            flag, "error"
        )
        result.updates.append(RefUpdate(sid, status, summary.strip()))
    return result


def staging_name(remote: str) -> str:
    """A ref-name-safe name for a remote given by name or by URL or path."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", remote) and ".." not in remote:
        return remote
    return "url-" + hashlib.sha1(remote.encode()).hexdigest()[:12]


def fetch(store: Store, remote: str, session_ids: Sequence[str] | None = None) -> TransferResult:
    """Fetch every session of `remote` (or the named ones) and take in what is safe to take in."""
    staging = f"{STAGING}{staging_name(remote)}/"
    if session_ids is None:
        refspecs = [f"+{REF_PREFIX}*:{staging}*"]
    else:
        refspecs = [f"+{session_ref(check_session_id(s))}:{staging}{s}" for s in session_ids]
    _git_transfer(store, ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet", remote, *refspecs])
    return integrate(store, staging, remote)


def integrate(
    store: Store, staging: str, remote: str, names: Iterable[str] | None = None, keep: bool = False
) -> TransferResult:
    """Take the sessions staged under `staging` into `refs/trail/sessions/` where that loses nothing: all of them,
    or the sessions `names`. With `keep`, the staged refs stay (remote-tracking refs: share/fetch.py)."""
    git = store.git
    result = TransferResult(remote)
    if names is None:
        staged = sorted(name for name in git.references if name.startswith(staging))
    else:
        staged = sorted(staging + sid for sid in names)
    for name in staged:
        sid = name[len(staging) :]
        try:
            check_session_id(sid)
        except TrailError:
            result.updates.append(RefUpdate(sid, "error", "not a session id trail accepts; left in " + name))
            continue
        theirs = str(git.references[name].target)
        ours = store.tip_commit(sid)
        keep_staged = False
        if ours is None:
            ok = store.compare_and_swap(sid, theirs, None, message=f"trail: fetch from {remote}")
            update = RefUpdate(sid, "new" if ok else "error", "" if ok else "created meanwhile")
        elif ours == theirs:
            update = RefUpdate(sid, "same")
        elif git.descendant_of(pygit2.Oid(hex=theirs), pygit2.Oid(hex=ours)):
            ok = store.compare_and_swap(sid, theirs, ours, message=f"trail: fetch from {remote}")
            update = RefUpdate(sid, "updated" if ok else "error", "" if ok else "a step was recorded meanwhile")
            keep_staged = not ok
        elif git.descendant_of(pygit2.Oid(hex=ours), pygit2.Oid(hex=theirs)):
            update = RefUpdate(sid, "ahead", "this repository has steps the remote does not")
        else:
            update = RefUpdate(sid, "diverged", f"kept both: yours as it is, the remote's in {name}")
            keep_staged = True
        result.updates.append(update)
        if not keep_staged and not keep:
            # Only diverged sessions keep a staging ref: the rest is in refs/trail/sessions/ (fewer refs to list).
            git.references.delete(name)
    return result


def share_by_default(store: Store, remote: str) -> bool:
    """Add the fetch refspec that makes a plain `git fetch REMOTE` bring sessions too (never forced: git itself
    then refuses to overwrite a session that diverged). False if it was there already."""
    if remote not in list(store.git.remotes.names()):
        raise TrailError(f"no remote named {remote!r}; `git remote -v` lists them")
    refspec = f"{REF_PREFIX}*:{REF_PREFIX}*"
    current = run_git(["config", "--get-all", f"remote.{remote}.fetch"], cwd=store.repo.workdir).splitlines()
    if refspec in current:
        return False
    run_git(["config", "--add", f"remote.{remote}.fetch", refspec], cwd=store.repo.workdir)
    return True


def _git_transfer(store: Store, args: list[str], allow_rejected: bool = False) -> str:
    from trail.gitcli import git_error, git_process

    done = git_process(args, store.repo.workdir)
    if done.returncode != 0 and not (allow_rejected and "[rejected]" in done.stdout + done.stderr):
        raise git_error(args, done)
    return done.stdout

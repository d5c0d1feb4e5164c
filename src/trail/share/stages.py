"""Pushing sessions in stages, so that no pack a host receives is larger than `store.maxObjectSize`.

Hosts cap a whole push (`receive.maxInputSize`, GitHub's 2 GB) as well as each object. When what a push would send
is larger than the limit, it is sent in parts first, each pushed to a temporary ref under `refs/trail/tmp/` on the
remote: the commits holding steps' large values and attachments one at a time (each holds at most the limit,
store/bodies.py), then the steps, as many at a time as fit. Each later push sends only what the remote lacks, since
the temporary refs it holds already reach the rest. The session refs are pushed last, as one push would, and the
temporary refs are deleted. Sizes are git's own (`rev-list --disk-usage`: the objects as stored, about what a pack
sends). Everything goes through the git command, so the user's remotes and credentials work as for git.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from trail.errors import TrailError
from trail.gitcli import run_git
from trail.store.attachments import is_side_commit
from trail.store.steps import Store

TMP_PREFIX = "refs/trail/tmp/"


def stages(store: Store, remote: str, tips: Sequence[str], limit: int) -> list[list[str]]:
    """The commits to push before `tips`, in order, each list in one push: empty when one push of `tips` fits in
    `limit` bytes."""
    if not tips:
        return []
    # First without asking the remote: what is in no branch, tag or remote-tracking ref of this repository.
    if _disk_usage(store, tips, ["--branches", "--tags", "--remotes"]) <= limit:
        return []
    theirs = [f"^{oid}" for oid in _remote_commits(store, remote)]
    if _disk_usage(store, tips, theirs) <= limit:
        return []
    order = _commits(store, tips, theirs)  # parents first
    side = [c for c, _ in order if is_side_commit(store.git.odb.read(c)[1])]
    out: list[list[str]] = [[c] for c in side]
    pushed = [f"^{c}" for c in side]
    rest = [(c, parents) for c, parents in order if c not in set(side)]
    start = 0
    while start < len(rest):
        # The longest run of steps from `start` whose objects still fit, found by halving (at least one step).
        low, high = start + 1, len(rest)
        while low < high:
            middle = (low + high + 1) // 2
            if _disk_usage(store, _heads(rest[start:middle]), theirs + pushed) <= limit:
                low = middle
            else:
                high = middle - 1
        heads = _heads(rest[start:low])
        if low == len(rest):
            break  # the last part goes with the session refs themselves
        out.append(heads)
        pushed += [f"^{c}" for c in heads]
        start = low
    return out


def push_stages(store: Store, remote: str, parts: list[list[str]]) -> list[str]:
    """Push each part to temporary refs on `remote`; returns the refs made (`delete` removes them)."""
    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    made: list[str] = []
    try:
        for n, part in enumerate(parts, 1):
            refs = [f"{TMP_PREFIX}{token}-{n}-{i}" for i in range(len(part))]
            _git(
                store,
                ["push", "--quiet", "--no-verify", remote, *(f"{c}:{r}" for c, r in zip(part, refs, strict=True))],
            )
            made += refs
    except TrailError:
        delete(store, remote, made)
        raise
    return made


def delete(store: Store, remote: str, refs: list[str]) -> None:
    """Delete the temporary refs on `remote` (a remote that refuses keeps them: they hold nothing new)."""
    if refs:
        with contextlib.suppress(TrailError):
            _git(store, ["push", "--quiet", "--no-verify", remote, *(f":{r}" for r in refs)])


def _heads(commits: list[tuple[str, list[str]]]) -> list[str]:
    """The commits of `commits` no other of them has as a parent: pushing them pushes all."""
    below = {p for _, parents in commits for p in parents}
    return [c for c, _ in commits if c not in below]


def _disk_usage(store: Store, tips: Sequence[str], exclude: list[str]) -> int:
    """The bytes git stores the objects reachable from `tips` in, leaving out what `exclude` reaches (`^commit`
    lines, or options such as `--branches` meaning every branch)."""
    lines = [e for e in exclude if e.startswith("^")]
    options = [e for e in exclude if not e.startswith("^")]
    args = ["rev-list", "--objects", "--disk-usage", "--stdin", *(["--not", *options] if options else [])]
    return int(_git(store, args, "\n".join([*tips, *lines, ""])).strip() or 0)


def _commits(store: Store, tips: Sequence[str], exclude: list[str]) -> list[tuple[str, list[str]]]:
    out = _git(
        store, ["rev-list", "--reverse", "--topo-order", "--parents", "--stdin"], "\n".join([*tips, *exclude, ""])
    )
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [(row[0], row[1:]) for row in rows]


def _remote_commits(store: Store, remote: str) -> list[str]:
    """The objects the remote's refs point to that this repository has (the rest it cannot leave out anyway)."""
    out = _git(store, ["ls-remote", remote])
    found = {line.split("\t")[0] for line in out.splitlines() if "\t" in line}
    return sorted(oid for oid in found if len(oid) == 40 and store.git.odb.exists(oid))


def _git(store: Store, args: list[str], stdin: str | None = None) -> str:
    return run_git(args, store.repo.workdir, stdin)

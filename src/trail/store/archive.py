"""Ended sessions rolled into one ref per month, so that the refs git lists stay few however long history grows.

`refs/trail/archive/<YYYY-MM>` points to a chain of archive commits: each has the previous archive commit (if any)
as first parent and up to PARENTS_PER_COMMIT session tips as the others, so every step stays reachable; its tree
holds one blob, `sessions`, with a line `<session id> <tip> <summary>` per session of that month (sorted by id; the
summary a JSON object of what `trail sessions` shows, so that listing reads no tip), readable with
`git show refs/trail/archive/2026-11:sessions`. Archives fetched from a remote are kept under
`refs/trail/remote-archive/<remote>/<YYYY-MM>` and read the same way. A session ref, when there is one, always wins
over the archive; the archive only answers for sessions that have none. The invariant of archiving: the archive ref
moves first (by compare-and-swap), the session refs are deleted last and only if still at the tip archived, so a
crash or a concurrent step loses nothing. `.git/trail/archive-index` caches the union of the indexes, keyed by the
archive refs' targets: a derived file, rebuilt whenever those move.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from trail.errors import TrailError
from trail.gitcli import clean_env
from trail.store.reflist import session_tips

if TYPE_CHECKING:
    import pygit2

    from trail.store.steps import SessionInfo, Store

ARCHIVE_PREFIX = "refs/trail/archive/"
TRACKING_PREFIX = "refs/trail/remote-archive/"
INDEX_BLOB = "sessions"
PARENTS_PER_COMMIT = 500
CACHE_NAME = "archive-index"
_CACHE_HEADER = "trail-archive-index 1\n"


@dataclass
class ArchiveResult:
    archived: dict[str, list[str]] = field(default_factory=dict)  # period -> session ids rolled in
    kept: int = 0  # session refs left as they are (active, recent or unreadable)

    @property
    def count(self) -> int:
        return sum(map(len, self.archived.values()))

    def to_json(self) -> dict[str, object]:
        return {"archived": self.archived, "kept": self.kept}


# -- reading refs from git's files ---------------------------------------------------------------------------------


def refs_under(commondir: Path, prefix: str) -> dict[str, str]:
    """Ref name -> target for the refs under `prefix` (packed, then loose overriding), without libgit2."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError), open(commondir / "packed-refs", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(("#", "^")):
                continue
            oid, _, name = line.rstrip("\n").partition(" ")
            if name.startswith(prefix) and len(oid) in (40, 64):
                found[name] = oid
    top = commondir / prefix
    for folder, _, files in os.walk(top):
        for name in files:
            if name.endswith(".lock"):
                continue
            path = Path(folder) / name
            try:
                oid = path.read_text(encoding="ascii", errors="replace").strip()
            except OSError:
                continue
            if len(oid) in (40, 64) and not oid.startswith("ref:"):
                found[prefix + path.relative_to(top).as_posix()] = oid
    return found


def archive_refs(commondir: Path) -> dict[str, str]:
    """Every archive ref, remote-tracking ones first, then this repository's own (which win), each by period."""
    tracking = refs_under(commondir, TRACKING_PREFIX)
    local = refs_under(commondir, ARCHIVE_PREFIX)
    ordered = sorted(tracking.items(), key=lambda kv: _period(kv[0])) + sorted(local.items())
    return dict(ordered)


def _period(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _stamp(commondir: Path) -> tuple[object, ...]:
    """What changes whenever an archive ref may have moved: packed-refs and the folders of loose archive refs."""
    out: list[object] = []
    for path in [commondir / "packed-refs", commondir / ARCHIVE_PREFIX, commondir / TRACKING_PREFIX]:
        paths = [path]
        if path.is_dir() and path.name == "remote-archive":
            paths += sorted(p for p in path.iterdir() if p.is_dir())
        for one in paths:
            try:
                st = one.stat()
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
    return tuple(out)


# -- the index -----------------------------------------------------------------------------------------------------


def parse_lines(data: bytes) -> dict[str, tuple[str, str]]:
    """The `sessions` blob: session id -> (tip, its summary as a JSON object, or "" in an index written without)."""
    out: dict[str, tuple[str, str]] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        sid, _, rest = line.partition(" ")
        tip, _, summary = rest.partition(" ")
        if sid and len(tip) in (40, 64):
            out[sid] = (tip, summary)
    return out


def parse_index(data: bytes) -> dict[str, str]:
    """The `sessions` blob: session id -> tip."""
    return {sid: tip for sid, (tip, _) in parse_lines(data).items()}


def read_lines(git: pygit2.Repository, commit: str) -> dict[str, tuple[str, str]]:
    """The index an archive commit holds, with each session's summary (empty if it holds none)."""
    import pygit2

    try:
        tree = git[commit].peel(pygit2.Commit).tree
        blob = tree[INDEX_BLOB]
    except (KeyError, ValueError, pygit2.GitError):
        return {}
    return parse_lines(blob.peel(pygit2.Blob).data)


def read_index(git: pygit2.Repository, commit: str) -> dict[str, str]:
    """The index an archive commit holds (empty if it holds none)."""
    return {sid: tip for sid, (tip, _) in read_lines(git, commit).items()}


def summary_of(store: Store, session_id: str, tip: str) -> str:
    """The session's summary as one line of JSON (SessionInfo.summary), or "" when its tip is not a readable step."""
    from trail.store.format import MalformedStep
    from trail.store.steps import SessionInfo

    try:
        info = SessionInfo(session_id, store.load(tip, session_id))
    except (MalformedStep, KeyError, ValueError):
        return ""
    return json.dumps(info.summary(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def listed_sessions(store: Store, skip: set[str], since: datetime | None = None) -> list[SessionInfo]:
    """The archived sessions (not those in `skip`: they have a ref) as their archives' index describes them, read
    from the index blobs alone; with `since`, only the archives of its month and later."""
    from trail.store.steps import ListedSession, SessionInfo

    first = period_of(since if since.tzinfo else since.replace(tzinfo=UTC)) if since is not None else ""
    chosen: dict[str, tuple[str, str, str]] = {}
    for ref, oid in archive_refs(store.repo.commondir).items():  # this repository's own archives come last, and win
        if _period(ref) >= first:
            chosen.update({sid: (tip, summary, ref) for sid, (tip, summary) in read_lines(store.git, oid).items()})
    out: list[SessionInfo] = []
    for sid, (tip, summary, ref) in chosen.items():
        if sid in skip:
            continue
        try:
            data = json.loads(summary) if summary else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            out.append(ListedSession(sid, tip, data, ref, store))
            continue
        try:
            out.append(SessionInfo(sid, store.load(tip, sid), ref))  # an index written without summaries
        except Exception:  # noqa: BLE001 - an unreadable archived tip is left out of a listing, as a bad ref is
            continue
    return out


class ArchiveIndex:
    """Session id -> (tip, archive ref) for every archived session, from the cache file when it is current."""

    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self.entries = entries

    def tip(self, session_id: str) -> str | None:
        found = self.entries.get(session_id)
        return found[0] if found else None

    def where(self, session_id: str) -> str | None:
        found = self.entries.get(session_id)
        return found[1] if found else None

    def tips(self) -> dict[str, str]:
        return {sid: tip for sid, (tip, _) in self.entries.items()}


_loaded: dict[Path, tuple[tuple[object, ...], ArchiveIndex]] = {}
_lock = threading.Lock()


def load(commondir: Path, git: pygit2.Repository | None = None) -> ArchiveIndex:
    """The archive index of the repository at `commondir`: checked against a few stats per call, read from
    `.git/trail/archive-index` when its recorded refs are the current ones, rebuilt from the archive blobs if not."""
    stamp = _stamp(commondir)
    with _lock:
        held = _loaded.get(commondir)
        if held is not None and held[0] == stamp:
            return held[1]
    refs = archive_refs(commondir)
    index = _read_cache(commondir, refs)
    if index is None:
        if refs and git is None:
            import pygit2

            git = pygit2.Repository(os.fspath(commondir))
        entries: dict[str, tuple[str, str]] = {}
        for ref, oid in refs.items():
            assert git is not None
            for sid, tip in read_index(git, oid).items():
                entries[sid] = (tip, ref)
        index = ArchiveIndex(entries)
        _write_cache(commondir, refs, index)
    with _lock:
        _loaded[commondir] = (stamp, index)
    return index


def _cache_path(commondir: Path) -> Path:
    return commondir / "trail" / CACHE_NAME


def _read_cache(commondir: Path, refs: dict[str, str]) -> ArchiveIndex | None:
    if not refs:
        return ArchiveIndex({})
    try:
        text = _cache_path(commondir).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    if not lines or lines[0] + "\n" != _CACHE_HEADER:
        return None
    recorded = dict(line.split(" ", 1)[::-1] for line in lines[1:] if " " in line)
    if recorded != refs:
        return None
    names = list(refs)
    entries: dict[str, tuple[str, str]] = {}
    try:
        for line in body.splitlines():
            sid, tip, number = line.split(" ")
            entries[sid] = (tip, names[int(number)])
    except (ValueError, IndexError):
        return None
    return ArchiveIndex(entries)


def _write_cache(commondir: Path, refs: dict[str, str], index: ArchiveIndex) -> None:
    if not refs:
        return
    numbers = {ref: i for i, ref in enumerate(refs)}
    head = _CACHE_HEADER + "".join(f"{oid} {ref}\n" for ref, oid in refs.items())
    body = "".join(f"{sid} {tip} {numbers[ref]}\n" for sid, (tip, ref) in index.entries.items())
    path = _cache_path(commondir)
    tmp = path.with_name(f"{CACHE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(head + "\n" + body, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a derived cache: the next reader rebuilds it
        with contextlib.suppress(OSError):
            tmp.unlink()


def archived_tips(commondir: Path) -> dict[str, str]:
    """Session id -> tip for every archived session (for readers that work from git's files: search)."""
    return load(commondir).tips()


def archived_tip(store: Store, session_id: str) -> str | None:
    """The tip of an archived session that has no ref of its own (Store.tip_commit's fallback)."""
    return load(store.repo.commondir, store.git).tip(session_id)


def archived_where(store: Store, session_id: str) -> str | None:
    """The archive ref that holds a session with no ref of its own."""
    return load(store.repo.commondir, store.git).where(session_id)


def archived_ids(store: Store) -> Iterable[str]:
    return load(store.repo.commondir, store.git).entries.keys()


def push_source(store: Store, session_id: str) -> str:
    """What `git push` sends for a session: its ref, or the archived tip of a session that has none."""
    from trail.store.steps import session_ref

    ref = session_ref(session_id)
    if ref in store.git.references:
        return ref
    return archived_tip(store, session_id) or ref


def push_all_refspecs(store: Store) -> list[str]:
    """What pushing every session adds for the archived ones: this repository's archive refs, under their names."""
    return [f"{ARCHIVE_PREFIX}*:{ARCHIVE_PREFIX}*"] if refs_under(store.repo.commondir, ARCHIVE_PREFIX) else []


# -- archiving -----------------------------------------------------------------------------------------------------


def period_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


def candidates(
    store: Store, older_than: timedelta, now: datetime | None = None, tips: dict[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Period -> {session id: tip} of the session refs (or of `tips`: a remote's) that may be archived: ended, last
    step before the cutoff."""
    cutoff = (now or datetime.now(UTC)) - older_than
    out: dict[str, dict[str, str]] = {}
    for sid, tip in (session_tips(store.repo.commondir) if tips is None else tips).items():
        step = store.read_step(tip)
        if step is None or not step.session.get("ended"):
            continue
        when = step.time if step.time.tzinfo else step.time.replace(tzinfo=UTC)
        if when >= cutoff:
            continue
        out.setdefault(period_of(when), {})[sid] = tip
    return out


def write_archive(
    store: Store,
    period: str,
    old: str | None,
    index: dict[str, str],
    new_tips: list[str],
    prefix: str,
    summaries_from: str | None = None,
) -> str:
    """The archive commits that add `new_tips` on top of `old`, all with `index` as their tree; returns the top.
    Summaries already written (in `old`, or `summaries_from`) are reused."""
    import pygit2

    git = store.git
    # Each line `<id> <tip> <summary JSON>`: plain git reads the first two words, `trail sessions` the summary.
    source = old or summaries_from
    known = read_lines(git, source) if source else {}
    lines = []
    for sid in sorted(index):
        tip, summary = known.get(sid, ("", ""))
        if tip != index[sid] or not summary:
            summary = summary_of(store, sid, index[sid])
        lines.append(f"{sid} {index[sid]} {summary}".rstrip(" ") + "\n")
    blob = git.create_blob("".join(lines).encode())
    builder = git.TreeBuilder()
    builder.insert(INDEX_BLOB, blob, pygit2.enums.FileMode.BLOB)
    tree = builder.write()
    name, email = store.identity
    # Oldest tips first, and each commit dated at the newest tip it adds (never before the commit it extends): git
    # walks history by date, and an archive commit dated "now" would be visited, its hundreds of parents sorted in,
    # by every push's connectivity check (receive-pack's `rev-list --not --all`), before the new steps it is pushed
    # with. Dated in the past it is never reached from a new session.
    when = {t: git[t].peel(pygit2.Commit).commit_time for t in new_tips}
    ordered = sorted(new_tips, key=lambda t: (when[t], t))
    top = old
    date = git[old].peel(pygit2.Commit).commit_time if old else 0
    chunks = [ordered[i : i + PARENTS_PER_COMMIT] for i in range(0, len(ordered), PARENTS_PER_COMMIT)] or [[]]
    for chunk in chunks:
        date = max([date, *(when[t] for t in chunk)]) or int(time.time())
        signature = pygit2.Signature(name, email, date, 0)
        parents = ([pygit2.Oid(hex=top)] if top else []) + [pygit2.Oid(hex=t) for t in chunk]
        message = (
            f"trail: archive {period} ({len(index)} sessions)\n\n"
            f"`git show {prefix}{period}:{INDEX_BLOB}` lists each session id with its tip.\n"
        )
        top = str(git.create_commit(None, signature, signature, message, tree, parents))
    assert top is not None
    return top


def archive(store: Store, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> ArchiveResult:
    """Roll the ended sessions whose last step is older than `older_than` into `refs/trail/archive/<YYYY-MM>`."""
    chosen = candidates(store, older_than, now)
    result = ArchiveResult(kept=len(session_tips(store.repo.commondir)) - sum(map(len, chosen.values())))
    for period, entries in sorted(chosen.items()):
        result.archived[period] = sorted(entries)
        if dry_run:
            continue
        ref = ARCHIVE_PREFIX + period
        old = _target(store, ref)
        existing = read_index(store.git, old) if old else {}
        new_tips = sorted({tip for sid, tip in entries.items() if existing.get(sid) != tip})
        if new_tips:
            top = write_archive(store, period, old, {**existing, **entries}, new_tips, ARCHIVE_PREFIX)
            update_refs(store, [f"update {ref} {top} {old or '0' * 40}"], "trail: archive")
        # The session refs go last, each only if it is still at the tip just archived.
        _delete_session_refs(store, entries)
    if result.count and not dry_run:
        _pack_refs(store)
        _write_commit_graph(store)
    return result


def drop(store: Store, session_ids: Iterable[str]) -> list[str]:
    """Take `session_ids` out of this repository's archives: each archive that holds one is rewritten as a new
    chain of the sessions left (its old chain would keep the dropped tips reachable), swapped in by
    compare-and-swap, or deleted when none is left; returns the archive refs rewritten. TrailError, and nothing
    changed, when one is held by a remote's archive, which trail does not rewrite."""
    wanted = set(session_ids)
    commondir = store.repo.commondir
    theirs = sorted(
        f"{sid} ({ref})"
        for ref, oid in refs_under(commondir, TRACKING_PREFIX).items()
        for sid in wanted & set(read_index(store.git, oid))
    )
    if theirs:
        raise TrailError(
            f"{', '.join(theirs)}: archived on a remote, which `trail rm` does not rewrite (the next fetch would "
            "bring it back); delete the remote-archive ref with `git update-ref -d` to forget that remote's archive"
        )
    lines = []
    for ref, old in sorted(refs_under(commondir, ARCHIVE_PREFIX).items()):
        index = read_index(store.git, old)
        if not wanted & set(index):
            continue
        left = {sid: tip for sid, tip in index.items() if sid not in wanted}
        if not left:
            lines.append(f"delete {ref} {old}")
            continue
        top = write_archive(store, _period(ref), None, left, sorted(set(left.values())), ARCHIVE_PREFIX, old)
        lines.append(f"update {ref} {top} {old}")
    update_refs(store, lines, "trail: rm")
    return [line.split(" ")[1] for line in lines]


def undo(store: Store) -> int:
    """Turn every session of this repository's archives back into a ref of its own, then delete the archive refs;
    returns how many refs were made."""
    from trail.store.steps import session_ref

    commondir = store.repo.commondir
    refs = refs_under(commondir, ARCHIVE_PREFIX)
    if not refs:
        return 0
    present = session_tips(commondir)
    entries: dict[str, str] = {}
    for oid in dict(sorted(refs.items())).values():
        entries.update(read_index(store.git, oid))
    lines = [f"create {session_ref(sid)} {tip}" for sid, tip in sorted(entries.items()) if sid not in present]
    lines += [f"delete {ref} {oid}" for ref, oid in refs.items()]
    update_refs(store, lines, "trail: archive --undo")
    _pack_refs(store)
    return len(lines) - len(refs)


def _target(store: Store, ref: str) -> str | None:
    import pygit2

    try:
        target = store.git.references[ref].target
    except (KeyError, pygit2.GitError, ValueError):
        return None
    return str(target) if isinstance(target, pygit2.Oid) else None


def _delete_session_refs(store: Store, entries: dict[str, str]) -> None:
    from trail.store.steps import session_ref

    lines = [f"delete {session_ref(sid)} {tip}" for sid, tip in sorted(entries.items())]
    try:
        update_refs(store, lines, "trail: archive")
    except TrailError:
        # A step was recorded meanwhile in one of them: delete the others, keep the refs that moved.
        still = session_tips(store.repo.commondir)
        lines = [f"delete {session_ref(sid)} {tip}" for sid, tip in sorted(entries.items()) if still.get(sid) == tip]
        if lines:
            update_refs(store, lines, "trail: archive")


def update_refs(store: Store, lines: list[str], message: str) -> None:
    """One `git update-ref --stdin` transaction: all of `lines` or none (packed-refs rewritten once)."""
    if not lines:
        return
    done = subprocess.run(
        ["git", "update-ref", "-m", message, "--stdin"],
        cwd=store.repo.commondir,
        env=clean_env(),
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise TrailError(f"git update-ref failed: {done.stderr.strip()}")


def _pack_refs(store: Store) -> None:
    subprocess.run(
        ["git", "pack-refs", "--all"], cwd=store.repo.commondir, env=clean_env(), capture_output=True, check=False
    )


def _write_commit_graph(store: Store) -> None:
    """A commit-graph layer for what was archived: git then reads commits (a walk from the archives, `git log` of a
    session) from it instead of inflating each; `--split` adds a small layer rather than rewriting the graph."""
    subprocess.run(
        ["git", "commit-graph", "write", "--reachable", "--split", "--no-progress"],
        cwd=store.repo.commondir,
        env=clean_env(),
        capture_output=True,
        check=False,
    )


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90m` (minutes), `0` → a timedelta; TrailError otherwise."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    try:
        if text == "0":
            return timedelta(0)
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise TrailError(f"{text!r} is not a duration: use e.g. 30d, 12h, 2w") from None


AUTO_ARCHIVE_REFS = 1000
AUTO_OLDER_THAN = timedelta(days=30)


def auto_archive(store: Store) -> int:
    """Archive ended sessions older than AUTO_OLDER_THAN when there are more than AUTO_ARCHIVE_REFS session refs
    (after a push); returns how many were archived. Counting reads git's files only, so the usual case costs little."""
    if len(session_tips(store.repo.commondir)) <= AUTO_ARCHIVE_REFS:
        return 0
    return archive(store, AUTO_OLDER_THAN).count

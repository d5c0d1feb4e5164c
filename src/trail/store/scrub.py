"""Rewriting a session without a leaked secret: a text replaced in every event and paths removed from every tree,
in the session and its subagents, whose refs then move together by compare-and-swap.

A changed step is encoded again from its scrubbed event (its message and summary follow from it); a step above one
keeps its bytes but is re-chained, dropping a signature that would no longer hold. The new objects go into one pack
before any ref moves, and a step recorded meanwhile makes the whole scrub fail rather than be lost.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import ObjectType

from trail import events as ev
from trail.errors import TrailError
from trail.events import Event
from trail.gitcli import clean_env
from trail.store import attachments, bodies, treebytes
from trail.store import format as fmt
from trail.store.bulk import DEFAULT_LIMIT
from trail.store.format import MalformedStep, ParsedCommit
from trail.store.pack import PackWriter, object_id
from trail.store.sign import signature_of, strip_signature
from trail.store.steps import Store, session_ref

MARK = "[REDACTED:scrubbed]"
SCRUBBED = "scrubbed"  # the reason given for files removed, and the kind counted in `redacted`
MIN_TEXT = 4  # a shorter text would match all over the session
# The fields that say what a step is, not what was recorded: kept as they are (a text found in them is reported).
_EVENT_KEPT = frozenset(("kind", "time", "session", "step", "schema"))
_SESSION_KEPT = frozenset(("started", "parent_session", "parent_step"))
_EMPTY_TREE = object_id(ObjectType.TREE, b"")
_PRIVATE_LIMIT = 16 * 1024 * 1024  # trail's private files larger than this are not searched


@dataclass
class SessionScrub:
    """What scrubbing did (or would do) to one session."""

    session_id: str
    old_tip: str
    new_tip: str | None = None  # None: nothing in it changes
    steps: int = 0  # steps in the session
    changed: int = 0  # steps whose event or tree changed
    rechained: int = 0  # steps rewritten only because a step below them was
    trees: int = 0  # distinct step trees rewritten
    replaced: int = 0  # occurrences of the texts replaced
    files: int = 0  # files removed from step trees (counted per step)
    signed: bool = False  # the old tip carried a signature

    @property
    def rewritten(self) -> int:
        return self.changed + self.rechained

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "old_tip": self.old_tip,
            "new_tip": self.new_tip,
            "steps": self.steps,
            "changed": self.changed,
            "rechained": self.rechained,
            "trees": self.trees,
            "replaced": self.replaced,
            "files": self.files,
        }


@dataclass
class ScrubResult:
    sessions: list[SessionScrub]
    remaining: list[str] = field(default_factory=list)  # where a text is still found, and what to do about it
    dry_run: bool = False

    @property
    def moved(self) -> list[str]:
        return [s.session_id for s in self.sessions if s.new_tip is not None]


def check_texts(texts: Sequence[str]) -> list[str]:
    for text in texts:
        if len(text) < MIN_TEXT:
            raise TrailError(
                f"refusing to scrub {text!r}: a text shorter than {MIN_TEXT} characters would be replaced all over "
                "the session; give the whole secret"
            )
    return list(dict.fromkeys(texts))


def check_paths(paths: Sequence[str]) -> list[str]:
    """Paths as the tree names them: relative, '/'-separated, no `.` or `..`."""
    out = []
    for path in paths:
        clean = path.replace(os.sep, "/").strip("/")
        while clean.startswith("./"):
            clean = clean[2:]
        parts = clean.split("/")
        if not clean or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise TrailError(f"{path!r} is not a path inside the repository; write it as git does (src/config.env)")
        out.append(clean)
    return list(dict.fromkeys(out))


def scrub(
    store: Store, session_id: str, texts: Sequence[str] = (), paths: Sequence[str] = (), dry_run: bool = False
) -> ScrubResult:
    """Rewrite session `session_id` and its subagents without `texts` and `paths` (see the module docstring)."""
    texts = check_texts(texts)
    paths = check_paths(paths)
    if not texts and not paths:
        raise TrailError("name what to scrub: --text STRING or --path PATH (each can be repeated)")
    sessions = [session_id, *store.children(session_id)]
    for sid in sessions:
        for text in texts:
            if text in sid:
                raise TrailError(
                    f"the session id {sid!r} itself contains {text[:4]!r}…: scrub cannot rename a session; "
                    "remove it with `trail rm` instead"
                )
    scrubber = _Scrubber(store, texts, paths, dry_run)
    result = ScrubResult([scrubber.session(sid) for sid in sessions], dry_run=dry_run)
    result.remaining = scrubber.remaining(result.sessions)
    if dry_run or not result.moved:
        return result
    scrubber.finish()
    moves: dict[str, tuple[str | None, str | None]] = {
        s.session_id: (s.old_tip, s.new_tip) for s in result.sessions if s.new_tip is not None
    }
    if not store.move_refs(moves, "trail: scrub"):
        raise TrailError(
            f"session {session_id} (or one of its subagents) changed while it was being scrubbed; nothing was "
            "changed: run the scrub again"
        )
    for sid in moves:
        _expire_reflog(store, sid)
        store.index.forget(sid)
        store.index.commits(sid, store.tip(sid))  # the step index, rebuilt from the new tip
    _after(store, scrubber.packs, [s for s in result.sessions if s.new_tip is not None])
    return result


class _Scrubber:
    def __init__(self, store: Store, texts: list[str], paths: list[str], dry_run: bool) -> None:
        self.store = store
        self.odb = store.git.odb
        self.texts = texts
        # A text as it appears in a commit: as written in the message, and escaped in the JSON headers.
        self.needles = sorted({form for t in texts for form in (t.encode("utf-8", "surrogateescape"), _escaped(t))})
        self.blob_needles = sorted({t.encode("utf-8", "surrogateescape") for t in texts})
        self.trie: dict[bytes, Any] = {}
        for path in paths:
            node: dict[bytes, Any] | None = self.trie
            parts = [os.fsencode(p) for p in path.split("/")]
            for part in parts[:-1]:
                if node is None:
                    break
                node = node.setdefault(part, {})
            if node is not None:
                node[parts[-1]] = None  # None: remove what is here, and everything under it
        self.dry_run = dry_run
        self.pack = None if dry_run else PackWriter(store.repo.commondir / "objects")
        self.packs: list[Path] = []
        self.mapping: dict[str, str] = {}  # old commit -> rewritten commit
        self.new_trees: dict[bytes, bytes] = {}  # trees written by this scrub: id -> content
        self._stripped: dict[tuple[bytes, str], tuple[bytes, list[tuple[str, int]]]] = {}
        self._sizes: dict[bytes, list[tuple[str, int]]] = {}
        self._final: dict[str, list[tuple[int, str]]] = {}  # session -> (step, tree) of its steps after the scrub
        self._in_commits: dict[str, list[int]] = {}  # session -> steps whose commit still holds a text
        self._removed: dict[str, set[bytes]] = {}  # path scrubbed -> the objects removed there

    # -- one session ---------------------------------------------------------------------------------------------

    def session(self, sid: str) -> SessionScrub:
        store = self.store
        try:
            tip = store.tip(sid)
            commits = store.index.commits(sid, tip)
        except TrailError as e:
            raise TrailError(f"session {sid} cannot be scrubbed: {e} (`trail verify {sid}` tells more)") from None
        out = SessionScrub(sid, tip.commit, steps=len(commits))
        final: list[tuple[int, str]] = []
        trees_done: set[bytes] = set()
        for n, commit in enumerate(commits, 1):
            _, raw = self.odb.read(commit)
            parsed = ParsedCommit(raw)
            new_parents = [self.mapping.get(p, p) for p in parsed.parents]
            tree = bytes.fromhex(parsed.tree)
            new_tree, removed = self._strip(tree, self.trie, "") if self.trie else (tree, [])
            record, replaced = self._scrub_record(parsed, raw)
            if record is not None or removed:
                record = record if record is not None else self._full_record(parsed)
                new_raw = self._encode(raw, record, replaced, removed, new_tree, new_parents, _has_bodies(parsed))
                out.changed += 1
                out.replaced += replaced
                out.files += len(removed)
                if new_tree != tree and new_tree not in trees_done:
                    trees_done.add(new_tree)
                    out.trees += 1
            elif new_parents != parsed.parents:
                new_raw = _reparent(strip_signature(raw), new_parents)
                out.rechained += 1
            else:
                new_raw = raw
            if new_raw is not raw:
                self.mapping[commit] = self._put(ObjectType.COMMIT, new_raw).hex()
            if any(needle in new_raw for needle in self.needles):
                self._in_commits.setdefault(sid, []).append(n)
            final.append((n, new_tree.hex()))
        self._final[sid] = final
        out.signed = signature_of(self.odb.read(tip.commit)[1]) is not None
        if tip.commit in self.mapping:
            out.new_tip = self.mapping[tip.commit]
        return out

    def _scrub_record(self, parsed: ParsedCommit, raw: bytes) -> tuple[dict[str, Any] | None, int]:
        """The step's record with the texts replaced and how many were, or (None, 0) when none is in it. A step
        whose large values are blobs (store/bodies.py) is searched with them put back."""
        if not self.texts or not (_has_bodies(parsed) or any(needle in raw for needle in self.needles)):
            return None, 0
        record = self._full_record(parsed)
        count = [0]
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key == "event" and isinstance(value, dict):
                out[key] = self._replace_fields(value, _EVENT_KEPT, count)
            elif key == "session" and isinstance(value, dict):
                out[key] = self._replace_fields(value, _SESSION_KEPT, count)
            elif key == "format":
                out[key] = value
            else:
                out[key] = self._replace(value, count)
        return (out, count[0]) if count[0] else (None, 0)

    def _full_record(self, parsed: ParsedCommit) -> dict[str, Any]:
        """The step's record, its large values read back from their blobs."""
        try:
            return bodies.resolve(parsed.record(), self.store.body_blob)
        except MalformedStep as e:
            raise TrailError(f"a step of this session cannot be read ({e}); `trail verify` tells more") from None

    def _replace_fields(self, fields: dict[str, Any], kept: frozenset[str], count: list[int]) -> dict[str, Any]:
        return {
            k: v if k in kept else self._replace(v, count)
            for k, v in ((k if k in kept else self._replace(k, count), v) for k, v in fields.items())
        }

    def _replace(self, value: Any, count: list[int]) -> Any:
        if isinstance(value, str):
            for text in self.texts:
                if text in value:
                    count[0] += value.count(text)
                    value = value.replace(text, MARK)
            return value
        if isinstance(value, dict):
            return {self._replace(k, count): self._replace(v, count) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replace(v, count) for v in value]
        return value

    def _encode(
        self,
        raw: bytes,
        record: dict[str, Any],
        replaced: int,
        removed: list[tuple[str, int]],
        tree: bytes,
        parents: list[str],
        has_bodies: bool = False,
    ) -> bytes:
        record = dict(record)
        if removed:
            omitted = [o for o in record.get("omitted") or [] if isinstance(o, dict)]
            record["omitted"] = omitted + [{"path": p, "size": s, "reason": SCRUBBED} for p, s in removed]
        if replaced:
            redacted = dict(record.get("redacted") or {})
            redacted[SCRUBBED] = int(redacted.get(SCRUBBED) or 0) + replaced
            record["redacted"] = redacted
        record["format"] = fmt.FORMAT_VERSION  # it gets a trail-summary header, whatever format it had
        try:
            event = Event.from_dict(record["event"])
        except (ValueError, TypeError, KeyError) as e:
            raise TrailError(f"a step of this session holds an event that cannot be read ({e})") from None
        committer = _committer(raw)
        header = None
        if has_bodies:
            # Its large values are taken out again, into a new chain of side commits (the old one holds the text).
            side = record.pop("attachments_commit", None)
            parents = [p for p in parents if p != side]
            objects: list[tuple[ObjectType, bytes]] = []
            try:
                attached = attachments.declared(event)
            except TrailError:
                attached = []
            header = self.store.event_header(event, record, parents, attached, objects, None, committer)
            for kind, data in objects:
                self._put(kind, data)
        new_raw, _ = fmt.encode_commit(event, record, tree.hex(), parents, committer, header)
        return new_raw

    # -- trees ---------------------------------------------------------------------------------------------------

    def _strip(self, tree: bytes, node: dict[bytes, Any], prefix: str) -> tuple[bytes, list[tuple[str, int]]]:
        """The tree without the paths of `node` (under `prefix`), and the files removed: (path, size)."""
        key = (tree, prefix)
        done = self._stripped.get(key)
        if done is not None:
            return done
        kept = []
        removed: list[tuple[str, int]] = []
        changed = False
        for entry in treebytes.entries(self._tree_bytes(tree)):
            if entry.name in node:
                path = prefix + os.fsdecode(entry.name)
                below = node[entry.name]
                if below is None:
                    removed += self._files(entry, path)
                    self._removed.setdefault(path, set()).add(entry.oid)
                    changed = True
                    continue
                if entry.is_tree:
                    new_oid, gone = self._strip(entry.oid, below, path + "/")
                    if new_oid != entry.oid:
                        changed = True
                        removed += gone
                        if new_oid == _EMPTY_TREE:
                            continue  # git keeps no empty folders
                        entry = entry._replace(oid=new_oid)
            kept.append(entry)
        if not changed:
            result = (tree, removed)
        elif not kept and prefix:
            result = (_EMPTY_TREE, removed)
        else:
            data = treebytes.encode(kept)
            new = self._put(ObjectType.TREE, data)
            self.new_trees[new] = data
            result = (new, removed)
        self._stripped[key] = result
        return result

    def _files(self, entry: treebytes.Entry, path: str) -> list[tuple[str, int]]:
        """The files at `entry` (itself, or all under it) with their sizes."""
        if entry.is_gitlink:
            return [(path, 0)]
        if not entry.is_tree:
            _, size = self.odb.read_header(pygit2.Oid(raw=entry.oid))
            return [(path, size)]
        if entry.oid not in self._sizes:
            found: list[tuple[str, int]] = []
            for inner in treebytes.entries(self._tree_bytes(entry.oid)):
                found += [(os.fsdecode(inner.name) + rest, size) for rest, size in self._files(inner, "")]
            self._sizes[entry.oid] = found
        return [(f"{path}/{rest}", size) for rest, size in self._sizes[entry.oid]]

    def _tree_bytes(self, oid: bytes) -> bytes:
        if oid in self.new_trees:
            return self.new_trees[oid]
        _, raw = self.odb.read(pygit2.Oid(raw=oid))
        return raw

    # -- writing -------------------------------------------------------------------------------------------------

    def _put(self, kind: ObjectType, data: bytes) -> bytes:
        if self.pack is None:
            return object_id(kind, data)
        oid = bytes.fromhex(self.pack.add(kind, data))
        if self.pack.size >= DEFAULT_LIMIT:
            self._flush()
        return oid

    def _flush(self) -> None:
        if self.pack is not None:
            written = self.pack.finish()
            if written is not None:
                self.packs.append(written)

    def finish(self) -> None:
        """Write what is queued (before any ref moves to it)."""
        self._flush()

    # -- what the scrub could not reach --------------------------------------------------------------------------

    def remaining(self, results: list[SessionScrub]) -> list[str]:
        """Where a text is still found after the scrub (file contents and names, fields kept as they are, worktrees
        checked out at old steps), each with what to do about it."""
        notes = []
        for sid, steps in self._in_commits.items():
            notes.append(
                f"{_shown(self.texts)} is still in the commits of {sid} step {_ranges(steps)}, in a field scrub keeps "
                "as it is (ids, times, kinds, your git identity)"
            )
        if self.blob_needles:
            for sid, paths in self._in_files().items():
                listed = ", ".join(sorted(paths)[:10]) + (" …" if len(paths) > 10 else "")
                flags = " ".join(f"--path {p}" for p in sorted(paths)[:10])
                notes.append(f"{_shown(self.texts)} is still in files of {sid}: {listed}; scrub them with {flags}")
        notes += self._other_sessions({s.session_id for s in results})
        notes += self._private_files()
        old = set(self.mapping)
        for worktree, head in _worktree_heads(self.store):
            if head in old:
                notes.append(
                    f"the worktree {worktree} is checked out at a step as it was before the scrub; remove it "
                    f"(git worktree remove --force {worktree}) or git gc keeps the old step"
                )
        return notes

    def _other_sessions(self, scrubbed: set[str]) -> list[str]:
        """Other sessions whose last step holds a text or a file removed here (sessions recorded in the same working
        tree snapshot the same files); only their last step is read, so this is a hint, not a search."""
        notes = []
        for sid in self.store.session_ids():
            tip = self.store.tip_commit(sid)
            if sid in scrubbed or tip is None:
                continue
            try:
                _, raw = self.odb.read(tip)
                tree = ParsedCommit(raw).tree
            except (KeyError, ValueError, pygit2.GitError, MalformedStep):
                continue
            flags = [f"--text {shlex.quote(t)}" for t in self.texts if any(n in raw for n in self._needles_of(t))]
            flags += [f"--path {p}" for p, oids in sorted(self._removed.items()) if self._entry(tree, p) in oids]
            if flags:
                notes.append(f"session {sid} holds it too (in its last step): trail scrub {sid} {' '.join(flags)}")
        return notes

    def _private_files(self) -> list[str]:
        """trail's own files that hold a text (a transcript's unrecorded rest, a payload a hook could not record,
        a log): they are in no session, but they are on this disk."""
        notes = []
        trail_dir = self.store.repo.trail_dir
        for path in sorted(trail_dir.rglob("*")) if self.texts and trail_dir.is_dir() else []:
            try:
                if not path.is_file() or path.is_symlink() or path.stat().st_size > _PRIVATE_LIMIT:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if any(needle in data for needle in self.needles):
                notes.append(f"trail's private file {path} holds it too (it is in no session): delete it")
        return notes

    def _needles_of(self, text: str) -> set[bytes]:
        return {text.encode("utf-8", "surrogateescape"), _escaped(text)}

    def _entry(self, tree: str, path: str) -> bytes | None:
        """The id of what `tree` holds at `path`, or None."""
        oid = bytes.fromhex(tree)
        for part in path.split("/"):
            try:
                found = [e for e in treebytes.entries(self._tree_bytes(oid)) if e.name == os.fsencode(part)]
            except (KeyError, ValueError, pygit2.GitError, treebytes.MalformedTree):
                return None
            if not found:
                return None
            oid = found[0].oid
        return oid

    def _in_files(self) -> dict[str, set[str]]:
        """Per session, the paths (in its final trees) whose name or content holds a text; each tree and blob is
        read once."""
        holds: dict[bytes, bool] = {}  # blob -> holds a text
        found_in_tree: dict[bytes, set[str]] = {}  # tree -> paths under it that hold a text
        out: dict[str, set[str]] = {}
        for sid, steps in self._final.items():
            paths: set[str] = set()
            for _, tree in steps:
                paths |= self._tree_hits(bytes.fromhex(tree), "", holds, found_in_tree)
            if paths:
                out[sid] = paths
        return out

    def _tree_hits(self, oid: bytes, prefix: str, holds: dict[bytes, bool], memo: dict[bytes, set[str]]) -> set[str]:
        if oid in memo:
            return {prefix + p for p in memo[oid]}
        hits: set[str] = set()
        for entry in treebytes.entries(self._tree_bytes(oid)):
            name = os.fsdecode(entry.name)
            if any(needle in entry.name for needle in self.blob_needles):
                hits.add(name)
            if entry.is_gitlink:
                continue
            if entry.is_tree:
                hits |= self._tree_hits(entry.oid, name + "/", holds, memo)
                continue
            if entry.oid not in holds:
                _, data = self.odb.read(pygit2.Oid(raw=entry.oid))
                holds[entry.oid] = any(needle in data for needle in self.blob_needles)
            if holds[entry.oid]:
                hits.add(name)
        memo[oid] = hits
        return {prefix + p for p in hits}


def _has_bodies(parsed: ParsedCommit) -> bool:
    """Whether the step keeps large values as blobs (store/bodies.py)."""
    return b'"' + bodies.FIELD.encode() + b'":' in parsed.raw and bool(parsed.record().get(bodies.FIELD))


def _escaped(text: str) -> bytes:
    """`text` as it appears inside a string of the ASCII-only JSON of trail's headers."""
    return ev.dumps(text)[1:-1].encode("ascii")


def _committer(raw: bytes) -> tuple[str, str]:
    head = raw[: raw.find(b"\n\n")]
    for line in head.split(b"\n"):
        if line.startswith(b"committer "):
            text = line[len(b"committer ") :].decode("utf-8", "replace")
            name, _, rest = text.partition(" <")
            return name, rest.partition(">")[0]
    return "unknown", "unknown"


def _reparent(raw: bytes, parents: list[str]) -> bytes:
    """`raw` with its parent lines replaced by `parents` (everything else byte for byte)."""
    end = raw.find(b"\n\n")
    lines = raw[:end].split(b"\n")
    tree, rest = lines[0], [line for line in lines[1:] if not line.startswith(b"parent ")]
    head = [tree, *(b"parent " + p.encode("ascii") for p in parents), *rest]
    return b"\n".join(head) + raw[end:]


def _shown(texts: list[str]) -> str:
    return "the text" if len(texts) == 1 else "one of the texts"


def _ranges(numbers: list[int]) -> str:
    spans: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(spans)


def _git(store: Store, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=store.repo.workdir,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
    )


def _worktree_heads(store: Store) -> list[tuple[str, str]]:
    out = []
    path = None
    for line in _git(store, ["worktree", "list", "--porcelain"]).stdout.splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree ") :]
        elif line.startswith("HEAD ") and path is not None:
            out.append((path, line[len("HEAD ") :]))
    return out


def _expire_reflog(store: Store, session_id: str) -> None:
    """A reflog of the session's ref (core.logAllRefUpdates=always) would keep the old steps from git gc."""
    ref = session_ref(session_id)
    if _git(store, ["reflog", "exists", ref]).returncode == 0:
        _git(store, ["reflog", "expire", "--expire=now", "--expire-unreachable=now", ref])


def _after(store: Store, packs: list[Path], moved: list[SessionScrub]) -> None:
    """Background work once the refs moved: merge the packs written, sign again what was signed."""
    from trail.store.maintenance import merge_packs_async, sign_session_async

    repo = store.repo
    merge_packs_async(repo.commondir, repo.trail_dir, packs)
    try:
        sign = repo.config.sign
    except TrailError:
        sign = False
    for session in moved:
        if session.signed and sign and session.new_tip is not None:
            sign_session_async(repo.commondir, repo.trail_dir, session.session_id, session.new_tip)

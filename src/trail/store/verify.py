"""Checking that sessions are whole: each step readable and in its place, its trees and files present, and the
signature on the last step good when there is one; `trail verify` prints what this returns.

Commits and trees are hashed again (the command line reads objects without libgit2's own check, as git does), and
each distinct tree is read once however many steps and sessions share it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pygit2
from pygit2.enums import ObjectType

from trail.events import Event
from trail.store import bodies, treebytes
from trail.store.format import MalformedStep, ParsedCommit
from trail.store.pack import object_id
from trail.store.sign import BAD, GOOD, SignatureCheck, check_signature
from trail.store.steps import Store, session_ref

_TYPES = {ObjectType.COMMIT: "commit", ObjectType.TREE: "tree"}


@dataclass(frozen=True)
class Fault:
    """What is wrong, and where: a step (by number and commit), or the ref itself (step None)."""

    step: int | None
    commit: str | None
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "commit": self.commit, "what": self.what}


@dataclass
class SessionCheck:
    """The verdict on one session."""

    session_id: str
    tip: str | None
    steps: int = 0  # steps read
    trees: int = 0  # distinct trees of its steps
    walked_trees: int = 0  # trees read for this session (not those an earlier session or step already read)
    walked_blobs: int = 0  # blobs checked for this session, likewise
    faults: list[Fault] = field(default_factory=list)
    signature: SignatureCheck | None = None  # None: the last step is not signed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.faults and (self.signature is None or self.signature.status != BAD)

    @property
    def first_fault(self) -> Fault | None:
        """The fault of the earliest step (the ref's own fault first): where the damage starts."""
        if not self.faults:
            return None
        return min(self.faults, key=lambda f: -1 if f.step is None else f.step)

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "ref": session_ref(self.session_id),
            "tip": self.tip,
            "ok": self.ok,
            "steps": self.steps,
            "trees": self.trees,
            "walked_trees": self.walked_trees,
            "walked_blobs": self.walked_blobs,
            "faults": [f.to_json() for f in sorted(self.faults, key=lambda f: -1 if f.step is None else f.step)],
            "signature": self.signature.to_json() if self.signature else None,
            "seconds": round(self.seconds, 3),
        }


class _Bad(Exception):
    pass


class Verifier:
    """Verifies sessions of one store, remembering the trees and blobs already found whole (and those found not)
    across sessions."""

    def __init__(self, store: Store, signatures: bool = True, require_signature: bool = False) -> None:
        self.store = store
        self.odb = store.git.odb
        self.signatures = signatures
        self.require_signature = require_signature
        self._trees: dict[bytes, str | None] = {}  # tree id -> the first fault found under it (None: whole)
        self._blobs: dict[bytes, bool] = {}  # blob id -> present
        self._checked_trees = 0
        self._checked_blobs = 0

    def verify(self, session_id: str) -> SessionCheck:
        started = time.perf_counter()
        trees_before, blobs_before = self._checked_trees, self._checked_blobs
        tip = self.store.tip_commit(session_id)
        check = SessionCheck(session_id, tip)
        if tip is None:
            check.faults.append(Fault(None, None, f"{session_ref(session_id)} does not point to a commit"))
        else:
            links, tip_raw = self._chain(session_id, tip, check)
            check.trees = len({tree for _, _, tree in links})
            for n, commit, tree in reversed(links):  # oldest first: a missing object is blamed on its first step
                fault = self._tree(bytes.fromhex(tree), "")
                if fault is not None:
                    check.faults.append(Fault(n, commit, f"its tree {tree[:12]}: {fault}"))
                    break  # later steps that share the damage add nothing
            if tip_raw is not None:
                self._signature(check, tip, tip_raw, links[0][0] if links else None)
        check.walked_trees = self._checked_trees - trees_before
        check.walked_blobs = self._checked_blobs - blobs_before
        check.seconds = time.perf_counter() - started
        return check

    # -- the chain of steps --------------------------------------------------------------------------------------

    def _chain(self, sid: str, tip: str, check: SessionCheck) -> tuple[list[tuple[int, str, str]], bytes | None]:
        """The steps from the tip down to step 1 as (number, commit, tree), newest first, and the tip's bytes;
        a fault is added where the chain stops being one."""
        links: list[tuple[int, str, str]] = []
        tip_raw = None
        commit = tip
        expected: int | None = None
        while True:
            where = expected
            try:
                raw = self._read(commit, ObjectType.COMMIT)
                parsed, n = self._step(sid, raw)
            except _Bad as e:
                check.faults.append(Fault(where, commit, str(e)) if where else Fault(None, commit, f"its tip: {e}"))
                break
            if expected is not None and n != expected:
                check.faults.append(
                    Fault(expected, commit, f"the step here says it is step {n}: the steps are not numbered N, …, 1")
                )
                break
            if tip_raw is None:
                tip_raw = raw
            links.append((n, commit, parsed.tree))
            check.steps += 1
            for extra in parsed.parents[1:]:
                if not self.odb.exists(extra):
                    side = parsed.record().get("attachments_commit") == extra
                    what = (
                        "the commit holding its attachments or large values" if side else "a commit of yours it records"
                    )
                    check.faults.append(Fault(n, commit, f"its parent {extra[:12]} ({what}) is missing"))
            if b'"' + bodies.FIELD.encode() + b'":' in raw:
                fault = self._bodies(parsed)
                if fault is not None:
                    check.faults.append(Fault(n, commit, fault))
            if n == 1:
                if parsed.parents and not self.odb.exists(parsed.parents[0]):
                    base = parsed.parents[0][:12]
                    check.faults.append(Fault(1, commit, f"the commit the session started from ({base}) is missing"))
                break
            if not parsed.parents:
                check.faults.append(Fault(n, commit, f"it has no parent: steps 1 to {n - 1} are cut off"))
                break
            commit, expected = parsed.parents[0], n - 1
        return links, tip_raw

    def _step(self, sid: str, raw: bytes) -> tuple[ParsedCommit, int]:
        """The step in `raw`, with its number, after checking that its headers parse and agree with the ref."""
        try:
            parsed = ParsedCommit(raw)
            if not parsed.is_step:
                raise _Bad("it is not a trail step (no trail-event header)")
            record = parsed.record()
            event = Event.from_dict(record["event"])
        except MalformedStep as e:
            raise _Bad(str(e)) from None
        except (ValueError, TypeError) as e:
            raise _Bad(f"its trail-event holds an event that cannot be read ({e})") from None
        n = event.step
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _Bad(f"its trail-event has no step number ({n!r})")
        if event.session_id != sid:
            raise _Bad(f"its trail-event says it belongs to session {event.session_id!r}")
        summary = parsed.summary
        if summary is not None and (summary.get("session"), summary.get("step")) != (sid, n):
            raise _Bad(
                f"its trail-summary says session {summary.get('session')!r} step {summary.get('step')!r}, its "
                f"trail-event step {n}"
            )
        return parsed, n

    def _bodies(self, parsed: ParsedCommit) -> str | None:
        """What is wrong with the blobs holding a step's large values (store/bodies.py), or None: each is there,
        and the step has the side parent that keeps them."""
        try:
            record = parsed.record()
            blobs = bodies.blobs_of(record)
        except MalformedStep as e:
            return str(e)
        side = record.get("attachments_commit")
        if not isinstance(side, str) or side not in parsed.parents[1:]:
            return "its large values are not held by a parent of it"
        for blob in blobs:
            if not self._blob(bytes.fromhex(blob)):
                return f"blob {blob[:12]} of a large value is missing"
        return None

    # -- objects ---------------------------------------------------------------------------------------------------

    def _read(self, oid: str | bytes, kind: ObjectType) -> bytes:
        """An object's bytes, after checking it is there, of `kind`, and hashes to its id."""
        key = pygit2.Oid(raw=oid) if isinstance(oid, bytes) else pygit2.Oid(hex=oid)
        name = str(key)[:12]
        try:
            found, raw = self.odb.read(key)
        except KeyError:
            raise _Bad(f"{_TYPES[kind]} {name} is missing") from None
        except (pygit2.GitError, ValueError) as e:
            if "hash mismatch" in str(e):  # libgit2 checked it itself (its default, off in the command line)
                raise _Bad(f"{_TYPES[kind]} {name} is corrupt (its content does not hash to its id)") from None
            raise _Bad(f"{_TYPES[kind]} {name} cannot be read ({e})") from None
        if found != kind:
            raise _Bad(f"{name} is not a {_TYPES[kind]}")
        if object_id(kind, raw) != key.raw:
            raise _Bad(f"{_TYPES[kind]} {name} is corrupt (its content does not hash to its id)")
        return raw

    def _tree(self, oid: bytes, path: str) -> str | None:
        """The first fault under the tree `oid` (at `path`), or None when it and all it holds are present."""
        if oid in self._trees:
            return self._trees[oid]
        self._checked_trees += 1
        fault = None
        try:
            items = treebytes.entries(self._read(oid, ObjectType.TREE))
        except _Bad as e:
            fault = f"{path or '/'}: {e}"
            items = []
        except treebytes.MalformedTree as e:
            fault = f"{path or '/'}: tree {oid.hex()[:12]} is malformed ({e})"
            items = []
        for entry in items:
            if entry.is_gitlink:
                continue  # a submodule's commit lives in the submodule's repository
            name = entry.name.decode("utf-8", "replace")
            inner = f"{path}/{name}" if path else name
            if entry.is_tree:
                below = self._tree(entry.oid, inner)
            else:
                below = None if self._blob(entry.oid) else f"{inner}: blob {entry.oid.hex()[:12]} is missing"
            if below is not None and fault is None:
                fault = below
        self._trees[oid] = fault
        return fault

    def _blob(self, oid: bytes) -> bool:
        present = self._blobs.get(oid)
        if present is None:
            self._checked_blobs += 1
            present = self._blobs[oid] = self.odb.exists(pygit2.Oid(raw=oid))
        return present

    # -- the signature ---------------------------------------------------------------------------------------------

    def _signature(self, check: SessionCheck, tip: str, raw: bytes, n: int | None) -> None:
        if self.signatures:
            check.signature = check_signature(self.store.repo, tip, raw)
        if not self.require_signature:
            return
        if check.signature is None:
            check.faults.append(Fault(n, tip, "its last step is not signed"))
        elif check.signature.status != GOOD:
            check.faults.append(Fault(n, tip, f"its signature is not good: {check.signature.detail}"))


def verify_sessions(
    store: Store, session_ids: Sequence[str] | None = None, signatures: bool = True, require_signature: bool = False
) -> list[SessionCheck]:
    """The verdict on each session named (default: every ref under refs/trail/sessions/, readable or not)."""
    verifier = Verifier(store, signatures=signatures, require_signature=require_signature)
    return [verifier.verify(sid) for sid in (session_ids if session_ids is not None else store.session_ids())]

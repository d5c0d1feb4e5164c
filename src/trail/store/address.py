"""Names for sessions and steps: the short handles trail shows, and the addresses people type.

A session is named by its id, any unique prefix of it, or its handle. Ids that are UUIDs are shown abbreviated, as
git abbreviates commit ids: a random UUID by its shortest unique prefix (at least 8 characters), a time-ordered
UUID (version 7, the ids trail makes) by its random last group instead, since such ids share their leading,
time-based characters. A child session (`<id>.agent-<agent>`) is its parent's handle followed by the rest of its id.
Steps are `SESSION@N`, `@N` (the latest session), `@0` and `@-K` (counted from the last step), or a commit id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pygit2

from trail.errors import AmbiguousStepError, StepNotFoundError
from trail.store.format import MalformedStep
from trail.store.steps import Step, Store

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-([0-9a-f]{12})$")
MIN_HANDLE = 8
_STEP = re.compile(r"^(.*)@(-?\d+)$")


@dataclass(frozen=True)
class Target:
    """What an address names: a session, and one of its steps when the address names a step."""

    session_id: str
    step: Step | None


def _tail(root: str) -> str | None:
    """The random last group of a version-7 UUID, which is what tells such ids apart."""
    match = _UUID.match(root)
    return match.group(2) if match and match.group(1) == "7" else None


class Handles:
    """Short unique handles for a set of session ids, and the ids a typed name matches."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = sorted(set(ids))
        self._roots = sorted({sid.partition(".")[0] for sid in self.ids})
        keys = [(root, root) for root in self._roots]
        keys += [(tail, root) for root in self._roots if (tail := _tail(root)) is not None]
        keys.sort()
        need: dict[tuple[str, str], int] = {}
        for i, (key, root) in enumerate(keys):
            longest = 0
            for j in (i - 1, i + 1):
                if 0 <= j < len(keys) and keys[j][1] != root:
                    longest = max(longest, _common(key, keys[j][0]))
            need[(key, root)] = longest + 1
        self._handles: dict[str, str] = {}
        for root in self._roots:
            tail = _tail(root)
            if tail is not None and need[(tail, root)] <= len(tail):
                self._handles[root] = tail[: max(MIN_HANDLE, need[(tail, root)])]
            elif _UUID.match(root) and need[(root, root)] < len(root):
                self._handles[root] = root[: max(MIN_HANDLE, need[(root, root)])]
            else:
                self._handles[root] = root  # not a UUID: people chose it, and it is shown as it is

    def handle(self, session_id: str) -> str:
        root, dot, rest = session_id.partition(".")
        return self._handles.get(root, root) + dot + rest

    def matches(self, text: str) -> list[str]:
        """The ids `text` names: itself, ids it is a prefix of, or ids whose handle it starts."""
        if text in self.ids:
            return [text]
        root_text, dot, rest = text.partition(".")
        roots = [r for r in self._roots if r.startswith(root_text)]
        roots += [r for r in self._roots if (t := _tail(r)) is not None and t.startswith(root_text) and r not in roots]
        found: list[str] = []
        for root in roots:
            if dot:
                found += [sid for sid in self.ids if sid.startswith(root + "." + rest)]
            elif root in self.ids:
                found.append(root)  # a parent and its subagents: the name means the parent
            else:
                found += [sid for sid in self.ids if sid.startswith(root + ".")]
        return found


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def resolve_session(store: Store, text: str, handles: Handles | None = None) -> str:
    """A session id from itself, a unique prefix of it, or its handle."""
    handles = handles or Handles(store.session_ids())
    matches = handles.matches(text)
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(handles.handle(m) for m in matches[:5]) + (" …" if len(matches) > 5 else "")
        raise AmbiguousStepError(f"{text!r} matches {len(matches)} sessions ({shown}); give more characters")
    raise StepNotFoundError(f"no session matches {text!r}; `trail sessions` lists them")


def resolve(store: Store, address: str, handles: Handles | None = None) -> Target:
    """What `address` names: `SESSION@N`, `@N`, `@-K`, a session (its id, a prefix or its handle), or any revision
    git understands that names a step commit (a commit id, `trail/sessions/<id>~2`)."""
    address = address.strip()
    if not address:
        raise StepNotFoundError("empty address; use SESSION@N, @N, SESSION or a step's commit id")
    match = _STEP.match(address)
    if match:
        session_text, number = match.groups()
        named = resolve_session(store, session_text, handles) if session_text else store.latest_session()
        n = int(number)
        if n <= 0:  # @0 is the last step, @-1 the one before it
            n += store.tip(named).n
        return Target(named, store.step_at(named, n))
    if address == "@":
        return Target(store.latest_session(), None)
    commit_step = _commit_step(store, address)
    sid: str | None
    try:
        sid = resolve_session(store, address, handles)
    except StepNotFoundError:
        sid = None
    except AmbiguousStepError:
        if commit_step is None:
            raise
        sid = None
    if sid is not None:
        if commit_step is not None and address != sid and commit_step.commit != store.tip_commit(sid):
            raise AmbiguousStepError(
                f"{address!r} names both session {sid} and commit {commit_step.commit}; give more characters"
            )
        return Target(sid, None)
    if commit_step is not None:
        return Target(commit_step.session_id, commit_step)
    try:
        store.git.revparse_single(address)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise StepNotFoundError(
            f"{address!r} names no step: use SESSION@N, @N, a session id (or its handle) or a step's commit id; "
            "`trail sessions` and `trail log` list them"
        ) from None
    raise StepNotFoundError(f"{address!r} is a commit, but not one trail recorded")


def resolve_step(store: Store, address: str, handles: Handles | None = None) -> Step:
    """The step `address` names; a session alone names its last step."""
    target = resolve(store, address, handles)
    return target.step if target.step is not None else store.tip(target.session_id)


def _commit_step(store: Store, text: str) -> Step | None:
    try:
        commit = store.git.revparse_single(text).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None
    try:
        return store.load(commit.id)
    except MalformedStep:
        return None

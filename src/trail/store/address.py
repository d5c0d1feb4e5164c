"""Names for sessions and steps: the short handles trail shows, and the addresses people type.

A session is named by its id, any unique prefix of it, or its handle. Ids that are UUIDs are shown abbreviated, as
git abbreviates commit ids: a random UUID by its shortest unique prefix (at least 8 characters), a time-ordered
UUID (version 7, the ids trail makes) by its random last group instead, since such ids share their leading,
time-based characters. A child session (`<id>.agent-<agent>`) is its parent's handle followed by the rest of its id.
Steps are `SESSION@N`, `@N` (the latest session), `@0` and `@-K` (counted from the last step), or a commit id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygit2

from trail.errors import AmbiguousStepError, StepNotFoundError
from trail.store.format import MalformedStep
from trail.store.handles import Handles
from trail.store.steps import Step, Store

_STEP = re.compile(r"^(.*)@(-?\d+)$")


@dataclass(frozen=True)
class Target:
    """What an address names: a session, and one of its steps when the address names a step."""

    session_id: str
    step: Step | None


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

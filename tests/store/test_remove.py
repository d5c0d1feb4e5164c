"""Removing sessions: chosen with their subagents, deleted together, and never when a step arrived meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git

from trail import Recorder
from trail.errors import TrailError
from trail.repo import TrailRepo
from trail.store.remove import choose, remove
from trail.store.steps import Store


def test_a_session_that_moved_after_it_was_chosen_is_not_removed(repo: Path) -> None:
    rec = Recorder(repo, session_id="busy")
    rec.prompt("first")
    Recorder(repo, session_id="busy.agent-x").note("a subagent")
    store = Store(TrailRepo.discover(repo))
    chosen = choose(store, ["busy"])
    assert [(r.session_id, r.parent) for r in chosen] == [("busy", None), ("busy.agent-x", "busy")]
    rec.note("recorded after the choice")
    with pytest.raises(TrailError, match="session busy changed or was removed while trail was deleting it"):
        remove(store, chosen)
    assert git("for-each-ref", "--format=%(refname)", "refs/trail/", cwd=repo).split() == [
        "refs/trail/sessions/busy",
        "refs/trail/sessions/busy.agent-x",
    ]
    remove(store, choose(store, ["busy"]))
    assert git("for-each-ref", "refs/trail/", cwd=repo) == ""

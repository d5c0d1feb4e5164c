"""Scrubbing a leaked secret out of a session and its subagents: gone from every object once git gc has run, and
everything else about the steps kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import git, tree_files
from conftest import trail as run_trail
from pygit2.enums import ObjectType

from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store import scrub as scrub_module
from trail.store.scrub import MARK, scrub
from trail.store.steps import Store

SECRET = "XyZzy-leak-4242"


def all_objects(repo: Path) -> bytes:
    """Every object in the repository, reachable or not, as `git cat-file --batch-all-objects` prints them."""
    done = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True, check=True
    )
    return done.stdout


def write(writer: StepWriter, event: Event, snapshot: bool = True, extra_parents: tuple[str, ...] = ()) -> str:
    with writer.session_lock(event.session_id or ""):
        step = writer.write(event, writer.snapshot() if snapshot else None, extra_parents=extra_parents)
    return step.commit


def leaky_session(repo: Path) -> dict[str, object]:
    """Session `leaky` (the secret in a prompt, a tool's input and output, a field name, a file, the session's
    title) with a user commit and a subagent whose first step sits on one of its steps; session `other` beside."""
    git("config", "core.logAllRefUpdates", "always", cwd=repo)  # reflogs must not keep the old steps alive
    writer = StepWriter(TrailRepo.discover(repo))
    store = writer.store
    sid = "leaky"
    write(writer, Event("session_start", {"source": "startup"}, sid, agent="demo"))
    write(writer, Event("prompt", {"text": f"deploy with token {SECRET}"}, sid, agent="demo"))
    (repo / "config").mkdir()
    (repo / "config" / "prod.yaml").write_text(f"token: {SECRET}\n")
    (repo / "config" / "other.txt").write_text("harmless\n")
    write(
        writer,
        Event(
            "tool_call",
            {"name": "Write", "input": {"file_path": "config/prod.yaml", "content": f"token {SECRET}"}, "output": "ok"},
            sid,
            agent="demo",
            extra={f"seen-{SECRET}": {"nested": [f"a {SECRET} b", 7]}},
        ),
    )
    (repo / "src" / "app.py").write_text("print('user change')\n")
    git("add", "src/app.py", cwd=repo)
    git("commit", "-q", "-m", "user change", cwd=repo)  # the secret file stays untracked
    user_commit = git("rev-parse", "HEAD", cwd=repo).strip()
    write(writer, Event("user_commit", {"commit": user_commit}, sid, agent="demo"), extra_parents=(user_commit,))
    write(writer, Event("response", {"text": f"Used {SECRET}.", "model": "m-1"}, sid, agent="demo"), snapshot=False)
    write(writer, Event("note", {"text": "nothing secret here"}, sid, agent="demo"), snapshot=False)
    write(writer, Event("session_end", {"reason": "exit"}, sid, agent="demo"), snapshot=False)
    # A subagent started at step 3, whose first step sits on top of that step.
    child = "leaky.agent-a1"
    parent_step = store.step_at(sid, 3)
    raw, first = store.next_commit(
        Event("session_start", {"parent_session": sid, "parent_step": 3}, child, agent="demo"),
        None,
        parent_step.tree,
        base=parent_step.commit,
    )
    first_commit = str(store.git.odb.write(ObjectType.COMMIT, raw))
    assert store.compare_and_swap(child, first_commit, None)
    write(writer, Event("tool_call", {"name": "Read", "output": f"found {SECRET}"}, child, agent="demo"), False)
    write(writer, Event("session_start", {}, "other", agent="demo"), snapshot=False)  # the tree of HEAD
    write(writer, Event("note", {"text": "unrelated"}, "other", agent="demo"), snapshot=False)
    return {"sid": sid, "child": child, "user_commit": user_commit, "base": git("rev-parse", "HEAD~1", cwd=repo)}


def describe(store: Store, sid: str) -> list[tuple[int, str, str, str | None]]:
    return [(s.n, s.kind, s.time.isoformat(), s.agent) for s in store.steps(sid)]


def test_a_scrubbed_secret_is_in_no_object_after_gc(repo: Path) -> None:
    made = leaky_session(repo)
    sid, child = str(made["sid"]), str(made["child"])
    store = Store(TrailRepo.discover(repo))
    before = describe(store, sid)
    child_before = describe(store, child)
    first_before = store.step_at(sid, 1).commit
    other_before = git("rev-parse", "trail/sessions/other", cwd=repo)
    assert SECRET.encode() in all_objects(repo)

    done = run_trail("scrub", sid, "--text", SECRET, "--path", "config/prod.yaml", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert f"Rewrote 6 of 7 steps of {sid}: 6 changed" in done.stdout
    assert f"Rewrote 2 of 2 steps of {child}" in done.stdout
    assert f"git push REMOTE --delete refs/trail/sessions/{sid} refs/trail/sessions/{child}" in done.stdout
    assert "git gc --prune=now" in done.stdout
    assert "warning" not in done.stderr

    git("gc", "-q", "--prune=now", cwd=repo)
    assert SECRET.encode() not in all_objects(repo)
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr

    store = Store(TrailRepo.discover(repo))
    assert describe(store, sid) == before
    assert describe(store, child) == child_before
    assert store.step_at(sid, 1).commit == first_before  # nothing to change there: the same commit
    assert git("rev-parse", "trail/sessions/other", cwd=repo) == other_before
    steps = store.steps(sid, full=True)
    assert steps[1].event.payload["text"] == f"deploy with token {MARK}"
    assert steps[2].event.extra == {f"seen-{MARK}": {"nested": [f"a {MARK} b", 7]}}
    assert steps[2].redacted == {"scrubbed": 4}  # content, the field name, the value under it, the title
    assert steps[2].event.payload["input"]["file_path"] == "config/prod.yaml"
    assert [o.to_json() for o in steps[2].omitted] == [
        {"path": "config/prod.yaml", "size": len(f"token: {SECRET}\n"), "reason": "scrubbed"}
    ]
    assert "config/prod.yaml" not in tree_files(repo, steps[2].commit)
    assert "config/other.txt" in tree_files(repo, steps[2].commit)
    assert "config/prod.yaml" not in tree_files(repo, steps[3].commit)
    # Parents: re-chained to the rewritten steps; the user's commit and the session's base stay.
    assert steps[3].kind == "user_commit" and steps[3].parents == (steps[2].commit, made["user_commit"])
    assert steps[0].parents == (str(made["base"]).strip(),)
    assert git("log", "-1", "--format=%B", f"trail/sessions/{sid}~2", cwd=repo).startswith(f"response: Used {MARK}.")
    assert steps[-1].session["title"] == f"deploy with token {MARK}"
    # The subagent still points at step 3 of its parent, now the rewritten one.
    child_steps = store.steps(child)
    assert child_steps[0].parents == (steps[2].commit,)
    assert child_steps[0].session["parent_session"] == sid and child_steps[0].session["parent_step"] == 3
    # The step index was rebuilt for the new tips.
    index = (repo / ".git" / "trail" / "steps" / sid).read_bytes()
    assert index == b"".join(bytes.fromhex(s.commit) for s in steps)
    assert run_trail("verify", cwd=repo).returncode == 0


def test_dry_run_counts_and_writes_nothing(repo: Path) -> None:
    made = leaky_session(repo)
    sid = str(made["sid"])
    refs = git("for-each-ref", cwd=repo)
    objects = len(all_objects(repo))
    done = run_trail("scrub", sid, "--text", SECRET, "--dry-run", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert f"Would rewrite 6 of 7 steps of {sid}: 6 changed" in done.stdout
    assert "Nothing was written (dry run)." in done.stdout
    assert git("for-each-ref", cwd=repo) == refs
    assert len(all_objects(repo)) == objects


def test_a_short_text_is_refused(repo: Path) -> None:
    leaky_session(repo)
    done = run_trail("scrub", "leaky", "--text", "abc", cwd=repo)
    assert done.returncode == 1
    assert "shorter than 4 characters" in done.stderr
    assert run_trail("scrub", "leaky", cwd=repo).returncode == 1  # nothing named to scrub


def test_a_text_left_in_a_file_is_reported_with_the_path_to_scrub(repo: Path) -> None:
    leaky_session(repo)
    done = run_trail("scrub", "leaky", "--text", SECRET, cwd=repo)
    assert done.returncode == 0
    warning = "warning: the text is still in files of leaky: config/prod.yaml; scrub them with --path config/prod.yaml"
    assert warning in done.stderr
    again = run_trail("scrub", "leaky", "--path", "config/prod.yaml", cwd=repo)
    assert again.returncode == 0 and "warning" not in again.stderr


def test_a_folder_is_removed_with_everything_under_it(repo: Path) -> None:
    leaky_session(repo)
    store = Store(TrailRepo.discover(repo))
    result = scrub(store, "leaky", paths=["config/"])
    assert [(s.session_id, s.trees) for s in result.sessions] == [("leaky", 2), ("leaky.agent-a1", 1)]
    step = Store(TrailRepo.discover(repo)).step_at("leaky", 3)
    assert {o.path for o in step.omitted} == {"config/prod.yaml", "config/other.txt"}
    assert not any(path.startswith("config/") for path in tree_files(repo, step.commit))
    assert "src/app.py" in tree_files(repo, step.commit)


def test_a_step_recorded_meanwhile_makes_the_scrub_fail_whole(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    leaky_session(repo)
    writer = StepWriter(TrailRepo.discover(repo))
    finish = scrub_module._Scrubber.finish

    def late_step(self: scrub_module._Scrubber) -> None:
        write(writer, Event("note", {"text": "recorded during the scrub"}, "leaky.agent-a1", agent="demo"), False)
        finish(self)

    monkeypatch.setattr(scrub_module._Scrubber, "finish", late_step)
    refs = git("rev-parse", "trail/sessions/leaky", cwd=repo)
    with pytest.raises(TrailError, match="changed while it was being scrubbed; nothing was changed"):
        scrub(Store(TrailRepo.discover(repo)), "leaky", texts=[SECRET])
    assert git("rev-parse", "trail/sessions/leaky", cwd=repo) == refs
    store = Store(TrailRepo.discover(repo))
    assert store.tip("leaky.agent-a1").summary == "recorded during the scrub"


def test_a_worktree_at_an_old_step_is_named(repo: Path, tmp_path: Path) -> None:
    leaky_session(repo)
    checkout = tmp_path / "at-step-3"
    assert run_trail("checkout", "leaky@3", checkout, cwd=repo).returncode == 0
    done = run_trail("scrub", "leaky", "--text", SECRET, "--path", "config", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    remaining = json.loads(done.stdout)["remaining"]
    assert len(remaining) == 1 and f"git worktree remove --force {checkout}" in remaining[0]


def test_another_session_holding_the_same_file_is_named(repo: Path) -> None:
    leaky_session(repo)
    writer = StepWriter(TrailRepo.discover(repo))
    write(writer, Event("session_start", {}, "later", agent="demo"))  # snapshots config/prod.yaml too
    done = run_trail("scrub", "leaky", "--text", SECRET, "--path", "config/prod.yaml", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "warning: session later holds it too (in its last step): trail scrub later --path config/prod.yaml" in (
        done.stderr
    )
    assert run_trail("scrub", "later", "--path", "config/prod.yaml", cwd=repo).returncode == 0
    git("gc", "-q", "--prune=now", cwd=repo)
    assert SECRET.encode() not in all_objects(repo)


def test_a_private_file_of_trail_holding_the_text_is_named(repo: Path) -> None:
    leaky_session(repo)
    failed = repo / ".git" / "trail" / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    (failed / "payload.json").write_text(json.dumps({"prompt": f"use {SECRET}"}))
    done = run_trail("scrub", "leaky", "--text", SECRET, "--path", "config", cwd=repo)
    assert done.returncode == 0
    assert f"warning: trail's private file {failed / 'payload.json'} holds it too (it is in no session): delete it" in (
        done.stderr
    )

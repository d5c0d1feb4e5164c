"""The person's commits, recorded in the sessions active in their worktree by the post-commit hook."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, trail

from trail import Recorder
from trail.store.steps import REF_PREFIX


def test_user_commit_steps_link_sessions_to_commits(repo: Path, tmp_path: Path) -> None:
    assert trail("hooks", "install", "git", cwd=repo).returncode == 0
    active = Recorder(repo, agent="claude-code", session_id="active-session")
    active.prompt("add a feature")
    (repo / "feature.py").write_text("x = 1\n")
    active.tool_call("Write", input={"file_path": "feature.py"})
    with Recorder(repo, session_id="ended-session") as ended:
        ended.note("finished before the commit")
    other = tmp_path / "other"
    git("worktree", "add", "-q", "-b", "other", other, cwd=repo)
    Recorder(other, session_id="other-worktree").note("elsewhere")

    git("add", "feature.py", cwd=repo)
    (repo / "scratch.txt").write_text("not for the commit\n")
    git("commit", "-q", "-m", "Add the feature", cwd=repo)
    commit = git("rev-parse", "HEAD", cwd=repo).strip()
    # git runs post-commit with GIT_INDEX_FILE set to the user's index: trail must not have written it.
    assert git("status", "--porcelain", cwd=repo) == "?? scratch.txt\n"
    assert "scratch.txt" in git("show", "--name-only", "--format=", REF_PREFIX + "active-session", cwd=repo)

    steps = active.store.steps("active-session")
    last = steps[-1]
    assert last.kind == "user_commit"
    assert last.parents == (steps[-2].commit, commit)
    assert last.event.payload["commit"] == commit and last.event.payload["subject"] == "Add the feature"
    assert active.store.steps("ended-session")[-1].kind == "session_end"
    assert active.store.steps("other-worktree")[-1].kind == "note"
    graph = git("log", "--graph", "--format=%s", REF_PREFIX + "active-session", cwd=repo)
    assert "Add the feature" in graph and "user_commit: Committed" in graph
    # The user's commit itself is untouched: same id, HEAD still on it.
    assert git("rev-parse", "HEAD", cwd=repo).strip() == commit

    listed = trail("sessions", "--commit", "HEAD", cwd=repo)
    assert listed.returncode == 0
    assert "active-session" in listed.stdout and "ended-session" not in listed.stdout
    origins = json.loads(trail("sessions", "--commit", commit[:8], "--json", cwd=repo).stdout)
    assert [o["session"] for o in origins] == ["active-session"]
    assert [s["kind"] for s in origins[0]["steps"]] == ["tool_call"]  # the step that wrote feature.py
    assert origins[0]["paths"] == ["feature.py"]
    none = trail("sessions", "--commit", "HEAD~1", cwd=repo)
    assert none.returncode == 0 and "No recorded session" in none.stdout


def test_post_commit_hook_never_fails_the_commit(repo: Path) -> None:
    assert trail("hooks", "install", "git", cwd=repo).returncode == 0
    Recorder(repo, session_id="s").note("x")
    # A config trail cannot use (a regex that does not compile): the commit goes through all the same, the hook
    # records with the rest of the config, and the bad value is logged for `trail doctor`.
    (repo / ".git" / "trail" / "config").write_text("[redact]\n\tpattern = ([unclosed\n")
    (repo / "f.txt").write_text("f\n")
    git("add", "f.txt", cwd=repo)
    git("commit", "-q", "-m", "still works", cwd=repo)
    assert git("log", "-1", "--format=%s", cwd=repo).strip() == "still works"
    assert "redact.pattern" in (repo / ".git" / "trail" / "errors.log").read_text()
    assert "([unclosed" in trail("doctor", cwd=repo).stdout

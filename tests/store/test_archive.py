"""The archive layout: ended sessions rolled into refs/trail/archive/<YYYY-MM> with nothing lost (every step's
commit byte-identical), still addressable by id, listed, searched and readable with plain git; idempotent; undone
into one ref per session again."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import git, git_bytes, trail

from trail import Recorder
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.bulk import BulkWriter
from trail.store.steps import Store

NOW = datetime.now(UTC)


def generate(repo: Path, sessions: dict[str, tuple[datetime, bool]]) -> None:
    """Three steps per session through trail's bulk writer: a start, a prompt, an end (or a note if still open)."""
    store = Store(TrailRepo.discover(repo))
    with BulkWriter(store) as bulk:
        for sid, (when, ended) in sessions.items():
            batch = bulk.session(sid)
            batch.append(Event("session_start", {"source": "startup"}, sid, when, agent="claude-code"), tree=None)
            batch.append(Event("prompt", {"text": f"fix the parser of {sid}"}, sid, when + timedelta(seconds=1)), None)
            last = "session_end" if ended else "note"
            batch.append(Event(last, {"text": "done"}, sid, when + timedelta(seconds=2)), tree=None)


def team_store(repo: Path) -> dict[str, tuple[datetime, bool]]:
    sessions = {f"old-{i:03d}": (NOW - timedelta(days=40 + 9 * i), True) for i in range(12)}
    sessions["old-open"] = (NOW - timedelta(days=80), False)  # never ended: stays a ref
    sessions.update({f"new-{i}": (NOW - timedelta(hours=i + 1), True) for i in range(3)})
    generate(repo, sessions)
    return sessions


def every_step(repo: Path, tips: dict[str, str]) -> dict[str, list[bytes]]:
    """Each session's steps as git holds them: the commit's bytes (payload in its headers) and its tree listing."""
    out = {}
    for sid, tip in tips.items():
        revs = git("rev-list", "--first-parent", tip, "--max-count=3", cwd=repo).split()
        out[sid] = [
            git_bytes("cat-file", "commit", r, cwd=repo) + git_bytes("ls-tree", "-r", r, cwd=repo) for r in revs
        ]
    return out


def refs(repo: Path, prefix: str) -> dict[str, str]:
    lines = git("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=repo).split("\n")
    return dict(line.split(" ") for line in lines if line)


def test_archive_keeps_every_step_and_every_address_and_undo_restores_the_refs(repo: Path) -> None:
    sessions = team_store(repo)
    before = {r.removeprefix("refs/trail/sessions/"): oid for r, oid in refs(repo, "refs/trail/sessions/").items()}
    steps_before = every_step(repo, before)
    done = trail("archive", "--older-than", "30d", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "Archived 12 sessions; 4 stay as refs" in done.stdout
    left = refs(repo, "refs/trail/sessions/")
    assert sorted(r.removeprefix("refs/trail/sessions/") for r in left) == ["new-0", "new-1", "new-2", "old-open"]
    archives = refs(repo, "refs/trail/archive/")
    assert 2 <= len(archives) <= 6
    # Plain git: which archive holds a session, its tip, and its steps.
    listed: dict[str, str] = {}
    for ref in archives:
        for line in git("show", f"{ref}:sessions", cwd=repo).splitlines():
            sid, tip = line.split(" ")[:2]
            listed[sid] = tip
    assert listed == {sid: tip for sid, tip in before.items() if sid.startswith("old-0")}
    grepped = git("grep", "-h", "^old-003 ", *archives, "--", "sessions", cwd=repo)
    found = grepped[grepped.index("old-003 ") :].split()[:2]
    assert found == ["old-003", before["old-003"]]
    assert every_step(repo, before) == steps_before  # byte-identical, reachable from the archive
    assert subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True).returncode == 0
    git("gc", "-q", "--prune=now", cwd=repo)  # nothing archived is garbage
    assert every_step(repo, before) == steps_before
    # Addressable by id, listed and searchable.
    log = trail("log", "old-003", cwd=repo)
    assert log.returncode == 0 and "fix the parser of old-003" in log.stdout
    shown = trail("show", "old-003@2", "--json", cwd=repo)
    assert (
        shown.returncode == 0
        and json.loads(shown.stdout)["commit"] == git("rev-parse", f"{before['old-003']}~1", cwd=repo).strip()
    )
    listing = trail("sessions", "--archived", "--json", cwd=repo)
    assert {s["session"] for s in json.loads(listing.stdout)} == set(sessions)
    # Listed from the archives' index, as the tips describe them; the ref named is the archive that holds it.
    listed_info = {s["session"]: s for s in json.loads(listing.stdout)}
    one = json.loads(trail("log", "old-003", "-n", "1", "--json", cwd=repo).stdout)[0]
    assert listed_info["old-003"]["tip"] == before["old-003"] and listed_info["old-003"]["steps"] == 3
    assert listed_info["old-003"]["ref"].startswith("refs/trail/archive/") and listed_info["old-003"]["ended"]
    assert listed_info["old-003"]["updated"] == datetime.fromisoformat(one["time"]).isoformat()
    default = trail("sessions", "--json", cwd=repo)
    assert {s["session"] for s in json.loads(default.stdout)} == {"new-0", "new-1", "new-2", "old-open"}
    assert "12 archived sessions not listed" in trail("sessions", cwd=repo).stderr
    recent = json.loads(trail("sessions", "--since", "45 days ago", "--json", cwd=repo).stdout)
    assert {s["session"] for s in recent} == {"new-0", "new-1", "new-2", "old-000"}
    hits = json.loads(trail("search", "parser", "--json", "-n", "100", cwd=repo).stdout)
    assert {h["session"] for h in hits} == set(sessions)
    # Idempotent: nothing more to do, no archive ref moves.
    again = trail("archive", "--older-than", "30d", cwd=repo)
    assert "Archived 0 sessions" in again.stdout and refs(repo, "refs/trail/archive/") == archives
    # Undo: one ref per session again, at the same tips; the archive refs are gone.
    undone = trail("archive", "--undo", cwd=repo)
    assert undone.returncode == 0 and "Restored 12" in undone.stdout
    assert {r.removeprefix("refs/trail/sessions/"): o for r, o in refs(repo, "refs/trail/sessions/").items()} == before
    assert refs(repo, "refs/trail/archive/") == {}
    assert every_step(repo, before) == steps_before


def test_a_step_recorded_into_an_archived_session_brings_its_ref_back(repo: Path) -> None:
    team_store(repo)
    assert trail("archive", cwd=repo).returncode == 0
    archived_tip = git(
        "show", "refs/trail/archive/" + (NOW - timedelta(days=40)).strftime("%Y-%m") + ":sessions", cwd=repo
    )
    assert "old-000 " in archived_tip
    Recorder(repo, session_id="old-000").note("one more")
    tip = git("rev-parse", "refs/trail/sessions/old-000", cwd=repo).strip()
    old_tip = archived_tip.split()[1]
    git("merge-base", "--is-ancestor", old_tip, tip, cwd=repo)  # on top of the archived tip (raises if not)
    log = trail("log", "old-000", "--json", cwd=repo)
    assert log.returncode == 0 and len(json.loads(log.stdout)) >= 4
    assert "Archived 0" in trail("archive", cwd=repo).stdout  # recent now: stays a ref


def test_incremental_archive_adds_a_commit_on_top_and_search_takes_in_only_new_steps(repo: Path) -> None:
    generate(repo, {"a": (NOW - timedelta(days=60), True)})
    assert trail("search", "parser", cwd=repo).returncode == 0  # index built
    assert trail("archive", "--older-than", "1d", cwd=repo).returncode == 0
    [(ref, first)] = refs(repo, "refs/trail/archive/").items()
    generate(repo, {"b": (NOW - timedelta(days=60), True)})
    assert trail("archive", "--older-than", "1d", cwd=repo).returncode == 0
    second = refs(repo, "refs/trail/archive/")[ref]
    assert git("rev-parse", f"{second}^1", cwd=repo).strip() == first  # the archive's history grows
    assert [line.split(" ")[0] for line in git("show", f"{ref}:sessions", cwd=repo).splitlines()] == ["a", "b"]
    hits = json.loads(trail("search", "parser", "--json", cwd=repo).stdout)
    assert {h["session"] for h in hits} == {"a", "b"}


def test_archive_commits_are_dated_by_the_sessions_they_hold_not_by_when_archiving_ran(repo: Path) -> None:
    # git walks by date: an archive commit dated "now" would be walked (all its parents sorted in) by the
    # connectivity check of every push of a new session; dated at its newest session it is never reached.
    generate(repo, {f"s{i}": (NOW - timedelta(days=60, hours=i), True) for i in range(4)})
    assert trail("archive", cwd=repo).returncode == 0
    [ref] = refs(repo, "refs/trail/archive/")
    for commit in git("rev-list", "--min-parents=2", ref, cwd=repo).split():
        parents = git("show", "-s", "--format=%P", commit, cwd=repo).split()
        dates = git("show", "-s", "--format=%ct", *parents, cwd=repo).split()
        assert int(git("show", "-s", "--format=%ct", commit, cwd=repo)) == max(map(int, dates))
        assert int(max(dates)) < (NOW - timedelta(days=59)).timestamp()
    assert (repo / ".git" / "objects" / "info" / "commit-graphs").is_dir()  # a commit-graph layer was written


def test_rm_of_an_archived_session_rewrites_its_archive_without_it(repo: Path) -> None:
    team_store(repo)
    before = {r.removeprefix("refs/trail/sessions/"): oid for r, oid in refs(repo, "refs/trail/sessions/").items()}
    steps_before = every_step(repo, before)
    assert trail("archive", cwd=repo).returncode == 0
    removed = trail("rm", "old-003", cwd=repo)
    assert removed.returncode == 0, removed.stderr
    listed = {s["session"] for s in json.loads(trail("sessions", "--archived", "--json", cwd=repo).stdout)}
    assert "old-003" not in listed and "old-004" in listed and len(listed) == 15
    assert trail("log", "old-003", cwd=repo).returncode != 0
    # Nothing the archives hold reaches it any more; every other step is as it was.
    assert before["old-003"] not in git("rev-list", *refs(repo, "refs/trail/"), cwd=repo).split()
    del before["old-003"], steps_before["old-003"]
    assert every_step(repo, before) == steps_before
    # The last session of a month: its archive ref goes.
    alone = json.loads(trail("sessions", "--archived", "--json", cwd=repo).stdout)
    month = {s["ref"] for s in alone if s["session"] == "old-011"}.pop()
    held = [s["session"] for s in alone if s["ref"] == month]
    assert trail("rm", *held, cwd=repo).returncode == 0
    assert month not in refs(repo, "refs/trail/archive/")

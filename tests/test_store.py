"""The storage contract: steps as commits that plain git can read, payloads that survive sharing and gc."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pygit2
import pytest
from conftest import commit_all, git, tree_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trail
from trail import Recorder
from trail.errors import AmbiguousStepError, StepNotFoundError, TrailError
from trail.repo import TrailRepo
from trail.store.steps import REF_PREFIX, Store

TRAILER_LOOKALIKES = st.sampled_from(
    [
        "Trail-Kind: decision",
        "Trail-Step: 999",
        "Trail-Session: someone-else",
        'trail-event {"format":1}',
        "Signed-off-by: Mallory <m@example.com>",
        "---",
        "",
        "\n\n",
    ]
)
TEXT = st.lists(st.one_of(st.text(), TRAILER_LOOKALIKES), min_size=1, max_size=4).map("\n".join)


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("roundtrip")
    git("init", "-q", cwd=path)
    (path / "f.txt").write_text("x\n")
    commit_all(path)
    return path


def record_every_kind(rec: Recorder, text: str) -> list[tuple[str, dict[str, object]]]:
    """Record one step of each kind with `text` everywhere a string goes; returns (kind, payload) sent."""
    sent = [
        ("prompt", {"text": text}),
        ("response", {"text": text, "model": "m", "tokens_in": 3, "tokens_out": 5, "thinking": text}),
        (
            "tool_call",
            {"name": "Bash", "input": {"command": text}, "output": text, "error": text, "duration_ms": 1.5},
        ),
        ("decision", {"choice": text, "reasoning": text, "alternatives": [text, "other"]}),
        ("note", {"text": text}),
        ("file_edit", {"path": "f.txt", "diff": text}),
    ]
    rec.prompt(text)
    rec.response(text, model="m", tokens_in=3, tokens_out=5, thinking=text)
    rec.tool_call("Bash", input={"command": text}, output=text, error=text, duration_ms=1.5)
    rec.decision(text, reasoning=text, alternatives=[text, "other"])
    rec.note(text)
    rec.record("file_edit", path="f.txt", diff=text)
    return sent


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, extra=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3))
def test_every_kind_round_trips_and_text_cannot_forge_metadata(
    shared_repo: Path, text: str, extra: dict[str, str]
) -> None:
    rec = Recorder(shared_repo, agent="prop")
    before = rec.store.session(rec.session_id)
    assert before is None
    sent = record_every_kind(rec, text)
    rec.record("custom_kind", text=text, **{"unknown field": extra})
    steps = rec.store.steps(rec.session_id)

    assert [s.n for s in steps] == list(range(1, len(steps) + 1))
    assert [s.kind for s in steps] == ["session_start"] + [k for k, _ in sent] + ["custom_kind"]
    for step, (_kind, payload) in zip(steps[1:], sent, strict=False):
        if step.redacted:
            continue  # hypothesis made something that looks like a secret; redaction is tested elsewhere
        assert step.event.payload == payload
        assert step.session_id == rec.session_id
        assert step.event.agent == "prop"
    last = steps[-1]
    if not last.redacted:
        assert last.event.payload == {"text": text, "unknown field": extra}
    # git's own trailer parser sees only trail's trailers, whatever the text says.
    kinds = git(
        "log",
        "--format=%(trailers:key=Trail-Kind,valueonly,separator=|)",
        REF_PREFIX + rec.session_id,
        cwd=shared_repo,
    ).split()
    assert kinds == list(reversed([s.kind for s in steps]))


def test_unknown_event_fields_survive(repo: Path) -> None:
    from trail.events import Event

    event = Event.from_dict({"kind": "prompt", "payload": {"text": "hi"}, "future": {"x": [1, 2]}, "schema": 7})
    assert event.to_dict()["future"] == {"x": [1, 2]}
    trail_repo = TrailRepo.discover(repo)
    store = Store(trail_repo)
    event.session_id = "s1"
    tree = trail_repo.git.head.peel(pygit2.Commit).tree.id
    step = store.append(event, tree)
    again = store.read_step(step.commit)
    assert again is not None
    assert again.event.extra == {"future": {"x": [1, 2]}}
    assert again.event.schema == 7


def test_first_step_parent_is_head_and_steps_chain(repo: Path) -> None:
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    with Recorder(repo, agent="a") as rec:
        first = rec.store.steps(rec.session_id)[0]
        second = rec.prompt("hello")
    assert first.parents == (head,)
    assert second.parents == (first.commit,)
    assert git("rev-parse", f"{REF_PREFIX}{rec.session_id}~2", cwd=repo).strip() == first.commit


def test_unborn_head_gives_a_root_step(empty_repo: Path) -> None:
    (empty_repo / "a.txt").write_text("a\n")
    with Recorder(empty_repo) as rec:
        step = rec.prompt("start")
    first = rec.store.steps(rec.session_id)[0]
    assert first.parents == ()
    assert tree_files(empty_repo, step.commit).keys() == {"a.txt"}


def test_plain_git_log_shows_prompts_and_reasoning(repo: Path) -> None:
    with Recorder(repo, agent="claude-code", model="claude-sonnet-4-5") as rec:
        rec.prompt("Please add a --verbose flag")
        rec.decision("Use click's count option", reasoning="Lets -vv raise verbosity further")
        rec.response("Done.", tokens_in=120, tokens_out=8)
    out = git("log", f"trail/sessions/{rec.session_id}", cwd=repo)
    assert "prompt: Please add a --verbose flag" in out
    assert "Lets -vv raise verbosity further" in out
    assert "Trail-Tokens-In: 120" in out
    author = git("log", "-1", "--format=%an <%ae> | %cn <%ce>", f"trail/sessions/{rec.session_id}", cwd=repo)
    assert (
        author.strip() == "claude-code (claude-sonnet-4-5) <claude-code@agents.trail.invalid> | "
        "Test User <test@example.com>"
    )


def test_git_diff_between_steps_is_exactly_the_change(repo: Path) -> None:
    with Recorder(repo) as rec:
        rec.note("before")
        (repo / "src" / "app.py").write_text("print('changed')\n")
        (repo / "added.txt").write_text("new file\n")
        (repo / "README.md").unlink()
        step = rec.tool_call("Edit", input={"file_path": "src/app.py"})
    names = git("diff", "--name-status", f"{step.commit}~1", step.commit, cwd=repo)
    assert sorted(names.splitlines()) == ["A\tadded.txt", "D\tREADME.md", "M\tsrc/app.py"]
    patch = git("diff", f"{step.commit}~1", step.commit, "--", "src/app.py", cwd=repo)
    assert "-print('hello')\n+print('changed')\n" in patch


def test_worktree_add_of_a_step_gives_the_files_of_that_moment(repo: Path, tmp_path: Path) -> None:
    with Recorder(repo) as rec:
        (repo / "moment.txt").write_text("then\n")
        step = rec.note("snapshot me")
        (repo / "moment.txt").write_text("later\n")
        rec.note("after")
    target = tmp_path / "then"
    git("worktree", "add", "-q", "--detach", target, step.commit, cwd=repo)
    assert (target / "moment.txt").read_text() == "then\n"
    listed = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and ".git" not in p.parts)
    assert listed == ["README.md", "moment.txt", "src/app.py"]


def test_payloads_survive_push_clone_fetch_and_gc(repo: Path, tmp_path: Path) -> None:
    with Recorder(repo, agent="sharer") as rec:
        rec.prompt("a prompt with ünïcödé and\nnew lines")
        rec.tool_call("Read", input={"file_path": "README.md"}, output="# project\n" * 50)
    sid = rec.session_id
    original = [s.to_json() for s in rec.store.steps(sid)]
    bare = tmp_path / "remote.git"
    git("init", "-q", "--bare", bare, cwd=tmp_path)
    git("push", "-q", bare, f"{REF_PREFIX}{sid}:{REF_PREFIX}{sid}", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", bare, clone, cwd=tmp_path)
    git("fetch", "-q", "origin", "+refs/trail/*:refs/trail/*", cwd=clone)
    git("gc", "-q", "--prune=now", cwd=clone)
    git("fsck", "--strict", "--no-dangling", cwd=clone)
    copied = [s.to_json() for s in Store(TrailRepo.discover(clone)).steps(sid)]
    assert copied == original


def test_ref_update_is_compare_and_swap(repo: Path) -> None:
    rec = Recorder(repo)
    first = rec.note("one")
    store = rec.store
    # Another writer moves the ref between our read and our swap: the swap must refuse, and append retries.
    assert store.compare_and_swap(rec.session_id, first.parents[0], None) is False
    second = rec.note("two")
    assert second.parents == (first.commit,)


def test_refuses_to_extend_a_ref_that_is_not_a_session(repo: Path) -> None:
    git("update-ref", f"{REF_PREFIX}hijacked", "HEAD", cwd=repo)
    with pytest.raises(TrailError, match="not a trail step"):
        Recorder(repo, session_id="hijacked").note("x")


def test_addresses(repo: Path) -> None:
    with Recorder(repo, session_id="aaaa-1111") as first:
        first.note("a")
    with Recorder(repo, session_id="aaaa-2222") as second:
        second.note("b")
        target = second.note("c")
    history = trail.open(repo)
    assert history.step("aaaa-2222@3").commit == target.commit
    assert history.step("aaaa-2@3").commit == target.commit
    assert history.step("@3").commit == target.commit
    assert history.step("@0").kind == "session_end"
    assert history.step("@-1").commit == target.commit
    assert history.step("aaaa-1111").kind == "session_end"
    assert history.step(target.commit[:12]).commit == target.commit
    assert history.step("trail/sessions/aaaa-2222~1").commit == target.commit
    with pytest.raises(AmbiguousStepError, match="2 sessions"):
        history.step("aaaa@1")
    with pytest.raises(StepNotFoundError, match="steps 1 to 4"):
        history.step("aaaa-2222@9")
    with pytest.raises(StepNotFoundError, match="names no step"):
        history.step("nothing-like-this")
    with pytest.raises(StepNotFoundError, match="not one trail recorded"):
        history.step("HEAD")


def test_session_ids_are_validated(repo: Path) -> None:
    for bad in ("../escape", "a b", "", "x.lock", "-dash"):
        with pytest.raises(TrailError, match="cannot be a session id"):
            Recorder(repo, session_id=bad)


def test_commit_objects_are_well_formed(repo: Path) -> None:
    with Recorder(repo, agent="weird <agent>\nname", model="m") as rec:
        rec.prompt("\0 nul and \x1b escape")
    result = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    raw = git("cat-file", "commit", REF_PREFIX + rec.session_id, cwd=repo)
    header = next(line for line in raw.splitlines() if line.startswith("trail-event "))
    assert json.loads(header.split(" ", 1)[1])["format"] == 2

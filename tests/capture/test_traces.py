"""Traces across processes and agents: a recorder joins the W3C trace it is given, hands its latest step to the
processes it starts (TRACEPARENT and TRAIL_PARENT_STEP), and `trail log --tree` shows the sessions of a trace,
each under the step that started it, wherever they were recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import transcript_lines
from conftest import commit_all, git, trail
from trace_fixtures import HOSTILE_AGENT, HOSTILE_TITLE, Family, record_three_processes

import trail as trail_api
from trail import traceids
from trail.capture.recorder import Recorder

TRACE_VARIABLES = ("TRACEPARENT", "TRAIL_PARENT_STEP")
FOREIGN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    (path / "README.md").write_text("# project\n")
    commit_all(path, "initial")
    return path


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Family:
    """planner -> mailer -> formatter, three processes recording into one repository (read-only for the tests)."""
    folder = tmp_path_factory.mktemp("traces")
    return record_three_processes(make_repo(folder / "repo"), folder)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in TRACE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


def start_of(repo: Path, session: str) -> dict[str, Any]:
    return trail_api.open(repo).session(session).step(1).event.payload


# -- three processes -------------------------------------------------------------------------------------------------


def test_three_processes_link_at_the_steps_that_started_them(family: Family) -> None:
    history = trail_api.open(family.repo)
    planner, mailer, formatter = (history.session(family.session(level)) for level in (1, 2, 3))
    trace = planner.trace_id
    assert trace is not None and re.fullmatch(r"[0-9a-f]{32}", trace)
    assert mailer.trace_id == formatter.trace_id == trace  # one trace, from the planner's new one
    # The planner had no parent: it started the trace, and names no parent span.
    start = start_of(family.repo, planner.id)
    assert start["trace_id"] == trace
    assert not {"parent_span_id", "traceparent", "parent_session", "parent_step"} & set(start)
    assert planner.parent is None
    # Each child names the step that started it, by session and number and by span, and the traceparent it got.
    for parent, child, level in ((planner, mailer, 1), (mailer, formatter, 2)):
        n = family.spawn_step(level)
        assert parent.step(n).kind == "tool_call" and parent.step(n).summary.startswith("spawn ")
        start = start_of(family.repo, child.id)
        span = traceids.step_span_id(parent.id, n)
        assert start["parent_session"] == parent.id and start["parent_step"] == n
        assert start["parent_span_id"] == span
        assert start["traceparent"] == f"00-{trace}-{span}-01" == family.reports[level]["traceparent"]
        assert child.parent == (parent.id, n)
        assert child.info.parent_span_id == span
        # What the parent's environment held while the child ran: its latest step, the one that started it.
        assert family.reports[level]["inside"] == {
            "TRACEPARENT": f"00-{trace}-{span}-01",
            "TRAIL_PARENT_STEP": f"{parent.id}@{n}",
        }
        assert family.reports[level + 1]["before"] == family.reports[level]["inside"]
    # After each `with` block the environment is what it was before it.
    for level in (1, 2, 3):
        assert family.reports[level]["after"] == family.reports[level]["before"]
    assert family.reports[1]["after"] == {"TRACEPARENT": None, "TRAIL_PARENT_STEP": None}


def test_sessions_list_the_trace_and_who_started_them(family: Family) -> None:
    listed = json.loads(trail("sessions", "--json", cwd=family.repo).stdout)
    trace = trail_api.open(family.repo).session(family.session(1)).trace_id
    assert {s["trace_id"] for s in listed} == {trace}
    text = trail("sessions", cwd=family.repo).stdout
    history = trail_api.open(family.repo)
    planner = history.handle(family.session(1))
    mailer_line = next(line for line in text.splitlines() if "Send the release mail" in line)
    assert mailer_line.endswith(f"(started by {planner}@{family.spawn_step(1)})")  # not "forked from"


def test_log_tree_shows_each_session_under_the_step_that_started_it(family: Family) -> None:
    history = trail_api.open(family.repo)
    h1, h2, h3 = (history.handle(family.session(level)) for level in (1, 2, 3))
    trace = history.session(h1).trace_id
    n1, n2 = family.spawn_step(1), family.spawn_step(2)
    done = trail("log", "--tree", h2, cwd=family.repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"trace {trace}  (3 sessions)\n"
        f"  {h1}  planner, 6 steps, ended  Plan the release\n"
        f"  └─ @{n1} tool_call  spawn mailer\n"
        f"*    └─ {h2}  mailer, 6 steps, ended  Send the release mail\n"
        f"        └─ @{n2} tool_call  spawn formatter\n"
        f"           └─ {h3}  {HOSTILE_AGENT}, 5 steps, ended  {HOSTILE_TITLE}\n"
    )
    # The same tree from any of its sessions, the one asked for marked.
    marked = [line for line in trail("log", "--tree", h3, cwd=family.repo).stdout.splitlines() if line[0] == "*"]
    assert len(marked) == 1 and h3 in marked[0]


def test_log_tree_json(family: Family) -> None:
    history = trail_api.open(family.repo)
    ids = [family.session(level) for level in (1, 2, 3)]
    done = trail("log", "--tree", "--json", history.handle(ids[2]), cwd=family.repo)
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    trace = history.session(ids[0]).trace_id
    assert (tree["session"], tree["trace_ids"], tree["sessions"]) == (ids[2], [trace], 3)
    [root] = tree["roots"]
    assert (root["session"], root["link"], root["parent_session"], root["asked"]) == (ids[0], None, None, False)
    [branch] = root["children"]
    assert branch["step"] == family.spawn_step(1) and branch["kind"] == "tool_call"
    assert branch["summary"] == "spawn mailer"
    assert branch["span_id"] == traceids.step_span_id(ids[0], family.spawn_step(1))
    [mailer] = branch["sessions"]
    assert (mailer["session"], mailer["link"], mailer["agent"], mailer["steps"]) == (ids[1], "session", "mailer", 6)
    assert (mailer["parent_session"], mailer["parent_step"]) == (ids[0], family.spawn_step(1))
    [formatter] = mailer["children"][0]["sessions"]
    assert (formatter["session"], formatter["asked"], formatter["title"]) == (ids[2], True, HOSTILE_TITLE)
    assert formatter["children"] == []


def test_log_tree_takes_no_step_range(family: Family) -> None:
    done = trail("log", "--tree", "-n", "3", cwd=family.repo)
    assert done.returncode == 2 and "--tree shows whole sessions" in done.stderr


# -- what a recorder is given ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbled",
    [
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has nothing after the flags
        "",
    ],
)
def test_a_garbled_traceparent_is_ignored(repo: Path, clean_environment: None, garbled: str) -> None:
    with Recorder(repo, agent="parent") as parent:
        named = f"{parent.session_id}@1"
    os.environ["TRACEPARENT"] = garbled
    os.environ["TRAIL_PARENT_STEP"] = named  # without a traceparent to check it against, it names nothing
    with Recorder(repo, agent="child") as rec:
        rec.note("hello")
    start = start_of(repo, rec.session_id)
    assert traceids.is_trace_id(start["trace_id"]) and start["trace_id"] not in garbled
    assert not {"parent_span_id", "traceparent", "parent_session", "parent_step"} & set(start)
    assert (os.environ["TRACEPARENT"], os.environ["TRAIL_PARENT_STEP"]) == (garbled, named)  # put back
    tree = trail_api.open(repo).session(rec.session_id).tree()
    assert [node.id for _, node in tree.walk()] == [rec.session_id]


def test_a_foreign_traceparent_keeps_only_the_trace(repo: Path, clean_environment: None) -> None:
    """A non-trail process between two recorders started a span of its own: TRACEPARENT no longer names the step
    TRAIL_PARENT_STEP names, so only the trace links the sessions."""
    with Recorder(repo, agent="parent") as parent:
        parent.tool_call("spawn", input="tool")
        stale = os.environ["TRAIL_PARENT_STEP"]
        trace = parent.trace_id
    assert trace is not None
    foreign = f"00-{trace}-00f067aa0ba902b7-01"
    os.environ.update({"TRACEPARENT": foreign.upper(), "TRAIL_PARENT_STEP": stale})
    with Recorder(repo, agent="child") as rec:
        assert rec.traceparent is not None and rec.traceparent.startswith(f"00-{trace}-")
    start = start_of(repo, rec.session_id)
    assert (start["trace_id"], start["parent_span_id"], start["traceparent"]) == (
        trace,
        "00f067aa0ba902b7",
        foreign.upper(),
    )
    assert "parent_session" not in start and "parent_step" not in start
    # In the tree, both are at the top of the trace: the child's parent span is not a step trail recorded.
    tree = trail_api.open(repo).session(rec.session_id).tree()
    assert sorted(root.id for root in tree.roots) == sorted([parent.session_id, rec.session_id])
    shown = trail("log", "--tree", rec.session_id, cwd=repo).stdout
    assert "(started by span 00f067aa0ba902b7, not recorded here)" in shown


def test_a_traceparent_argument_wins_over_the_environment(repo: Path, clean_environment: None) -> None:
    os.environ["TRACEPARENT"] = "00-11111111111111111111111111111111-2222222222222222-01"
    with Recorder(repo, traceparent=FOREIGN) as rec:
        assert os.environ["TRACEPARENT"] == rec.traceparent
        assert rec.traceparent is not None and rec.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert start_of(repo, rec.session_id)["parent_span_id"] == "00f067aa0ba902b7"
    assert os.environ["TRACEPARENT"] == "00-11111111111111111111111111111111-2222222222222222-01"


def test_a_resumed_session_stays_in_its_trace(repo: Path, clean_environment: None) -> None:
    with Recorder(repo) as first:
        first.note("one")
    os.environ["TRACEPARENT"] = FOREIGN
    with Recorder(repo, session_id=first.session_id) as again:
        again.note("two")
    assert again.trace_id == first.trace_id
    assert trail_api.open(repo).session(first.session_id).trace_id == first.trace_id


def test_the_environment_follows_the_innermost_recorder(repo: Path, clean_environment: None) -> None:
    """Nested recorders: the environment names the innermost one's latest step, and each puts back what it found
    when it leaves, even when they leave out of order."""
    outer = Recorder(repo, agent="outer").__enter__()
    outer_start = os.environ["TRAIL_PARENT_STEP"]
    assert outer_start == f"{outer.session_id}@1"
    inner = Recorder(repo, agent="inner").__enter__()
    assert os.environ["TRAIL_PARENT_STEP"] == f"{inner.session_id}@1"
    outer.note("meanwhile, in the outer session")  # not the innermost: the environment keeps naming the inner one
    assert os.environ["TRAIL_PARENT_STEP"] == f"{inner.session_id}@1"
    inner.note("inner work")
    assert os.environ["TRACEPARENT"] == inner.traceparent
    assert os.environ["TRAIL_PARENT_STEP"] == f"{inner.session_id}@2"
    outer.__exit__(None, None, None)  # out of order: the inner one is still entered
    assert os.environ["TRAIL_PARENT_STEP"] == f"{inner.session_id}@2"
    inner.__exit__(None, None, None)
    assert all(name not in os.environ for name in TRACE_VARIABLES)
    # A recorder started inside another links to the step it was started at.
    assert trail_api.open(repo).session(inner.session_id).parent == (outer.session_id, 1)


def test_a_recorder_not_entered_leaves_the_environment_alone(repo: Path, clean_environment: None) -> None:
    rec = Recorder(repo)
    step = rec.note("no with block")
    assert rec.traceparent == f"00-{rec.trace_id}-{traceids.step_span_id(rec.session_id, step.n)}-01"
    assert all(name not in os.environ for name in TRACE_VARIABLES)
    rec.end()


# -- linked at read time -----------------------------------------------------------------------------------------------


def test_sessions_of_other_repositories_are_linked_by_their_trace(tmp_path: Path, clean_environment: None) -> None:
    """A session recorded elsewhere (another repository, another machine) with the traceparent of a step here is
    that step's child once fetched: the span ids match, no session name is needed."""
    here = make_repo(tmp_path / "here")
    there = make_repo(tmp_path / "there")
    with Recorder(here, agent="orchestrator") as parent:
        parent.prompt("Deploy everywhere")
        step = parent.tool_call("ssh", input="deploy-host")
        handed = parent.traceparent
    with Recorder(there, agent="deployer", traceparent=handed) as remote:
        remote.prompt("Deploy on this host")
    git("fetch", "-q", str(there), "refs/trail/sessions/*:refs/trail/sessions/*", cwd=here)
    tree = trail_api.open(here).session(parent.session_id).tree()
    [root] = tree.roots
    assert root.id == parent.session_id
    [branch] = root.branches
    assert (branch.step, branch.kind, branch.summary) == (step.n, "tool_call", "ssh deploy-host")
    [child] = branch.sessions
    assert (child.id, child.link, child.parent) == (remote.session_id, "span", (parent.session_id, step.n))
    shown = json.loads(trail("log", "--tree", "--json", remote.session_id, cwd=here).stdout)
    assert shown["roots"][0]["children"][0]["sessions"][0]["link"] == "span"


def test_steps_with_span_ids_of_their_own_are_found(repo: Path, clean_environment: None) -> None:
    """A step taken in from OpenTelemetry keeps its span id: a session started from that span is its child."""
    with Recorder(repo, agent="otel-like") as parent:
        parent.note("an execute_tool span", span_id="abcdef0123456789")
        parent.note("a later span", span_id="0123456789abcdef")
        handed = f"00-{parent.trace_id}-abcdef0123456789-01"
    with Recorder(repo, agent="tool", traceparent=handed) as child:
        child.note("working")
    assert trail_api.open(repo).session(parent.session_id).info.tip.session.get("given_span_ids") is True
    node = trail_api.open(repo).session(child.session_id).tree().find(child.session_id)
    assert node is not None and (node.link, node.parent) == ("span", (parent.session_id, 2))


def test_links_in_a_circle_still_make_a_tree(repo: Path, clean_environment: None) -> None:
    with Recorder(repo, session_id="circle-a", parent_session="circle-b", parent_step=1) as a:
        a.note("a")
    with Recorder(repo, session_id="circle-b", parent_session="circle-a", parent_step=1) as b:
        b.note("b")
    tree = trail_api.open(repo).session("circle-b").tree()
    assert sorted(node.id for _, node in tree.walk()) == ["circle-a", "circle-b"]
    assert [root.id for root in tree.roots] == ["circle-a"]
    assert trail("log", "--tree", "circle-a", cwd=repo).returncode == 0


def test_a_claude_code_subagent_is_in_the_tree(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "claude-config"
    project = config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(repo))
    (project / "sess-tree" / "subagents").mkdir(parents=True)
    lines = transcript_lines("transcript.jsonl", session_id="sess-tree", cwd=str(repo))
    (project / "sess-tree.jsonl").write_text("".join(lines))
    (project / "sess-tree" / "subagents" / "agent-a1b2c3d.jsonl").write_text(
        "".join(transcript_lines("subagent.jsonl", session_id="sess-tree", cwd=str(repo)))
    )
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    imported = subprocess.run(
        [sys.executable, "-m", "trail.cli", "import", "claude", "--all"], cwd=repo, env=env, capture_output=True
    )
    assert imported.returncode == 0, imported.stderr
    history = trail_api.open(repo)
    child = history.session("sess-tree.agent-a1b2c3d")
    # An import names the parent session but no step: the tree places it as the replay does, under the parent's
    # last step before the subagent began.
    assert child.parent == ("sess-tree", None)
    parent = history.session("sess-tree")
    before = max(s.n for s in parent.iter_steps() if s.time <= child.started)
    tree = json.loads(trail("log", "--tree", "--json", "sess-tree.agent-a1b2c3d", cwd=repo).stdout)
    [root] = tree["roots"]
    assert root["session"] == "sess-tree" and root["agent"] == "claude-code" and root["trace_id"] is None
    [branch] = root["children"]
    assert branch["step"] == before
    [sub] = branch["sessions"]
    assert (sub["session"], sub["link"], sub["asked"]) == ("sess-tree.agent-a1b2c3d", "session", True)
    text = trail("log", "--tree", "sess-tree", cwd=repo).stdout
    assert text.startswith("sessions started by one another (recorded with no trace id)  (2 sessions)\n* sess-tree ")
    assert f"  └─ @{before} " in text and "     └─ sess-tree.agent-a1b2c3d  claude-code" in text


def test_a_command_run_by_trail_record_hangs_its_sessions_from_the_recording(
    repo: Path, clean_environment: None
) -> None:
    script = "import trail\nwith trail.Recorder(agent='inner') as rec:\n    rec.note('inside trail record')\n"
    done = trail("record", "--", sys.executable, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    history = trail_api.open(repo)
    (inner,) = [s for s in history.sessions() if s.agent == "inner"]
    (outer,) = [s for s in history.sessions() if s.agent != "inner"]
    assert inner.parent == (outer.id, 1)  # the recording's start, which ran the command
    assert start_of(repo, inner.id)["trace_id"] == start_of(repo, outer.id)["trace_id"]

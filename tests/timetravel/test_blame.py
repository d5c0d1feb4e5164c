"""trail blame names, for every line, the recorded step that last changed it (whichever tool did: Bash included),
the prompt that led there and the tool call; lines no session wrote get the commit `git blame` names, or none
when not committed. The Agent Trace export says the same for a range of commits, in the spec's shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git, trail

from trail import Recorder

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 9))


def blame_json(repo: Path, *args: str) -> list[dict[str, Any]]:
    done = trail("blame", *args, "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def who(line: dict[str, Any]) -> str:
    """A line's origin, short: `session@N tool <prompt>`, `commit <id>`, or `uncommitted`."""
    if line["origin"] == "session":
        return f"{line['session']}@{line['step']} {line['tool'] or line['kind']} <{line['prompt']}>"
    if line["origin"] == "commit":
        return f"commit {line['user_commit']}"
    return "uncommitted"


def commit_now(repo: Path, message: str) -> str:
    """A commit made now, after the session (the tests' other commits carry a fixed date in the past)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, check=True)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def git_blame(repo: Path, path: str) -> dict[int, str]:
    """Line number -> commit, as `git blame` of HEAD says."""
    out = git("blame", "--porcelain", "HEAD", "--", path, cwd=repo)
    found = {}
    for line in out.splitlines():
        match = re.match(r"^([0-9a-f]{40}) \d+ (\d+)", line)
        if match:
            found[int(match.group(2))] = match.group(1)
    return found


@pytest.fixture
def session(repo: Path) -> tuple[Path, dict[str, int]]:
    """Three prompts edit the same lines of src/app.py, with an Edit, a Write and Bash commands (whose change is
    seen only in the tree); steps by name."""
    app = repo / "src" / "app.py"
    app.write_text(ORIGINAL)
    base = commit_all(repo, "the original")
    steps: dict[str, int] = {"base": 0}
    assert base
    with Recorder(repo, session_id="sess", model="claude-sonnet-4-5") as rec:
        steps["p1"] = rec.prompt("Rename line 2 and line 3").n
        app.write_text(ORIGINAL.replace("line 2\n", "two\n").replace("line 3\n", "three\n"))
        steps["edit"] = rec.tool_call("Edit", input={"file_path": "src/app.py"}).n
        steps["p2"] = rec.prompt("Shout line 3").n
        rec.response("I will use sed")
        subprocess.run(["sed", "-i", "s/^three$/THREE/", "src/app.py"], cwd=repo, check=True)
        steps["sed"] = rec.tool_call("Bash", input={"command": "sed -i s/^three$/THREE/ src/app.py"}).n
        steps["p3"] = rec.prompt("Append a footer and fix line 5").n
        subprocess.run("echo footer >> src/app.py", shell=True, cwd=repo, check=True)
        steps["echo"] = rec.tool_call("Bash", input={"command": "echo footer >> src/app.py"}).n
        text = app.read_text().replace("line 5\n", "five\n")
        app.write_text(text)
        steps["write"] = rec.tool_call("Write", input={"file_path": "src/app.py"}).n
        rec.decision("Leave line 7 alone")
    return repo, steps


def test_every_line_is_blamed_on_the_step_that_wrote_it(session: tuple[Path, dict[str, int]]) -> None:
    repo, steps = session
    (repo / "src" / "app.py").write_text((repo / "src" / "app.py").read_text().replace("line 8\n", "mine\n"))
    lines = blame_json(repo, "src/app.py")
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    assert [line["text"] for line in lines] == [
        "line 1",
        "two",
        "THREE",
        "line 4",
        "five",
        "line 6",
        "line 7",
        "mine",
        "footer",
    ]
    assert [who(line) for line in lines] == [
        f"commit {base}",
        f"sess@{steps['edit']} Edit <Rename line 2 and line 3>",
        f"sess@{steps['sed']} Bash <Shout line 3>",
        f"commit {base}",
        f"sess@{steps['write']} Write <Append a footer and fix line 5>",
        f"commit {base}",
        f"commit {base}",
        "uncommitted",  # my edit after the session
        f"sess@{steps['echo']} Bash <Append a footer and fix line 5>",
    ]
    assert lines[1]["prompt_step"] == steps["p1"] and lines[2]["prompt_step"] == steps["p2"]
    assert lines[0]["author"] == "Test User" and lines[0]["summary"] == "the original"


def test_lines_you_commit_stay_the_sessions_lines_you_rewrite_become_yours(
    session: tuple[Path, dict[str, int]],
) -> None:
    repo, steps = session
    first = commit_all(repo, "the agent's work")
    lines = blame_json(repo, "src/app.py")
    assert lines[1]["session"] == "sess" and lines[8]["session"] == "sess"  # committed by me, written by the agent
    app = repo / "src" / "app.py"
    app.write_text(app.read_text().replace("two\n", "deux\n"))
    second = commit_all(repo, "my rewrite")
    app.write_text(app.read_text().replace("line 1\n", "un\n"))  # not committed
    lines = blame_json(repo, "src/app.py")
    assert who(lines[0]) == "uncommitted"
    assert who(lines[1]) == f"commit {second}"
    assert who(lines[2]) == f"sess@{steps['sed']} Bash <Shout line 3>"
    # Lines no session wrote: the commit git blame names.
    named = git_blame(repo, "src/app.py")
    for line in lines:
        if line["origin"] == "commit" and line["line"] != 2:
            assert line["user_commit"] == named[line["line"]] != first


def test_sessions_one_after_another_with_your_commits_between(repo: Path) -> None:
    app = repo / "src" / "app.py"
    app.write_text(ORIGINAL)
    base = commit_all(repo, "the original")

    def edit(old: str, new: str) -> None:
        app.write_text(app.read_text().replace(old, new))

    with Recorder(repo, session_id="first") as rec:
        rec.prompt("Fix line 2")
        edit("line 2\n", "fixed 2\n")
        line2 = rec.tool_call("Edit", input={"file_path": "src/app.py"}).n
        mine = commit_all(repo, "the first session's fix")
        rec.prompt("Now line 4")
        edit("line 4\n", "fixed 4\n")
        line4 = rec.tool_call("Edit", input={"file_path": "src/app.py"}).n  # never committed
    with Recorder(repo, session_id="second") as rec:  # starts with line 4 uncommitted
        rec.prompt("Fix line 3")
        edit("line 3\n", "fixed 3\n")
        line3 = rec.tool_call("Edit", input={"file_path": "src/app.py"}).n
    lines = blame_json(repo, "src/app.py")
    assert [who(line) for line in lines[:5]] == [
        f"commit {base}",
        f"first@{line2} Edit <Fix line 2>",
        f"second@{line3} Edit <Fix line 3>",
        f"first@{line4} Edit <Now line 4>",
        f"commit {base}",
    ]
    only_second = blame_json(repo, "src/app.py", "--session", "second")
    assert [who(line) for line in only_second[1:4]] == [
        f"commit {mine}",
        f"second@{line3} Edit <Fix line 3>",
        "uncommitted",
    ]


def test_blame_at_an_earlier_step(session: tuple[Path, dict[str, int]]) -> None:
    repo, steps = session
    lines = blame_json(repo, "src/app.py", "--step", f"sess@{steps['edit']}")
    assert [line["text"] for line in lines][:3] == ["line 1", "two", "three"]
    assert who(lines[2]) == f"sess@{steps['edit']} Edit <Rename line 2 and line 3>"
    assert len(lines) == 8
    lines = blame_json(repo, "src/app.py", "--step", f"sess@{steps['sed']}")
    assert who(lines[2]) == f"sess@{steps['sed']} Bash <Shout line 3>"


def test_text_output_is_aligned_like_git_blame(session: tuple[Path, dict[str, int]]) -> None:
    repo, steps = session
    done = trail("blame", "app.py", cwd=repo / "src")  # a path relative to where trail runs, as git takes it
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert len(rows) == 9
    assert rows[2].startswith(f"sess@{steps['sed']} ") and "Bash" in rows[2] and "Shout line 3" in rows[2]
    assert rows[2].endswith(" 3) THREE")
    assert len({row.index(")") for row in rows}) == 1  # the line numbers line up
    assert "\x1b" not in done.stdout  # no colour when piped


def test_hostile_text_is_made_safe(repo: Path) -> None:
    with Recorder(repo, session_id="evil") as rec:
        rec.prompt("\x1b]0;pwned\x07 clear the screen \x1b[2J")
        (repo / "src" / "app.py").write_text("print('\x1b[31mred')\n")
        rec.tool_call("Edit\x1b[8m", input={"file_path": "src/app.py"})
    done = trail("blame", "src/app.py", "--color", "always", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "^[]0;pwned^G" in done.stdout and "^[[31mred" in done.stdout
    assert "\x1b]" not in done.stdout and "\x1b[2J" not in done.stdout and "\x1b[8m" not in done.stdout


def test_a_subagents_line_is_its_own(repo: Path) -> None:
    app = repo / "src" / "app.py"
    with Recorder(repo, session_id="main") as parent:
        parent.prompt("Delegate the greeting")
        task = parent.record("note", text="Task started")
        with Recorder(repo, session_id="main.agent-a1", parent_session="main", parent_step=task.n) as child:
            app.write_text("print('hello from the subagent')\n")
            written = child.tool_call("Edit", input={"file_path": "src/app.py"})
        parent.tool_call("Task", input={"description": "greeting"})  # its tree shows the subagent's change
    lines = blame_json(repo, "src/app.py")
    assert (lines[0]["session"], lines[0]["step"]) == ("main.agent-a1", written.n)
    assert (lines[0]["prompt_session"], lines[0]["prompt"]) == ("main", "Delegate the greeting")


def test_a_rewind_gives_lines_their_first_origin_back(repo: Path) -> None:
    app = repo / "src" / "app.py"
    rec = Recorder(repo, session_id="back")
    rec.prompt("First try")
    app.write_text("first try\n")
    good = rec.tool_call("Edit", input={"file_path": "src/app.py"})
    rec.prompt("Second try")
    app.write_text("second try\n")
    rec.tool_call("Edit", input={"file_path": "src/app.py"})
    assert trail("rewind", f"back@{good.n}", cwd=repo).returncode == 0
    rec.prompt("Carry on from the first try")
    rec.tool_call("Read", input={"file_path": "src/app.py"})
    lines = blame_json(repo, "src/app.py")
    assert (lines[0]["text"], lines[0]["step"], lines[0]["prompt"]) == ("first try", good.n, "First try")


def test_an_imported_step_writes_no_line(repo: Path) -> None:
    from test_bisect import imported_step

    app = repo / "src" / "app.py"
    rec = Recorder(repo, session_id="mixed")
    rec.prompt("Write the greeting")
    app.write_text("hello\nworld\n")
    wrote = rec.tool_call("Write", input={"file_path": "src/app.py"})
    imported_step(repo, "mixed", "not the code of then\n", "src/app.py")
    rec.prompt("Add a line")
    app.write_text("hello\nworld\nagain\n")
    added = rec.tool_call("Edit", input={"file_path": "src/app.py"})
    lines = blame_json(repo, "src/app.py")
    assert [(line["step"], line["prompt"]) for line in lines] == [
        (wrote.n, "Write the greeting"),
        (wrote.n, "Write the greeting"),
        (added.n, "Add a line"),
    ]


def test_refusals(session: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    repo, steps = session
    (repo / "data.bin").write_bytes(b"\x00\x01binary")
    done = trail("blame", "data.bin", cwd=repo)
    assert done.returncode == 1 and "binary file" in done.stderr
    done = trail("blame", "src/app.py", "--step", f"sess@{steps['edit']}", "--session", "nope", cwd=repo)
    assert done.returncode == 1 and "no session matches" in done.stderr
    done = trail("blame", "data.bin", "--step", f"sess@{steps['edit']}", cwd=repo)
    assert done.returncode == 1 and "data.bin is not in step" in done.stderr
    done = trail("blame", "missing.txt", cwd=repo)
    assert done.returncode == 1 and "not in the working tree" in done.stderr
    done = trail("blame", "src", cwd=repo)
    assert done.returncode == 1 and "is a folder" in done.stderr
    done = trail("blame", str(tmp_path / "elsewhere.txt"), cwd=repo)
    assert done.returncode == 1 and "outside the repository" in done.stderr
    done = trail("blame", cwd=repo)
    assert done.returncode == 2


# -- Agent Trace ------------------------------------------------------------------------------------------------------

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$")


def only(data: dict[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    assert isinstance(data, dict), where
    assert required <= set(data), f"{where}: missing {required - set(data)}"
    assert set(data) <= allowed, f"{where}: not in the schema: {set(data) - allowed}"


def check_contributor(data: dict[str, Any], where: str) -> None:
    only(data, {"type", "model_id"}, {"type"}, where)
    assert data["type"] in ("human", "ai", "mixed", "unknown"), where
    assert "model_id" not in data or (isinstance(data["model_id"], str) and len(data["model_id"]) <= 250)


def check_trace_record(record: dict[str, Any]) -> None:
    """The constraints of the Agent Trace schema (https://agent-trace.dev/schemas/v1/trace-record.json, from
    github.com/cursor/agent-trace), checked by hand: required fields, no others, enums, patterns."""
    only(
        record,
        {"version", "id", "timestamp", "vcs", "tool", "files", "metadata"},
        {"version", "id", "timestamp", "files"},
        "record",
    )
    assert re.match(r"^[0-9]+\.[0-9]+$", record["version"])
    assert UUID.match(record["id"]) and uuid.UUID(record["id"])
    assert TIMESTAMP.match(record["timestamp"])
    only(record["vcs"], {"type", "revision"}, {"type", "revision"}, "vcs")
    assert record["vcs"]["type"] in ("git", "jj", "hg", "svn")
    only(record["tool"], {"name", "version"}, {"name", "version"}, "tool")
    assert isinstance(record["metadata"], dict)
    for file in record["files"]:
        only(file, {"path", "conversations"}, {"path", "conversations"}, "file")
        for conversation in file["conversations"]:
            only(conversation, {"url", "contributor", "ranges", "related"}, {"ranges"}, "conversation")
            if "url" in conversation:
                assert re.match(r"^[a-z][a-z0-9+.-]*:\S+$", conversation["url"])
            if "contributor" in conversation:
                check_contributor(conversation["contributor"], "conversation.contributor")
            for item in conversation.get("related", []):
                only(item, {"type", "url"}, {"type", "url"}, "related")
            for span in conversation["ranges"]:
                only(
                    span, {"start_line", "end_line", "content_hash", "contributor"}, {"start_line", "end_line"}, "range"
                )
                assert isinstance(span["start_line"], int) and 1 <= span["start_line"] <= span["end_line"]
                if "contributor" in span:
                    check_contributor(span["contributor"], "range.contributor")


def test_agent_trace_export_of_a_commit_range(session: tuple[Path, dict[str, int]]) -> None:
    repo, steps = session
    before = git("rev-parse", "HEAD", cwd=repo).strip()
    app = repo / "src" / "app.py"
    app.write_text(app.read_text().replace("line 8\n", "mine\n"))
    (repo / "notes.txt").write_text("written by me\n")
    (repo / "blob.bin").write_bytes(b"\x00binary")
    agent = commit_now(repo, "the agent's work and mine")
    (repo / "notes.txt").write_text("written by me\nand more\n")
    mine = commit_now(repo, "only mine")
    done = trail("blame", "--agent-trace", f"{before}..HEAD", cwd=repo)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["vcs"]["revision"] for r in records] == [agent, mine]
    for record in records:
        check_trace_record(record)
    first = {f["path"]: f["conversations"] for f in records[0]["files"]}
    assert set(first) == {"src/app.py", "notes.txt"}  # the binary file has no lines
    ai, human = first["src/app.py"]
    assert ai["contributor"] == {"type": "ai", "model_id": "anthropic/claude-sonnet-4-5"}
    assert ai["url"] == "trail:sess"
    assert [(r["start_line"], r["end_line"]) for r in ai["ranges"]] == [(2, 3), (5, 5), (9, 9)]
    assert {r["url"] for r in ai["related"]} == {f"trail:sess@{steps[p]}" for p in ("p1", "p2", "p3")}
    assert human == {"contributor": {"type": "human"}, "ranges": [human["ranges"][0]]}
    assert (human["ranges"][0]["start_line"], human["ranges"][0]["end_line"]) == (8, 8)
    assert first["notes.txt"] == [{"contributor": {"type": "human"}, "ranges": [first["notes.txt"][0]["ranges"][0]]}]
    assert records[0]["metadata"]["trail"]["sessions"]["sess"]["ref"] == "refs/trail/sessions/sess"
    assert records[0]["metadata"]["trail"]["skipped"] == [{"path": "blob.bin", "reason": "binary"}]
    second = records[1]["files"]
    assert [(f["path"], [r["start_line"] for c in f["conversations"] for r in c["ranges"]]) for f in second] == [
        ("notes.txt", [2])
    ]
    only_app = trail("blame", "--agent-trace", agent, "src", cwd=repo)
    assert [f["path"] for f in json.loads(only_app.stdout)["files"]] == ["src/app.py"]
    bad = trail("blame", "--agent-trace", "--output=x", cwd=repo)
    assert bad.returncode == 1 and "not a commit range" in bad.stderr

"""Fork and resume: a worktree at the step, the agent's own session file cut there (Claude Code's transcript from the
real ones in ../shared, or rebuilt from the steps; Codex's rollout), and the new session linked to the step once its
hooks record it."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL, payload, transcript_lines
from conftest import git, trail, tree_files

from trail import Recorder
from trail.adapters.claude_fork import project_dir_name
from trail.adapters.claude_transcript import Cursor, TranscriptConverter, iter_lines
from trail.repo import TrailRepo
from trail.store.steps import Store

MAIN_TRANSCRIPTS = sorted(p for p in REAL.glob("claude-*.jsonl") if ".subagent-" not in p.name) if REAL.is_dir() else []
HOOK = Path(sys.executable).parent / "trail-hook"
REWRITTEN = ("sessionId", "cwd", "parentUuid")


@pytest.fixture(autouse=True)
def agent_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Each test's own Claude Code and Codex folders, named as the agents read them."""
    claude, codex = tmp_path / "claude-config", tmp_path / "codex-home"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
    monkeypatch.setenv("CODEX_HOME", str(codex))
    return claude, codex


def ok(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = trail(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def imported(repo: Path, path: Path) -> str:
    """`trail import claude PATH`, as a user runs it; the session's id."""
    out = ok("import", "claude", path, cwd=repo).stdout
    return out.split(":", 1)[0].strip()


def command_of(result: subprocess.CompletedProcess[str]) -> tuple[Path, str]:
    """The folder and the session id of the command `trail resume` prints last."""
    last = result.stdout.strip().splitlines()[-1].strip()
    assert last.startswith("cd ") and " && claude --resume " in last or " && codex resume " in last, last
    folder, _, rest = last[3:].partition(" && ")
    return Path(folder), rest.split()[-1]


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_bytes().splitlines()]


def assert_chain(lines: list[dict[str, Any]]) -> None:
    """Every parentUuid names a line before it, and the last line's ancestry reaches a root."""
    seen: dict[str, dict[str, Any]] = {}
    for line in lines:
        parent = line.get("parentUuid")
        assert parent is None or parent in seen, f"{line.get('uuid')} names a parent {parent} that is not before it"
        if isinstance(line.get("uuid"), str):
            seen[line["uuid"]] = line
    last = next(line for line in reversed(lines) if line.get("uuid"))
    hops = 0
    while last.get("parentUuid") is not None:
        last = seen[last["parentUuid"]]
        hops += 1
        assert hops <= len(lines)


def original_bytes(new_raw: bytes, new: dict[str, Any], old: dict[str, Any]) -> bytes:
    """`new_raw` with the fields trail may rewrite put back to their old values, by plain text replacement."""
    text = new_raw.decode()
    for key in REWRITTEN:
        if key in new and new[key] != old.get(key):
            before = re.compile(f'("{key}":\\s*){re.escape(json.dumps(new[key], ensure_ascii=False))}')
            assert len(before.findall(text)) == 1, (key, text[:300])
            value = json.dumps(old[key], ensure_ascii=False)
            text = before.sub(lambda m, value=value: m.group(1) + value, text)  # type: ignore[misc]
    return text.encode()


def check_cut(source: Path, forked: Path, new_id: str, cwd: Path, last_uuid: str | None) -> list[dict[str, Any]]:
    """The forked transcript: original lines (byte for byte but for the rewritten fields) in a valid chain, under
    the new id and folder, ending with the line `last_uuid`."""
    by_uuid = {}
    by_content = {}  # lines with no id (file-history-snapshot, queue-operation), by what is not rewritten
    for raw in source.read_bytes().splitlines():
        data = json.loads(raw)
        if data.get("uuid"):
            by_uuid[data["uuid"]] = (raw, data)
        else:
            by_content[_unrewritten(data)] = (raw, data)
    new_lines = forked.read_bytes().splitlines()
    parsed = [json.loads(raw) for raw in new_lines]
    for raw, data in zip(new_lines, parsed, strict=True):
        if "sessionId" in data:
            assert data["sessionId"] == new_id
        if "cwd" in data:
            assert data["cwd"] == str(cwd)
        old_raw, old = by_uuid[data["uuid"]] if data.get("uuid") else by_content[_unrewritten(data)]
        assert original_bytes(raw, data, old) == old_raw
    assert_chain(parsed)
    if last_uuid is not None:
        assert parsed[-1]["uuid"] == last_uuid
    return parsed


def _unrewritten(data: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in data.items() if k not in REWRITTEN}, sort_keys=True)


def transcript_steps(repo: Path, session: str) -> list[Any]:
    return Store(TrailRepo.discover(repo)).steps(session)


# -- Claude Code, from the real transcripts -------------------------------------------------------------------------


@pytest.mark.skipif(not MAIN_TRANSCRIPTS, reason="../shared/fixtures/real is not here")
@pytest.mark.parametrize("source", MAIN_TRANSCRIPTS, ids=lambda p: p.name)
def test_resume_cuts_a_real_transcript_at_the_step(repo: Path, tmp_path: Path, source: Path) -> None:
    session = imported(repo, source)
    steps = transcript_steps(repo, session)
    calls = [s for s in steps if s.kind == "tool_call" and s.event.payload.get("transcript_uuid")]
    prompts = [s for s in steps if s.kind == "prompt"]
    chosen = [calls[len(calls) * 3 // 5], prompts[len(prompts) // 2]] if calls else [prompts[-1]]
    for number, step in enumerate(chosen):
        where = tmp_path / f"fork-{number}"
        result = ok("resume", f"{session}@{step.n}", where, cwd=repo)
        folder, new_id = command_of(result)
        assert folder == where and new_id != session
        forked = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects" / project_dir_name(str(where)) / f"{new_id}.jsonl"
        assert forked.is_file() and stat.S_IMODE(forked.stat().st_mode) == 0o600
        check_cut(source, forked, new_id, where, step.event.payload["transcript_uuid"])

        # The reader trail imports with takes it, and finds the conversation up to the step: the same prompts, the
        # same tool calls (but those still running at the step, left out and said so).
        dropped = int(result.stderr.split("note: ", 1)[1].split()[0]) if "in progress" in result.stderr else 0
        events = [
            e for chunk in iter_lines(forked) for e in TranscriptConverter(new_id, Cursor(), True, False).feed(chunk)
        ]
        before = [s for s in steps if s.n <= step.n]
        assert [e.payload["text"] for e in events if e.kind == "prompt"] == [
            s.event.payload["text"] for s in before if s.kind == "prompt"
        ]
        want_calls = {s.event.payload["tool_use_id"] for s in before if s.kind == "tool_call"}
        got_calls = {e.payload["tool_use_id"] for e in events if e.kind == "tool_call" and "status" not in e.payload}
        assert got_calls <= want_calls and len(want_calls - got_calls) <= dropped

        # The worktree holds the step's tree, detached at the step.
        assert git("rev-parse", "HEAD", cwd=where).strip() == step.commit
        assert tree_files(where, "HEAD") == tree_files(repo, step.commit)
    assert source.read_bytes() == Path(source).read_bytes()  # read only (the fixture is read-only besides)


@pytest.mark.skipif(not (REAL / "claude-conducktor-rig.jsonl").exists(), reason="../shared/fixtures/real is not here")
def test_a_call_still_running_at_the_step_is_left_out_and_the_chain_relinked(repo: Path, tmp_path: Path) -> None:
    """Two Glob calls run in parallel; at the step of the first result, the second call has no result yet: its
    tool_use line goes (the API refuses a call without its result) and its child is relinked to its parent."""
    source = REAL / "claude-conducktor-rig.jsonl"
    session = imported(repo, source)
    steps = transcript_steps(repo, session)
    originals = [json.loads(raw) for raw in source.read_bytes().splitlines()]
    at = {line["uuid"]: i for i, line in enumerate(originals) if "uuid" in line}
    result_at = {b["tool_use_id"]: i for i, line in enumerate(originals) for b in _blocks(line) if "tool_use_id" in b}

    def open_calls(s: Any) -> set[str]:
        """The calls made before this step's result line whose own results come after it."""
        end = at[s.event.payload["transcript_uuid"]]
        return {u for u in _uses_before(originals, end) if result_at.get(u, -1) > end}

    calls = [s for s in steps if s.kind == "tool_call" and s.event.payload.get("transcript_uuid")]
    step = next(s for s in calls if len(open_calls(s)) == 1)
    result = ok("resume", f"{session}@{step.n}", tmp_path / "fork", cwd=repo)
    assert "1 tool call(s) in progress" in result.stderr
    _, new_id = command_of(result)
    forked = next(Path(os.environ["CLAUDE_CONFIG_DIR"]).glob(f"projects/*/{new_id}.jsonl"))
    parsed = check_cut(source, forked, new_id, tmp_path / "fork", step.event.payload["transcript_uuid"])
    uses = {b["id"] for line in parsed for b in _blocks(line) if b.get("type") == "tool_use"}
    results = {b["tool_use_id"] for line in parsed for b in _blocks(line) if b.get("type") == "tool_result"}
    assert uses == results  # every call kept has its result
    relinked = [
        line
        for line in parsed
        if "uuid" in line and line.get("parentUuid") != originals[at[line["uuid"]]].get("parentUuid")
    ]
    assert len(relinked) == 1  # the line whose parent was the call left out


def _blocks(line: dict[str, Any]) -> list[dict[str, Any]]:
    content = (line.get("message") or {}).get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _uses_before(lines: list[dict[str, Any]], end: int) -> set[str]:
    return {b["id"] for line in lines[:end] for b in _blocks(line) if b.get("type") == "tool_use"}


@pytest.mark.skipif(not (REAL / "claude-omarchy-images.jsonl").exists(), reason="../shared/fixtures/real is not here")
def test_a_result_written_before_its_call_keeps_its_call(repo: Path, tmp_path: Path) -> None:
    """Claude Code wrote some tool results before the line of their call: cut at such a result, the call (a line
    after the cut) is kept, before it."""
    source = REAL / "claude-omarchy-images.jsonl"
    session = imported(repo, source)
    originals = [json.loads(raw) for raw in source.read_bytes().splitlines()]
    at = {line["uuid"]: i for i, line in enumerate(originals) if "uuid" in line}
    early = {
        line["uuid"]
        for i, line in enumerate(originals)
        if line.get("parentUuid") in at and at[line["parentUuid"]] > i and line.get("type") == "user"
    }
    step = next(s for s in transcript_steps(repo, session) if s.event.payload.get("transcript_uuid") in early)
    result = ok("resume", f"{session}@{step.n}", tmp_path / "fork", cwd=repo)
    _, new_id = command_of(result)
    forked = next(Path(os.environ["CLAUDE_CONFIG_DIR"]).glob(f"projects/*/{new_id}.jsonl"))
    parsed = check_cut(source, forked, new_id, tmp_path / "fork", step.event.payload["transcript_uuid"])
    call = originals[at[originals[at[step.event.payload["transcript_uuid"]]]["parentUuid"]]]
    assert [line["uuid"] for line in parsed[-2:]] == [call["uuid"], step.event.payload["transcript_uuid"]]


@pytest.mark.skipif(not (REAL / "claude-conducktor-rig.jsonl").exists(), reason="../shared/fixtures/real is not here")
def test_without_the_original_transcript_it_is_rebuilt_from_the_steps(repo: Path, tmp_path: Path) -> None:
    gone = tmp_path / "moved-away.jsonl"
    gone.write_bytes((REAL / "claude-conducktor-rig.jsonl").read_bytes())
    session = imported(repo, gone)
    gone.unlink()
    steps = transcript_steps(repo, session)
    step = [s for s in steps if s.kind == "tool_call"][10]
    where = tmp_path / "fork"
    result = ok("resume", f"{session}@{step.n}", where, cwd=repo)
    assert "made from the steps trail recorded" in result.stdout
    _, new_id = command_of(result)
    forked = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects" / project_dir_name(str(where)) / f"{new_id}.jsonl"
    parsed = lines_of(forked)
    assert_chain(parsed)
    assert all(line["sessionId"] == new_id and line["cwd"] == str(where) for line in parsed)
    assert parsed[-1]["type"] == "user"
    assert _blocks(parsed[-1])[0]["tool_use_id"] == step.event.payload["tool_use_id"]
    before = [s for s in steps if s.n <= step.n]
    events = TranscriptConverter(new_id, Cursor(), True, False).feed(
        [line for chunk in iter_lines(forked) for line in chunk]
    )
    assert [e.payload["text"] for e in events if e.kind == "prompt"] == [
        s.event.payload["text"] for s in before if s.kind == "prompt"
    ]
    assert [e.payload["tool_use_id"] for e in events if e.kind == "tool_call"] == [
        s.event.payload["tool_use_id"] for s in before if s.kind == "tool_call"
    ]
    answers = [s.event.payload["text"] for s in before if s.kind == "response" and s.event.payload.get("text")]
    assert [e.payload["text"] for e in events if e.kind == "response" and e.payload.get("text")] == answers

    # And `trail import claude` takes it: the imported fork names the step it came from.
    new_session = imported(repo, forked)
    assert new_session == new_id
    log = ok("log", new_id, cwd=repo).stdout
    assert f"forked  from {session[:8]}@{step.n}" in log


def test_a_call_whose_result_came_at_a_later_import_is_rebuilt_with_it(repo: Path, tmp_path: Path) -> None:
    """A call still waiting at one import is completed by a `tool_result` step at the next: the rebuilt transcript
    gives the call that result, not "no result"."""
    lines = transcript_lines("transcript.jsonl", session_id="split-1", cwd=str(repo))[:10]
    path = tmp_path / "split.jsonl"
    path.write_text("".join(lines[:5]))
    imported(repo, path)
    path.write_text("".join(lines))
    imported(repo, path)
    path.unlink()
    steps = transcript_steps(repo, "split-1")
    (completed,) = [s for s in steps if s.kind == "tool_result"]
    last = steps[-1]
    result = ok("resume", f"split-1@{last.n}", tmp_path / "fork", cwd=repo)
    _, new_id = command_of(result)
    forked = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects" / project_dir_name(str(tmp_path / "fork"))
    parsed = lines_of(forked / f"{new_id}.jsonl")
    (block,) = [b for line in parsed if line["type"] == "user" for b in _blocks(line) if b.get("type") == "tool_result"]
    assert block["tool_use_id"] == completed.event.payload["tool_use_id"]
    assert block["content"] == completed.event.payload["output"] and block["is_error"] is False


# -- Codex ----------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (REAL / "codex-idaho-mar29.jsonl").exists(), reason="../shared/fixtures/real is not here")
def test_codex_rollout_in_the_real_format_ends_at_the_step(repo: Path, tmp_path: Path) -> None:
    session = imported(repo, REAL / "claude-conducktor-rig.jsonl")
    steps = transcript_steps(repo, session)
    step = [s for s in steps if s.kind == "tool_call"][5]
    where = tmp_path / "fork"
    result = ok("resume", f"{session}@{step.n}", "--agent", "codex", where, cwd=repo)
    last = result.stdout.strip().splitlines()[-1].strip()
    assert last.startswith(f"cd {where} && codex resume ")
    new_id = last.split()[-1]
    found = list(Path(os.environ["CODEX_HOME"]).glob(f"sessions/*/*/*/rollout-*-{new_id}.jsonl"))
    assert len(found) == 1 and stat.S_IMODE(found[0].stat().st_mode) == 0o600
    lines = lines_of(found[0])
    # The shapes of a real rollout: {timestamp, type, payload}, session_meta first, known item types.
    real = lines_of(REAL / "codex-idaho-mar29.jsonl") + lines_of(REAL / "codex-dslint.jsonl")
    known = {(line["type"], line["payload"].get("type")) for line in real}
    assert all(list(line) == ["timestamp", "type", "payload"] for line in lines)
    assert all((line["type"], line["payload"].get("type")) in known for line in lines)
    meta = lines[0]
    assert meta["type"] == "session_meta" and meta["payload"]["id"] == new_id
    assert meta["payload"]["cwd"] == str(where) and meta["payload"]["git"]["commit_hash"] == step.commit
    assert set(real[0]["payload"]) >= set(meta["payload"]) - {"instructions"}
    items = [line["payload"] for line in lines if line["type"] == "response_item"]
    assert items[-1] == {
        "type": "function_call_output",
        "call_id": step.event.payload["tool_use_id"],
        "output": step.event.payload["output"],
    }
    before = [s for s in steps if s.n <= step.n]
    assert [i["call_id"] for i in items if i["type"] == "function_call"] == [
        s.event.payload["tool_use_id"] for s in before if s.kind == "tool_call"
    ]
    calls = [i for i in items if i["type"] == "function_call"]
    assert all(isinstance(json.loads(call["arguments"]), dict) for call in calls)
    users = [i["content"][0]["text"] for i in items if i["type"] == "message" and i["role"] == "user"]
    assert users == [s.event.payload["text"] for s in before if s.kind == "prompt"]
    assert "Codex hooks are not installed" in result.stderr and "hooks install codex" in result.stderr
    assert (repo / ".git" / "trail" / "forks" / f"{new_id}.json").exists()
    # trail reads back what it wrote: the rollout imports, its prompts as recorded, linked to the step it came from.
    ok("import", "codex", found[0], cwd=repo)
    forked = transcript_steps(repo, new_id)
    assert forked[0].event.payload["parent_session"] == session
    assert forked[0].event.payload["parent_step"] == step.n
    assert [s.event.payload["text"] for s in forked if s.kind == "prompt"] == users
    assert not (repo / ".git" / "trail" / "forks" / f"{new_id}.json").exists()


# -- the link, through the new session's own hooks -------------------------------------------------------------------


class Hooks:
    """Plays Claude Code in one folder: payloads to the installed `trail-hook claude`, the transcript where it
    writes it."""

    def __init__(self, folder: Path, session: str, transcript: Path) -> None:
        self.folder, self.session, self.transcript = folder, session, transcript
        self.values = dict(session_id=session, cwd=str(folder), transcript_path=str(transcript))

    def fire(self, event: str, **overrides: Any) -> None:
        data = {**payload(event, **self.values, agent_transcript_path=""), **overrides}
        done = subprocess.run(
            [str(HOOK), "claude"], input=json.dumps(data).encode(), cwd=self.folder, capture_output=True, check=False
        )
        assert done.returncode == 0 and done.stdout == b"", done.stderr

    def write(self, lines: list[str]) -> None:
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        with open(self.transcript, "a") as f:
            f.writelines(lines)


def test_the_fork_once_recorded_by_its_hooks_names_the_step_it_came_from(repo: Path, tmp_path: Path) -> None:
    ok("hooks", "install", "claude", cwd=repo)
    original = "5c1d8b3e-7f2a-4c6e-9b1d-0a2b3c4d5e6f"
    transcript = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects" / project_dir_name(str(repo)) / f"{original}.jsonl"
    claude = Hooks(repo, original, transcript)
    lines = transcript_lines("transcript.jsonl", session_id=original, cwd=str(repo))
    claude.fire("SessionStart")
    claude.write(lines[0:2])
    claude.fire("UserPromptSubmit")
    claude.write(lines[2:6])
    (repo / "greet.py").write_text("def greet():\n    return 'hello, world'\n")
    claude.write(lines[6:7])
    claude.fire("PostToolUse", tool_input={"file_path": str(repo / "greet.py")})
    claude.write(lines[7:8])
    claude.fire("Stop", last_assistant_message="greet() now says hello, world")
    steps = transcript_steps(repo, original)
    edit = next(s for s in steps if s.kind == "tool_call")

    where = tmp_path / "fork"
    result = ok("resume", f"{original}@{edit.n}", where, cwd=repo)
    assert "hooks are not installed" not in result.stderr  # the project's settings came along in the step's tree
    _, new_id = command_of(result)
    forked = transcript.parent.parent / project_dir_name(str(where)) / f"{new_id}.jsonl"
    parsed = check_cut(transcript, forked, new_id, where, "t1")  # the Edit's result line in the fixture
    assert [line["uuid"] for line in parsed if line.get("uuid")] == ["u1", "a1", "a2", "a3", "p1", "t1"]
    assert (where / "greet.py").read_text() == "def greet():\n    return 'hello, world'\n"

    # `claude --resume NEW` in the fork: its hooks record the new session, whose first step names the step.
    resumed = Hooks(where, new_id, forked)
    resumed.fire("SessionStart", source="resume")
    resumed.fire("UserPromptSubmit", prompt="Now make it say goodbye")
    new_steps = transcript_steps(repo, new_id)
    start = new_steps[0].event.payload
    assert (start["parent_session"], start["parent_step"]) == (original, edit.n)
    assert new_steps[0].parents == (edit.commit,)  # in git too, the fork branches off the step
    assert not (repo / ".git" / "trail" / "forks" / f"{new_id}.json").exists()
    log = ok("log", new_id, cwd=repo).stdout
    assert f"forked  from {original[:8]}@{edit.n}" in log
    listing = ok("sessions", cwd=repo).stdout
    assert f"(forked from {original[:8]}@{edit.n})" in listing
    assert json.loads(ok("sessions", "--json", cwd=repo).stdout)[0]["parent_step"] == edit.n
    # The original session goes on untouched.
    assert transcript_steps(repo, original)[-1].commit == steps[-1].commit


# -- refusals ---------------------------------------------------------------------------------------------------------


def test_refusals_leave_nothing_behind(repo: Path, tmp_path: Path) -> None:
    with Recorder(repo, session_id="homegrown", agent="my-agent") as rec:
        rec.prompt("do the thing")
        rec.response("done", model="m")
    worktrees = git("worktree", "list", cwd=repo)

    unknown = trail("resume", "homegrown@2", tmp_path / "a", cwd=repo)
    assert unknown.returncode == 1 and "--agent claude or codex" in unknown.stderr
    early = trail("resume", "homegrown@1", "--agent", "claude", tmp_path / "b", cwd=repo)
    assert early.returncode == 1 and "nothing to resume" in early.stderr and "trail checkout" in early.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine\n")
    taken = trail("resume", "homegrown@3", "--agent", "claude", tmp_path / "full", cwd=repo)
    assert taken.returncode == 1 and "not empty" in taken.stderr
    assert (tmp_path / "full" / "x").read_text() == "mine\n"
    bad = trail("resume", "homegrown@3", "--agent", "gemini", cwd=repo)
    assert bad.returncode == 2
    assert git("worktree", "list", cwd=repo) == worktrees
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not list(Path(os.environ["CLAUDE_CONFIG_DIR"]).glob("projects/*/*.jsonl"))

    # With --agent, a session of any agent forks (rebuilt from its steps), beside the repository by default.
    done = ok("resume", "homegrown@3", "--agent", "claude", cwd=repo)
    folder, new_id = command_of(done)
    assert folder == repo.parent / "repo-homegrown-3" and folder.is_dir()
    parsed = lines_of(next(Path(os.environ["CLAUDE_CONFIG_DIR"]).glob(f"projects/*/{new_id}.jsonl")))
    assert [(line["type"], (line["message"]["content"])) for line in parsed] == [
        ("user", "do the thing"),
        ("assistant", [{"type": "text", "text": "done"}]),
    ]


def test_project_folder_names_follow_claude_code() -> None:
    assert project_dir_name("/home/u/my_project.v2") == "-home-u-my-project-v2"
    assert project_dir_name("C:\\Users\\me\\repo") == "C--Users-me-repo"
    assert project_dir_name("/tmp/café 😀") == "-tmp-caf----"  # é one dash, the emoji two (UTF-16)
    long = "/x" * 150
    name = project_dir_name(long)
    assert name.startswith("-x" * 100 + "-") and len(name) > 201 and name[201:].isalnum()

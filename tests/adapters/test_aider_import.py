"""aider's chat history (a real one, aider 0.83.1) imports into one session per run, once, and as it grows; the
commits aider reports are linked when the repository has them.

The expected counts are read here with plain regular expressions, independently of trail's parser: a typed input
is a run of `#### ` lines ending in two spaces (aider/io.py `user_input`), `/` starts a command, usage lines are
`> Tokens: …`, commits `> Commit <hash> …`, runs `# aider chat started at …`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL
from conftest import commit_all, git, trail

from trail.adapters.aider_import import import_aider, sniff
from trail.repo import TrailRepo
from trail.store.steps import Store

HISTORY = REAL / "aider-health-analyzer.chat.history.md"
real = pytest.mark.skipif(not HISTORY.exists(), reason="../shared/fixtures/real (the real aider history) is not here")
_SCALE = {"k": 1000, "M": 1_000_000}


def count(value: str) -> int:
    return round(float(value.rstrip("kM")) * _SCALE.get(value[-1], 1))


def expected(text: str) -> dict[str, Any]:
    inputs: list[str] = []
    run: list[str] = []
    for line in text.split("\n") + [""]:
        if line.startswith("####") and line.endswith("  "):
            run.append(line[5:].rstrip())
        elif run:
            inputs.append("\n".join(run))
            run = []
    tokens = re.findall(r"^> Tokens: ([\d.]+[kM]?) sent, ([\d.]+[kM]?) received\. Cost: \$([\d.]+) message", text, re.M)
    return {
        "runs": len(re.findall(r"^# aider chat started at ", text, re.M)),
        "commands": sum(1 for i in inputs if i.startswith("/")),
        "prompts": sum(1 for i in inputs if not i.startswith("/")),
        "sent": sum(count(t[0]) for t in tokens),
        "received": sum(count(t[1]) for t in tokens),
        "cost": sum(float(t[2]) for t in tokens),
        "commits": re.findall(r"^> Commit ([0-9a-f]{7,}) ", text, re.M),
        "edits": len(re.findall(r"^> Applied edit to ", text, re.M)),
    }


def sessions(repo: Path) -> dict[str, list[Any]]:
    store = Store(TrailRepo.discover(repo))
    return {sid: store.steps(sid, full=True) for sid in sorted(info.id for info in store.sessions())}


@real
def test_the_real_chat_history_imports_completely(repo: Path) -> None:
    result = import_aider(TrailRepo.discover(repo), HISTORY)
    found = sessions(repo)
    want = expected(HISTORY.read_text())
    assert sorted(found) == ["aider-20250922-120400", "aider-20250922-145500"] and want["runs"] == 2
    assert result.session_id == "aider-20250922-120400, aider-20250922-145500"
    steps = [s for run in found.values() for s in run]
    kinds = [s.kind for s in steps]
    assert kinds.count("session_start") == 2
    assert kinds.count("prompt") == want["prompts"] and kinds.count("command") == want["commands"]
    responses = [s.event.payload for s in steps if s.kind == "response"]
    assert sum(p.get("tokens_in", 0) for p in responses) == want["sent"]
    assert sum(p.get("tokens_out", 0) for p in responses) == want["received"]
    assert sum(p["cost"]["message"] for p in responses if "cost" in p) == pytest.approx(want["cost"])
    assert all(p.get("model", "").startswith("openrouter/") for p in responses)
    commits = [s.event.payload["commit"] for s in steps if s.kind in ("agent_commit", "user_commit")]
    assert commits == want["commits"]  # none of them is in this repository: recorded, not linked
    assert all(not s.event.payload["found"] and len(s.parents) == 1 for s in steps if "commit" in s.kind)
    assert kinds.count("user_commit") == 1  # "Committing metrics_check.sh before applying edits": the person's
    assert kinds.count("file_edit") == want["edits"]
    # .aider.input.history (beside it, same stem) dates the inputs
    first_prompt = next(s for s in found["aider-20250922-120400"] if s.kind == "prompt")
    assert first_prompt.event.time.strftime("%H:%M:%S") == "12:40:59"
    assert import_aider(TrailRepo.discover(repo), HISTORY).added == 0


@real
def test_a_history_that_grew_adds_only_what_is_new(repo: Path, tmp_path: Path) -> None:
    data = HISTORY.read_bytes()
    growing = tmp_path / ".aider.chat.history.md"
    trail_repo = TrailRepo.discover(repo)
    for cut in (len(data) // 3, len(data) * 2 // 3, len(data)):
        growing.write_bytes(data[: data.rfind(b"\n", 0, cut) + 1])
        import_aider(trail_repo, growing)
    steps = [s for run in sessions(repo).values() for s in run]
    want = expected(data.decode())
    assert sum(1 for s in steps if s.kind == "prompt") == want["prompts"]
    assert sum(s.event.payload.get("tokens_out", 0) for s in steps if s.kind == "response") == want["received"]
    assert [s.event.payload["commit"] for s in steps if "commit" in s.kind] == want["commits"]
    assert import_aider(trail_repo, growing).added == 0


def test_commits_aider_made_are_linked(repo: Path, tmp_path: Path) -> None:
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n")
    first = commit_all(repo, "feat: add greet")
    (repo / "greet.py").write_text("def greet():\n    return 'hello'\n")
    second = commit_all(repo, "fix: say hello")
    history = repo / ".aider.chat.history.md"
    history.write_text(
        "\n# aider chat started at 2026-01-01 10:00:00\n\n"
        "> Aider v0.86.1  \n> Main model: anthropic/claude-sonnet-4-5 with diff edit format  \n\n"
        "#### add a greet function  \n\n"
        "Here it is.\n\n#### Heading of the reply, not typed\n\n> a quote in the reply\n\n"
        "> Tokens: 2.2k sent, 1.1k cache write, 5.8k cache hit, 340 received. Cost: $0.05 message, $0.05 session.  \n"
        "> Applied edit to greet.py  \n"
        f"> Commit {first[:7]} feat: add greet  \n\n"
        "#### make it say hello  \n\n"
        "Done.\n\n"
        f"> Commit {second[:7]} fix: say hello  \n"
    )
    assert trail("import", "aider", "--all", cwd=repo).returncode == 0
    (steps,) = sessions(repo).values()
    assert [s.kind for s in steps] == [
        "session_start",
        "note",
        "prompt",
        "response",
        "file_edit",
        "agent_commit",
        "prompt",
        "response",
        "agent_commit",
    ]
    reply = steps[3].event.payload
    assert reply["text"] == "Here it is.\n\n#### Heading of the reply, not typed\n\n> a quote in the reply"
    assert reply["tokens_in"] == 2200 + 5800 and reply["tokens_out"] == 340 and reply["cost"]["message"] == 0.05
    assert reply["model"] == "anthropic/claude-sonnet-4-5"
    linked = steps[5]
    assert linked.parents[1] == first and linked.event.payload["commit"] == first and linked.event.payload["found"]
    assert linked.tree == git("rev-parse", f"{first}^{{tree}}", cwd=repo).strip()
    assert steps[1].tree == git("rev-parse", f"{first}~1^{{tree}}", cwd=repo).strip()  # before aider's first commit
    assert steps[8].parents[1] == second and steps[8].tree == git("rev-parse", f"{second}^{{tree}}", cwd=repo).strip()
    assert git("diff", "--stat", f"{steps[7].commit}", steps[8].commit, cwd=repo).strip().startswith("greet.py")
    assert "aider's commit" in (linked.tree_source or "")


def test_other_markdown_is_refused(repo: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\n#### not aider  \n> quote  \n")
    assert not sniff(readme.read_bytes(), readme)
    assert sniff(b"\n# aider chat started at 2026-01-01 10:00:00\n", readme)
    refused = trail("import", "aider", str(readme), cwd=repo)
    assert refused.returncode == 1 and "is not an aider chat history" in refused.stderr
    assert trail("import", str(readme), cwd=repo).returncode == 1
    assert git("for-each-ref", "refs/trail", cwd=repo) == ""


def test_usage_printed_after_an_import_of_its_reply_comes_with_the_next(repo: Path) -> None:
    history = repo / ".aider.chat.history.md"
    history.write_text("\n# aider chat started at 2026-01-01 10:00:00\n\n#### hello  \n\nHi there.\n\n")
    trail_repo = TrailRepo.discover(repo)
    import_aider(trail_repo, history)
    with open(history, "a") as f:
        f.write("> Tokens: 310 sent, 12 received. Cost: $0.00089 message, $0.00089 session.  \n")
    assert import_aider(trail_repo, history).added == 1
    assert import_aider(trail_repo, history).added == 0
    (steps,) = sessions(repo).values()
    reply, usage = (s for s in steps if s.kind == "response")
    assert reply.event.payload["text"] == "Hi there." and "tokens_in" not in reply.event.payload
    assert usage.event.payload["text_recorded_at"] == reply.n and usage.event.payload["tokens_in"] == 310

"""`trail view`, `trail export` and `trail serve` from the command line: where the page goes, what is said about it,
the Markdown for a pull request, and the errors that say what to do."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TRAIL, commit_all, git
from conftest import trail as run_trail

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "views"))
from replay_fixtures import RICH, record_rich_session  # noqa: E402


@pytest.fixture
def rich(repo: Path) -> Path:
    record_rich_session(repo)
    commit_all(repo)  # a clean working tree, to show that viewing writes nothing into it
    return repo


def test_view_writes_the_page_into_the_git_directory_and_says_how_big_it_is(rich: Path) -> None:
    result = run_trail("view", RICH, cwd=rich)
    assert result.returncode == 0, result.stderr
    path = rich / ".git" / "trail" / "views" / f"{RICH}.html"
    assert result.stdout.startswith(f"Wrote {path}: 15 steps (with 1 subagent session), ")
    assert re.search(r", \d+\.\d KB, \d+\.\d KB a step, in \d+\.\d s\n$", result.stdout)
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert git("status", "--porcelain", cwd=rich) == ""

    chosen = rich.parent / "out" / "replay.html"
    assert run_trail("view", "-o", chosen, cwd=rich).returncode == 0  # the latest session, where asked
    assert "rich-1" in chosen.read_text() or "agent-a1" in chosen.read_text()
    to_stdout = run_trail("view", RICH, "-o", "-", cwd=rich)
    assert to_stdout.stdout.startswith("<!DOCTYPE html>") and to_stdout.stdout.endswith("</html>\n")


def test_view_of_an_unknown_session_says_what_to_do(rich: Path) -> None:
    result = run_trail("view", "nope", cwd=rich)
    assert result.returncode == 1
    assert "trail sessions" in result.stderr


def test_export_needs_a_format(rich: Path) -> None:
    result = run_trail("export", RICH, cwd=rich)
    assert result.returncode == 2
    assert "say which format to export: --markdown" in result.stderr


def test_export_markdown_for_a_pull_request(rich: Path) -> None:
    result = run_trail("export", RICH, "--markdown", cwd=rich)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(f"### trail session `{RICH}`: Make \\`average\\` handle an \\*\\*empty list\\*\\*.")
    assert "claude-code (claude-sonnet-4-5) · 11 steps" in text and "3,200 tokens in / 100 out" in text
    assert "**2. Prompt**" in text and "> Make `average` handle an **empty list**." in text
    assert "**3. Answer** (claude-sonnet-4-5, 1,200 in / 40 out)" in text
    assert "**4.** ▸ `Bash` `pytest -q` (1.8 s) → `tests/test_app.py::test_0 PASSED` (+299 lines)" in text
    assert "**8.** ✗ `Bash` `pytest -q` → error: `1 failed: test_spread`" in text
    assert (
        "**6. Decision:** Return 0.0 for an empty list" in text
        and "Alternatives: raise ValueError; return None" in text
    )
    assert "<details><summary>src/app.py (+4 −1)</summary>\n\n```diff\n@@ -1 +1,4 @@" in text
    assert (
        "**7.** note: Starting a subagent to look for other callers.\n\n"
        "↳ subagent `rich-1.agent-a1` (4 steps, 320 tokens): Find the callers of \\`average\\`." in text
    )
    assert "+        return 0.0" in text
    assert result.stderr == ""


def test_export_markdown_is_cut_to_the_size_asked_and_says_what_was_cut(rich: Path) -> None:
    result = run_trail("export", RICH, "--markdown", "--max-chars", "900", cwd=rich)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) <= 900 + 400
    assert "Cut to fit 900 characters: the patches" in result.stdout
    assert re.search(r"steps \d+ to 11", result.stdout)
    assert f"`trail export {RICH} --markdown --max-chars 0` writes all of it" in result.stdout
    assert result.stderr.startswith("trail export: Cut to fit 900 characters")
    out = rich.parent / "session.md"
    assert (
        run_trail("export", RICH, "--markdown", "-o", out, cwd=rich).stdout
        == f"Wrote {out}: {len(out.read_text()):,} characters\n"
    )


def test_serve_says_where_it_listens_and_stops_on_ctrl_c(rich: Path) -> None:
    process = subprocess.Popen(
        [*TRAIL, "serve", "--port", "0"], cwd=rich, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.match(r"trail serve: (http://127\.0\.0\.1:(\d+)/)\n", first)
        assert match, first
        assert (
            process.stdout.readline() == "Listening on 127.0.0.1 only: no other machine can connect. Ctrl-C stops it.\n"
        )
        with urllib.request.urlopen(match.group(1), timeout=10) as answer:
            assert answer.status == 200 and b"rich-1" in answer.read()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
        assert process.returncode == 0 and out.endswith("Stopped.\n")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_on_every_address_warns(rich: Path) -> None:
    process = subprocess.Popen(
        [*TRAIL, "serve", "--port", "0", "--host", "0.0.0.0"],
        cwd=rich,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 10
        line = process.stderr.readline()
        assert time.monotonic() < deadline
        assert line.startswith("warning: listening on 0.0.0.0: anyone who can reach this machine on port ")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)

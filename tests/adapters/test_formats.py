"""`trail import PATH`: each file's format is recognised; a file in no format trail reads is refused with exit 1 and
nothing recorded, as is a file given to the wrong format's command."""

from __future__ import annotations

import json
from pathlib import Path

from claude_fixtures import transcript_lines
from conftest import git, trail


def refs(repo: Path) -> str:
    return git("for-each-ref", "refs/trail", cwd=repo)


def test_a_file_in_no_known_format_is_refused_and_nothing_recorded(repo: Path, tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    other_jsonl = tmp_path / "other.jsonl"
    other_jsonl.write_text(json.dumps({"timestamp": "2026-01-01T00:00:00Z", "type": "x", "payload": {}}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("".join(transcript_lines("transcript.jsonl", session_id="s", cwd=str(repo))))
    for bad in (passwd, other_jsonl, empty):
        # one unknown file among good ones: refused before anything is recorded
        result = trail("import", str(transcript), str(bad), cwd=repo)
        assert result.returncode == 1, result.stdout
        assert "in no format trail reads" in result.stderr and "Claude Code transcript" in result.stderr
        assert refs(repo) == ""
    wrong = trail("import", "claude", str(passwd), cwd=repo)
    assert wrong.returncode == 1 and "is not a Claude Code transcript" in wrong.stderr and refs(repo) == ""


def test_a_transcript_is_recognised_and_imported_once(repo: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    whole = transcript_lines("transcript.jsonl", session_id="s", cwd=str(repo))[:-1]  # not its cut last line
    transcript.write_text("".join(whole))
    first = trail("import", str(transcript), cwd=repo)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("s: ") and "steps" in first.stdout
    again = trail("import", "claude", str(transcript), cwd=repo)
    assert again.returncode == 0 and "already imported" in again.stdout

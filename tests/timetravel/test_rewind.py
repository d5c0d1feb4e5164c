"""Rewind, undo and redo in place: every kind of file comes back byte for byte, uncommitted work is never lost, and
the index, HEAD, ignored files and files the session never had are left alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import commit_all, git, trail

from trail import Recorder


def state(repo: Path) -> dict[str, tuple[str, bytes]]:
    """Everything a person sees in the working tree (not .git): path -> (kind and mode, content or link target)."""
    out: dict[str, tuple[str, bytes]] = {}
    for root, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, repo)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full).encode())
            else:
                out[rel] = (f"file {st.st_mode & 0o111:o}", Path(full).read_bytes())
    return out


def guarded(repo: Path) -> tuple[bytes, str, str, str]:
    """What rewinding must never change: the index, HEAD, the branches, the stash."""
    return (
        (repo / ".git" / "index").read_bytes(),
        git("rev-parse", "HEAD", cwd=repo),
        git("for-each-ref", "refs/heads", cwd=repo),
        git("stash", "list", cwd=repo),
    )


@pytest.fixture
def session(repo: Path) -> tuple[Path, str, dict[int, dict[str, tuple[str, bytes]]]]:
    """A session that modifies, adds, deletes, renames, makes binary files, links and executables."""
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "old_name.txt").write_text("to be renamed\n")
    (repo / "gone.txt").write_text("to be deleted\n")
    commit_all(repo, "before the session")
    states: dict[int, dict[str, tuple[str, bytes]]] = {}
    rec = Recorder(repo, session_id="travel")
    states[rec.start().n] = state(repo)
    (repo / "src" / "app.py").write_text("print('v2')\n")
    (repo / "new.bin").write_bytes(bytes(range(256)) * 4)
    states[rec.note("modified and a binary file").n] = state(repo)
    (repo / "old_name.txt").rename(repo / "new_name.txt")
    (repo / "gone.txt").unlink()
    os.symlink("src/app.py", repo / "link")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    states[rec.note("renamed, deleted, a link, an executable").n] = state(repo)
    (repo / "src" / "app.py").write_text("print('v3')\n")
    (repo / "run.sh").chmod(0o644)
    (repo / "link").unlink()
    (repo / "link").write_text("now a file\n")
    (repo / "deep" / "er").mkdir(parents=True)
    (repo / "deep" / "er" / "x.txt").write_text("x\n")
    states[rec.note("type change, mode change, nested folders").n] = state(repo)
    return repo, "travel", states


def test_rewind_undo_redo_round_trips_byte_for_byte(session: tuple[Path, str, dict]) -> None:  # type: ignore[type-arg]
    repo, sid, states = session
    (repo / "debug.log").write_text("ignored, never touched\n")
    (repo / "src" / "app.py").write_text("print('uncommitted work of mine')\n")  # present before the rewind
    (repo / "mine.txt").write_text("a file of mine the session never had\n")
    before = state(repo)
    protected = guarded(repo)
    for target in (2, 3, 1, 4, 2):
        done = trail("rewind", f"{sid}@{target}", cwd=repo)
        assert done.returncode == 0, done.stderr
        now = state(repo)
        expected = dict(states[target])
        expected["debug.log"] = before["debug.log"]  # ignored: left alone
        expected["mine.txt"] = before["mine.txt"]  # never in the session: left alone
        assert now == expected, target
        assert guarded(repo) == protected
    for _ in range(5):  # back through every rewind, to the state before the first
        assert trail("rewind", "--undo", cwd=repo).returncode == 0
    assert state(repo) == before
    assert trail("rewind", "--undo", cwd=repo).returncode == 1  # nothing more to undo
    for _ in range(5):
        assert trail("rewind", "--redo", cwd=repo).returncode == 0
    assert state(repo) == {**states[2], "debug.log": before["debug.log"], "mine.txt": before["mine.txt"]}
    assert trail("rewind", "--redo", cwd=repo).returncode == 1
    assert guarded(repo) == protected
    import json

    kinds = [s["kind"] for s in json.loads(trail("log", sid, "--json", cwd=repo).stdout)]
    assert kinds.count("rewind") == 15  # each rewind, undo and redo recorded the state it left


def test_a_dry_run_lists_and_touches_nothing(session: tuple[Path, str, dict]) -> None:  # type: ignore[type-arg]
    repo, sid, states = session
    before = state(repo)
    done = trail("rewind", f"{sid}@2", "--dry-run", cwd=repo)
    assert done.returncode == 0
    assert "D  new_name.txt" in done.stdout and "A  old_name.txt" in done.stdout and "M  src/app.py" in done.stdout
    assert "nothing was" in done.stdout
    assert state(repo) == before


def test_a_new_rewind_after_an_undo_drops_the_redo(session: tuple[Path, str, dict]) -> None:  # type: ignore[type-arg]
    repo, sid, _ = session
    assert trail("rewind", f"{sid}@2", cwd=repo).returncode == 0
    assert trail("rewind", "--undo", cwd=repo).returncode == 0
    assert trail("rewind", f"{sid}@3", cwd=repo).returncode == 0
    redo = trail("rewind", "--redo", cwd=repo)
    assert redo.returncode == 1 and "nothing to redo" in redo.stderr


def test_refusals(session: tuple[Path, str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    repo, sid, _ = session
    git("switch", "-q", "-c", "elsewhere", cwd=repo)
    refused = trail("rewind", f"{sid}@2", cwd=repo)
    assert refused.returncode == 1 and "'elsewhere'" in refused.stderr and "--force" in refused.stderr
    assert trail("rewind", f"{sid}@2", "--force", cwd=repo).returncode == 0
    git("switch", "-q", "main", cwd=repo)
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(
        '{"type": "user", "sessionId": "imported", "uuid": "u1", "timestamp": "2026-11-20T10:00:00Z", '
        '"cwd": "/w", "message": {"role": "user", "content": "hello"}}\n'
    )
    assert trail("import", "claude", str(transcript), cwd=repo).returncode == 0
    imported = trail("rewind", "imported@2", cwd=repo)
    assert imported.returncode == 1 and "not a working tree trail recorded" in imported.stderr
    usage = trail("rewind", cwd=repo)
    assert usage.returncode == 2


def test_files_and_cat_without_a_checkout(session: tuple[Path, str, dict]) -> None:  # type: ignore[type-arg]
    repo, sid, states = session
    listed = trail("files", f"{sid}@3", cwd=repo).stdout
    assert "120000" in listed and "link" in listed and "100755" in listed and "run.sh" in listed
    assert "old_name.txt" not in listed and "new_name.txt" in listed
    assert trail("files", f"{sid}@4", "deep", cwd=repo).stdout.split()[-1] == "deep/er/x.txt"
    assert trail("cat", f"{sid}@2", "src/app.py", cwd=repo).stdout == "print('v2')\n"
    import subprocess

    from conftest import TRAIL

    raw = subprocess.run([*TRAIL, "cat", f"{sid}@2", "new.bin"], cwd=repo, capture_output=True).stdout
    assert raw == bytes(range(256)) * 4
    assert trail("cat", f"{sid}@3", "link", cwd=repo).stdout == "src/app.py"
    missing = trail("cat", f"{sid}@1", "new.bin", cwd=repo)
    assert missing.returncode == 1 and "is not in step" in missing.stderr
    folder = trail("cat", f"{sid}@4", "deep", cwd=repo)
    assert folder.returncode == 1 and "is a folder" in folder.stderr

"""Recording never changes what belongs to the user: index, HEAD, branches, packed refs, config, stash, files."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import commit_all, git, trail

from trail import Recorder
from trail.store.steps import REF_PREFIX


def protected_state(repo: Path) -> dict[str, object]:
    """Everything trail must leave alone, byte for byte (files also by mtime)."""
    dot_git = repo / ".git"
    state: dict[str, object] = {}
    for name in ("index", "HEAD", "packed-refs", "config", "refs/stash", "logs/refs/stash", "logs/HEAD"):
        path = dot_git / name
        state[name] = (path.read_bytes(), path.stat().st_mtime_ns) if path.exists() else None
    for path in sorted((dot_git / "refs" / "heads").rglob("*")):
        state[str(path.relative_to(dot_git))] = path.read_bytes()
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if rel.parts[0] == ".git":
            continue
        st = os.lstat(path)
        if path.is_symlink():
            content = b"link:" + os.fsencode(os.readlink(path))
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).digest()
        else:
            content = b"dir"
        state["wt:" + os.fsdecode(bytes(rel))] = (content, st.st_mtime_ns, st.st_mode)
    return state


@pytest.mark.parametrize("watcher", [False, True], ids=["scanning", "watcher"])
def test_one_hundred_steps_change_nothing_of_the_users(repo: Path, watcher: bool) -> None:
    # A realistic starting point: staged and unstaged changes, a stash, packed refs, extra branches.
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "data.bin").write_bytes(bytes(range(256)) * 4)
    commit_all(repo, "more")
    git("branch", "feature", cwd=repo)
    git("pack-refs", "--all", cwd=repo)
    (repo / "README.md").write_text("stashed change\n")
    git("stash", "-q", cwd=repo)
    (repo / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=repo)
    (repo / "src" / "app.py").write_text("print('unstaged')\n")
    os.symlink("README.md", repo / "link-to-readme")
    rng = random.Random(7)
    if watcher:
        assert trail("watch", "--daemon", cwd=repo).returncode == 0
    try:
        rec = record_hundred_steps(repo, rng, protected_state)
    finally:
        if watcher:
            trail("watch", "--stop", cwd=repo)
    check_after(repo, rec)


def record_hundred_steps(
    repo: Path, rng: random.Random, protected_state: Callable[[Path], dict[str, object]]
) -> Recorder:
    with Recorder(repo, agent="careful") as rec:
        for i in range(100):
            # The agent's edits, made before the step is recorded.
            action = i % 8
            if action == 0:
                (repo / f"new-{i}.txt").write_text(f"created at {i}\n")
            elif action == 1:
                (repo / "src" / "app.py").write_text(f"print({i})\n")
            elif action == 2:
                victims = sorted(repo.glob("new-*.txt"))
                if victims:
                    victims[0].unlink()
            elif action == 3:
                sources = sorted(repo.glob("new-*.txt"))
                if sources:
                    sources[-1].rename(repo / f"renamed-{i}.txt")
            elif action == 4:
                (repo / "data.bin").write_bytes(rng.randbytes(2048))
            elif action == 5:
                link = repo / f"link-{i}"
                link.symlink_to("src/app.py")
            elif action == 6:
                (repo / f"debug-{i}.log").write_text("ignored\n")
                (repo / "build").mkdir(exist_ok=True)
                (repo / "build" / f"out-{i}.o").write_bytes(b"\x7fELF")
            else:
                (repo / f"huge-{i}.bin").write_bytes(b"\0" * (11 * 1024 * 1024 if i < 20 else 1024))
            before = protected_state(repo)
            rec.tool_call("Edit", input={"step": i}, output="ok")
            assert protected_state(repo) == before, f"step {i} changed the user's state"
        before = protected_state(repo)
    assert protected_state(repo) == before
    return rec


def check_after(repo: Path, rec: Recorder) -> None:
    steps = rec.store.steps(rec.session_id)
    assert len(steps) == 102
    assert git("stash", "list", cwd=repo).count("\n") == 1
    assert "\nA  staged.txt\n" in git("status", "--porcelain", cwd=repo)
    # The oversized file of step 7 (11 MiB) is left out and listed.
    assert [o.path for o in steps[8].omitted] == ["huge-7.bin"]
    assert git("for-each-ref", "--format=%(refname)", cwd=repo).splitlines() == [
        "refs/heads/feature",
        "refs/heads/main",
        "refs/stash",
        REF_PREFIX + rec.session_id,
    ]

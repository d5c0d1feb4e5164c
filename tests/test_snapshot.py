"""Snapshots equal what `git add -A && git write-tree` would give, without the user's index."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_files

from trail.repo import TrailRepo
from trail.store.snapshot import snapshot_worktree


def git_tree_of_worktree(repo: Path, tmp_path: Path) -> str:
    """The tree git itself builds from the working tree, through a throwaway index."""
    index = tmp_path / "reference-index"
    index.unlink(missing_ok=True)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    import subprocess

    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def snap(repo: Path, **kwargs: int) -> str:
    return str(snapshot_worktree(TrailRepo.discover(repo), **kwargs).tree)


def test_matches_git_for_tracked_untracked_ignored_deleted(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_bytes(b"\0\1\2")
    (repo / "new.txt").write_text("untracked\n")
    (repo / "README.md").write_text("changed\n")
    (repo / "src" / "app.py").unlink()
    (repo / "deep" / "er").mkdir(parents=True)
    (repo / "deep" / "er" / "x.bin").write_bytes(bytes(range(256)) * 10)

    tree = snap(repo)

    assert tree == git_tree_of_worktree(repo, tmp_path)
    files = tree_files(repo, tree)
    assert "debug.log" not in files and "build/out.bin" not in files
    assert "src/app.py" not in files
    assert not any(p.startswith(".git/") for p in files)


def test_follows_successive_changes(repo: Path, tmp_path: Path) -> None:
    for i in range(5):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
        if i:
            (repo / f"f{i - 1}.txt").rename(repo / f"renamed{i}.txt")
        (repo / "README.md").write_text(f"version {i}\n")
        assert snap(repo) == git_tree_of_worktree(repo, tmp_path)


def test_same_content_after_rewrite_within_one_second(repo: Path, tmp_path: Path) -> None:
    # Racy git: three writes inside the stat cache's timestamp granularity must still be seen.
    target = repo / "README.md"
    for content in ("one\n", "two\n", "six\n"):
        target.write_text(content)
        tree = snap(repo)
        assert tree_files(repo, tree)["README.md"].split()[1] == git("hash-object", target, cwd=repo).strip()


def test_symlinks_stay_symlinks(repo: Path) -> None:
    (repo / "link").symlink_to("README.md")
    (repo / "dangling").symlink_to("nowhere")
    files = tree_files(repo, snap(repo))
    assert files["link"].startswith("120000")
    assert files["dangling"].startswith("120000")


def test_submodules_are_gitlinks(repo: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", cwd=upstream)
    commit_all(upstream, "upstream")
    git("submodule", "add", "-q", str(upstream), "sub", cwd=repo)
    commit_all(repo, "add submodule")
    (repo / "sub" / "more.txt").write_text("x\n")
    new_head = commit_all(repo / "sub", "moved")

    files = tree_files(repo, snap(repo))

    assert files["sub"] == f"160000 {new_head}"
    assert "sub/more.txt" not in files


def test_non_utf8_file_names(repo: Path, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9-latin1.txt")
    (repo / name).write_text("bytes in the name\n")
    tree = snap(repo)
    assert tree == git_tree_of_worktree(repo, tmp_path)
    assert name in tree_files(repo, tree)


def test_oversized_files_are_left_out_and_listed(repo: Path) -> None:
    (repo / "small.bin").write_bytes(b"x" * 100)
    (repo / "huge.bin").write_bytes(b"y" * 5000)
    result = snapshot_worktree(TrailRepo.discover(repo), max_file_size=1000)
    files = tree_files(repo, str(result.tree))
    assert "small.bin" in files and "huge.bin" not in files
    assert [(o.path, o.size) for o in result.omitted] == [("huge.bin", 5000)]
    # Not even hashed into the object database.
    blob = git("hash-object", repo / "huge.bin", cwd=repo).strip()
    assert git("cat-file", "-e", blob, cwd=repo, check=False) == ""
    assert not (repo / ".git" / "objects" / blob[:2] / blob[2:]).exists()


def test_file_that_grows_past_the_limit_is_not_kept_with_old_content(repo: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    (repo / "grows.txt").write_text("small\n")
    assert "grows.txt" in tree_files(repo, str(snapshot_worktree(trail_repo, max_file_size=1000).tree))
    (repo / "grows.txt").write_text("z" * 2000)
    result = snapshot_worktree(trail_repo, max_file_size=1000)
    assert "grows.txt" not in tree_files(repo, str(result.tree))
    assert [o.path for o in result.omitted] == ["grows.txt"]


def test_works_from_a_subdirectory(repo: Path, tmp_path: Path) -> None:
    (repo / "src" / "new.py").write_text("x = 1\n")
    assert snap(repo / "src") == git_tree_of_worktree(repo, tmp_path)


def test_linked_worktree_snapshots_its_own_files(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git("worktree", "add", "-q", "-b", "feature", other, cwd=repo)
    (other / "only-here.txt").write_text("feature work\n")
    (repo / "only-main.txt").write_text("main work\n")

    feature_tree = tree_files(repo, snap(other))
    main_tree = tree_files(repo, snap(repo))

    assert "only-here.txt" in feature_tree and "only-main.txt" not in feature_tree
    assert "only-main.txt" in main_tree and "only-here.txt" not in main_tree
    assert (repo / ".git" / "worktrees" / "other" / "trail" / "snapshot" / "index").exists()


def test_repository_with_no_commits(empty_repo: Path, tmp_path: Path) -> None:
    (empty_repo / "first.txt").write_text("hello\n")
    assert snap(empty_repo) == git_tree_of_worktree(empty_repo, tmp_path)


def test_empty_working_tree(empty_repo: Path) -> None:
    assert snap(empty_repo) == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree


def test_unreadable_private_index_is_rebuilt(repo: Path, tmp_path: Path) -> None:
    snap(repo)
    (repo / ".git" / "trail" / "snapshot" / "index").write_bytes(b"garbage, not an index")
    (repo / "after.txt").write_text("x\n")
    assert snap(repo) == git_tree_of_worktree(repo, tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_does_not_write_the_users_index(repo: Path) -> None:
    index = repo / ".git" / "index"
    before = index.read_bytes(), index.stat().st_mtime_ns
    (repo / "untracked.txt").write_text("x\n")
    (repo / "README.md").write_text("modified\n")
    snap(repo)
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert git("status", "--porcelain", cwd=repo) == " M README.md\n?? untracked.txt\n"

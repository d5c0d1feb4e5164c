"""The watcher's snapshots equal full scans, whatever happens to the working tree, and it fails safe."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import commit_all, git

from trail.capture.watch.watcher import Watcher
from trail.repo import TrailRepo
from trail.store.snapshot import snapshot_worktree


@pytest.fixture
def watched(repo: Path) -> Iterator[tuple[Path, Watcher]]:
    watcher = Watcher(TrailRepo.discover(repo))
    watcher.start()
    yield repo, watcher
    watcher.stop()


def assert_same(repo: Path, watcher: Watcher) -> None:
    """The watcher's tree and omitted files equal a full scan's."""
    fast = watcher.snapshot()
    full = snapshot_worktree(TrailRepo.discover(repo))
    assert str(fast.tree) == str(full.tree), git("diff", "--stat", str(full.tree), str(fast.tree), cwd=repo)
    assert fast.omitted == full.omitted


def test_rapid_edits_are_seen_with_their_last_content(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    target = repo / "fast.txt"
    for content in ("one\n", "two\n", "three\n"):  # three writes within a few milliseconds
        target.write_text(content)
    snap = watcher.snapshot()
    blob = git("rev-parse", f"{snap.tree}:fast.txt", cwd=repo).strip()
    assert git("cat-file", "-p", blob, cwd=repo) == "three\n"
    assert_same(repo, watcher)


def test_directories_created_deleted_renamed_and_recreated(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    (repo / "a" / "b" / "c").mkdir(parents=True)
    (repo / "a" / "b" / "c" / "deep.txt").write_text("deep\n")
    (repo / "a" / "top.txt").write_text("top\n")
    assert_same(repo, watcher)
    (repo / "a").rename(repo / "renamed")
    assert_same(repo, watcher)
    shutil.rmtree(repo / "renamed")
    assert_same(repo, watcher)
    (repo / "renamed").mkdir()
    (repo / "renamed" / "again.txt").write_text("back\n")
    assert_same(repo, watcher)
    (repo / "src" / "app.py").unlink()
    (repo / "src").rmdir()
    (repo / "src").write_text("now a file\n")  # a directory replaced by a file of the same name
    assert_same(repo, watcher)
    (repo / "src").unlink()
    (repo / "src" / "inner").mkdir(parents=True)  # and back
    (repo / "src" / "inner" / "x.py").write_text("x\n")
    assert_same(repo, watcher)


def test_modes_links_big_files_and_ignored_files(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\n")
    assert_same(repo, watcher)
    script.chmod(0o755)
    assert_same(repo, watcher)
    (repo / "link").symlink_to("run.sh")
    (repo / "dangling").symlink_to("nowhere")
    assert_same(repo, watcher)
    (repo / "big.bin").write_bytes(b"\0" * (11 * 1024 * 1024))
    assert_same(repo, watcher)
    assert [o.path for o in watcher.snapshot().omitted] == ["big.bin"]
    (repo / "big.bin").write_bytes(b"small now")
    assert_same(repo, watcher)
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "x.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"\x7f")
    assert_same(repo, watcher)
    (repo / "y.log").write_text("ignored too\n")
    (repo / "build" / "more.o").write_bytes(b"\x7f")
    assert_same(repo, watcher)
    (repo / "build" / "nested" / "deeper").mkdir(parents=True)  # new directories inside an ignored one
    (repo / "build" / "nested" / "deeper" / "x.o").write_bytes(b"\x7f")
    (repo / "logs.log").mkdir()  # a directory matched by a file pattern
    (repo / "logs.log" / "today").write_text("ignored\n")
    assert_same(repo, watcher)


def test_ignore_rules_changed_mid_session(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    (repo / "notes.tmp").write_text("scratch\n")
    assert_same(repo, watcher)
    (repo / ".gitignore").write_text("*.tmp\n")  # notes.tmp leaves the snapshot
    assert_same(repo, watcher)
    (repo / ".gitignore").write_text("")  # and comes back
    assert_same(repo, watcher)
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("local.txt\n")  # a nested .gitignore
    (repo / "sub" / "local.txt").write_text("ignored here\n")
    (repo / "sub" / "kept.txt").write_text("kept\n")
    assert_same(repo, watcher)
    (repo / ".git" / "info" / "exclude").write_text("sub/kept.txt\n")
    assert_same(repo, watcher)
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    assert_same(repo, watcher)
    (repo / ".gitattributes").write_text("*.txt text eol=lf\n")  # the same file now makes another blob
    assert_same(repo, watcher)


def test_branch_switches_and_rebases_by_the_person(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    git("checkout", "-q", "-b", "feature", cwd=repo)
    (repo / "feature.txt").write_text("feature\n")
    commit_all(repo, "feature")
    assert_same(repo, watcher)
    git("checkout", "-q", "main", cwd=repo)
    assert_same(repo, watcher)
    (repo / "main.txt").write_text("main\n")
    commit_all(repo, "main work")
    git("checkout", "-q", "feature", cwd=repo)
    git("rebase", "-q", "main", cwd=repo)
    assert_same(repo, watcher)
    assert watcher.stats["full_scans"] >= 3  # each HEAD move made the next snapshot a full scan


def test_submodule_commits_update_the_gitlink(watched: tuple[Path, Watcher], tmp_path: Path) -> None:
    repo, watcher = watched
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", cwd=upstream)
    commit_all(upstream, "first")
    git("submodule", "add", "-q", str(upstream), "sub", cwd=repo)
    assert_same(repo, watcher)
    (repo / "sub" / "inside.txt").write_text("x\n")
    commit_all(repo / "sub", "moved on")
    assert_same(repo, watcher)


def test_names_that_are_not_utf8(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    (repo / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name\n")
    assert_same(repo, watcher)  # a full scan handles what the tree editor cannot


def test_events_arriving_while_snapshots_run(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            (repo / f"churn-{i % 20}.txt").write_text(f"{i}\n")
            if i % 7 == 0:
                (repo / f"churn-{(i + 3) % 20}.txt").unlink(missing_ok=True)
            i += 1

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        for _ in range(30):
            watcher.snapshot()
    finally:
        stop.set()
        writer.join()
    assert_same(repo, watcher)


def test_queue_overflow_makes_the_next_snapshot_a_full_scan(watched: tuple[Path, Watcher]) -> None:
    repo, watcher = watched
    scans = watcher.stats["full_scans"]
    # watchdog reports a kernel queue overflow only as this log record; the watcher listens for it.
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
    (repo / "after.txt").write_text("x\n")
    assert_same(repo, watcher)
    assert watcher.stats["full_scans"] == scans + 1


def test_refused_watches_fall_back_to_full_scans_and_say_so(repo: Path) -> None:
    class Refusing:
        def schedule(self, *args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    watcher = Watcher(TrailRepo.discover(repo), observer_factory=Refusing)
    watcher.start()
    try:
        assert "refused" in watcher.mode and "watch limit" in watcher.mode
        (repo / "new.txt").write_text("x\n")
        assert_same(repo, watcher)
    finally:
        watcher.stop()


def test_snapshot_cost_follows_the_change_not_the_tree(repo: Path) -> None:
    for d in range(20):
        (repo / f"d{d}").mkdir()
        for f in range(50):
            (repo / f"d{d}" / f"f{f}.txt").write_text(f"{d} {f}\n")
    commit_all(repo, "a thousand files")
    watcher = Watcher(TrailRepo.discover(repo))
    watcher.start()
    try:
        scans = watcher.stats["full_scans"]
        for i in range(5):
            (repo / "d3" / "f7.txt").write_text(f"change {i}\n")
            assert_same(repo, watcher)
        # Only the start scanned everything: every later snapshot rewrote the trees above one file.
        assert watcher.stats["full_scans"] == scans
    finally:
        watcher.stop()


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git("worktree", "add", "-q", "-b", "wt", other, cwd=repo)
    watcher = Watcher(TrailRepo.discover(other))
    watcher.start()
    try:
        assert watcher.fallback is None
        (other / "only-here.txt").write_text("x\n")
        assert_same(other, watcher)
        git("checkout", "-q", "-b", "wt2", cwd=other)
        time.sleep(0.1)
        assert_same(other, watcher)
    finally:
        watcher.stop()


@pytest.mark.parametrize("layout", ["main", "linked"])
def test_each_snapshot_waits_for_its_own_barrier(repo: Path, tmp_path: Path, layout: str) -> None:
    # A snapshot right after files appear, again and again: an event left over from an earlier barrier (a write
    # raises one event or two), or the events of another watch (a linked worktree's git directory, which watchdog
    # delivers in no common order with the working tree's), must never let a snapshot miss what came before it.
    tree = repo
    if layout == "linked":
        tree = tmp_path / "linked"
        git("worktree", "add", "-q", "-b", "linked", tree, cwd=repo)
    watcher = Watcher(TrailRepo.discover(tree))
    watcher.start()
    try:
        for i in range(25):
            (tree / f"dir{i}").mkdir()
            (tree / f"dir{i}" / "inner.txt").write_text(f"{i}\n")
            (tree / f"top{i}.txt").write_text(f"{i}\n")
            snap = watcher.snapshot()
            listed = git("ls-tree", "-r", "--name-only", str(snap.tree), cwd=tree).split()
            assert f"dir{i}/inner.txt" in listed and f"top{i}.txt" in listed, f"round {i}"
        assert watcher.stats["full_scans"] == 1, watcher.stats  # every barrier came: no scan stood in for one
    finally:
        watcher.stop()
    assert not list((repo / ".git" / "trail").glob("watch-barrier*"))  # no barrier file left behind


QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")


@pytest.mark.skipif(not os.access(QUEUE_LIMIT, os.W_OK), reason="needs a writable inotify queue limit (root)")
def test_a_real_kernel_queue_overflow(repo: Path) -> None:
    # A queue of 16 events (read when the watcher's inotify instance is made; restored right after) and a burst
    # of thousands of writes: the kernel drops events, and the snapshot after must still be exact.
    old = QUEUE_LIMIT.read_text()
    QUEUE_LIMIT.write_text("16")
    try:
        watcher = Watcher(TrailRepo.discover(repo))
        watcher.start()
    finally:
        QUEUE_LIMIT.write_text(old)
    try:
        for i in range(3000):
            (repo / f"burst-{i}.txt").write_text(f"{i}\n")
        assert_same(repo, watcher)
        assert watcher.stats.get("last_full_scan") in (
            "the event queue overflowed",
            "file events stopped arriving in time",
        )
    finally:
        watcher.stop()


def test_filemode_off_fifos_and_repositories_inside_new_folders(repo: Path, tmp_path: Path) -> None:
    git("config", "core.filemode", "false", cwd=repo)
    watcher = Watcher(TrailRepo.discover(repo))
    watcher.start()
    try:
        (repo / "src" / "app.py").chmod(0o755)  # ignored: core.filemode is off
        (repo / "src" / "app.py").write_text("print('changed')\n")
        os.mkfifo(repo / "pipe")  # git stores no fifos
        (repo / "vendor" / "lib").mkdir(parents=True)
        git("init", "-q", cwd=repo / "vendor" / "lib")  # a repository inside a new folder: left out
        commit_all(repo / "vendor" / "lib", "vendored")
        (repo / "vendor" / "README").write_text("vendored code\n")
        assert_same(repo, watcher)
    finally:
        watcher.stop()

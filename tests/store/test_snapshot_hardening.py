"""Snapshots that keep credentials out, respect sparse checkouts, survive a killed writer and leak nothing."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from conftest import commit_all, git, trail, tree_files

from trail import Recorder
from trail.repo import TrailRepo
from trail.store.snapshot import private_gitdir, snapshot_worktree

SENSITIVE = [
    ".env",
    ".env.production",
    "config/server.pem",
    "deploy/id_rsa",
    "id_ed25519",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "gcp/credentials-prod.json",
    "keys/store.p12",
    "android/release.keystore",
    "tls/site.key",
]
HARMLESS = [".env.example", ".env.sample", "id_rsa.pub", "docs/env.md", "keyboard.py", "src/credentials.py"]


def test_untracked_credentials_are_left_out_and_listed(repo: Path) -> None:
    for name in SENSITIVE + HARMLESS:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"content of {name}\n")
    snap = snapshot_worktree(TrailRepo.discover(repo))
    files = tree_files(repo, str(snap.tree))
    assert not set(SENSITIVE) & set(files)
    assert set(HARMLESS) <= set(files)
    assert {o.path for o in snap.omitted} == set(SENSITIVE)
    assert all(o.reason and o.reason.startswith("sensitive file") for o in snap.omitted)
    step = Recorder(repo).note("with a .env around")
    assert {o.path for o in step.omitted} == set(SENSITIVE)
    shown = trail("show", f"{step.session_id}@{step.n}", cwd=repo)
    assert ".env" in shown.stdout and "sensitive file" in shown.stdout


def test_tracked_or_allowed_credentials_are_kept(repo: Path) -> None:
    (repo / ".env").write_text("TRACKED=yes\n")
    commit_all(repo, "the team tracks this .env")  # already in the user's history: leaving it out would lie
    (repo / ".env.test").write_text("FOR_TESTS=1\n")
    assert trail("config", "--add", "snapshot.allow", ".env.test", cwd=repo).returncode == 0
    (repo / "my.secret").write_text("x\n")
    assert trail("config", "--add", "snapshot.sensitive", "*.secret", cwd=repo).returncode == 0
    snap = snapshot_worktree(TrailRepo.discover(repo))
    files = tree_files(repo, str(snap.tree))
    assert ".env" in files and ".env.test" in files and "my.secret" not in files


def test_the_watcher_leaves_out_the_same_files(repo: Path) -> None:
    from trail.capture.watch.watcher import Watcher

    watcher = Watcher(TrailRepo.discover(repo))
    watcher.start()
    try:
        watcher.snapshot()
        (repo / "new").mkdir()
        (repo / "new" / ".env.local").write_text("API_KEY=x\n")
        (repo / "new" / "ok.txt").write_text("fine\n")
        (repo / "id_ecdsa").write_text("key\n")
        snap = watcher.snapshot()
    finally:
        watcher.stop()
    files = tree_files(repo, str(snap.tree))
    assert "new/ok.txt" in files and "new/.env.local" not in files and "id_ecdsa" not in files
    assert {o.path for o in snap.omitted} == {"new/.env.local", "id_ecdsa"}
    assert snapshot_worktree(TrailRepo.discover(repo)).tree == snap.tree  # the same tree either way


def test_sparse_checkout_does_not_record_the_rest_as_deleted(repo: Path) -> None:
    for d in ("docs", "lib", "tools"):
        (repo / d).mkdir()
        for i in range(7):
            (repo / d / f"f{i}.txt").write_text(f"{d} {i}\n")
    commit_all(repo, "more")
    full = tree_files(repo, "HEAD")
    git("sparse-checkout", "set", "src", cwd=repo)
    assert not (repo / "docs").exists()
    (repo / "src" / "new.py").write_text("x = 2\n")
    snap = snapshot_worktree(TrailRepo.discover(repo))
    files = tree_files(repo, str(snap.tree))
    assert set(full) <= set(files) and "src/new.py" in files
    assert git("status", "--porcelain", cwd=repo) == "?? src/new.py\n"


def test_a_stale_lock_of_the_private_index_does_not_stop_its_stat_cache(repo: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    snapshot_worktree(trail_repo)
    lock = private_gitdir(trail_repo) / "index.lock"
    lock.write_text("left by a writer that was killed")
    index = private_gitdir(trail_repo) / "index"
    before = index.stat().st_mtime_ns
    (repo / "changed.txt").write_text("y\n")
    snapshot_worktree(trail_repo)
    assert not lock.exists() and index.stat().st_mtime_ns != before


def test_snapshots_never_touch_the_environment_of_other_threads(repo: Path) -> None:
    seen: list[str] = []
    stop = threading.Event()

    def spawn() -> None:
        while not stop.is_set():
            out = subprocess.run(["env"], capture_output=True, text=True).stdout
            seen.extend(
                line for line in out.splitlines() if line.startswith(("GIT_DIR=", "GIT_INDEX_FILE=", "GIT_WORK_TREE="))
            )

    thread = threading.Thread(target=spawn)
    before = dict(os.environ)
    thread.start()
    try:
        for i in range(30):
            (repo / f"f{i}.txt").write_text(str(i))
            snapshot_worktree(TrailRepo.discover(repo))
    finally:
        stop.set()
        thread.join()
    assert seen == [] and dict(os.environ) == before

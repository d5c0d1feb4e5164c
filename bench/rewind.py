"""Benchmark: `trail rewind` (and `--undo`) in a 10,000-file repository against `git checkout <commit> -- .` with a
private index, the same files changed, in one run.

    python bench/rewind.py                  # 10,000 files, 100 of them differ between the two steps
    python bench/rewind.py --files 50000 --changed 1000 --runs 5

The repository is generated as bench/snapshot.py does (committed with gc off). A session records step A, then 100
files modified, step B. Each round starts from B's working tree and times, as whole processes:
- `trail rewind A` (it records the working tree as a `rewind` step first, then writes the files that differ), and
  `trail rewind --undo` back to B;
- git's own way to put a commit's files in the working tree without touching the user's index: `GIT_INDEX_FILE=<a
  copy of the index> git checkout A -- .` (the copy keeps git's stat cache, so git too skips the files that did not
  change); then, not timed, the same back to B.
A checks that both ways leave the same bytes. Medians; the ratio is trail / git (lower is better).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from read import TRAIL  # noqa: E402
from snapshot import generate_repo, git_env  # noqa: E402

import trail  # noqa: E402


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def digest(paths: list[Path]) -> list[bytes]:
    return [p.read_bytes() for p in paths]


def rounds(
    repo: Path,
    paths: list[Path],
    env: dict[str, str],
    a: str,
    b: str,
    step: str,
    at_b: list[bytes],
    private: Path,
    runs: int,
) -> tuple[float, float, float]:
    """Medians of trail rewind, trail rewind --undo and git checkout with a private index, each round from B."""
    trail_times: list[float] = []
    undo_times: list[float] = []
    git_times: list[float] = []
    at_a: list[bytes] | None = None
    for i in range(runs + 1):  # the first round warms the caches and is not counted
        for who in ["trail", "git"] if i % 2 else ["git", "trail"]:
            if who == "trail":
                t = timed([*TRAIL, "rewind", step], repo, env)
                state = digest(paths)
                u = timed([*TRAIL, "rewind", "--undo"], repo, env)
                assert digest(paths) == at_b, "undo did not bring B back"
                if i:
                    trail_times.append(t)
                    undo_times.append(u)
            else:
                shutil.copyfile(repo / ".git" / "index", private)
                private_env = {**env, "GIT_INDEX_FILE": os.fspath(private)}
                t = timed(["git", "-c", "gc.auto=0", "checkout", a, "--", "."], repo, private_env)
                state = digest(paths)
                subprocess.run(
                    ["git", "-c", "gc.auto=0", "checkout", b, "--", "."], cwd=repo, env=private_env, check=True
                )
                assert digest(paths) == at_b
                if i:
                    git_times.append(t)
            at_a = at_a or state
            assert state == at_a, "trail and git left different files"
    return statistics.median(trail_times), statistics.median(undo_times), statistics.median(git_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-rewind-"))
    try:
        repo = work / "repo"
        paths = generate_repo(repo, args.files)
        env = git_env(HOME=os.fspath(work / "home"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        (work / "home").mkdir()
        rng = random.Random(7)
        rec = trail.Recorder(repo, session_id="bench", agent="bench")
        a = rec.note("step A")
        for path in rng.sample(paths, args.changed):
            path.write_text(path.read_text() + f"changed at B {rng.random()}\n")
        b = rec.note("step B")
        at_b = digest(paths)
        results: dict[str, tuple[float, float, float]] = {}
        for watcher in (False, True):
            if watcher:
                subprocess.run([*TRAIL, "watch", "--daemon"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
            try:
                results["with the watcher" if watcher else "no watcher"] = rounds(
                    repo, paths, env, a.commit, b.commit, f"bench@{a.n}", at_b, work / "private-index", args.runs
                )
            finally:
                if watcher:
                    subprocess.run([*TRAIL, "watch", "--stop"], cwd=repo, env=env, stdout=subprocess.DEVNULL)
        print(f"{args.files:,} files, {args.changed} of them differ between the steps; medians of {args.runs} runs")
        for label, (rewind_ms, undo_ms, git_ms) in results.items():
            print(f"{label}:")
            print(f"  trail rewind                                  {rewind_ms:8.1f} ms")
            print(f"  trail rewind --undo                           {undo_ms:8.1f} ms")
            print(f"  git checkout A -- . (private index)           {git_ms:8.1f} ms")
            print(f"  trail rewind / git checkout = {rewind_ms / git_ms:.2f}x")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

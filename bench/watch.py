"""The watcher against the git CLI: what a step costs once the watcher knows what changed.

    python bench/watch.py                        # 1k, 10k and 100k files, 15 steps each
    python bench/watch.py --sizes 1000,10000 --steps 20

One file changes before every step. Measured, in one run, per repository size:
  (a) the step inside the watcher: a PostToolUse hook request as the watcher times it (snapshot, commit, ref)
      and, of that, the snapshot alone;
  (b) the whole `trail-hook claude` process with the watcher running;
  (c) the same process with no watcher (it snapshots in-process);
  (d) the git CLI: GIT_INDEX_FILE=... git add -A && git write-tree && git commit-tree && git update-ref.
(b) and (c) are each interleaved with (d), so that noise falls on both. Prints medians and p90s (ms) and the
ratios d/a, d/b, d/c (above 1: trail is faster) and a(largest)/a(smallest) (the cost of size).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from hook import fire  # noqa: E402
from snapshot import GitCliStep, change_one_file, generate_repo, git_env, p90, parse_sizes, timed, versions  # noqa: E402

from trail.capture.watch.daemon import watcher_status  # noqa: E402
from trail.repo import TrailRepo  # noqa: E402


@dataclass
class Row:
    files: int
    a_step: list[float] = field(default_factory=list)
    a_snapshot: list[float] = field(default_factory=list)
    b_hook_watched: list[float] = field(default_factory=list)
    c_hook_alone: list[float] = field(default_factory=list)
    d_git: list[float] = field(default_factory=list)


def trail_cli(repo: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "trail.cli", "-C", os.fspath(repo), *args],
        env=git_env(),
        check=True,
        capture_output=True,
    )


def post_tool_use(repo: Path, transcript: Path, i: int) -> None:
    fire(
        repo,
        transcript,
        "PostToolUse",
        tool_name="Edit",
        tool_input={"file_path": "x"},
        tool_response={"filePath": "x"},
        tool_use_id=f"toolu_{i}",
        duration_ms=3,
    )


def bench_size(workdir: Path, count: int, steps: int) -> Row:
    repo = workdir / f"repo-{count}"
    paths = generate_repo(repo, count)
    transcript = workdir / f"transcript-{count}.jsonl"
    transcript.write_text("")
    rng = random.Random(count)
    row = Row(count)
    git_step = GitCliStep(repo, workdir / f"git-index-{count}", "refs/bench/watch")
    git_step()  # git's first `add -A` hashes everything (not timed)
    trail_repo = TrailRepo.discover(repo)

    trail_cli(repo, "watch", "--daemon")
    try:
        fire(repo, transcript, "SessionStart", source="startup")  # not timed
        for i in range(steps):
            change_one_file(paths, rng, f"watched {i}")
            row.b_hook_watched.append(timed(lambda i=i: post_tool_use(repo, transcript, i)))
            status = watcher_status(trail_repo) or {}
            row.a_step.append(float(status["last_request_ms"]))
            row.a_snapshot.append(float(status["last_snapshot_ms"]))
            change_one_file(paths, rng, f"git {i}")
            row.d_git.append(timed(git_step))
    finally:
        trail_cli(repo, "watch", "--stop")
    post_tool_use(repo, transcript, -1)  # the private index catches up once (not timed)
    for i in range(steps):
        change_one_file(paths, rng, f"alone {i}")
        row.c_hook_alone.append(timed(lambda i=i: post_tool_use(repo, transcript, 1000 + i)))
        change_one_file(paths, rng, f"git again {i}")
        row.d_git.append(timed(git_step))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1_000, 10_000, 100_000])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trail-bench-watch-") as tmp:
        rows = []
        for count in args.sizes:
            rows.append(bench_size(Path(tmp), count, args.steps))
            print(f"{count} files done", file=sys.stderr)
    med = statistics.median
    print(f"one step with one changed file; medians (p90) of {args.steps} steps, in ms")
    print(versions())
    header = ("files", "(a) step", "(a) snap", "(b) hook+w", "(c) hook", "(d) git", "d/a", "d/b", "d/c")
    print("".join(f"{h:>14}" for h in header))
    for r in rows:
        cells = [f"{r.files}"]
        for values in (r.a_step, r.a_snapshot, r.b_hook_watched, r.c_hook_alone, r.d_git):
            cells.append(f"{med(values):.1f} ({p90(values):.0f})")
        d = med(r.d_git)
        cells += [f"{d / med(r.a_step):.1f}x", f"{d / med(r.b_hook_watched):.1f}x", f"{d / med(r.c_hook_alone):.2f}x"]
        print("".join(f"{c:>14}" for c in cells))
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(
            f"(a) at {large.files} files / (a) at {small.files}: step {med(large.a_step) / med(small.a_step):.2f}x, "
            f"snapshot {med(large.a_snapshot) / med(small.a_snapshot):.2f}x"
        )
    print(f"total {time.perf_counter() - started:.1f} s (setup included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

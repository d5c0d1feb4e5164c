"""Benchmark: `trail replay` of a long session to a pipe, against `git log -p` of the same ref, in one run.

    python bench/replay.py                 # a 5,000-step session, 9 interleaved runs
    python bench/replay.py --steps 2000 --runs 5 --keep

Builds a store with trail's bulk writer (bench/storegen.py: steps like a coding agent's, the code changing at one
tool call in three), then times whole processes reading their output through a pipe, as `| tail -1` does:
milliseconds to the first line and to the end, medians of interleaved runs, and the ratio against
`git log -p refs/trail/sessions/big` (which prints every step's message and code change: the same work, in C).
`git log -p --reverse` is shown too, since a replay is oldest first and git must then walk the whole history
before printing anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402
from read import ENV, TRAIL, interleaved, line  # noqa: E402  (the same timing rules as bench/read.py)


def piped(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Milliseconds to the first line and to the end of the output, read from a pipe; and the bytes read."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    first = None
    size = 0
    while True:
        data = proc.stdout.read1(1 << 16)
        if not data:
            break
        first = first or (time.perf_counter() - started) * 1000
        size += len(data)
    proc.wait()
    total = (time.perf_counter() - started) * 1000
    return first or total, total, size


def bench(work: Path, steps: int, runs: int) -> None:
    repo = storegen.init_repo(work / "store")
    started = time.perf_counter()
    storegen.write_sessions(repo, {"big": steps})
    print(f"store: one session of {steps:,} steps, written in {time.perf_counter() - started:.1f} s")
    commands = {
        "trail replay big": [*TRAIL, "replay", "big"],
        "git log -p refs/trail/sessions/big": ["git", "log", "-p", "refs/trail/sessions/big"],
        "git log -p --reverse refs/trail/sessions/big": ["git", "log", "-p", "--reverse", "refs/trail/sessions/big"],
    }
    sizes = {name: piped(cmd, repo)[2] for name, cmd in commands.items()}
    firsts: dict[str, list[float]] = {name: [] for name in commands}

    def timed(name: str) -> float:
        first, total, _ = piped(commands[name], repo)
        firsts[name].append(first)
        return total

    totals = interleaved(runs, {name: (lambda name=name: timed(name)) for name in commands})
    first = {name: statistics.median(values[-runs:]) for name, values in firsts.items()}  # not the warm-ups
    print(f"\n== to a pipe (| tail -1): medians of {runs} interleaved runs ==")
    for name in commands:
        line(f"{name}: first line", first[name])
        line(f"{name}: whole output", totals[name])
        line(f"{name}: output size", sizes[name] / 1e6, "MB")
    trail_total, git_total = totals["trail replay big"], totals["git log -p refs/trail/sessions/big"]
    reverse_total = totals["git log -p --reverse refs/trail/sessions/big"]
    trail_first = first["trail replay big"]
    print(f"  trail replay / git log -p, whole output = {trail_total / git_total:.2f}")
    print(f"  trail replay / git log -p --reverse, whole output = {trail_total / reverse_total:.2f}")
    print(f"  trail replay, first line / whole output = {trail_first / trail_total:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-replay-", dir=args.workdir))
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{git_version}, Python {sys.version.split()[0]}, {os.cpu_count()} cores; work in {work}\n")
    try:
        bench(work, args.steps, args.runs)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

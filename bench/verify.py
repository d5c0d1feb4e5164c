"""Benchmark: `trail verify` and `trail scrub --dry-run` on a long session, against `git fsck` in the same run.

    python bench/verify.py                  # one session of 5,000 steps
    python bench/verify.py --steps 20000 --runs 5 --keep

Builds the session with trail's bulk writer (bench/storegen.py: steps like a coding agent's, code changing every
few steps), then times whole processes, interleaved so that noise falls on both sides, and prints medians:

- `trail verify SID`: every header parsed, every commit and distinct tree hashed again, every distinct blob
  checked present;
- `git fsck --no-dangling`: git's own check of every object in the repository (it hashes blobs too, and does
  not parse trail's headers);
- `trail scrub SID --text … --dry-run`: the whole rewrite computed (a text in a third of the steps), nothing written.
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

ENV = {k: v for k, v in storegen.GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent
TRAIL = [os.fspath(BIN / "trail")] if (BIN / "trail").exists() else [sys.executable, "-m", "trail.cli"]


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace')}")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the generated repository and print where")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="trail-bench-verify-"))
    try:
        repo = storegen.init_repo(folder / "repo")
        started = time.perf_counter()
        storegen.write_sessions(repo, {"big": args.steps})
        print(f"wrote a session of {args.steps:,} steps in {time.perf_counter() - started:.1f} s")
        commands = {
            "trail verify": [*TRAIL, "verify", "big"],
            "git fsck": ["git", "fsck", "--no-dangling"],
            "trail scrub --dry-run": [*TRAIL, "scrub", "big", "--text", "invoice customer", "--dry-run"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, repo))
        fsck = statistics.median(times["git fsck"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:24} {median:8.0f} ms   {median / fsck:5.2f}x git fsck")
        if args.keep:
            print(f"kept: {repo}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

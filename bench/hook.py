"""Whole-process time of one Claude Code hook call (PostToolUse) against the git CLI snapshotting the same repo.

    python bench/hook.py                       # the 10k-file repository, 15 calls each
    python bench/hook.py --sizes 1000,10000 --steps 20

Before each call one file changes; trail's side is `trail-hook claude` as Claude Code runs it (a new process,
the payload on stdin), the git side is the four git processes of bench/snapshot.py's GitCliStep. Interleaved,
so noise falls on both. Prints medians and the ratio git/trail (above 1: trail is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from snapshot import GitCliStep, change_one_file, generate_repo, git_env, p90, parse_sizes, timed, versions  # noqa: E402

SESSION = "bench-hook-session"
# As on a user's machine, where Python caches compiled modules: a PYTHONDONTWRITEBYTECODE=1 in the environment
# (some sandboxes set it) would make every hook process compile trail's modules anew.
HOOK_ENV = {k: v for k, v in git_env().items() if k != "PYTHONDONTWRITEBYTECODE"}


def hook_command() -> list[str]:
    script = Path(sys.executable).parent / "trail-hook"
    return [os.fspath(script), "claude"] if script.exists() else [sys.executable, "-m", "trail.capture.hook", "claude"]


def fire(repo: Path, transcript: Path, event: str, **fields: object) -> None:
    payload = {
        "session_id": SESSION,
        "transcript_path": os.fspath(transcript),
        "cwd": os.fspath(repo),
        "permission_mode": "default",
        "hook_event_name": event,
        **fields,
    }
    done = subprocess.run(
        hook_command(), input=json.dumps(payload).encode(), env=HOOK_ENV, capture_output=True, check=False
    )
    if done.returncode != 0 or done.stdout:
        raise SystemExit(f"trail-hook misbehaved: rc={done.returncode} stdout={done.stdout!r} {done.stderr!r}")


def bench_size(workdir: Path, count: int, steps: int) -> tuple[list[float], list[float]]:
    repo = workdir / f"repo-{count}"
    paths = generate_repo(repo, count)
    transcript = workdir / f"transcript-{count}.jsonl"
    transcript.write_text("")
    rng = random.Random(count)
    fire(repo, transcript, "SessionStart", source="startup")  # seeds the private index (not timed)
    git_step = GitCliStep(repo, workdir / f"git-index-{count}", "refs/bench/hook")
    git_step()  # git's first `add -A` hashes everything (not timed)
    trail_ms, git_ms = [], []
    for i in range(steps):
        change_one_file(paths, rng, f"trail {i}")
        trail_ms.append(
            timed(
                lambda i=i: fire(
                    repo,
                    transcript,
                    "PostToolUse",
                    tool_name="Edit",
                    tool_input={"file_path": "x", "old_string": "a", "new_string": "b"},
                    tool_response={"filePath": "x"},
                    tool_use_id=f"toolu_{i}",
                    duration_ms=3,
                )
            )
        )
        change_one_file(paths, rng, f"git {i}")
        git_ms.append(timed(git_step))
    return trail_ms, git_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trail-bench-hook-") as tmp:
        rows = [(count, *bench_size(Path(tmp), count, args.steps)) for count in args.sizes]
    print(f"one PostToolUse hook call, whole process, one changed file; median and p90 of {args.steps}, in ms")
    print(versions())
    print(f"{'files':>8} {'hook med':>10} {'git med':>10} {'git/hook':>9} {'hook p90':>10} {'git p90':>10}")
    for count, hook_ms, git_ms in rows:
        h, g = statistics.median(hook_ms), statistics.median(git_ms)
        print(f"{count:>8} {h:>10.1f} {g:>10.1f} {g / h:>9.2f} {p90(hook_ms):>10.1f} {p90(git_ms):>10.1f}")
    print(f"total {time.perf_counter() - started:.1f} s (setup included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

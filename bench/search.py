"""Benchmark: `trail search` against `git log --all --grep` over the same store, in one run.

    python bench/search.py                 # 100 sessions x 1,000 steps
    python bench/search.py --sessions 20 --runs 5

Builds the store with trail's bulk writer (bench/storegen.py), packs it with `git gc` (the baseline's best case),
then times, interleaved, whole processes: `trail search WORD` (the index current) and `git log --all --grep=WORD
--format=%H` for a rare word and a common one; then `trail reindex` from scratch, and the index's size against
`.git`'s. Target: search at least 20x faster than git log --grep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402
from read import ENV, TRAIL, du, interleaved, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-search-"))
    try:
        repo = storegen.init_repo(work / "store")
        started = time.perf_counter()
        storegen.write_sessions(repo, {f"s{i:03d}": args.steps for i in range(args.sessions)})
        print(f"store: {args.sessions} x {args.steps} steps in {time.perf_counter() - started:.1f} s")
        storegen.git(repo, "gc", "-q")
        git_size = du(repo / ".git")
        started = time.perf_counter()
        done = subprocess.run([*TRAIL, "reindex"], cwd=repo, env=ENV, capture_output=True, text=True, check=True)
        build = time.perf_counter() - started
        index = repo / ".git" / "trail" / "index.sqlite"
        index_size = sum(Path(str(index) + s).stat().st_size for s in ("", "-wal") if Path(str(index) + s).exists())
        print(done.stdout.strip())
        print(
            f"index built from scratch in {build:.1f} s; {index_size / 1e6:.0f} MB against .git's "
            f"{(git_size - index_size) / 1e6:.0f} MB after git gc ({index_size / (git_size - index_size):.2f}x)"
        )
        for word in ("staging", "reminder"):
            found = subprocess.run(
                [*TRAIL, "search", word, "--json"], cwd=repo, env=ENV, capture_output=True, text=True
            ).stdout.count('"address"')
            grep = storegen.git(repo, "log", "--all", f"--grep={word}", "--format=%H").count("\n")
            result = interleaved(
                args.runs,
                {
                    "trail search": lambda w=word: run([*TRAIL, "search", w], repo),
                    "git log --all --grep": lambda w=word: run(
                        ["git", "log", "--all", f"--grep={w}", "--format=%H"], repo
                    ),
                },
            )
            ratio = result["git log --all --grep"] / result["trail search"]
            print(f"\n'{word}': git log finds {grep} commits; trail search shows the best {found}")
            for name, value in result.items():
                print(f"  {name:<24} {value:8.1f} ms")
            print(f"  git log / trail search = {ratio:.1f}x (target >= 20)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: `trail blame` of a 2,000-line file over a 1,000-step session, against `git blame` of the same file on
the session's ref, in one run.

    python bench/blame.py                   # 2,000 lines, 1,000 steps, medians of 15
    python bench/blame.py --lines 5000 --steps 3000 --runs 9 --keep

Builds a repository with bench/storegen.py (a small project, git's automatic gc off) plus a 2,000-line Python file,
then a 1,000-step session through trail's bulk writer: steps like a coding agent's (storegen's events), and every
tool call rewrites a few lines of the big file (now and then inserting or deleting some), so the file changes at
about half of the steps. The working tree is left as the session left it. Then it times whole processes,
interleaved so that noise falls on all of them, and prints medians and the ratios:

- `trail blame src/big.py` (every line: the step, its tool call, the prompt that led to it) against
  `git blame refs/trail/sessions/<id> -- src/big.py` (the same history, from git);
- the start-up floor, `python -c "import pygit2, click"`, which every trail command pays;
- `trail blame src/big.py --json`, and the engine alone, in process (no start-up).

Every object is packed (`git repack -ad`, as `git gc` leaves a repository); `--loose` leaves the steps' trees and
blobs loose, as they are while a session runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pygit2

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402
from read import interleaved, line  # noqa: E402

# As on a user's machine, where Python caches compiled modules (some sandboxes set PYTHONDONTWRITEBYTECODE=1).
ENV = {k: v for k, v in storegen.GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent
TRAIL = [os.fspath(BIN / "trail")] if (BIN / "trail").exists() else [sys.executable, "-m", "trail.cli"]
BIG = "src/big.py"
SESSION = "blame-bench"
FLOOR = "floor: python -c 'import pygit2, click'"


def run(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace')}")
    return took


def big_file(rng: random.Random, lines: int) -> list[str]:
    words = storegen.WORDS
    out = []
    while len(out) < lines:
        a, b, c = rng.choice(words), rng.choice(words), rng.choice(words)
        out += [f"def {a}_{b}_{len(out)}(value):", f"    return value  # {c}"]
    return out[:lines]


def build(work: Path, lines: int, steps: int, loose: bool) -> Path:
    """The repository, the session, and the working tree as the session left it; every object packed (as `git gc`
    leaves them) unless `loose` (the steps' trees and blobs loose, as while a session runs)."""
    from trail.capture.writer import StepWriter
    from trail.repo import TrailRepo

    repo_path = storegen.init_repo(work / "repo")
    rng = random.Random(11)
    text = big_file(rng, lines)
    (repo_path / BIG).write_text("\n".join(text) + "\n")
    storegen.git(repo_path, "add", BIG)
    storegen.git(repo_path, "commit", "-q", "-m", "the big file")
    repo = TrailRepo.discover(repo_path)
    git = repo.git
    root = git.head.peel(pygit2.Commit).tree
    events = storegen.session_events(SESSION, steps, 3, datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    writer = StepWriter(repo)
    changes = 0
    tree = str(root.id)
    with writer.bulk() as bulk:
        for event in events:
            if event.kind == "tool_call":
                text = _edit(rng, text)
                tree = _with_big(git, root, "\n".join(text) + "\n")
                changes += 1
            bulk.write(event, tree=tree)
    (repo_path / BIG).write_text("\n".join(text) + "\n")
    if not loose:
        storegen.git(repo_path, "repack", "-adq")
    print(f"session: {steps} steps, {BIG} ({lines} lines at first, {len(text)} at the end) changed at {changes} steps")
    return repo_path


def _edit(rng: random.Random, text: list[str]) -> list[str]:
    """A few lines rewritten; now and then some inserted or deleted."""
    text = list(text)
    for _ in range(rng.randint(1, 5)):
        at = rng.randrange(len(text))
        text[at] = f"    value = value + {rng.randrange(10**6)}  # {rng.choice(storegen.WORDS)}"
    roll = rng.random()
    if roll < 0.15:
        at = rng.randrange(len(text))
        text[at:at] = [f"    # note {rng.randrange(10**6)}" for _ in range(rng.randint(1, 4))]
    elif roll < 0.25 and len(text) > 100:
        at = rng.randrange(len(text) - 5)
        del text[at : at + rng.randint(1, 3)]
    return text


def _with_big(git: pygit2.Repository, root: pygit2.Tree, content: str) -> str:
    src = git.TreeBuilder(root["src"].peel(pygit2.Tree))
    src.insert("big.py", git.create_blob(content.encode()), pygit2.enums.FileMode.BLOB)
    top = git.TreeBuilder(root)
    top.insert("src", src.write(), pygit2.enums.FileMode.TREE)
    return str(top.write())


def in_process(repo_path: Path) -> float:
    from trail.repo import TrailRepo
    from trail.store.steps import Store
    from trail.timetravel.blame import Blamer

    started = time.perf_counter()
    Blamer(Store(TrailRepo.discover(repo_path))).worktree(BIG)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--loose", action="store_true", help="leave the session's objects loose (a live session)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-blame-", dir=args.workdir))
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{git_version}, Python {sys.version.split()[0]}, {os.cpu_count()} cores; work in {work}\n")
    try:
        repo = build(work, args.lines, args.steps, args.loose)
        ref = f"refs/trail/sessions/{SESSION}"
        floor = [sys.executable, "-c", "import pygit2, click"]
        print(f"\n== blame of {BIG} over the session (medians of {args.runs}) ==")
        result = interleaved(
            args.runs,
            {
                "trail blame": lambda: run([*TRAIL, "blame", BIG], repo),
                "trail blame --json": lambda: run([*TRAIL, "blame", BIG, "--json"], repo),
                "git blame <session ref>": lambda: run(["git", "blame", ref, "--", BIG], repo),
                FLOOR: lambda: run(floor, repo),
                "trail blame, in process (no start-up)": lambda: in_process(repo),
            },
        )
        for name, value in result.items():
            line(name, value)
        git_ms = result["git blame <session ref>"]
        print(f"  trail blame / git blame = {result['trail blame'] / git_ms:.2f} (target <= 1)")
        print(f"  trail blame - floor = {result['trail blame'] - result[FLOOR]:.1f} ms")
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

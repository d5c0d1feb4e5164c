"""Benchmark: `trail bisect` over a session's steps against `git bisect run` over the same commits with the same
command, in one run. (Not named bisect.py: a script's folder comes first on Python's path, and the standard
library's `bisect`, which `random` imports, would find it instead, breaking every benchmark in this folder.)

    python bench/bisect_run.py                 # a 1,000-step session, medians of 7
    python bench/bisect_run.py --steps 300 --runs 5 --cmd 'python3 -c "import sys; sys.exit(0)" && grep -q ok flag'

Builds a repository with bench/storegen.py (git's automatic gc off) and a session through trail's bulk writer:
steps like a coding agent's (storegen's events), the code changing at every tool call (about half the steps), and
the file `flag` saying `ok` until two thirds of the way, `bad` after. Both sides search the same commits, from the
session's first step (good) to its last (bad), with the same command (default `grep -q ok flag`):

- **trail**: `trail bisect SESSION --run CMD`, the whole process: it adds a temporary worktree, runs CMD at the
  first and the last step, bisects the steps that changed the code, prints the result and removes the worktree;
- **git**: in a linked worktree made beforehand (not timed), `git bisect start LAST FIRST`,
  `git bisect run sh -c CMD`, `git bisect reset`: git tests every commit of the range, a step that changed no
  code included.

Prints the medians of interleaved runs, their ratio, and how many times each ran the command (CMD appends a line
to a file per run).
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pygit2

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402

# As on a user's machine, where Python caches compiled modules (some sandboxes set PYTHONDONTWRITEBYTECODE=1).
ENV = {k: v for k, v in storegen.GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent
TRAIL = [os.fspath(BIN / "trail")] if (BIN / "trail").exists() else [sys.executable, "-m", "trail.cli"]
SESSION = "bisect-bench"


def interleaved(runs: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Medians of `runs` rounds; each round runs every contender once, in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm the page cache and Python's bytecode cache
        contenders[name]()
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in times.items()}


def build(work: Path, steps: int) -> tuple[Path, int, int]:
    """The repository and the session; the number of the first bad step and how many steps changed the code."""
    from trail.capture.writer import StepWriter
    from trail.repo import TrailRepo

    repo_path = storegen.init_repo(work / "repo")
    (repo_path / "flag").write_text("ok\n")
    storegen.git(repo_path, "add", "flag")
    storegen.git(repo_path, "commit", "-q", "-m", "flag")
    repo = TrailRepo.discover(repo_path)
    git = repo.git
    root = git.head.peel(pygit2.Commit).tree
    events = storegen.session_events(SESSION, steps, 5, datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    bad_from = steps * 2 // 3
    first_bad = None
    changes = 0
    tree = str(root.id)
    with StepWriter(repo).bulk() as bulk:
        for n, event in enumerate(events, 1):
            if event.kind == "tool_call":
                verdict = "bad" if n >= bad_from else "ok"
                if verdict == "bad" and first_bad is None:
                    first_bad = n
                builder = git.TreeBuilder(root)
                builder.insert("flag", git.create_blob(f"{verdict}\nstep {n}\n".encode()), pygit2.enums.FileMode.BLOB)
                tree = str(builder.write())
                changes += 1
            bulk.write(event, tree=tree)
    storegen.git(repo_path, "repack", "-adq")
    assert first_bad is not None
    return repo_path, first_bad, changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cmd", default="grep -q ok flag")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-bisect-", dir=args.workdir))
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{git_version}, Python {sys.version.split()[0]}, {os.cpu_count()} cores; work in {work}\n")
    try:
        repo, first_bad, changes = build(work, args.steps)
        print(f"session: {args.steps} steps, {changes} of them change the code; the first bad step is {first_bad}")
        ref = f"refs/trail/sessions/{SESSION}"
        commits = storegen.git(repo, "rev-list", "--first-parent", "--reverse", ref).split()[-args.steps :]
        first, last = commits[0], commits[-1]
        linked = work / "git-bisect-worktree"
        storegen.git(repo, "worktree", "add", "--detach", "-q", os.fspath(linked), last)
        counter = work / "runs"
        command = f'echo run >> "{counter}"; {args.cmd}'
        found: dict[str, list[str]] = {"trail": [], "git": []}
        runs: dict[str, list[int]] = {"trail": [], "git": []}

        def count() -> int:
            n = len(counter.read_text().splitlines()) if counter.exists() else 0
            counter.unlink(missing_ok=True)
            return n

        def trail() -> float:
            count()
            started = time.perf_counter()
            done = subprocess.run(
                [*TRAIL, "bisect", SESSION, "--run", command, "--json", "--no-pager"],
                cwd=repo,
                env=ENV,
                capture_output=True,
                text=True,
                check=False,
            )
            took = (time.perf_counter() - started) * 1000
            if done.returncode != 0:
                raise SystemExit(f"trail bisect failed: {done.stderr}")
            import json

            found["trail"].append(str(json.loads(done.stdout)["first_bad"]["n"]))
            runs["trail"].append(count())
            return took

        def git_bisect() -> float:
            count()
            started = time.perf_counter()
            storegen.git(linked, "bisect", "start", last, first)
            out = storegen.git(linked, "bisect", "run", "sh", "-c", command)
            storegen.git(linked, "bisect", "reset")
            took = (time.perf_counter() - started) * 1000
            bad = next(line.split()[0] for line in out.splitlines() if line.endswith("is the first bad commit"))
            found["git"].append(str(commits.index(bad) + 1))
            runs["git"].append(count())
            return took

        print(f"\n== bisect {args.steps} steps with {args.cmd!r} (medians of {args.runs}) ==")
        result = interleaved(args.runs, {"trail bisect": trail, "git bisect run": git_bisect})
        for name, value in result.items():
            print(f"  {name:<58} {value:10.1f} ms")
        print(
            f"  first bad step: trail {sorted(set(found['trail']))}, git {sorted(set(found['git']))} "
            f"(planted: {first_bad})"
        )
        print(
            f"  runs of the command: trail {statistics.median(runs['trail']):.0f}, "
            f"git {statistics.median(runs['git']):.0f}"
        )
        print(f"  trail bisect / git bisect run = {result['trail bisect'] / result['git bisect run']:.2f}")
        storegen.git(repo, "worktree", "remove", "--force", os.fspath(linked))
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: the cost of one trail step against the git CLI doing the same work, in the same run.

Generates repositories of 1k, 10k and 100k files, changes one file before every step, and times
`Recorder.note` (snapshot through the private index, one commit, one compare-and-swap of the session ref)
against `git add -A` / `write-tree` / `commit-tree` / `update-ref` with a private `GIT_INDEX_FILE`.

    python bench/snapshot.py [--sizes 1000,10000,100000] [--steps 15] [--keep] [--workdir DIR] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import keyword
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pygit2
from pygit2.enums import ConfigLevel

import trail

FILES_PER_DIR = 100
SEED = 20240601
ZERO_OID = "0" * 40
IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
WORDS = [*keyword.kwlist, "self", "value", "index", "tree", "commit", "path", "result", "print"]


@dataclass
class SizeResult:
    files: int
    trail_ms: list[float]
    git_ms: list[float]
    setup_s: float


# -- the generated repository ----------------------------------------------------------------------------------


def git_env(**extra: str) -> dict[str, str]:
    """os.environ without inherited GIT_* variables (they could point git at another repository), and with
    no system or global config, so the run does not depend on the machine's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env.update(extra)
    return env


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", os.fspath(repo), *args],
        env=env if env is not None else git_env(),
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return done.stdout.strip()


def text_pool(rng: random.Random) -> str:
    """Shared filler: each file takes a slice of it, which is much faster than drawing words per file."""
    words = rng.choices(WORDS, k=200_000)
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines)


def file_paths(root: Path, count: int) -> list[Path]:
    """`count` paths, FILES_PER_DIR to a directory, two directory levels (d00/e00/f0000.txt)."""
    dirs = -(-count // FILES_PER_DIR)
    fanout = max(1, int(dirs**0.5 + 0.999))
    paths = []
    for n in range(count):
        d = n // FILES_PER_DIR
        paths.append(root / f"d{d // fanout:02d}" / f"e{d % fanout:02d}" / f"f{n:06d}.txt")
    return paths


def generate_repo(root: Path, count: int) -> list[Path]:
    """A committed repository of `count` small text files plus some ignored ones; returns the tracked files."""
    rng = random.Random(SEED + count)
    pool = text_pool(rng)
    root.mkdir(parents=True)
    git(root, "init", "-q")
    # No automatic gc, ever: committing 100k loose objects would start one in the background, which would then
    # run during the timed steps (for 13 s at 100k files).
    git(root, "config", "gc.auto", "0")
    (root / ".gitignore").write_text("*.log\n/cache/\n")
    paths = file_paths(root, count)
    made: set[Path] = set()
    for n, path in enumerate(paths):
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
            # Ignored files beside tracked ones: the walk must see them and leave them out.
            (path.parent / "debug.log").write_text(f"ignored {n}\n" * 20)
        start = rng.randrange(len(pool) - 2000)
        path.write_text(f"# file {n}\n" + pool[start : start + rng.randint(200, 2000)] + "\n")
    (root / "cache").mkdir()
    for n in range(50):
        (root / "cache" / f"blob{n}.bin").write_bytes(rng.randbytes(4096))
    # Writing 100k loose objects is the slow part of the setup; skip the fsyncs, they prove nothing here.
    git(root, "-c", "core.fsync=none", "-c", "gc.auto=0", "add", "-A")
    git(root, "-c", "core.fsync=none", "-c", "gc.auto=0", "commit", "-q", "-m", "init")
    return paths


def change_one_file(paths: list[Path], rng: random.Random, step: str) -> None:
    path = paths[rng.randrange(len(paths))]
    with open(path, "a") as f:
        f.write(f"{step}\n")


# -- the two contenders ---------------------------------------------------------------------------------------


class GitCliStep:
    """The git CLI recording a step the way trail does: its own index, a commit on a private ref, and a
    compare-and-swap update of that ref. Four processes, no shell."""

    def __init__(self, repo: Path, index: Path, ref: str) -> None:
        self.repo = repo
        self.ref = ref
        self.env = git_env(GIT_INDEX_FILE=os.fspath(index))
        self.head = git(repo, "rev-parse", "HEAD")
        self.old = ZERO_OID
        self.n = 0

    def __call__(self) -> None:
        self.n += 1
        git(self.repo, "add", "-A", env=self.env)
        tree = git(self.repo, "write-tree", env=self.env)
        parent = self.head if self.old == ZERO_OID else self.old
        new = git(self.repo, "commit-tree", tree, "-p", parent, "-m", f"step {self.n}", env=self.env)
        git(self.repo, "update-ref", self.ref, new, self.old, env=self.env)
        self.old = new


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def bench_size(workdir: Path, count: int, steps: int, profile_steps: int) -> SizeResult:
    started = time.perf_counter()
    repo = workdir / f"repo-{count}"
    paths = generate_repo(repo, count)
    setup_s = time.perf_counter() - started

    rec = trail.Recorder(repo, agent="bench")
    git_step = GitCliStep(repo, workdir / f"bench-index-{count}", f"refs/bench/{count}")
    rng = random.Random(SEED)
    # First steps are not counted: trail seeds its private index from the user's, and the git CLI's
    # private index starts empty, so its first `add -A` hashes every file.
    change_one_file(paths, rng, "warm-up trail")
    rec.note("warm-up")
    change_one_file(paths, rng, "warm-up git")
    git_step()

    trail_ms: list[float] = []
    git_ms: list[float] = []
    for i in range(steps):
        # Interleaved, so that whatever else the machine does falls on both alike.
        change_one_file(paths, rng, f"trail {i}")
        trail_ms.append(timed(partial(rec.note, f"step {i}")))
        change_one_file(paths, rng, f"git {i}")
        git_ms.append(timed(git_step))
        print(
            f"  {count:>7} files  step {i + 1:>3}/{steps}  trail {trail_ms[-1]:8.1f} ms  git {git_ms[-1]:8.1f} ms",
            file=sys.stderr,
            end="\r",
        )
    print(file=sys.stderr)

    if profile_steps:
        profile_trail(rec, paths, rng, count, profile_steps)
    rec.end()
    return SizeResult(count, trail_ms, git_ms, setup_s)


def profile_trail(rec: trail.Recorder, paths: list[Path], rng: random.Random, count: int, steps: int) -> None:
    """Where a trail step spends its time (separate steps: the profiler's overhead would skew the timings)."""
    profiler = cProfile.Profile()
    for i in range(steps):
        change_one_file(paths, rng, f"profile {i}")
        profiler.enable()
        rec.note(f"profiled step {i}")
        profiler.disable()
    print(f"\ncProfile of {steps} trail steps, {count} files, by own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    print(f"cProfile of {steps} trail steps, {count} files, by cumulative time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


# -- report ---------------------------------------------------------------------------------------------------


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def versions() -> str:
    git_version = subprocess.run(["git", "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return (
        f"python {platform.python_version()}, pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION}), "
        f"{git_version.strip()}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def print_table(results: list[SizeResult], steps: int) -> None:
    print(f"\none step with one changed file; median and p90 of {steps} steps, in ms")
    print(versions())
    header = f"{'files':>8}  {'trail med':>10}  {'git med':>10}  {'git/trail':>9}  {'trail p90':>10}  {'git p90':>10}"
    print(header)
    print("-" * len(header))
    for r in results:
        t, g = statistics.median(r.trail_ms), statistics.median(r.git_ms)
        print(f"{r.files:>8}  {t:>10.1f}  {g:>10.1f}  {g / t:>9.2f}  {p90(r.trail_ms):>10.1f}  {p90(r.git_ms):>10.1f}")
    print("git/trail > 1 means trail's step is faster than the git CLI's.")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants numbers separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--sizes wants at least one size of 1 file or more")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=parse_sizes, default=[1000, 10_000, 100_000], help="file counts, e.g. 1000,10000"
    )
    parser.add_argument("--steps", type=int, default=15, help="measured steps per size (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the generated repositories")
    parser.add_argument("--workdir", type=Path, help="where to make the temporary folder (default: system temp)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after timing, profile N more trail steps per size and print the top entries",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    # A folder of our own even under --workdir, so that cleaning up never removes anything we did not make.
    workdir = Path(tempfile.mkdtemp(prefix="trail-bench-", dir=args.workdir))
    # libgit2 reads the same config files as git; point both at none so they do the same work everywhere.
    empty = workdir / "no-config"
    empty.mkdir()
    for level in (ConfigLevel.SYSTEM, ConfigLevel.XDG, ConfigLevel.GLOBAL):
        pygit2.settings.search_path[level] = os.fspath(empty)

    results = []
    started = time.perf_counter()
    try:
        for count in args.sizes:
            print(f"{count} files: generating...", file=sys.stderr)
            result = bench_size(workdir, count, args.steps, args.profile)
            print(f"{count} files: setup {result.setup_s:.1f} s", file=sys.stderr)
            results.append(result)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, args.steps)
    print(f"total {time.perf_counter() - started:.1f} s (setup included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

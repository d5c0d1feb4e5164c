"""Benchmark: reading sessions at any size, against git doing the same work and against json.loads, in one run.

    python bench/read.py                   # 100 sessions x 1,000 steps + a 5,000-step and a 10-step session
    python bench/read.py --sessions 20 --runs 9 --keep

Builds a store with trail's bulk writer (bench/storegen.py: steps like a coding agent's, code changing every few
steps), then times whole `trail` processes, interleaved so that noise falls on both sides, and prints medians and
the ratios the targets are stated in:

- `trail show SID@1`, `trail diff SID@1`, `trail log SID | head -20`: the 5,000-step session against the 10-step one;
- full `trail log SID` (5,000 steps) against `git log REF` plus the start-up floor (`python -c "import pygit2, click"`);
- `trail sessions` in an empty repository against that floor;
- `trail import claude`, in process, against `json.loads` of every line: the largest real transcript in
  ../shared/fixtures/real (when present) and a dense synthetic 5,000-step one;
- the size of `.git` right after `trail import claude` of 100 transcripts of 1,000 steps, against after `git gc`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402

# As on a user's machine, where Python caches compiled modules (some sandboxes set PYTHONDONTWRITEBYTECODE=1).
ENV = {k: v for k, v in storegen.GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent
TRAIL = [os.fspath(BIN / "trail")] if (BIN / "trail").exists() else [sys.executable, "-m", "trail.cli"]
REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"


def run(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) * 1000


def head(cmd: list[str], cwd: Path, lines: int = 20) -> tuple[float, float]:
    """Milliseconds to the first line and to the `lines`-th, reading a pipe as `| head` does."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    first = None
    for _ in range(lines):
        if not proc.stdout.readline():
            break
        first = first or (time.perf_counter() - started) * 1000
    last = (time.perf_counter() - started) * 1000
    proc.stdout.close()
    proc.wait()
    return first or last, last


def interleaved(runs: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Medians of `runs` rounds; each round runs every contender once, in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(2):  # warm the page cache and Python's bytecode cache
        for name in names:
            contenders[name]()
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in times.items()}


def line(label: str, value: float, unit: str = "ms") -> None:
    print(f"  {label:<58} {value:10.1f} {unit}")


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_reads(work: Path, sessions: int, steps: int, big: int, runs: int) -> None:
    repo = storegen.init_repo(work / "store")
    plan = {f"s{i:03d}": steps for i in range(sessions)}
    plan.update({"big": big, "small": 10})
    started = time.perf_counter()
    storegen.write_sessions(repo, plan)
    took = time.perf_counter() - started
    total = sum(plan.values())
    print(
        f"store: {len(plan)} sessions, {total:,} steps written in {took:.1f} s ({total / took:,.0f} steps/s), "
        f".git {du(repo / '.git') / 1e6:.0f} MB"
    )
    empty = work / "empty"
    empty.mkdir()
    storegen.git(empty, "init", "-q")

    floor = [sys.executable, "-c", "import pygit2, click"]
    print(f"\n== one step of a long session vs a short one (medians of {runs}) ==")
    result = interleaved(
        runs,
        {
            "show big@1": lambda: run([*TRAIL, "show", "big@1"], repo),
            "show small@1": lambda: run([*TRAIL, "show", "small@1"], repo),
            "diff big@1": lambda: run([*TRAIL, "diff", "big@1"], repo),
            "diff small@1": lambda: run([*TRAIL, "diff", "small@1"], repo),
            "log big | head -20": lambda: head([*TRAIL, "log", "big"], repo)[1],
            "log small | head -20": lambda: head([*TRAIL, "log", "small"], repo)[1],
            "log big --reverse | head -20": lambda: head([*TRAIL, "log", "big", "--reverse"], repo)[1],
            "first line of log big": lambda: head([*TRAIL, "log", "big"], repo)[0],
        },
    )
    for name, value in result.items():
        line(name, value)
    for what in ("show", "diff", "log"):
        suffix = "@1" if what != "log" else " | head -20"
        ratio = result[f"{what} big{suffix}"] / result[f"{what} small{suffix}"]
        print(f"  {what}: 5,000 steps / 10 steps = {ratio:.2f} (target <= 1.3)")

    print(f"\n== the whole log of 5,000 steps, and start-up (medians of {runs}) ==")
    result = interleaved(
        runs,
        {
            "trail log big": lambda: run([*TRAIL, "log", "big"], repo),
            "git log trail/sessions/big": lambda: run(["git", "log", "refs/trail/sessions/big"], repo),
            "floor: python -c 'import pygit2, click'": lambda: run(floor, repo),
            "trail sessions (empty repository)": lambda: run([*TRAIL, "sessions"], empty),
            f"trail sessions ({len(plan)} sessions)": lambda: run([*TRAIL, "sessions"], repo),
        },
    )
    for name, value in result.items():
        line(name, value)
    floor_ms = result["floor: python -c 'import pygit2, click'"]
    budget = 3 * result["git log trail/sessions/big"] + floor_ms
    print(f"  trail log / (3 x git log + floor) = {result['trail log big'] / budget:.2f} (target <= 1)")
    print(f"  trail sessions - floor = {result['trail sessions (empty repository)'] - floor_ms:.1f} ms (target <= 25)")


def bench_import(work: Path, runs: int, transcripts: int, steps: int) -> None:
    from trail.adapters.claude_import import import_claude
    from trail.repo import TrailRepo

    print(f"\n== import claude, in process, against json.loads of every line (medians of {runs}) ==")
    cases = []
    real = sorted(REAL.glob("claude-*.jsonl"), key=lambda p: p.stat().st_size) if REAL.is_dir() else []
    if real:
        cases.append(("largest real transcript: " + real[-1].name, real[-1]))
    dense = storegen.claude_transcript(work / "dense.jsonl", 5000, "dense-5000", "/nowhere")
    cases.append(("dense synthetic transcript, 5,000 lines", dense))
    for label, path in cases:
        lines = path.read_bytes().split(b"\n")

        def loads(lines: list[bytes] = lines) -> float:
            started = time.perf_counter()
            for raw in lines:
                if raw.strip():
                    json.loads(raw)
            return (time.perf_counter() - started) * 1000

        counter = iter(range(10**6))

        def imported(path: Path = path, counter: Iterator[int] = counter) -> float:
            target = storegen.init_repo(work / f"import-{path.stem}-{next(counter)}")
            repo = TrailRepo.discover(target)
            started = time.perf_counter()
            import_claude(repo, path)
            took = (time.perf_counter() - started) * 1000
            shutil.rmtree(target)
            return took

        result = interleaved(runs, {"json.loads": loads, "import": imported})
        print(f"  {label} ({path.stat().st_size / 1e6:.1f} MB)")
        line("json.loads of every line", result["json.loads"])
        line("trail import claude", result["import"])
        print(f"  ratio {result['import'] / result['json.loads']:.1f} (target <= {4 if 'real' in label else 15})")

    print(f"\n== .git size right after importing {transcripts} transcripts x {steps} steps ==")
    repo = storegen.init_repo(work / "imported")
    paths = [
        storegen.claude_transcript(work / f"t{i:03d}.jsonl", steps, f"t{i:03d}", os.fspath(repo), seed=i, dense=False)
        for i in range(transcripts)
    ]
    started = time.perf_counter()
    subprocess.run(
        [*TRAIL, "import", "claude", *map(os.fspath, paths)], cwd=repo, env=ENV, check=True, stdout=subprocess.DEVNULL
    )
    took = time.perf_counter() - started
    right_after = du(repo / ".git")
    loose = storegen.git(repo, "count-objects", "-v")
    deadline = time.monotonic() + 300
    while len(list((repo / ".git" / "objects" / "pack").glob("*.pack"))) > 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the background merge of the import's packs
    merged = du(repo / ".git")
    storegen.git(repo, "gc", "-q")
    after_gc = du(repo / ".git")
    print(
        f"  trail import claude of {transcripts * steps:,} steps: {took:.1f} s "
        f"({transcripts * steps / took:,.0f} steps/s)"
    )
    print(f"  loose objects after the import: {loose.split('count: ')[1].split()[0]}")
    line(".git right after the import", right_after / 1e6, "MB")
    line(".git once the background merge of packs is done", merged / 1e6, "MB")
    line(".git after git gc", after_gc / 1e6, "MB")
    print(f"  ratio {right_after / after_gc:.2f} (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--big", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trail-bench-read-", dir=args.workdir))
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{git_version}, Python {sys.version.split()[0]}, {os.cpu_count()} cores; work in {work}\n")
    try:
        bench_reads(work, args.sessions, args.steps, args.big, args.runs)
        if not args.skip_import:
            bench_import(work, max(3, args.runs // 3), args.sessions, args.steps)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: `trail import codex` and `trail import aider` throughput (MB/s), against the natural baseline, in one run.

    python bench/import_codex_aider.py               # the real files of ../shared/fixtures/real, and larger ones
    python bench/import_codex_aider.py --runs 9 --scale 40

bench/import_formats.py times every format's import of the real files against json.loads (codex included); this
one adds what it cannot: aider, whose Markdown has no JSON to load (its baseline is reading the file and splitting
its lines), the conversion alone beside the whole import, and inputs of a few MB. Each case times, interleaved so
that noise falls on every side, in process:

- Codex: `import_codex` of a rollout into a fresh repository, against `json.loads` of every line of it (what any
  reader of a rollout does at least), and the conversion alone (codex_rollout, nothing written);
- aider: `import_aider` of a chat history, against reading the file and splitting its lines, and the parse alone.

Inputs: the real rollouts (Codex 0.66, 0.117) and aider history of ../shared/fixtures/real when present, and the
0.117 rollout's turns repeated `--scale` times (call ids renamed, so each call is new) for a rollout of a few MB.
Medians of `--runs` rounds, MB/s of the input file and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402
from read import REAL, interleaved  # noqa: E402


def scaled_rollout(source: Path, target: Path, times: int) -> Path:
    """`source`'s turns `times` over: its first line once, then every other line again with new call ids and a
    running token count that keeps growing (as one long session's would)."""
    lines = source.read_bytes().splitlines()
    first, rest = lines[0], lines[1:]
    totals: dict[str, int] = {}
    out = [first]
    for k in range(times):
        last: dict[str, int] = {}
        for raw in rest:
            data = json.loads(raw.replace(b'"call_', b'"call_%d_' % k))
            info = data["payload"].get("info") if data["type"] == "event_msg" else None
            if isinstance(info, dict) and info.get("total_token_usage"):
                usage = info["total_token_usage"]
                last = dict(usage)
                info["total_token_usage"] = {key: v + totals.get(key, 0) for key, v in usage.items()}
            out.append(json.dumps(data, separators=(",", ":")).encode())
        totals = {key: v + totals.get(key, 0) for key, v in last.items()}
    target.write_bytes(b"\n".join(out) + b"\n")
    return target


def scaled_history(source: Path, target: Path, times: int) -> Path:
    """The aider history's runs `times` over, each under a header a second later."""
    text = source.read_text()
    parts = []
    for k in range(times):
        parts.append(
            text.replace("# aider chat started at 2025-09-22 1", f"# aider chat started at 2025-09-{k % 28 + 1:02d} 1")
        )
    target.write_text("".join(parts))
    return target


def timed(work: Path, fn: Callable[[Path], object], counter: Iterator[int]) -> Callable[[], float]:
    def run() -> float:
        target = storegen.init_repo(work / f"repo-{next(counter)}", files=4)
        started = time.perf_counter()
        fn(target)
        took = (time.perf_counter() - started) * 1000
        shutil.rmtree(target)
        return took

    return run


def bench_codex(work: Path, path: Path, runs: int) -> None:
    from trail.adapters.codex_import import import_codex
    from trail.adapters.codex_rollout import RolloutConverter, iter_chunks
    from trail.repo import TrailRepo

    lines = path.read_bytes().split(b"\n")

    def loads() -> float:
        started = time.perf_counter()
        for raw in lines:
            if raw.strip():
                json.loads(raw)
        return (time.perf_counter() - started) * 1000

    def convert() -> float:
        started = time.perf_counter()
        converter = RolloutConverter("bench")
        for chunk in iter_chunks(path):
            converter.feed(chunk)
        converter.finish(over=True)
        return (time.perf_counter() - started) * 1000

    imported = timed(work, lambda repo: import_codex(TrailRepo.discover(repo), path), iter(range(10**6)))
    report(path, interleaved(runs, {"json.loads": loads, "convert": convert, "import": imported}), "json.loads")


def bench_aider(work: Path, path: Path, runs: int) -> None:
    from trail.adapters.aider_history import parse
    from trail.adapters.aider_import import import_aider
    from trail.repo import TrailRepo

    def read() -> float:
        started = time.perf_counter()
        path.read_bytes().split(b"\n")
        return (time.perf_counter() - started) * 1000

    def parsed() -> float:
        started = time.perf_counter()
        parse(path.read_bytes())
        return (time.perf_counter() - started) * 1000

    imported = timed(work, lambda repo: import_aider(TrailRepo.discover(repo), path), iter(range(10**6)))
    report(path, interleaved(runs, {"read+split": read, "parse": parsed, "import": imported}), "read+split")


def report(path: Path, result: dict[str, float], baseline: str) -> None:
    size = path.stat().st_size / 1e6
    print(f"  {path.name} ({size:.2f} MB)")
    for name, ms in result.items():
        ratio = f"  x{ms / result[baseline]:.1f}" if name != baseline else ""
        print(f"    {name:<12} {ms:9.1f} ms  {size / (ms / 1000):8.1f} MB/s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scale", type=int, default=20, help="repeat the 0.117 rollout's turns this many times")
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"{REAL} is not here: the real rollouts and aider history are the inputs")
    work = Path(tempfile.mkdtemp(prefix="trail-bench-import-"))
    try:
        print(f"== trail import codex, against json.loads of every line (medians of {args.runs}) ==")
        for path in sorted(REAL.glob("codex-*.jsonl")):
            bench_codex(work, path, args.runs)
        bench_codex(
            work, scaled_rollout(REAL / "codex-idaho-mar29.jsonl", work / "scaled.jsonl", args.scale), args.runs
        )
        print(f"\n== trail import aider, against reading and splitting the file (medians of {args.runs}) ==")
        for path in sorted(REAL.glob("aider-*.chat.history.md")):
            bench_aider(work, path, args.runs)
            bench_aider(work, scaled_history(path, work / ".aider.chat.history.md", args.scale), args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

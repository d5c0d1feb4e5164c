"""Benchmark: `trail import` throughput (MB/s) for each agent's session files, against json.loads of the same lines.

    python bench/import_formats.py                 # every format in FORMATS, every real file of it, 7 runs
    python bench/import_formats.py --runs 15 --formats claude

For each file, in one run and interleaved (bench/read.py's `interleaved`: every contender once per round, in a
rotating order, medians), it times:

- `json.loads` of every line of the file, read from disk each time: the floor of any JSON-lines reader;
- the format's import into a fresh repository (made before the clock starts, removed after it stops), in process:
  reading, converting, redacting, writing the pack and moving the session ref;

and prints both as MB/s with their ratio. The files are the real ones in ../shared/fixtures/real (read there,
never copied). FORMATS maps a format's name to (its files, its import function): another agent's importer joins
with one entry, e.g. `"codex": (lambda: sorted(REAL.glob("codex-*.jsonl")), import_codex)`. A subagent's
transcript is imported after its parent (as `trail import --all` does), with the parent's import untimed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402
from read import REAL, interleaved  # noqa: E402

from trail.repo import TrailRepo  # noqa: E402

Importer = Callable[[TrailRepo, Path], Any]


def claude_files() -> list[Path]:
    """The real Claude Code transcripts, and the real subagents beside them (not Claude Code's copies)."""
    from trail.adapters.claude_import import copy_kind

    mains = sorted(REAL.glob("claude-*.jsonl"))
    subagents = [
        p for p in sorted(REAL.glob("claude-*/subagents/agent-*.jsonl")) if not copy_kind(p.stem.removeprefix("agent-"))
    ]
    return mains + subagents


def claude_import(repo: TrailRepo, path: Path) -> Any:
    from trail.adapters.claude_import import import_claude

    return import_claude(repo, path)


def claude_parent(path: Path) -> Path | None:
    if ".subagent-" in path.name:
        return path.with_name(path.name.split(".subagent-")[0] + ".jsonl")
    if path.parent.name == "subagents":
        return path.parent.parent.parent / f"{path.parent.parent.name}.jsonl"
    return None


def gemini_files() -> list[Path]:
    """No real Gemini CLI chat is at hand: the fixture chat (tests/fixtures/gemini/session.jsonl, built from Gemini
    CLI's chatRecordingService.ts) with its turns repeated 400 times, new ids each time (about 2.7 MB), written once
    under the temporary folder."""
    import re

    source = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gemini" / "session.jsonl"
    target = Path(tempfile.gettempdir()) / "trail-bench-gemini" / "session-2026-04-02T09-14-5f0c2a7e.jsonl"
    values = {
        "{session_id}": "5f0c2a7e-91d3-4b8e-a6c4-2f1e0d9c8b7a",
        "{cwd}": "/home/user/proj",
        "{project_hash}": "0" * 64,
    }
    text = source.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    first, *rest = text.splitlines()
    ids = sorted(set(re.findall(r'"(?:id|\$rewindTo)":"([^"]+)"', "\n".join(rest))), key=len, reverse=True)
    out = [first]
    for n in range(400):
        for line in rest:
            for old in ids:
                line = line.replace(f'"{old}"', f'"{old}-{n}"')
            out.append(line)
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(out) + "\n")
    return [target]


def gemini_import(repo: TrailRepo, path: Path) -> Any:
    from trail.adapters.gemini_import import import_path

    return import_path(repo, path)


def codex_import(repo: TrailRepo, path: Path) -> Any:
    from trail.adapters.codex_import import import_codex

    return import_codex(repo, path)


# format name -> (its files, its import function, the file to import first, untimed: a subagent's parent)
FORMATS: dict[str, tuple[Callable[[], list[Path]], Importer, Callable[[Path], Path | None]]] = {
    "claude": (claude_files, claude_import, claude_parent),
    "gemini": (gemini_files, gemini_import, lambda path: None),
    "codex": (lambda: sorted(REAL.glob("codex-*.jsonl")), codex_import, lambda path: None),
}


def loads_every_line(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                json.loads(raw)
    return (time.perf_counter() - started) * 1000


def bench_file(work: Path, runs: int, path: Path, importer: Importer, parent: Path | None) -> dict[str, float]:
    counter = iter(range(10**6))

    def imported() -> float:
        target = storegen.init_repo(work / f"{path.stem}-{next(counter)}")
        repo = TrailRepo.discover(target)
        if parent is not None:
            importer(repo, parent)
        started = time.perf_counter()
        importer(repo, path)
        took = (time.perf_counter() - started) * 1000
        shutil.rmtree(target)
        return took

    return interleaved(runs, {"json.loads": lambda: loads_every_line(path), "import": imported})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated names of FORMATS")
    args = parser.parse_args()
    if not REAL.is_dir():
        raise SystemExit(f"{REAL} is not here: nothing to measure")
    with tempfile.TemporaryDirectory(prefix="trail-bench-import-") as tmp:
        work = Path(tmp)
        print(f"== trail import, in process, against json.loads of every line (medians of {args.runs}) ==")
        print(f"  {'file':<52} {'MB':>6} {'json MB/s':>10} {'import MB/s':>12} {'ratio':>6}")
        for name in args.formats.split(","):
            files, importer, parent_of = FORMATS[name]
            total_mb = total_import = total_loads = 0.0
            for path in files():
                result = bench_file(work, args.runs, path, importer, parent_of(path))
                mb = path.stat().st_size / 1e6
                total_mb += mb
                total_import += result["import"]
                total_loads += result["json.loads"]
                loads_rate = mb / (result["json.loads"] / 1000)
                import_rate = mb / (result["import"] / 1000)
                ratio = result["import"] / result["json.loads"]
                label = f"{name}: {path.relative_to(REAL) if path.is_relative_to(REAL) else path.name}"[:52]
                print(f"  {label:<52} {mb:6.2f} {loads_rate:10.1f} {import_rate:12.1f} {ratio:6.1f}")
            if total_mb:
                ratio = total_import / total_loads
                rates = f"{total_mb / (total_loads / 1000):10.1f} {total_mb / (total_import / 1000):12.1f}"
                print(f"  {name + ': all files':<52} {total_mb:6.2f} {rates} {ratio:6.1f}")


if __name__ == "__main__":
    main()

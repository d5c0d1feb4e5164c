"""Benchmark: secret redaction's throughput against json.loads of the same lines, its start-up cost, and its accuracy.

    python bench/redact.py                  # every real transcript in ../shared/fixtures/real, 15 runs each
    python bench/redact.py --runs 31 --imports 21

For each transcript: `Redactor().redact_value` of every parsed line (what trail does to each event) against
`json.loads` of the same lines, interleaved so that noise falls on both, as medians and MB/s of the lines' text; then
`redact_text` of the raw lines, which puts every string through the unescaped view as well. Then the cost a hook
process pays: `python -X importtime -c "import trail.capture.redact"` in fresh processes (bytecode cached, as on a
user's machine), and the first use (building the keyword automaton, compiling every rule). Last, recall and precision
on the corpus of tests/capture/secrets_corpus.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "fixtures" / "real"
sys.path.insert(0, os.fspath(ROOT / "tests" / "capture"))

from secrets_corpus import LOOK_ALIKES, SECRETS, score  # noqa: E402

from trail.capture.redact import Redactor  # noqa: E402

# As on a user's machine, where Python caches compiled modules (some sandboxes set PYTHONDONTWRITEBYTECODE=1).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MODULES = ("trail.capture.redact", "trail.capture.secrets", "trail.capture.placeholders", "trail.capture.escapes")


def interleaved(runs: int, contenders: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median seconds of each contender, run in turn so that noise falls on all."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, work in contenders.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def throughput(paths: list[Path], runs: int) -> None:
    redactor = Redactor()
    print(f"{'transcript':44} {'MB':>6} {'json.loads':>11} {'redact':>9} {'ratio':>6} {'json MB/s':>10} {'MB/s':>7}")
    total = {"bytes": 0, "json": 0.0, "redact": 0.0, "text": 0.0}
    for path in paths:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        events = [json.loads(line) for line in lines]
        size = sum(len(line.encode()) for line in lines)
        redactor.redact_value(events[0])  # the keyword automaton is built on first use
        result = interleaved(
            runs,
            {
                "json": lambda lines=lines: [json.loads(line) for line in lines],
                "redact": lambda events=events: [redactor.redact_value(event) for event in events],
                "text": lambda lines=lines: [redactor.redact_text(line) for line in lines],
            },
        )
        total["bytes"] += size
        for key in ("json", "redact", "text"):
            total[key] += result[key]
        row(path.name, size, result["json"], result["redact"])
    row("all (redact_value of parsed lines)", total["bytes"], total["json"], total["redact"])
    row("all (redact_text of raw lines)", total["bytes"], total["json"], total["text"])


def row(name: str, size: int, loads: float, redact: float) -> None:
    mb = size / 1e6
    print(
        f"{name[:44]:44} {mb:6.2f} {loads * 1000:9.1f}ms {redact * 1000:7.1f}ms {redact / loads:6.2f} "
        f"{mb / loads:10.0f} {mb / redact:7.0f}"
    )


def import_cost(runs: int) -> None:
    command = [sys.executable, "-X", "importtime", "-c", "import trail.capture.redact"]
    subprocess.run(command, env=ENV, capture_output=True, check=True)  # writes the bytecode caches
    own: list[float] = []
    whole: list[float] = []
    for _ in range(runs):
        err = subprocess.run(command, env=ENV, capture_output=True, text=True, check=True).stderr
        rows = {m[3]: (int(m[1]), int(m[2])) for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|\s+(\S+)", err)}
        own.append(sum(rows[name][0] for name in MODULES) / 1000)
        whole.append(rows["trail.capture.redact"][1] / 1000)
    print(
        f"import trail.capture.redact: {statistics.median(own):.2f} ms in its own four modules, "
        f"{statistics.median(whole):.2f} ms with what they import (json, typing, ahocorasick_rs), medians of {runs}"
    )
    first_use = (
        "import time, trail.capture.redact as r\n"
        "t = time.perf_counter(); x = r.Redactor(); x._keyword_hits('warm up')\n"
        "a = time.perf_counter(); [rule.pattern for rule in r.DEFAULT_RULES]; b = time.perf_counter()\n"
        "print((a - t) * 1000, (b - a) * 1000)"
    )
    out = [
        subprocess.run([sys.executable, "-c", first_use], env=ENV, capture_output=True, text=True, check=True).stdout
        for _ in range(runs)
    ]
    automaton = statistics.median(float(line.split()[0]) for line in out)
    compile_all = statistics.median(float(line.split()[1]) for line in out)
    print(
        f"first use: keyword automaton {automaton:.2f} ms; compiling all {len(Redactor()._rules)} rules "
        f"{compile_all:.2f} ms (a process compiles only the rules its text calls for)"
    )


def accuracy() -> None:
    result = score(Redactor())
    print(
        f"corpus: {len(SECRETS)} secrets, {len(LOOK_ALIKES)} look-alikes: recall {result.recall:.1%} "
        f"({result.caught}/{result.secrets}), precision {result.precision:.1%} ({result.right}/{result.redacted})"
    )
    for miss in result.misses:
        print(f"  missed: {miss}")
    for alarm in result.false_alarms:
        print(f"  false alarm: {alarm}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per transcript (default 15)")
    parser.add_argument("--imports", type=int, default=15, help="fresh processes for the import time (default 15)")
    parser.add_argument("--fixtures", type=Path, default=REAL, help="folder of *.jsonl transcripts")
    args = parser.parse_args()
    paths = sorted(args.fixtures.glob("*.jsonl"))
    if not paths:
        sys.exit(f"no transcripts in {args.fixtures}")
    throughput(paths, args.runs)
    print()
    import_cost(args.imports)
    accuracy()


if __name__ == "__main__":
    main()

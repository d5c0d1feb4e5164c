"""Benchmark: recording and reading back one event with a huge tool output, against `git hash-object -w` of it.

    python bench/bigevent.py                 # 120 MB of base64 of random bytes, 3 runs
    python bench/bigevent.py --mb 40 --runs 5

Each run records a fresh session in a fresh repository (`StepWriter.write`: redaction of the whole event, the
value cut into blobs of at most store.maxObjectSize, the chain of body commits, the step; loose objects, as a live
step writes them), reads it back through the API (`trail.open(...).step(...).event`, in a new History), and writes
the same bytes with `git hash-object -w --stdin` (one loose blob: the least git itself does to store them). Also
shown: redaction alone on the event, the part of recording that is not storage. Medians.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
ENV.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import trail
    from trail.capture.redact import Redactor
    from trail.capture.writer import StepWriter
    from trail.events import Event
    from trail.repo import TrailRepo

    size = args.mb * 1000 * 1000
    text = base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode("ascii")[:size]
    data = text.encode("ascii")
    times: dict[str, list[float]] = {"record": [], "read": [], "redact": [], "git hash-object -w": []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="trail-bigevent-") as tmp:
            repo = Path(tmp) / "repo"
            repo.mkdir()
            for cmd in (
                ["init", "-q"],
                ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "x"],
            ):
                subprocess.run(["git", *cmd], cwd=repo, env=ENV, check=True)
            writer = StepWriter(TrailRepo.discover(repo))
            sid = f"big{run}"
            event = Event("tool_call", {"name": "Bash", "input": {"command": "cat"}, "output": text}, sid, agent="b")
            start = time.perf_counter()
            with writer.session_lock(sid):
                writer.write(event, None)
            times["record"].append(time.perf_counter() - start)
            start = time.perf_counter()
            back = trail.open(repo).step(f"{sid}@1").event.payload["output"]
            times["read"].append(time.perf_counter() - start)
            assert back == text
            del back
            start = time.perf_counter()
            Redactor().redact_value(event.payload)
            times["redact"].append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=repo, env=ENV, input=data, check=True, capture_output=True
            )
            times["git hash-object -w"].append(time.perf_counter() - start)
    base = statistics.median(times["git hash-object -w"])
    print(f"{args.mb} MB of base64 tool output, median of {args.runs} runs ({sys.version.split()[0]})")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:20} {median:7.2f} s   {median / base:5.2f}x git hash-object -w")


if __name__ == "__main__":
    main()

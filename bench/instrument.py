"""Benchmark: what `trail.instrument()` adds to an LLM call, against the same call uninstrumented, in one run.

    env -u PYTHONDONTWRITEBYTECODE python bench/instrument.py                # 51 rounds, a 200-file repository
    env -u PYTHONDONTWRITEBYTECODE python bench/instrument.py --runs 101 --files 2000

The real `openai` and `anthropic` clients call the local stand-in of tests/llm_stub.py over HTTP (keep-alive, as
against the real APIs), so the call itself costs about a millisecond and trail's share shows plainly; against a
real API, which answers in hundreds of milliseconds to seconds, the same absolute cost is what to compare. For each
of OpenAI chat (whole and streamed, every chunk read) and Anthropic messages, three contenders run in turn, in a
rotating order, and the medians are printed:

- **bare**: the SDK's own method, the one `instrument()` replaced (held before patching), on the same client;
- **no recorder**: instrumented, with no recorder to record into (the wrapper's pass-through cost);
- **recording**: instrumented, recording into a `trail.Recorder`: a prompt step and a response step, each a commit
  with a snapshot of the working tree.

One `Recorder.note()` step in the same repository is timed too, as the unit the recording cost is made of.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.fspath(ROOT / "bench"))
sys.path.insert(0, os.fspath(ROOT / "tests"))

import anthropic  # noqa: E402
import openai  # noqa: E402
import storegen  # noqa: E402
from anthropic.resources.messages.messages import Messages  # noqa: E402
from llm_stub import StubLLM  # noqa: E402
from openai.resources.chat.completions.completions import Completions  # noqa: E402

import trail  # noqa: E402

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise the failing test."}]


def interleaved(runs: int, contenders: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median milliseconds of `runs` rounds; each round runs every contender once, in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(3):  # warm connections, caches and the session's first step
        for name in names:
            contenders[name]()
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            contenders[name]()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=51, help="measured rounds (default 51)")
    parser.add_argument("--files", type=int, default=200, help="files in the repository recorded into")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trail-bench-instrument-"))
    try:
        repo = storegen.init_repo(work / "repo", files=args.files)
        with StubLLM() as stub:
            run(stub, repo, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(stub: StubLLM, repo: Path, runs: int) -> None:
    oai = openai.OpenAI(base_url=stub.url + "/v1", api_key="sk-bench", max_retries=0)
    ant = anthropic.Anthropic(base_url=stub.url, api_key="sk-ant-bench", max_retries=0)
    bare_chat, bare_messages = Completions.create, Messages.create  # before instrument() replaces them
    recorder = trail.Recorder(repo, agent="bench")  # never entered: current() stays None unless pinned

    def chat(create: Callable[..., Any], stream: bool) -> Callable[[], object]:
        if stream:
            return lambda: sum(1 for _ in create(model="gpt-bench", messages=MESSAGES, stream=True))
        return lambda: create(model="gpt-bench", messages=MESSAGES)

    def messages(create: Callable[..., Any]) -> Callable[[], object]:
        return lambda: create(model="claude-bench", max_tokens=100, messages=MESSAGES[1:], system="Be brief.")

    def pinned(call: Callable[[], object], into: trail.Recorder | None) -> Callable[[], object]:
        def timed() -> object:
            trail.instrument(recorder=into)  # only sets the recorder: the methods are patched once
            return call()

        return timed

    trail.instrument()
    print(f"repository: {storegen.git(repo, 'ls-files').count(chr(10))} files; medians of {runs} rounds, ms per call")
    print(f"{'':28} {'bare':>8} {'no recorder':>12} {'recording':>10} {'added':>8} {'ratio':>6}")
    cases = {
        "openai chat": (
            chat(lambda **kw: bare_chat(oai.chat.completions, **kw), False),
            chat(oai.chat.completions.create, False),
        ),
        "openai chat, streamed": (
            chat(lambda **kw: bare_chat(oai.chat.completions, **kw), True),
            chat(oai.chat.completions.create, True),
        ),
        "anthropic messages": (messages(lambda **kw: bare_messages(ant.messages, **kw)), messages(ant.messages.create)),
    }
    for label, (bare, instrumented) in cases.items():
        result = interleaved(
            runs,
            {
                "bare": bare,
                "no recorder": pinned(instrumented, None),
                "recording": pinned(instrumented, recorder),
            },
        )
        added = result["recording"] - result["bare"]
        print(
            f"{label:28} {result['bare']:8.2f} {result['no recorder']:12.2f} {result['recording']:10.2f} "
            f"{added:8.2f} {result['recording'] / result['bare']:5.1f}x"
        )
    trail.uninstrument()
    step = interleaved(runs, {"note": lambda: recorder.note("one step")})["note"]
    print(f"{'one Recorder.note() step':28} {step:8.2f}   (a recorded call writes two steps)")
    recorder.end()


if __name__ == "__main__":
    main()

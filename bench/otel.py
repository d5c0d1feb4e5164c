"""Benchmark: GenAI spans per second that a running `trail otel serve` records, against parsing the same bodies.

    python bench/otel.py                       # batches of 256 spans, 8 batches a run, 7 runs
    python bench/otel.py --batch 512 --batches 4 --runs 9

It starts `trail otel serve --port 0 -q` in a fresh repository (one commit) and, in each run, makes new OTLP
protobuf bodies (so nothing is a duplicate): each batch is whole agent turns, an `invoke_agent` span holding `chat`
spans (with input and output messages and token counts) and `execute_tool` spans (with arguments and results),
several conversations per batch. Then it times, in the same run:

- the natural baseline: `ExportTraceServiceRequest.FromString` of every body (what any OTLP receiver does first);
- the receiver: every body POSTed over one keep-alive connection, each answered 200 once its spans are recorded
  (decoded, placed in sessions, redacted, written as commits and the sessions' refs moved).

and prints the medians as spans/s with their ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _kv(out: Any, key: str, value: Any) -> None:
    kv = out.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def make_body(run: int, batch: int, size: int, turn_spans: int = 16) -> bytes:
    """One OTLP request of `size` spans: turns of one invoke_agent and (turn_spans - 1) chat and tool spans."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    _kv(rs.resource.attributes, "service.name", "bench-agent")
    spans = rs.scope_spans.add().spans
    t0 = 1_767_225_600_000_000_000 + (run * 1000 + batch) * 10**12
    made = 0
    turn = 0
    while made < size:
        trace = (run << 80 | batch << 40 | turn | 1 << 120).to_bytes(16, "big")
        root = (run << 48 | batch << 32 | turn << 16 | 1).to_bytes(8, "big")
        conversation = f"bench-{run}-{batch}-{turn % 4}"
        start = t0 + turn * 10**10
        span = spans.add()
        span.trace_id, span.span_id, span.name = trace, root, "invoke_agent Coder"
        span.start_time_unix_nano, span.end_time_unix_nano = start, start + 10**9
        _kv(span.attributes, "gen_ai.operation.name", "invoke_agent")
        _kv(span.attributes, "gen_ai.agent.name", "Coder")
        _kv(span.attributes, "gen_ai.conversation.id", conversation)
        made += 1
        for i in range(1, min(turn_spans, size - made + 1)):
            span = spans.add()
            span.trace_id, span.parent_span_id = trace, root
            span.span_id = (run << 48 | batch << 32 | turn << 16 | (i + 1)).to_bytes(8, "big")
            span.start_time_unix_nano = start + i * 10**6
            span.end_time_unix_nano = start + i * 10**6 + 5 * 10**5
            if i % 2:
                span.name = "chat claude-sonnet-4-5"
                _kv(span.attributes, "gen_ai.operation.name", "chat")
                _kv(span.attributes, "gen_ai.request.model", "claude-sonnet-4-5")
                _kv(span.attributes, "gen_ai.usage.input_tokens", 1000 + i)
                _kv(span.attributes, "gen_ai.usage.output_tokens", 50 + i)
                user = [{"role": "user", "parts": [{"type": "text", "content": f"step {i}: fix the parser " * 4}]}]
                _kv(span.attributes, "gen_ai.input.messages", json.dumps(user))
                answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Reading the file. " * 8}]}]
                _kv(span.attributes, "gen_ai.output.messages", json.dumps(answer))
            else:
                span.name = "execute_tool Read"
                _kv(span.attributes, "gen_ai.operation.name", "execute_tool")
                _kv(span.attributes, "gen_ai.tool.name", "Read")
                _kv(span.attributes, "gen_ai.tool.call.id", f"call-{turn}-{i}")
                _kv(span.attributes, "gen_ai.tool.call.arguments", json.dumps({"path": f"src/mod{i}.py"}))
                _kv(span.attributes, "gen_ai.tool.call.result", "def parse(text):\n    return text.split()\n" * 10)
            made += 1
        turn += 1
    return request.SerializeToString()


def start_server(repo: Path) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    trail = Path(sys.executable).parent / "trail"
    command = [str(trail)] if trail.exists() else [sys.executable, "-m", "trail.cli"]
    proc = subprocess.Popen(
        [*command, "otel", "serve", "--port", "0", "-q"], cwd=repo, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"trail otel serve did not start: {line}")
    port = int(line.rsplit(":", 1)[1].split("/", 1)[0])
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=256, help="spans per request (default 256)")
    parser.add_argument("--batches", type=int, default=8, help="requests per run (default 8)")
    parser.add_argument("--runs", type=int, default=7, help="runs; medians are printed (default 7)")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="trail-bench-otel-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        for cmd in (
            ["init", "-q"],
            ["-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "i"],
        ):
            subprocess.run(["git", *cmd], cwd=repo, check=True)
        subprocess.run(["git", "config", "user.name", "bench"], cwd=repo, check=True)
        subprocess.run(["git", "config", "user.email", "bench@example.com"], cwd=repo, check=True)
        proc, port = start_server(repo)
        parse_rates, serve_rates = [], []
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            for run in range(args.runs + 1):  # run 0 warms up (imports, first session reads), not counted
                bodies = [make_body(run, b, args.batch) for b in range(args.batches)]
                spans = args.batch * args.batches
                started = time.perf_counter()
                for body in bodies:
                    ExportTraceServiceRequest.FromString(body)
                parsed = time.perf_counter() - started
                started = time.perf_counter()
                for body in bodies:
                    connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                    response = connection.getresponse()
                    answer = response.read()
                    if response.status != 200:
                        raise SystemExit(f"the receiver answered {response.status}: {answer[:300]!r}")
                served = time.perf_counter() - started
                if run:
                    parse_rates.append(spans / parsed)
                    serve_rates.append(spans / served)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        steps = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname)", "refs/trail/sessions/"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    parse, serve = statistics.median(parse_rates), statistics.median(serve_rates)
    print(f"{args.runs} runs of {args.batches} batches of {args.batch} GenAI spans ({len(steps)} sessions recorded)")
    print(f"  ExportTraceServiceRequest.FromString  {parse:12,.0f} spans/s")
    print(f"  trail otel serve (recorded, HTTP)     {serve:12,.0f} spans/s")
    print(f"  ratio                                 {parse / serve:12,.1f}x slower than parsing alone")


if __name__ == "__main__":
    main()

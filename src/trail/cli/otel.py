"""OpenTelemetry: `trail otel serve`, an OTLP/HTTP receiver that records GenAI spans in this repository."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from trail.cli.context import Context, pass_ctx


@click.group("otel")
def otel_group() -> None:
    """Record OpenTelemetry GenAI traces (needs `pip install 'trail-recorder[otel]'`).

    `trail otel serve` receives OTLP/HTTP traces live; `trail import otlp FILE` reads saved OTLP JSON; `trail export
    SESSION --otlp` writes a session as GenAI spans.

    \b
    Examples:
      trail otel serve
      trail import otlp traces.json
      trail export 3f2a9b1c --otlp --endpoint http://127.0.0.1:4318/v1/traces
    """


@otel_group.command("serve")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="The port (0: any free one)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on. The default lets only this machine send spans; 0.0.0.0 lets anyone who can "
    "reach it record into this repository.",
)
@click.option("-q", "--quiet", is_flag=True, help="Say nothing about each batch recorded.")
@pass_ctx
def serve(ctx: Context, port: int, host: str, quiet: bool) -> None:
    """Receive OpenTelemetry traces (OTLP/HTTP, POST /v1/traces) and record their GenAI spans as steps here.

    Point an OTLP exporter at it (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces, protobuf or
    JSON, gzip or not). Each gen_ai.conversation.id (else each trace) is a session: chat spans are recorded as a
    prompt and a response (model, tokens), execute_tool spans as tool calls, an invoke_agent span inside another
    GenAI span as a subagent session linked to the step it came from; other spans of those traces as notes (or
    nothing: `trail config otel.otherSpans skip`). Every step keeps its trace_id, span_id and parent_span_id; a
    span recorded before is skipped, so a retried export adds nothing. Spans are recorded as they arrive, so a span
    whose enclosing span comes in a later batch is placed by its own conversation or trace.

    Ctrl-C stops it, once the batch being recorded is written.

    \b
    Examples:
      trail otel serve
      trail otel serve --port 0 -q
    """
    from trail.capture.otel_server import make_server

    repo = ctx.repo
    ctx.history  # noqa: B018 - fails here, with trail's message, outside a repository
    server = make_server(repo, host, port, log=None if quiet else _log)
    click.echo(f"trail otel serve: listening on {server.url}", err=False)
    if server.loopback:
        click.echo(f"Recording into {repo.workdir}; only this machine can connect. Ctrl-C stops it.")
    else:
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine on port {server.port} can record "
            f"into {repo.workdir}. Ctrl-C stops it.",
            err=True,
        )
    sys.stdout.flush()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        finished = server.finish()
    click.echo("Stopped." if finished else "Stopped, with a batch still being recorded (its session is intact).")


def _log(line: str) -> None:
    click.echo(f"trail otel serve: {line}")
    sys.stdout.flush()

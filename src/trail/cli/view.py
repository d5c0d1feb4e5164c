"""Showing sessions outside the terminal: `trail view` (a self-contained HTML replay), `trail serve` (a local,
read-only web UI) and `trail export` (sessions in other formats: Markdown, a bundle, datasets)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from trail.cli.context import Context, pass_ctx


def _size(count: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _write(data: bytes, output: str) -> None:
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}; choose another file with -o") from None


@click.command()
@click.argument("session", required=False)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the page to FILE (`-`: standard output). Default: .git/trail/views/<session>.html, outside your "
    "working tree.",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in your web browser.")
@pass_ctx
def view(ctx: Context, session: str | None, output: str | None, open_page: bool) -> None:
    """Write SESSION (default: the latest) as one self-contained HTML page: a replay to step through like a video,
    and to send to someone who has nothing installed.

    The page holds everything (styles, script, the steps, their code changes, the subagents the session started) and
    fetches nothing: it works opened from disk, offline. Prompts and answers are rendered from Markdown; everything
    from the session is escaped, and a Content-Security-Policy lets only the page's own script run.

    \b
    Keys: j/k next/previous step, n/p next/previous prompt, d decision, g jump to step, / filter, space play, ? help.
    A link to one step: FILE#step-42.

    \b
    Examples:
      trail view --open
      trail view 3f2a9b1c -o replay.html
    """
    from trail.views.html import replay_page
    from trail.views.replay import build

    history = ctx.history
    chosen = history.session(session) if session else history.latest()
    started = time.perf_counter()
    replay = build(history, chosen)
    data = replay_page(replay).encode()
    seconds = time.perf_counter() - started
    if output is None:
        folder = ctx.repo.trail_dir / "views"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        output = str(folder / f"{chosen.handle}.html")
    _write(data, output)
    if output == "-":
        return
    steps = replay.steps
    per_step = f", {_size(len(data) // steps)} a step" if steps else ""
    subagents = len(replay.index["sessions"]) - 1
    also = f" (with {subagents} subagent session{'s' if subagents != 1 else ''})" if subagents else ""
    click.echo(f"Wrote {output}: {steps:,} steps{also}, {_size(len(data))}{per_step}, in {seconds:.1f} s")
    if open_page:
        import webbrowser

        if not webbrowser.open(Path(output).resolve().as_uri()):
            click.echo("Could not start a web browser: open the file yourself.", err=True)


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8421, show_default=True, help="The port (0: any free one)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on. The default lets only this machine connect; 0.0.0.0 lets anyone who can reach it.",
)
@click.option("--open", "open_page", is_flag=True, help="Open the web UI in your web browser.")
@pass_ctx
def serve(ctx: Context, port: int, host: str, open_page: bool) -> None:
    """Serve a local, read-only web UI over every session of this repository.

    The UI lists the sessions (with filters and figures) and shows each as a replay, the files of any step, the
    diff between any two steps, and a download of a session as HTML or Markdown. It changes nothing: only GET and
    HEAD are answered. Requests must name this server as their Host (127.0.0.1, localhost or the --host given),
    which keeps other web sites' pages from reading it through DNS rebinding. Ctrl-C stops it.

    \b
    Examples:
      trail serve
      trail serve --port 9000 --open
    """
    from trail.views.serve import make_server

    ctx.history  # noqa: B018 - fails here, with trail's message, outside a repository
    server = make_server(ctx.repo.workdir, host, port)
    click.echo(f"trail serve: {server.url}")
    if server.loopback:
        click.echo(f"Listening on {host} only: no other machine can connect. Ctrl-C stops it.")
    else:
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine on port {server.port} can read every "
            "session of this repository. Ctrl-C stops it.",
            err=True,
        )
    if open_page:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()


@click.command()
@click.argument("sessions", nargs=-1, metavar="[SESSION]...")
@click.option(
    "--markdown", "markdown", is_flag=True, help="Markdown for a pull request or an issue (to standard output)."
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")
@click.option(
    "--max-chars",
    type=click.IntRange(min=0),
    default=None,
    help="With --markdown: the most characters to write (default 60,000, under the 65,536 a GitHub comment takes; "
    "0: no limit). What is cut is said at the end.",
)
@click.option(
    "--bundle",
    metavar="FILE",
    help="A git bundle of the session and its subagent sessions, for `trail import bundle FILE` elsewhere.",
)
@click.option("--full", is_flag=True, help="With --bundle: the whole history, for someone without the repository.")
@click.option(
    "--dataset",
    metavar="FILE",
    help="JSON lines, one per session, for fine-tuning or study ('-': standard output); the sessions named, else "
    "every session (or those active --since WHEN).",
)
@click.option(
    "--format",
    "dataset_format",
    type=click.Choice(("chat", "trajectory")),
    default="chat",
    show_default=True,
    help="With --dataset: chat = messages with tool calls as fine-tuning APIs take them; trajectory = per session "
    "the base commit, each step's action and observation, how it ended and the final diff.",
)
@click.option("--since", metavar="WHEN", help="With --dataset and no SESSION: only sessions active since WHEN.")
@click.option(
    "--ended",
    "ended",
    multiple=True,
    metavar="REASON",
    help="With --dataset: only sessions that ended so (a recorded reason or its first word: exit, error, "
    "prompt_input_exit, …; `unfinished` for those with no end). Several: any of them.",
)
@click.option(
    "--otlp",
    metavar="[FILE]",
    is_flag=False,
    flag_value="-",
    default=None,
    help="OpenTelemetry GenAI spans as OTLP JSON, to FILE (default: standard output); put it after the sessions.",
)
@click.option(
    "--endpoint",
    metavar="URL",
    help="With --otlp: post the spans as protobuf to an OTLP/HTTP endpoint (http://127.0.0.1:4318/v1/traces).",
)
@click.option(
    "--content", is_flag=True, help="With --otlp: include prompts, answers, tool arguments and results (opt-in)."
)
@pass_ctx
def export(
    ctx: Context,
    sessions: tuple[str, ...],
    markdown: bool,
    output: str | None,
    max_chars: int | None,
    bundle: str | None,
    full: bool,
    dataset: str | None,
    dataset_format: str,
    since: str | None,
    ended: tuple[str, ...],
    otlp: str | None,
    endpoint: str | None,
    content: bool,
) -> None:
    """Export sessions in another format, chosen by an option: --markdown, --bundle FILE or --dataset FILE.

    --markdown writes one session for a pull request or an issue: each prompt, the answers, tool calls in one line
    each, decisions with their reasoning, and the code changes in fenced diff blocks, kept within the size of a
    GitHub comment (what does not fit is named at the end). --bundle writes one session and its subagents as one
    file that `trail import bundle FILE` takes in. --dataset writes sessions as JSON lines: `--format chat` (the
    conversation as user, assistant and tool messages, each tool call paired with its result by id, as fine-tuning
    APIs take it) or `--format trajectory` (for each session its base commit, each step's action and observation,
    how it ended and its final diff). What trail redacted stays redacted.

    \b
    Examples:
      trail export 3f2a9b1c --markdown | gh pr comment 12 --body-file -
      trail export 3f2a9b1c --markdown -o session.md --max-chars 0
      trail export 3f2a9b1c --bundle fix.bundle
      trail export --dataset train.jsonl --since "30 days ago" --ended exit
      trail export 3f2a9b1c 7c1d0e22 --dataset runs.jsonl --format trajectory
      trail export 3f2a9b1c --otlp spans.json --content
      trail export 3f2a9b1c --otlp --endpoint http://127.0.0.1:4318/v1/traces
    """
    formats = {"--markdown": markdown, "--bundle": bundle is not None, "--dataset": dataset is not None}
    formats["--otlp"] = otlp is not None or endpoint is not None
    chosen = [name for name, wanted in formats.items() if wanted]
    if not chosen:
        raise click.UsageError(
            "say which format to export: --markdown (the session as Markdown for a pull request or an issue), "
            "--bundle FILE (the session as a git bundle, for `trail import bundle`) or --dataset FILE (sessions as "
            "JSON lines for fine-tuning or study)"
        )
    if len(chosen) > 1:
        raise click.UsageError(f"choose one format at a time, not {' and '.join(chosen)}")
    history = ctx.history
    if formats["--otlp"]:
        _export_otlp(ctx, sessions, otlp, endpoint, content)
        return
    if dataset is not None:
        _export_dataset(ctx, sessions, dataset, dataset_format, since, ended)
        return
    if since or ended:
        raise click.UsageError("--since and --ended choose the sessions of --dataset")
    if len(sessions) != 1:
        raise click.UsageError(f"{chosen[0]} exports one session: name it (`trail sessions` lists them)")
    session = sessions[0]
    if bundle is not None:
        from trail.share.bundle import export_bundle

        written = export_bundle(history.store, [history.session(session).id], Path(bundle), full=full)
        click.echo(f"Wrote {bundle}: {', '.join(written)}")
        return
    from trail.views.markdown_export import DEFAULT_LIMIT, export_markdown

    result = export_markdown(history, history.session(session), DEFAULT_LIMIT if max_chars is None else max_chars)
    _write(result.text.encode("utf-8"), output or "-")
    if result.cut:
        click.echo(f"trail export: {result.cut}", err=True)
    elif output:
        click.echo(f"Wrote {output}: {len(result.text):,} characters")


def _export_dataset(
    ctx: Context, names: tuple[str, ...], target: str, fmt: str, since: str | None, ended: tuple[str, ...]
) -> None:
    from trail.views.dataset import select, write_dataset

    if names and since:
        raise click.UsageError("--since chooses sessions when none is named; name sessions or give --since")
    moment = None
    if since is not None:
        from trail.when import parse_when

        moment = parse_when(since)
    chosen = select(ctx.history, names, moment, ended)
    if target == "-":
        result = write_dataset(chosen, fmt, sys.stdout)
    else:
        path = Path(target)
        partial = path.with_name(path.name + ".partial")  # the file appears whole, or not at all
        try:
            with partial.open("w", encoding="utf-8") as out:
                result = write_dataset(chosen, fmt, out)
            partial.replace(path)
        except OSError as e:
            raise click.ClickException(f"cannot write {target}: {e.strerror or e}") from None
        finally:
            partial.unlink(missing_ok=True)
    what = f"{result.lines} session" + ("s" if result.lines != 1 else "")
    skipped = f"; {result.skipped} with no conversation to write left out" if result.skipped else ""
    where = "" if target == "-" else f"Wrote {target}: "
    click.echo(f"{where}{what} as {fmt} lines{skipped}", err=target == "-")


def _export_otlp(ctx: Context, names: tuple[str, ...], target: str | None, endpoint: str | None, content: bool) -> None:
    """--otlp: each session (with its subagents) as one trace of GenAI spans, written as OTLP JSON or posted."""
    from trail.adapters.otel_export import build_request, post, span_count, to_otlp_json

    if not names:
        raise click.UsageError("--otlp exports the sessions named: name one (`trail sessions` lists them)")
    if endpoint is not None and target not in (None, "-"):
        raise click.UsageError("--otlp writes to FILE or posts to --endpoint URL, not both")
    history = ctx.history
    request = build_request(history.store, [history.session(name).id for name in names], content=content)
    spans = span_count(request)
    if endpoint is not None:
        partial = post(request, endpoint)
        click.echo(f"Sent {spans} spans to {endpoint}" + (f" ({partial})" if partial else ""))
        return
    _write((to_otlp_json(request) + "\n").encode("utf-8"), target or "-")
    if target not in (None, "-"):
        click.echo(f"Wrote {target}: {spans} spans")

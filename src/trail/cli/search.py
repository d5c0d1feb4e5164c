"""Searching every session: `trail search` and `trail reindex`.

Light by design: the index is brought up to date from the ref files, and libgit2 is loaded only when a session
changed since the last search.
"""

from __future__ import annotations

from typing import Any

import click

from trail.cli.context import Context, echo_json, output_options, pass_ctx
from trail.errors import NotARepositoryError, TrailError


def open_index(ctx: Context) -> Any:
    from trail.search.index import SearchIndex
    from trail.store.reflist import commondir_of

    commondir = commondir_of(ctx.directory)
    if commondir is None:
        raise NotARepositoryError(f"{ctx.directory} is not inside a git repository. Run trail from a git working tree.")
    return SearchIndex(commondir, open_store=lambda: ctx.store)


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--session", metavar="SESSION", help="Only this session (and its subagents): id, prefix or handle.")
@click.option(
    "--kind", multiple=True, metavar="KIND", help="Only steps of this kind (prompt, tool_call, …); repeatable."
)
@click.option("--tool", metavar="NAME", help="Only calls of this tool (Bash, Edit, …).")
@click.option("--agent", metavar="NAME", help="Only steps of this agent (claude-code, …).")
@click.option("--model", metavar="NAME", help="Only steps made with this model.")
@click.option("--since", metavar="WHEN", help="Only steps since WHEN (2026-11-01, yesterday, 3 days ago).")
@click.option("--until", metavar="WHEN", help="Only steps until WHEN.")
@click.option("--file", "path", metavar="PATH", help="Only steps whose change touched PATH (a file or a folder).")
@click.option("-n", "limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many hits at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON, each with its snippet and matches.")
@output_options
@pass_ctx
def search(
    ctx: Context,
    query: tuple[str, ...],
    session: str | None,
    kind: tuple[str, ...],
    tool: str | None,
    agent: str | None,
    model: str | None,
    since: str | None,
    until: str | None,
    path: str | None,
    limit: int,
    as_json: bool,
    color: str | None,
    no_pager: bool,
) -> None:
    """Search every recorded session: prompts, responses, thinking, tool inputs and outputs, decisions, and the
    paths each step changed. Exits 1 when nothing matches.

    Every word must match (`overdue invoices`); "quoted words" match as a phrase; a word ending in * matches as a
    prefix. Words are found in any language and case, accents or not (cafe finds café), in Chinese, Japanese or
    Korean text, and inside identifiers (overdue finds overdue_invoices and overdueInvoices). Hits are ranked
    best first and named SESSION@N, for `trail show`.

    \b
    Examples:
      trail search overdue_invoices
      trail search "DROP TABLE" --kind tool_call --since "7 days ago"
      trail search retry --file src/mailer.py --json
    """
    from trail.search.index import Filters
    from trail.store.handles import Handles
    from trail.views.search import format_hit
    from trail.when import parse_when

    index = open_index(ctx)
    index.update()
    handles = Handles(sid for (sid,) in index.db.execute("SELECT id FROM sessions"))
    sid = None
    if session:
        matches = handles.matches(session)
        if len(matches) != 1:
            raise TrailError(
                f"{session!r} matches {len(matches)} sessions; give more characters"
                if matches
                else f"no session matches {session!r}; `trail sessions` lists them"
            )
        sid = matches[0]
    filters = Filters(
        session=sid,
        kinds=kind,
        tool=tool,
        agent=agent,
        model=model,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        file=path,
    )
    try:
        hits = index.search(" ".join(query), filters, limit)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    for warning in index.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        echo_json([{**hit.to_json(), "handle": handles.handle(hit.session)} for hit in hits])
    else:
        with ctx.terminal(color, no_pager) as term:
            for hit in hits:
                term.write(format_hit(hit, handles.handle(hit.session), term))
    if not hits:
        raise SystemExit(1)


@click.command()
@pass_ctx
def reindex(ctx: Context) -> None:
    """Build the search index (.git/trail/index.sqlite) again from every session.

    Never needed for correctness: `trail search` brings the index up to date by itself, reading only the sessions
    that changed. Use it after a crash of the disk, or to see how long a full build takes.

    \b
    Examples:
      trail reindex
      trail -C ~/src/app reindex
    """
    import sys
    import time

    index = open_index(ctx)
    started = time.monotonic()
    if sys.stderr.isatty():
        with click.progressbar(length=1, label="Indexing sessions", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            steps = index.rebuild(progress)
    else:
        steps = index.rebuild()
    sessions, _ = index.counts()
    size = index.path.stat().st_size
    click.echo(
        f"Indexed {steps} steps of {sessions} sessions in {time.monotonic() - started:.1f} s "
        f"({size / 1e6:.1f} MB, {index.path})"
    )
    for warning in index.warnings:
        click.echo(f"warning: {warning}", err=True)

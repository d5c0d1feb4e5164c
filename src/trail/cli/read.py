"""Reading sessions: `trail sessions`, `log`, `show`, `diff` and `stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from trail.cli.context import Context, echo_json, echo_json_array, output_options, pass_ctx

if TYPE_CHECKING:
    from trail.api import Session


def _since(value: str | None):  # type: ignore[no-untyped-def]
    if value is None:
        return None
    from trail.when import parse_when

    return parse_when(value)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--since", metavar="WHEN", help="Only sessions active since WHEN (2026-11-01, yesterday, 3 days ago).")
@click.option(
    "--commit",
    "commit",
    metavar="REV",
    help="Only the sessions whose steps produced the changes of commit REV (ended ones too), with those steps.",
)
@click.option(
    "--archived/--no-archived",
    default=None,
    help="List every archived session too, or none of them (default: those active since --since, if given).",
)
@output_options
@pass_ctx
def sessions(
    ctx: Context,
    as_json: bool,
    since: str | None,
    commit: str | None,
    archived: bool | None,
    color: str | None,
    no_pager: bool,
) -> None:
    """List recorded sessions, most recently active first.

    SESSION is the short handle to type in other commands (any unique prefix of the id works too). Refs under
    refs/trail/sessions/ that are not readable sessions are listed as warnings and skipped. Sessions rolled into
    archives (`trail archive`) are listed with --archived, or when --since reaches back to them, from their
    archives' index (no step is read): the listing costs the same however many sessions were archived.

    \b
    Examples:
      trail sessions
      trail sessions --since yesterday --json
      trail sessions --archived          the archived sessions too
    """
    from trail.views.term import clean
    from trail.views.terminal import format_commit_origins, format_sessions

    history = ctx.history
    if commit:
        from trail.timetravel.credit import credit

        credits = credit(history.store, commit)
        if as_json:
            echo_json([c.to_json() for c in credits])
        else:
            with ctx.terminal(color, no_pager) as term:
                term.write(format_commit_origins(commit, credits, history.handle, term))
        return
    moment = _since(since)
    found, problems = history.scan(bool(archived), moment if archived is None else None)
    if moment is not None:
        found = [s for s in found if s.updated >= moment]
    for problem in problems:
        click.echo(f"warning: {clean(str(problem), True)} (skipped)", err=True)
    if as_json:
        echo_json([s.to_json() for s in found])
        return
    with ctx.terminal(color, no_pager) as term:
        term.write(format_sessions(found, term))
    if archived is None and moment is None:
        from trail.store.archive import archived_ids

        listed = {s.id for s in found}
        left = sum(sid not in listed for sid in archived_ids(history.store))
        if left:
            click.echo(f"({left} archived sessions not listed: --archived lists them too)", err=True)


@click.command()
@click.argument("where", required=False, metavar="[SESSION|STEP]")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="Show at most N steps.")
@click.option("--reverse", is_flag=True, help="Oldest first (the default is newest first, as git log).")
@click.option("--since", metavar="WHEN", help="Steps recorded since WHEN (2026-11-01, yesterday, 2h).")
@click.option("--until", metavar="WHEN", help="Steps recorded until WHEN.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of steps, each with its full event.")
@click.option(
    "--tree",
    is_flag=True,
    help="Show the tree of sessions the session belongs to instead: across processes and agents, each session "
    "under the step that started it.",
)
@output_options
@pass_ctx
def log(
    ctx: Context,
    where: str | None,
    limit: int | None,
    reverse: bool,
    since: str | None,
    until: str | None,
    as_json: bool,
    tree: bool,
    color: str | None,
    no_pager: bool,
) -> None:
    """Show the steps of a session, newest first (default: the latest session).

    Given a step (SESSION@N, @N, a commit), the log starts at that step, as `git log <commit>` does. Steps are
    read as they are printed, so the first lines appear at once however long the session is.

    With --tree, the sessions of the session's trace instead: the subagents it started, the processes it ran that
    recorded sessions (a recorder passes them TRACEPARENT), theirs, and what started it, each under the step that
    started it, the session asked for marked with `*`; with --json, the same tree as a JSON object.

    \b
    Examples:
      trail log                     the latest session
      trail log 3f2a9b1c -n 20      the last 20 steps of a session
      trail log @40 --reverse       steps 1 to 40, oldest first
      trail log --since 2h --json
      trail log --tree 3f2a9b1c     the sessions it started, and those that started it
    """
    from trail.views.terminal import log_header, log_line

    history = ctx.history
    if where:
        session, start = history.resolve(where)
    else:
        session, start = history.latest(), None
    if tree:
        if limit is not None or reverse or since or until:
            raise click.UsageError("--tree shows whole sessions: it takes no -n, --reverse, --since or --until")
        _log_tree(ctx, session, as_json, color, no_pager)
        return
    newest_first = not reverse
    bounded = reverse and limit is not None  # as git: the newest N, then shown oldest first
    steps = session.iter_steps(
        newest_first=newest_first or bounded,
        start=start,
        since=_since(since),
        until=_since(until),
        limit=limit,
    )
    if bounded:
        steps = iter(list(steps)[::-1])
    if as_json:
        echo_json_array(step.to_json() for step in steps)
        return
    width = len(str(start.n if start is not None else session.steps))
    with ctx.terminal(color, no_pager) as term:
        term.write(log_header(session, term))
        for step in steps:
            term.write(log_line(step, term, width))


def _log_tree(ctx: Context, session: Session, as_json: bool, color: str | None, no_pager: bool) -> None:
    from trail.views.terminal import format_tree

    found = session.tree()
    if as_json:
        echo_json(found.to_json())
        return
    with ctx.terminal(color, no_pager) as term:
        term.write(format_tree(found, term))


@click.command()
@click.argument("step", required=False)
@click.option("--full", is_flag=True, help="Print every field whole (long ones are cut on a terminal otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the step, its full event and the files it changed.")
@output_options
@pass_ctx
def show(ctx: Context, step: str | None, full: bool, as_json: bool, color: str | None, no_pager: bool) -> None:
    """Show one step in full: what happened, its text, and the files it changed (default: the latest step).

    Long fields (a tool's output) are cut after 40 lines with a line saying so; --full prints them whole.

    \b
    Examples:
      trail show @3
      trail show 3f2a9b1c@12 --full
      trail show @-1 --json
    """
    from trail.views.terminal import format_step

    history = ctx.history
    found = history.step(step or "@0")
    changes = history.changes(found)
    if as_json:
        echo_json({**found.to_json(), "files": [c.to_json() for c in changes]})
        return
    address = f"{history.handle(found.session_id)}@{found.n}"
    with ctx.terminal(color, no_pager) as term:
        term.write(format_step(found, address, changes, term, full=full))


@click.command()
@click.argument("step")
@click.argument("step2", required=False)
@click.option("--stat", is_flag=True, help="A summary of changed files instead of the patch.")
@click.option("--name-status", is_flag=True, help="Only each changed file's name and status.")
@click.option(
    "--before",
    is_flag=True,
    help="For a SESSION: what was already changed, and not committed, when it began (not the agent's doing).",
)
@click.option(
    "--from-base",
    is_flag=True,
    help="For a SESSION: everything from the commit it started from, uncommitted work included (git diff BASE TIP).",
)
@output_options
@pass_ctx
def diff(
    ctx: Context,
    step: str,
    step2: str | None,
    stat: bool,
    name_status: bool,
    before: bool,
    from_base: bool,
    color: str | None,
    no_pager: bool,
) -> None:
    """Show a code change: what a whole SESSION changed, what one STEP changed, or from STEP to STEP2.

    For a SESSION, the change made during it: from the working tree it began with (its first step) to its last
    step. What was already uncommitted when it began is not the agent's doing and is left out (a note says so;
    --before shows it, --from-base shows both), and so are trail's own entries in an agent's hook settings file.
    For a STEP, `git diff STEP~1 STEP`; for two steps, `git diff STEP STEP2`.

    \b
    Examples:
      trail diff 3f2a9b1c           what changed during that session
      trail diff 3f2a9b1c --before  what was already uncommitted when it began
      trail diff @7                 what step 7 of the latest session changed
      trail diff @3 @9 --stat
    """
    from trail.api import file_changes
    from trail.views.term import clean_bytes
    from trail.views.terminal import color_patch, file_lines

    history = ctx.history
    if before and from_base:
        raise click.UsageError("--before and --from-base are two views of a session: choose one")
    if step2:
        if before or from_base:
            raise click.UsageError("--before and --from-base show a SESSION, not a range of steps")
        changes = history.diff(history.step(step), history.step(step2))
    else:
        session, found = history.resolve(step)
        if found is not None:
            if before or from_base:
                raise click.UsageError(f"{step} is a step; --before and --from-base show a whole SESSION")
            changes = history.diff(None, found)
        elif before:
            changes = session.uncommitted_at_start()
        elif from_base:
            changes = session.diff_from_base()
        else:
            changes = session.diff()
            earlier = len(session.uncommitted_at_start())
            if earlier:
                files = f"{earlier} file" + ("s were" if earlier != 1 else " was")
                click.echo(
                    f"note: {files} already changed, and not committed, when the session began: not shown "
                    f"(`trail diff {step} --before`)",
                    err=True,
                )
    with ctx.terminal(color, no_pager) as term:
        if stat:
            from pygit2.enums import DiffStatsFormat

            text = changes.stats.format(DiffStatsFormat.FULL | DiffStatsFormat.INCLUDE_SUMMARY, term.width or 80)
            term.write_bytes(clean_bytes(text.encode("utf-8", "surrogateescape")))
            return
        if name_status:
            term.write("".join(line + "\n" for line in file_lines(file_changes(changes), term)))
            return
        for patch in changes:
            if patch is not None:
                term.write_bytes(color_patch(clean_bytes(patch.data), term))


@click.command()
@click.argument("session", required=False)
@click.option("--since", metavar="WHEN", help="Every session active since WHEN (default: every session).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@output_options
@pass_ctx
def stats(
    ctx: Context, session: str | None, since: str | None, as_json: bool, color: str | None, no_pager: bool
) -> None:
    """Sum up a SESSION, or every session (since WHEN): steps by kind, tool calls by tool (count, errors, time),
    tokens by model with the cache split, wall time and files changed.

    Costs appear for models with a price in trail's config, in your currency per million tokens:
    `trail config price.claude-sonnet-4-5.input 3.00` (and .output, .cacheRead, .cacheWrite). A price applies to
    every model whose name starts with the configured one. Prices are never guessed.

    \b
    Examples:
      trail stats 3f2a9b1c
      trail stats --since "7 days ago" --json
    """
    from trail.stats import session_stats
    from trail.views.terminal import format_stats

    history = ctx.history
    if session:
        chosen = [history.session(session)]
        what = chosen[0].handle
    else:
        moment = _since(since)
        chosen = history.sessions(since=moment)
        what = f"since {since}" if since else "all"
    result = session_stats(chosen, ctx.repo.config.prices)
    if as_json:
        echo_json(result.to_json())
        return
    with ctx.terminal(color, no_pager) as term:
        term.write(format_stats(result, term, what))

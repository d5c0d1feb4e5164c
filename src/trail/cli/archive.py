"""`trail archive`: ended sessions rolled into one ref per month (store/archive.py), and back."""

from __future__ import annotations

from datetime import timedelta

import click

from trail.cli.context import Context, echo_json, pass_ctx
from trail.errors import TrailError


@click.command()
@click.option(
    "--older-than",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Archive ended sessions whose last step is older than this (e.g. 30d, 12h, 2w, 0).",
)
@click.option("--undo", is_flag=True, help="Turn every archived session back into a ref of its own.")
@click.option(
    "--remote",
    metavar="REMOTE",
    help="Archive the remote's own session refs instead (only sessions it already holds, at its tips).",
)
@click.option("--dry-run", is_flag=True, help="List what would be archived, and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def archive(ctx: Context, older_than: str, undo: bool, remote: str | None, dry_run: bool, as_json: bool) -> None:
    """Roll ended sessions into refs/trail/archive/<YYYY-MM>, so that git lists few refs however many sessions.

    Each archive ref is a chain of commits whose parents are the sessions' tips (every step stays reachable, byte
    for byte) and whose tree holds `sessions`, a line `<id> <tip>` per session. Archived sessions stay addressable
    by id (trail log, show, view, push, search) and are listed by `trail sessions`. Running it again archives only
    what is new; a session recorded into after archiving gets its ref back, which wins over the archive. trail
    runs it by itself after a push when there are more than 1,000 session refs, here and (with --remote) on the
    remote: its sessions are archived into its archive refs, which are fast-forwarded under a lease, and each of
    their refs deleted there only if it still points to the tip archived.

    \b
    Examples:
      trail archive                       ended sessions older than 30 days
      trail archive --older-than 0        every ended session
      trail archive --dry-run --json      what would be archived, by month
      trail archive --undo                one ref per session again
      trail archive --remote origin       the shared remote's ended sessions, into its archive refs
      git show refs/trail/archive/2026-11:sessions     the same index, with plain git
    """
    from trail.store import archive as store_archive

    store = ctx.store
    if remote is not None:
        _archive_remote(ctx, remote, store_archive.parse_duration(older_than), undo, dry_run, as_json)
        return
    if undo:
        made = store_archive.undo(store)
        if as_json:
            echo_json({"restored": made})
        else:
            click.echo(f"Restored {made} session refs from the archives; the archive refs are deleted")
        return
    result = store_archive.archive(store, store_archive.parse_duration(older_than), dry_run=dry_run)
    if as_json:
        echo_json(result.to_json())
        return
    verb = "Would archive" if dry_run else "Archived"
    for period, ids in sorted(result.archived.items()):
        click.echo(f"  {store_archive.ARCHIVE_PREFIX}{period}  {len(ids)} sessions")
    click.echo(f"{verb} {result.count} sessions; {result.kept} stay as refs")


def _archive_remote(ctx: Context, remote: str, older_than: timedelta, undo: bool, dry_run: bool, as_json: bool) -> None:
    from trail.share.remote_archive import archive_remote

    if undo:
        raise TrailError("--undo turns this repository's archives back into refs; it does not work with --remote")
    result = archive_remote(ctx.store, remote, older_than, dry_run=dry_run)
    if as_json:
        echo_json(result.to_json())
        return
    for period, ids in sorted(result.archived.items()):
        click.echo(f"  {remote} refs/trail/archive/{period}  {len(ids)} sessions")
    if dry_run:
        click.echo(f"Would archive {sum(map(len, result.archived.values()))} sessions of {remote}")
        return
    click.echo(f"Archived {result.count} sessions of {remote}; their refs are deleted there")
    if result.kept:
        click.echo(f"{len(result.kept)} moved on {remote} meanwhile and stay refs: {', '.join(result.kept[:5])}")

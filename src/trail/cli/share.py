"""Sharing sessions: `trail push` and `trail fetch` through any git remote."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import click

from trail.cli.context import Context, echo_json, pass_ctx
from trail.errors import TrailError


def _split(ctx: Context, words: tuple[str, ...]) -> tuple[str, list[str]]:
    """REMOTE and SESSION… from what was typed: the first word is the remote if it names one (or is a URL or a
    path), else every word is a session and the remote is the default one."""
    from trail.share.remote import default_remote

    remotes = set(ctx.repo.git.remotes.names())
    if words and (words[0] in remotes or "/" in words[0] or ":" in words[0]):
        return words[0], list(words[1:])
    return default_remote(ctx.store), list(words)


def _describe(ctx: Context, session_ids: list[str]) -> list[dict[str, Any]]:
    """Each session to be pushed, with what redaction replaced in it and the files left out of its steps."""
    store = ctx.store
    out = []
    for sid in session_ids:
        redacted: Counter[str] = Counter()
        omitted: dict[str, str] = {}
        steps = 0
        for step in store.walk(sid):
            steps += 1
            if step.facts.get("redacted"):
                redacted.update(step.redacted)
            if step.facts.get("omitted"):
                omitted.update({o.path: o.reason or "over the size limit" for o in step.omitted})
        out.append(
            {
                "session": sid,
                "handle": ctx.history.handle(sid),
                "steps": steps,
                "redacted": dict(redacted),
                "omitted": omitted,
            }
        )
    return out


@click.command()
@click.argument("words", nargs=-1, metavar="[REMOTE] [SESSION]...")
@click.option("--yes", is_flag=True, help="Push every session without asking (needed without a terminal).")
@click.option("--dry-run", is_flag=True, help="List what would be pushed, with what redaction replaced in it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def push(ctx: Context, words: tuple[str, ...], yes: bool, dry_run: bool, as_json: bool) -> None:
    """Push sessions to a git remote (default: origin), as refs/trail/sessions/<id>, with their subagents.

    Nothing is pushed unless you ask. With no SESSION every session goes, after a question on a terminal (--yes
    otherwise). A session the remote holds in another form is refused and reported, never overwritten. It uses the
    git command, so your credentials and remote settings work as they do for git push.

    \b
    Examples:
      trail push 3f2a9b1c                 one session (and its subagents) to origin
      trail push upstream 3f2a9b1c 9e8d   to another remote
      trail push --dry-run                what pushing everything would send
    """
    from trail.share.remote import push as do_push
    from trail.share.remote import with_children
    from trail.store.address import resolve_session
    from trail.views.term import clean

    remote, names = _split(ctx, words)
    store = ctx.store
    chosen = [resolve_session(store, name, ctx.history.handles) for name in names] if names else None
    sessions = with_children(store, chosen) if chosen is not None else store.session_ids()
    if dry_run:
        described = _describe(ctx, sessions)
        if as_json:
            echo_json({"remote": remote, "sessions": described})
            return
        click.echo(f"Would push {len(described)} sessions to {remote}:")
        for item in described:
            redacted = ", ".join(f"{n} {k}" for k, n in sorted(item["redacted"].items())) or "nothing redacted"
            click.echo(f"  {clean(item['handle'], True)}  {item['steps']} steps; {clean(redacted, True)}")
            for path, why in sorted(item["omitted"].items()):
                click.echo(f"      left out: {clean(path, True)} ({clean(why, True)})")
        return
    if chosen is None and not yes:
        if not sys.stdin.isatty():
            raise TrailError(f"pushing every session ({len(sessions)}) needs --yes when there is no terminal to ask")
        click.confirm(f"Push all {len(sessions)} sessions to {remote}?", abort=True)
    result = do_push(store, remote, chosen)
    _archive_after_push(ctx, remote, as_json)
    if as_json:
        echo_json(result.to_json())
    else:
        for update in result.updates:
            click.echo(f"{update.status:>9}  {ctx.history.handle(update.session)}  {update.detail}".rstrip())
        click.echo(
            f"Pushed to {remote}: {result.count('new')} new, {result.count('updated')} updated, "
            f"{result.count('same')} up to date, {result.count('rejected')} refused"
        )
    if result.count("rejected"):
        click.echo(
            "A refused session has other steps on the remote: `trail fetch` shows both; nothing was overwritten.",
            err=True,
        )
        raise SystemExit(1)


@click.command()
@click.argument("words", nargs=-1, metavar="[REMOTE] [SESSION]...")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Also bring the remote's archives of the months since then (its session refs always come).",
)
@click.option("--all", "everything", is_flag=True, help="Bring every archive of the remote too.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def fetch(ctx: Context, words: tuple[str, ...], since: str, everything: bool, as_json: bool) -> None:
    """Fetch sessions from a git remote (default: origin): recent ones, the named ones (full ids), or --all.

    The remote lists only the refs asked for (git protocol v2): its session refs (active and recent sessions) and
    its archives of the months since --since. A named session comes with its subagents, from the remote's archives
    when it has no ref there.

    New sessions are added and sessions with new steps brought up to date. A session whose history diverged from
    yours is never overwritten: yours stays as it is, the remote's is kept in refs/trail/remotes/<remote>/<id>,
    and both are reported. The search index takes in the new steps.

    \b
    Examples:
      trail fetch
      trail fetch upstream
      trail fetch origin 5c1d8b3e-7f2a-4c6e-9b1d-0a2b3c4d5e6f
      trail fetch --since 90d             the remote's archives of the last three months too
      trail fetch --all                   everything the remote holds
    """
    from trail.share.fetch import fetch as do_fetch
    from trail.store.archive import parse_duration

    remote, names = _split(ctx, words)
    result = do_fetch(ctx.store, remote, names or None, since=parse_duration(since), everything=everything)
    _index_after(ctx)
    if as_json:
        echo_json(result.to_json())
        return
    for update in result.updates:
        if update.status != "same":
            click.echo(f"{update.status:>9}  {ctx.history.handle(update.session)}  {update.detail}".rstrip())
    click.echo(
        f"Fetched from {remote}: {result.count('new')} new, {result.count('updated')} updated, "
        f"{result.count('same')} unchanged, {result.count('ahead')} ahead here, "
        f"{result.count('diverged')} diverged (kept both)"
        + (f", {len(result.archives)} archives" if result.archives else "")
    )


def _archive_after_push(ctx: Context, remote: str, quiet: bool) -> None:
    """Many session refs make every git command slower: past AUTO_ARCHIVE_REFS, ended sessions are archived, here
    and on the remote (whose count is read from its remote-tracking refs: no extra round trip when it has few)."""
    from trail.share.remote_archive import archive_remote, tracked_session_refs
    from trail.store.archive import AUTO_ARCHIVE_REFS, AUTO_OLDER_THAN, auto_archive

    archived = auto_archive(ctx.store)
    if archived and not quiet:
        click.echo(f"Archived {archived} ended sessions (`trail archive --undo` turns them back into refs)", err=True)
    if tracked_session_refs(ctx.store, remote) > AUTO_ARCHIVE_REFS:
        done = archive_remote(ctx.store, remote, AUTO_OLDER_THAN)
        if done.count and not quiet:
            click.echo(f"Archived {done.count} ended sessions of {remote} into its archive refs", err=True)


def _index_after(ctx: Context) -> None:
    from trail.cli.search import open_index

    try:
        open_index(ctx).update()
    except Exception as e:  # noqa: BLE001 - the index is a cache: the next search catches up
        click.echo(f"warning: the search index was not updated ({e})", err=True)

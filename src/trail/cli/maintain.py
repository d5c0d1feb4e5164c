"""Deleting, scrubbing and verifying sessions: `trail rm`, `prune`, `scrub` and `verify`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from trail.cli.context import Context, echo_json, pass_ctx
from trail.errors import TrailError

if TYPE_CHECKING:
    from trail.store.remove import Removal
    from trail.store.verify import SessionCheck


@click.command()
@click.argument("sessions", nargs=-1, required=True, metavar="SESSION...")
@click.option("--keep-children", is_flag=True, help="Keep the subagent sessions (<id>.agent-*) of each SESSION.")
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be removed.")
@pass_ctx
def rm(ctx: Context, sessions: Sequence[str], keep_children: bool, dry_run: bool) -> None:
    """Delete sessions: their refs, their subagent sessions, and trail's index of their steps.

    SESSION is an id, a unique prefix of one or the handle `trail sessions` shows; a ref that does not hold a
    readable session can be named by its full id. Only this repository changes: copies already pushed to a remote
    stay there until you delete them too (the command is printed), and the steps stay in .git until
    `git gc --prune=now`.

    \b
    Examples:
      trail rm 3f2a9b1c
      trail rm 3f2a9b1c 8c1d0e77 --dry-run
      trail rm 3f2a9b1c --keep-children     the session alone, not its subagents
    """
    from trail.store.remove import choose, remove

    store = ctx.store
    removals = choose(store, sessions, keep_children=keep_children)
    if not dry_run:
        remove(store, removals)
    _report_removals(ctx, removals, dry_run)


@click.command()
@click.option(
    "--older-than",
    "age",
    required=True,
    metavar="DURATION",
    help="Remove the sessions whose last step is older than this: 30d, 12h, 2 weeks.",
)
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("-y", "--yes", is_flag=True, help="Remove without asking (needed when not run from a terminal).")
@pass_ctx
def prune(ctx: Context, age: str, dry_run: bool, yes: bool) -> None:
    """Delete the sessions whose last step is older than DURATION, with their subagent sessions.

    Lists them and asks before deleting; without a terminal to ask on, it refuses unless given --yes (or
    --dry-run). As with `trail rm`, copies pushed to a remote stay there, and the objects stay in .git until
    `git gc --prune=now`.

    \b
    Examples:
      trail prune --older-than 90d --dry-run
      trail prune --older-than 30d
      trail prune --older-than 2weeks --yes
    """
    from trail.store.remove import older_than, remove
    from trail.when import parse_duration

    store = ctx.store
    removals = older_than(store, parse_duration(age))
    if not removals:
        click.echo(f"No session has its last step older than {age}.")
        return
    if dry_run:
        _report_removals(ctx, removals, dry_run=True)
        return
    if not yes:
        if not sys.stdin.isatty():
            raise TrailError(
                f"{len(removals)} sessions would be removed, and there is no terminal to confirm on: add --yes to "
                "remove them (see them first with --dry-run)"
            )
        _report_removals(ctx, removals, dry_run=True, reminders=False)
        if not click.confirm(f"Remove these {len(removals)} sessions?", default=False):
            raise TrailError("nothing was removed")
    remove(store, removals)
    _report_removals(ctx, removals, dry_run=False)


def _report_removals(ctx: Context, removals: Sequence[Removal], dry_run: bool, reminders: bool = True) -> None:
    from trail.store.remove import reminders as reminder_lines

    verb = "Would remove" if dry_run else "Removed"
    for removal in removals:
        what = f"{removal.steps} steps" if removal.steps is not None else "not a readable session"
        if removal.updated is not None:
            what += f", last step {removal.updated.astimezone():%Y-%m-%d %H:%M}"
        if removal.parent:
            what += f", a subagent of {removal.parent}"
        click.echo(f"{verb} session {removal.session_id} ({what})")
    if dry_run:
        if reminders:
            click.echo("Nothing was removed (dry run).")
        return
    for line in reminder_lines(ctx.store, [r.session_id for r in removals]):
        click.echo(line)


@click.command()
@click.argument("session")
@click.option("--text", "texts", multiple=True, metavar="STRING", help="Replace STRING everywhere (repeatable).")
@click.option(
    "--path", "paths", multiple=True, metavar="PATH", help="Remove the file or folder PATH from each step (repeatable)."
)
@click.option("-n", "--dry-run", is_flag=True, help="Only say how many steps would change.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_ctx
def scrub(ctx: Context, session: str, texts: Sequence[str], paths: Sequence[str], dry_run: bool, as_json: bool) -> None:
    """Rewrite a session (and its subagent sessions) without a leaked secret.

    --text STRING replaces every occurrence of STRING (at least 4 characters) in every step's event, field names
    included, with [REDACTED:scrubbed]; the commit messages follow. --path PATH removes the file PATH, or everything
    under the folder PATH, from every step's tree and lists it in the step as left out ("scrubbed"). The steps keep
    their numbers, times, kinds and every other field; your own commits that steps point to are not touched.

    The session's ref moves to the rewritten steps only if no step was recorded meanwhile. Afterwards the old
    steps are still in .git until `git gc --prune=now`, and still on any remote you pushed the session to: the
    commands to finish the job are printed. If the text is still found somewhere (a file's content: scrub it with
    --path), you are told where.

    \b
    Examples:
      trail scrub 3f2a9b1c --text 'sk-proj-AbC123…' --dry-run
      trail scrub 3f2a9b1c --text 'sk-proj-AbC123…' --path .env
      trail scrub 3f2a9b1c --path config/secrets
    """
    from trail.store.address import resolve_session
    from trail.store.remove import reminders
    from trail.store.scrub import scrub as run_scrub

    store = ctx.store
    sid = resolve_session(store, session)
    result = run_scrub(store, sid, texts, paths, dry_run=dry_run)
    if as_json:
        echo_json(
            {"dry_run": dry_run, "sessions": [s.to_json() for s in result.sessions], "remaining": result.remaining}
        )
        return
    for done in result.sessions:
        if done.new_tip is None:
            click.echo(f"Nothing to scrub in {done.session_id} ({done.steps} steps).")
            continue
        verb = "Would rewrite" if dry_run else "Rewrote"
        detail = []
        if done.replaced:
            detail.append(f"{done.replaced} occurrences replaced")
        if done.files:
            detail.append(f"{done.files} files removed")
        click.echo(
            f"{verb} {done.rewritten} of {done.steps} steps of {done.session_id}: {done.changed} changed "
            f"({', '.join(detail)}), {done.rechained} re-chained; {done.trees} trees rewritten."
        )
    for note in result.remaining:
        click.echo(f"warning: {note}", err=True)
    if dry_run:
        click.echo("Nothing was written (dry run).")
    elif result.moved:
        click.echo("The step index was rebuilt.")
        for line in reminders(store, result.moved):
            click.echo(line)


@click.command()
@click.argument("sessions", nargs=-1, metavar="[SESSION...]")
@click.option("--signed", is_flag=True, help="Also count a session as bad unless its last step has a good signature.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@pass_ctx
def verify(ctx: Context, sessions: Sequence[str], signed: bool, as_json: bool) -> None:
    """Check that sessions are whole (default: every session).

    For each step: its headers parse, its session and number match the ref and run N, N-1, …, 1, its first parent
    is the step before, and its tree and every file in it are present; commits and trees are hashed again. When the
    last step is signed (`trail config sign true`), the signature is checked with `git verify-commit`: ssh
    signatures need gpg.ssh.allowedSignersFile, openpgp ones the signer's key in your keyring; a signature that
    cannot be checked is reported as such, not as bad. Exit status 1 when a session is bad (or, with --signed,
    not signed well).

    \b
    Examples:
      trail verify
      trail verify 3f2a9b1c --signed
      trail verify --json
    """
    from trail.store.address import resolve_session
    from trail.store.handles import Handles
    from trail.store.verify import verify_sessions

    store = ctx.store
    handles = Handles(store.session_ids())
    chosen = [resolve_session(store, name, handles) for name in sessions] if sessions else None
    checks = verify_sessions(store, chosen, require_signature=signed)
    if as_json:
        echo_json([c.to_json() for c in checks])
    else:
        if not checks:
            click.echo("No sessions to verify.")
        for check in checks:
            click.echo(_verdict(check))
    bad = [c.session_id for c in checks if not c.ok]
    if bad:
        raise TrailError(f"{len(bad)} of {len(checks)} sessions failed verification: {', '.join(bad)}")


def _verdict(check: SessionCheck) -> str:
    from trail.store.sign import BAD, GOOD, UNCHECKED

    signature = ""
    if check.signature is not None:
        sig = check.signature
        signature = {
            GOOD: f"; signed ({sig.format}): {sig.detail}",
            BAD: f"; its signature ({sig.format}) does not verify: {sig.detail}",
            UNCHECKED: f"; signed ({sig.format}), signature not checked: {sig.detail}",
        }.get(sig.status, f"; signed ({sig.format}), by a key you do not trust: {sig.detail}")
    fault = check.first_fault
    if fault is None:
        state = "ok " if check.ok else "BAD"
        trees = f"{check.trees} distinct tree{'s' if check.trees != 1 else ''}"
        counts = f"{check.steps} steps, {trees} ({check.seconds:.2f} s)"
        return f"{state} {check.session_id}: {counts}{signature}"
    where = f"step {fault.step}" if fault.step is not None else "its ref"
    commit = f" ({fault.commit[:12]})" if fault.commit else ""
    more = len(check.faults) - 1
    extra = f"; {more} more problem{'s' if more > 1 else ''}" if more else ""
    return f"BAD {check.session_id}: {where}{commit}: {fault.what}{extra}{signature}"

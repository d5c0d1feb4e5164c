"""Recording: `trail record`, `trail watch` and `trail import`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from trail.cli.context import Context, pass_ctx
from trail.errors import TrailError


@click.group("import")
def import_group() -> None:
    """Record past sessions from agents' transcripts, or take in sessions from a bundle."""


@import_group.command("bundle")
@click.argument("path", type=click.Path(dir_okay=False))
@pass_ctx
def import_bundle_command(ctx: Context, path: str) -> None:
    """Take in the sessions of a bundle made by `trail export SESSION --bundle FILE`.

    As a fetch does: new sessions are added, sessions with new steps brought up to date, and a session whose
    history diverged from yours is kept as it is (the bundle's is kept in refs/trail/remotes/bundle/<id>).
    """
    from trail.share.bundle import import_bundle

    result = import_bundle(ctx.store, Path(path))
    for update in result.updates:
        click.echo(f"{update.status:>9}  {ctx.history.handle(update.session)}  {update.detail}".rstrip())
    click.echo(
        f"{result.count('new')} new, {result.count('updated')} updated, {result.count('same')} unchanged, "
        f"{result.count('diverged')} diverged (kept both)"
    )


@import_group.command("claude")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Import every transcript of this repository found under ~/.claude/projects/ (or $CLAUDE_CONFIG_DIR).",
)
@pass_ctx
def import_claude_command(ctx: Context, paths: tuple[str, ...], everything: bool) -> None:
    """Record Claude Code sessions from their transcripts (JSONL files).

    A transcript holds no code state: the steps carry this repository's current HEAD tree, and say so in a
    Trail-Tree trailer. Importing again is safe: only lines not yet recorded are added. A subagent's transcript
    (subagents/agent-<id>.jsonl) becomes a session of its own, linked to its parent's step when the parent was
    imported first.
    """
    from trail.adapters.claude_import import claude_projects_dir, find_claude_transcripts, import_claude

    targets = [Path(p) for p in paths]
    if everything:
        targets += find_claude_transcripts(ctx.repo)
        if not targets:
            raise TrailError(f"no Claude Code transcripts of {ctx.repo.workdir} under {claude_projects_dir()}")
    if not targets:
        raise click.UsageError("name transcripts to import, or use --all")
    from trail.store.maintenance import merge_packs_async

    packs: list[Path] = []
    for path in targets:
        result = import_claude(ctx.repo, path)
        packs += result.packs
        what = f"{result.added} steps" if result.added else result.note
        click.echo(f"{result.session_id}: {what} ({path})")
    merge_packs_async(ctx.repo.commondir, ctx.repo.trail_dir, packs)


@click.command()
@click.option("--daemon", is_flag=True, help="Start the watcher in the background and return once it answers.")
@click.option("--stop", is_flag=True, help="Stop the watcher of this working tree.")
@click.option("--status", is_flag=True, help="Say whether a watcher runs here, and how it is doing.")
@pass_ctx
def watch(ctx: Context, daemon: bool, stop: bool, status: bool) -> None:
    """Watch this working tree so that each step costs what changed, not the size of the repository.

    The watcher keeps the set of changed paths (from file events, honouring .gitignore files) and the
    repository open; trail-hook hands it whole hook payloads and the SDK asks it for snapshots, over a socket in
    .git/trail/ readable by you alone. Without a watcher everything still works, by scanning the tree at each
    step; the recorded trees are the same either way. Runs in the foreground until Ctrl-C unless --daemon.
    One watcher per working tree. `trail config watch.auto true` starts one with each Claude Code session.
    """
    from trail.capture.watch.daemon import start_daemon, stop_daemon, watcher_status
    from trail.capture.watch.server import WatchServer

    repo = ctx.repo
    if sum((daemon, stop, status)) > 1:
        raise click.UsageError("use one of --daemon, --stop and --status")
    if status:
        info = watcher_status(repo)
        if info is None:
            click.echo(f"No watcher runs for {repo.workdir}.")
            raise SystemExit(1)
        click.echo(
            f"Watching {info['workdir']} (pid {info['pid']}, {info['mode']}): {info['requests']} requests, "
            f"{info['snapshots']} snapshots, {info['full_scans']} full scans, "
            f"last snapshot {info['last_snapshot_ms']} ms"
        )
        return
    if stop:
        click.echo("Stopped the watcher." if stop_daemon(repo) else f"No watcher runs for {repo.workdir}.")
        return
    if daemon:
        info = start_daemon(repo)
        click.echo(f"Watching {repo.workdir} in the background (pid {info['pid']}, {info['mode']}).")
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = WatchServer(repo)
    click.echo(f"Watching {repo.workdir}; Ctrl-C stops.", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@pass_ctx
def record(ctx: Context, command: tuple[str, ...]) -> None:
    """Record an agent that has no hooks: trail record -- CMD ARGS...

    Starts a session (and a watcher, if none runs), runs CMD in this terminal, records a file_edit step with
    the code after each burst of file changes (once nothing changed for 300 ms), and the exit status at the end.
    Ctrl-C reaches CMD as usual; SIGHUP (the terminal closed) and SIGTERM are passed on to CMD, and the session
    ends properly once it has exited. Exits with CMD's exit status.
    """
    from trail.capture.record import record_command

    result = record_command(ctx.directory, command)
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP): the session is recorded all the same
        click.echo(f"trail: recorded session {result.session_id} ({result.steps} steps)", err=True)
    raise SystemExit(result.exit_code if result.exit_code >= 0 else 128 - result.exit_code)

"""Recording: `trail record`, `trail watch` and `trail import`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from trail.cli.context import Context, pass_ctx
from trail.errors import TrailError


class ImportGroup(click.Group):
    """`trail import PATH...` finds each file's format; `trail import FORMAT PATH...|--all` names it; `trail import
    bundle FILE` takes in a bundle. The format commands are made from trail.adapters.formats."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from trail.adapters.formats import FORMATS

        return [*FORMATS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from trail.adapters.formats import FORMATS

        if cmd_name in FORMATS:
            return _format_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and args[0] not in self.list_commands(ctx):
            return "import", import_detected, args  # paths: their format decides
        return super().resolve_command(ctx, args)


@click.group(
    "import", cls=ImportGroup, no_args_is_help=True, subcommand_metavar="PATH... | FORMAT [PATH...|--all] | bundle FILE"
)
def import_group() -> None:
    """Record past sessions from the files agents keep, or take in sessions from a bundle.

    `trail import PATH...` recognises each file's format (Claude Code transcripts, and the other agents' files
    listed below) and refuses, recording nothing, a file that is in none of them. `trail import FORMAT --all`
    imports every session of this repository the agent kept. Importing again is safe: only what was not recorded
    yet is added. An imported session holds no code state of its own: its steps carry the repository's HEAD tree
    at import, and say so (a `Trail-Tree` trailer); rewind and bisect refuse those steps.

    \b
    Examples:
      trail import ~/.claude/projects/-home-me-app/3f2a9b1c.jsonl
      trail import claude --all
      trail import bundle fix.bundle
    """


@click.command("import", hidden=True)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False), required=True)
@pass_ctx
def import_detected(ctx: Context, paths: tuple[str, ...]) -> None:
    from trail.adapters import formats

    found = []
    for raw in paths:
        path = Path(raw)
        name = formats.detect(path)
        if name is None:
            raise formats.UnknownFormatError(
                f"{path} is in no format trail reads; nothing was recorded. trail reads: {formats.known()}"
            )
        found.append((name, path))
    _import(ctx, found)


def _format_command(name: str) -> click.Command:
    from trail.adapters import formats

    adapter = formats.module(name)

    @click.command(name, help=getattr(adapter, "HELP", None) or f"Record sessions from {adapter.TITLE}.")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--all",
        "everything",
        is_flag=True,
        help=f"Import every session of this repository found under {adapter.LOCATION}.",
    )
    @pass_ctx
    def command(ctx: Context, paths: tuple[str, ...], everything: bool) -> None:
        targets = [Path(p) for p in paths]
        for path in targets:
            formats.check(name, path)
        if everything:
            found = adapter.find_all(ctx.repo)
            if not found:
                raise TrailError(f"no sessions of {ctx.repo.workdir} under {adapter.LOCATION}")
            targets += found
        if not targets:
            raise click.UsageError("name files to import, or use --all")
        _import(ctx, [(name, path) for path in targets])

    return command


def _import(ctx: Context, items: list[tuple[str, Path]]) -> None:
    """Import each file with its format's adapter, then merge the packs the imports wrote."""
    from trail.adapters import formats
    from trail.store.maintenance import merge_packs_async
    from trail.views.term import clean

    packs: list[Path] = []
    try:
        for name, path in items:
            result = formats.module(name).import_path(ctx.repo, path)
            packs += result.packs
            what = f"{result.added} steps" if result.added else result.note
            click.echo(f"{clean(result.session_id, True)}: {clean(what, True)} ({clean(str(path), True)})")
    finally:
        merge_packs_async(ctx.repo.commondir, ctx.repo.trail_dir, packs)


@import_group.command("bundle")
@click.argument("path", type=click.Path(dir_okay=False))
@pass_ctx
def import_bundle_command(ctx: Context, path: str) -> None:
    """Take in the sessions of a bundle made by `trail export SESSION --bundle FILE`.

    As a fetch does: new sessions are added, sessions with new steps brought up to date, and a session whose
    history diverged from yours is kept as it is (the bundle's is kept in refs/trail/remotes/bundle/<id>).

    \b
    Examples:
      trail import bundle fix.bundle     made by `trail export 3f2a9b1c --bundle fix.bundle`
    """
    from trail.share.bundle import import_bundle

    result = import_bundle(ctx.store, Path(path))
    for update in result.updates:
        click.echo(f"{update.status:>9}  {ctx.history.handle(update.session)}  {update.detail}".rstrip())
    click.echo(
        f"{result.count('new')} new, {result.count('updated')} updated, {result.count('same')} unchanged, "
        f"{result.count('diverged')} diverged (kept both)"
    )


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
    One watcher per working tree; with `watch.auto` on (the default), each agent session trail's hooks record
    starts one.

    \b
    Examples:
      trail watch --daemon
      trail watch --status
      trail watch --stop
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

    \b
    Examples:
      trail record -- aider --model sonnet
      trail record -- python my_agent.py --task fix-tests
    """
    from trail.capture.record import record_command

    result = record_command(ctx.directory, command)
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP): the session is recorded all the same
        click.echo(f"trail: recorded session {result.session_id} ({result.steps} steps)", err=True)
    raise SystemExit(result.exit_code if result.exit_code >= 0 else 128 - result.exit_code)

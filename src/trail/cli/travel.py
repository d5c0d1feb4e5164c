"""Going back to a step: `trail checkout`, `rewind` (with undo and redo), `files` and `cat`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from trail.cli.context import Context, pass_ctx

if TYPE_CHECKING:
    from trail.store.steps import Step


@click.command()
@click.argument("step")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@pass_ctx
def checkout(ctx: Context, step: str, directory: str | None) -> None:
    """Put the exact code of STEP in a new linked worktree and print its path.

    The worktree is created at DIRECTORY (new or empty), or in a temporary folder, with a detached HEAD.
    Your current working tree, index and branches are not touched. Remove it with
    `git worktree remove PATH`.

    \b
    Examples:
      trail checkout @-1                   the code one step before the latest, in a temporary folder
      trail checkout 3f2a9b1c@12 /tmp/s12  step 12 of a session, in /tmp/s12
    """
    from trail.timetravel.checkout import checkout_step

    found = ctx.history.step(step)
    path = checkout_step(ctx.repo, found, directory)
    warn_about_tree(found)
    click.echo(str(path))


def warn_about_tree(found: Step) -> None:
    """Say on stderr what a step's tree does not hold: the code of that moment (an imported step), or files it
    left out."""
    from trail.views.term import clean

    if found.tree_source:
        click.echo(
            f"warning: this step's tree is not the code of that moment: {clean(found.tree_source, True)}", err=True
        )
    for item in found.omitted:
        why = clean(item.reason, True) if item.reason else "over the size limit"
        click.echo(f"note: {clean(item.path, True)} ({item.size} bytes) is not in this step: {why}", err=True)


@click.command()
@click.argument("step", required=False)
@click.option("--undo", is_flag=True, help="Undo the last rewind (or redo) in effect.")
@click.option("--redo", is_flag=True, help="Redo the last rewind undone.")
@click.option("--dry-run", is_flag=True, help="List what would change, and change nothing.")
@click.option("--force", is_flag=True, help="Rewind even though HEAD is on another branch than the session's.")
@pass_ctx
def rewind(ctx: Context, step: str | None, undo: bool, redo: bool, dry_run: bool, force: bool) -> None:
    """Put your working tree back, in place, to the state STEP recorded: modified, added and deleted files,
    binary files, symbolic links, modes.

    Nothing is lost: the working tree as it is now is recorded first, as a `rewind` step of the session, and
    `trail rewind --undo` puts it back, `--redo` goes forward again, any number of times (an operation log per
    working tree, as jj keeps). Your index, HEAD and branches are not touched (`git status` shows the difference
    from your last commit). Ignored files, files the snapshot left out (too large, credentials) and files the
    session never had are left alone. Refused for a step whose tree is not a recorded working tree (an import), and
    when HEAD is on another branch than the session's, unless --force.

    \b
    Examples:
      trail rewind @12 --dry-run
      trail rewind 3f2a9b1c@40
      trail rewind --undo
    """
    from trail.timetravel import rewind as rw
    from trail.views.term import clean

    if sum((bool(step), undo, redo)) != 1:
        raise click.UsageError("name a STEP to rewind to, or use --undo or --redo (one of them)")
    if undo:
        result = rw.undo(ctx.repo, dry_run=dry_run)
        what = "Undid the last rewind"
    elif redo:
        result = rw.redo(ctx.repo, dry_run=dry_run)
        what = "Redid the rewind"
    else:
        assert step is not None
        found = ctx.history.step(step)
        result = rw.rewind(ctx.repo, found, force=force, dry_run=dry_run, target=step)
        what = f"Rewound the working tree to {ctx.history.handle(found.session_id)}@{found.n}"
    for line in rw.describe(result):
        click.echo(clean(line, True))
    for path in result.left_alone:
        click.echo(f"left alone: {clean(path, True)}", err=True)
    if result.dry_run:
        files = f"{len(result.changes)} file{'s' if len(result.changes) != 1 else ''}"
        click.echo(f"(dry run: {files} would change; nothing was)")
        return
    handle = ctx.history.handle(result.session)
    files = f"{len(result.changes)} file{'s' if len(result.changes) != 1 else ''} changed"
    back = "`trail rewind --redo` goes forward again" if undo else "`trail rewind --undo` puts it back"
    click.echo(f"{what}: {files}. The state before is step {handle}@{result.recorded}; {back}.")


@click.command()
@click.argument("step")
@click.argument("path", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the files as JSON (path, mode, kind, size, blob id).")
@pass_ctx
def files(ctx: Context, step: str, path: str | None, as_json: bool) -> None:
    """List the files of STEP (under PATH, a folder), as its tree holds them: no checkout needed.

    \b
    Examples:
      trail files @12
      trail files 3f2a9b1c@40 src/
    """
    from trail.cli.context import echo_json
    from trail.timetravel.files import list_files
    from trail.views.term import clean

    entries = list_files(ctx.repo, ctx.history.step(step), path)
    if as_json:
        echo_json(
            [{"path": e.path, "mode": f"{e.mode:06o}", "kind": e.kind, "size": e.size, "blob": e.oid} for e in entries]
        )
        return
    width = max((len(str(e.size)) for e in entries if e.size is not None), default=1)
    for e in entries:
        size = str(e.size) if e.size is not None else "-"
        click.echo(f"{e.mode:06o} {size.rjust(width)}  {clean(e.path, True)}")


@click.command()
@click.argument("step")
@click.argument("path")
@pass_ctx
def cat(ctx: Context, step: str, path: str) -> None:
    """Print the file PATH as it was at STEP (a symbolic link: its target).

    Bytes go out as they are when piped; on a terminal, control characters are shown as ^X, so that a file cannot
    drive your terminal.

    \b
    Examples:
      trail cat @12 src/app.py
      trail cat 3f2a9b1c@40 data.bin > then.bin
    """
    import sys

    from trail.timetravel.files import read_file
    from trail.views.term import clean_bytes

    data = read_file(ctx.repo, ctx.history.step(step), path)
    out = sys.stdout.buffer
    out.write(clean_bytes(data) if sys.stdout.isatty() else data)
    out.flush()

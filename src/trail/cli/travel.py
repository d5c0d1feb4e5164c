"""Going back to a step: `trail checkout` (and, later, rewind, bisect, blame, resume)."""

from __future__ import annotations

import click

from trail.cli.context import Context, pass_ctx


@click.command()
@click.argument("step")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@pass_ctx
def checkout(ctx: Context, step: str, directory: str | None) -> None:
    """Put the exact code of STEP in a new linked worktree and print its path.

    The worktree is created at DIRECTORY (new or empty), or in a temporary folder, with a detached HEAD.
    Your current working tree, index and branches are not touched. Remove it with
    `git worktree remove PATH`.
    """
    from trail.timetravel.checkout import checkout_step
    from trail.views.term import clean

    found = ctx.history.step(step)
    path = checkout_step(ctx.repo, found, directory)
    if found.tree_source:
        click.echo(
            f"warning: this step's tree is not the code of that moment: {clean(found.tree_source, True)}", err=True
        )
    for item in found.omitted:
        why = clean(item.reason, True) if item.reason else "over the size limit"
        click.echo(f"note: {clean(item.path, True)} ({item.size} bytes) is not in this step: {why}", err=True)
    click.echo(str(path))

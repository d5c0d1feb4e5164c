"""Going over a session again: `trail replay` (the session as a narrative) and `trail resume` (a fork of it, for the
agent to carry on from a step)."""

from __future__ import annotations

import os
import sys

import click

from trail.cli.context import Context, output_options, pass_ctx


@click.command()
@click.argument("session", required=False, metavar="[SESSION]")
@click.option("--from", "first", type=click.IntRange(min=1), metavar="N", help="Start at step N (default: the first).")
@click.option("-i", "--interactive", is_flag=True, help="Step through the session one key at a time (on a terminal).")
@click.option("--full", is_flag=True, help="Print every field whole (long tool outputs are cut otherwise).")
@output_options
@pass_ctx
def replay(
    ctx: Context,
    session: str | None,
    first: int | None,
    interactive: bool,
    full: bool,
    color: str | None,
    no_pager: bool,
) -> None:
    """Tell a SESSION (default: the latest) as it happened, oldest step first: each prompt, answer (with its model
    and tokens), tool call (input and output), decision (with its reasoning), and the code change of every step
    that changed code, coloured and paged as `git log -p` is.

    Given a step (SESSION@N, @N) the replay starts there. The session is read as it is printed, so the first steps
    show at once however long it is. A tool's long output is cut in the middle, with a line saying how much and
    how to see it all (or use --full).

    With --interactive (on a terminal): one step at a time. Keys: n, space or → next step; p or ← previous;
    ] or P next prompt, [ previous prompt; g or : go to a step by number; j/k scroll; q quit; ? help.

    \b
    Examples:
      trail replay                  the latest session
      trail replay 3f2a9b1c --from 40
      trail replay @12 -i
      trail replay 3f2a9b1c --no-pager | less -R
    """
    from trail.errors import TrailError
    from trail.views.narrative import narrate
    from trail.views.stepper import Stepper

    history = ctx.history
    if session:
        found, step = history.resolve(session)
    else:
        found, step = history.latest(), None
    start = first if first is not None else (step.n if step is not None else 1)
    if start > found.steps:
        raise TrailError(f"session {found.handle} has steps 1 to {found.steps}, not {start}")
    if interactive:
        keys = _terminal_keys()
        from trail.views.term import Terminal

        term = Terminal(color=color or ctx.color, paging=False, git_config=ctx.repo.git.config)
        Stepper(history, found, term, keys, sys.stdout, first=start, full=full).run()
        return
    with ctx.terminal(color, no_pager) as term:
        for piece in narrate(history, found, term, start, full):
            term.write_bytes(piece if isinstance(piece, bytes) else piece.encode("utf-8", "surrogateescape"))


def _terminal_keys() -> int:
    """The descriptor keys are read from: standard input if it is the terminal, else the process's terminal."""
    if not sys.stdout.isatty():
        raise click.UsageError(
            "--interactive needs a terminal to show steps on, and standard output is not one; without "
            "--interactive, `trail replay` prints the whole session (to a pipe or a file too)"
        )
    if sys.stdin.isatty():
        return sys.stdin.fileno()
    try:
        return os.open("/dev/tty", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        raise click.UsageError("--interactive reads keys from a terminal, and none could be opened") from None


@click.command()
@click.argument("step")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--agent",
    type=click.Choice(("claude", "codex")),
    help="The agent to carry on with (default: the one that ran the session).",
)
@pass_ctx
def resume(ctx: Context, step: str, directory: str | None, agent: str | None) -> None:
    """Fork a session at STEP and carry on from there with the agent: the exact code of STEP in a new linked
    worktree, and the agent's own session file holding the conversation up to STEP under a new session id. Prints
    the command that continues it.

    \b
    Claude Code: a transcript in ~/.claude/projects/ (CLAUDE_CONFIG_DIR honoured) for `claude --resume ID`, cut
      from the session's own transcript (which is only read), or rebuilt from the steps trail recorded when that
      is gone.
    Codex: a rollout in ~/.codex/sessions/ (CODEX_HOME honoured) for `codex resume ID`, made from the steps.

    The worktree is created at DIRECTORY (new or empty), or beside the repository as <repo>-<session>-<step>, with
    a detached HEAD; your own working tree, index and branches are not touched. Once the agent records the new
    session (its hooks installed), its first step names the step it forked from: `trail log` and `trail sessions`
    show "forked from SESSION@N". Remove the fork with `git worktree remove DIRECTORY`.

    \b
    Examples:
      trail resume @12
      trail resume 3f2a9b1c@40 ../try-again
      trail resume @7 --agent codex
    """
    from trail.cli.travel import warn_about_tree
    from trail.timetravel.resume import resume as fork_session
    from trail.views.term import clean

    history = ctx.history
    found = history.step(step)
    fork = fork_session(history, found, agent, directory)
    address = f"{history.handle(found.session_id)}@{found.n}"
    warn_about_tree(found)
    if fork.last_step != found.n:
        click.echo(f"note: the conversation ends at step {fork.last_step}, the last before {found.n} it has", err=True)
    if fork.dropped_calls:
        click.echo(
            f"note: {fork.dropped_calls} tool call(s) in progress at that step are left out: their results came later",
            err=True,
        )
    _hooks_note(fork.agent, fork.worktree, address)
    name = "Claude Code" if fork.agent == "claude" else "Codex"
    made = f"cut from {clean(str(fork.source), True)}" if fork.source else "made from the steps trail recorded"
    click.echo(
        f"Forked {clean(address, True)} into {clean(str(fork.worktree), True)} (detached at {found.commit[:10]})."
    )
    click.echo(f"{name} session {fork.session_id}: {clean(str(fork.session_file), True)} ({made}).")
    click.echo("Carry on with:")
    click.echo(f"  {clean(fork.command, True)}")


def _hooks_note(agent: str, worktree: os.PathLike[str], address: str) -> None:
    """Say so when nothing will record the new session, since the link to the step is made when it is recorded."""
    from pathlib import Path

    if agent == "codex":
        from trail.install import codex

        if not any(found.installed for found in codex.installations(Path(worktree))):
            click.echo(
                "note: trail's Codex hooks are not installed, so the continuation will not be recorded as it goes: "
                f"run `trail -C {worktree} hooks install codex` first, or `trail import codex --all` afterwards; "
                f"either way it is linked to {address} (the record waits in .git/trail/forks/)",
                err=True,
            )
        return
    from trail.install.agents import claude_status

    installed = any(claude_status(scope, Path(worktree)).installed for scope in ("project", "local", "user"))
    if not installed:
        click.echo(
            f"note: trail's Claude Code hooks are not installed for the new worktree, so the continuation will not be "
            f"recorded: run `trail -C {worktree} hooks install claude` first",
            err=True,
        )

"""Setting trail up: `trail init`, `config`, `doctor` and `demo`."""

from __future__ import annotations

import shlex

import click

from trail.cli.context import Context, pass_ctx


@click.command()
@click.option(
    "--share",
    "share",
    metavar="REMOTE",
    help="Also make a plain `git fetch REMOTE` bring sessions (adds a fetch refspec; never forced).",
)
@pass_ctx
def init(ctx: Context, share: str | None) -> None:
    """Prepare this repository for trail (.git/trail/ and its config file).

    Optional: recording creates what it needs. The config file explains the settings
    (snapshot.maxFileSize, redact.pattern, redact.enabled).

    With --share REMOTE, `git fetch REMOTE` also fetches refs/trail/sessions/*: new sessions and new steps come in,
    and a session that diverged is refused by git itself (yours is kept). Pushing stays explicit (`trail push`).

    \b
    Examples:
      trail init
      trail init --share origin
    """
    from trail.config import init_trail

    created = init_trail(ctx.repo)
    state = "Initialized" if created else "Already initialized:"
    click.echo(f"{state} trail in {ctx.repo.trail_dir}")
    if share:
        from trail.share.remote import share_by_default

        added = share_by_default(ctx.store, share)
        what = "now fetches" if added else "already fetched"
        click.echo(f"`git fetch {share}` {what} sessions too (refs/trail/sessions/*).")


class _ConfigCommand(click.Command):
    """`trail config`, whose --help ends with the table of keys made from the schema (trail/config.py), so that
    the help cannot drift from what trail accepts. Made when the help is shown: `trail init` pays nothing for it."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from trail.config import keys_help

        super().format_help_text(ctx, formatter)
        with formatter.section("Keys (in any case)"):
            formatter.write_dl(keys_help(), col_max=28)


@click.command("config", cls=_ConfigCommand)
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--add", is_flag=True, help="Add VALUE to a key that holds several (redact.pattern, snapshot.allow…).")
@click.option("--unset", is_flag=True, help="Remove KEY from the repository's file.")
@click.option("--list", "as_list", is_flag=True, help="Show every setting: its value, its default and its source.")
@click.option(
    "--show-origin",
    is_flag=True,
    help="As git config does: prefix each value with file:<path> of the file it comes from, or default.",
)
@pass_ctx
def config_command(
    ctx: Context, key: str | None, value: str | None, add: bool, unset: bool, as_list: bool, show_origin: bool
) -> None:
    """Read or change trail's settings for this repository (.git/trail/config).

    Your defaults for every repository go in ~/.config/trail/config (edit it with git config -f); the
    repository's own file overrides them. A value is checked before it is written: a size, a number out of
    bounds, a regular expression that does not compile or a key trail does not know is refused (exit 1) and
    nothing changes. A bad value written by hand is not fatal: trail uses the key's default, logs the problem,
    and `trail doctor` and `trail config --list` show it.

    \b
    Examples:
      trail config --list                          # every setting, its value, default and source
      trail config --list --show-origin            # as git config --list --show-origin prints it
      trail config snapshot.maxFileSize 20m
      trail config watch.auto false
      trail config --add redact.pattern 'acme_[0-9a-f]{32}'
      trail config --add snapshot.allow .env.test
      trail config price.claude-sonnet-4-5.output 15
      trail config --unset watch.idleMinutes
    """
    from trail import config

    if as_list:
        if key is not None or add or unset:
            raise click.UsageError("--list takes no KEY, --add or --unset")
        lines, warnings = config.list_values(ctx.repo.config, show_origin=show_origin)
    elif key is None:
        raise click.UsageError("name a KEY (or use --list); the keys are listed below `trail config --help`")
    elif unset:
        if value is not None or add:
            raise click.UsageError("--unset takes a KEY alone")
        config.unset_value(ctx.repo, key)
        return
    elif value is not None:
        config.set_value(ctx.repo, key, value, add=add)
        return
    elif add:
        raise click.UsageError("--add needs a KEY and a VALUE")
    else:
        lines, warnings = config.show_value(ctx.repo.config, key, show_origin=show_origin)
    for line in lines:
        click.echo(line)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.option(
    "--fix",
    is_flag=True,
    help="Repair what can be: record kept payloads, remove stale locks, tighten permissions, rewrite hooks that run "
    "nothing where that is safe.",
)
@pass_ctx
def doctor(ctx: Context, fix: bool) -> None:
    """Check that trail can record here, and show errors it logged.

    With --fix, also repair what it finds: hook payloads kept for later (a hook out of time, a failure) are
    recorded, oldest first, once; lock files left by a writer that was killed are removed; trail's files are made
    readable by you alone.

    The hooks of every agent (Claude Code, git, and those of `trail hooks status`) are checked in every scope: a
    hook whose command finds no trail-hook where the agent runs it records nothing, silently (a bare `trail-hook`
    that only a virtual environment provides, a program that was moved) and fails the check; a settings file
    shared through git that names a trail-hook inside your virtual environment or home folder is a warning. --fix
    writes such a hook again, with trail-hook's full path, only in a file of your own that holds all of trail's
    entries; otherwise it says what to run.

    \b
    Examples:
      trail doctor
      trail doctor --fix
    """
    import importlib

    from trail.cli.hooks import MORE_AGENTS
    from trail.doctor import FAIL, run_checks

    agents = [importlib.import_module(module) for module in MORE_AGENTS.values()]
    checks = run_checks(ctx.directory, fix=fix, agents=agents)
    width = max(len(c.name) for c in checks)
    for c in checks:
        click.echo(f"[{c.status:>4}] {c.name.ljust(width)}  {c.detail}")
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Record a sample agent session in a throwaway repository, to try trail on.

    The repository is created at DIRECTORY (new or empty) or in a temporary folder.

    \b
    Examples:
      trail demo
      trail demo /tmp/trail-demo
    """
    from trail.demo import run_demo

    result = run_demo(directory)
    sid = result.session_id
    edit = next((s.n for s in result.steps if s.event.payload.get("name") == "Edit"), 2)
    trail, folder = _this_trail()
    click.echo(f"Recorded a sample session of {len(result.steps)} steps in {result.path}\n")
    click.echo("Try:")
    lines = [
        (f"cd {shlex.quote(str(result.path))}", ""),
        (f"{trail} replay", "the session as a story: prompts, answers, tools, diffs"),
        (f"{trail} view --open", "the same as a page in your browser"),
        (f"{trail} show @{edit}", "one step in full"),
        (f"{trail} blame stats.py", "which step and prompt wrote each line"),
        (f"{trail} search ZeroDivisionError", "search every session"),
        (f"{trail} rewind @{edit - 1}", "the code just before the fix, in place (trail rewind --undo)"),
        (f"{trail} stats", "steps, tools and tokens"),
        (f"git log --stat trail/sessions/{sid}", "the same history, with plain git"),
    ]
    width = max(len(cmd) for cmd, _ in lines[:-1])
    for cmd, what in lines:
        click.echo(f"  {cmd.ljust(width)}  {'# ' + what if what else ''}".rstrip())
    if folder is not None:
        click.echo(
            f"\n`trail` is not on your PATH, so the commands above name it in full. To type `trail` alone:\n"
            f'  export PATH="{folder}:$PATH"       # in ~/.bashrc or ~/.zshrc to keep it\n'
            "or install it for your user with `pipx install .` (or `uv tool install .`) from trail's folder."
        )
    click.echo("\nTo record your own sessions: `trail hooks install claude|codex|gemini|cursor` in your repository,")
    click.echo("`trail import PATH` for an agent's saved logs (aider too), `trail record -- CMD` (any agent), or")
    click.echo("trail.Recorder from Python.")


def _this_trail() -> tuple[str, str | None]:
    """How to run this trail from any folder: `trail` when the shell finds this same program, else its full path
    (quoted for a POSIX shell), with the folder to add to PATH."""
    import shutil
    import sys
    from pathlib import Path

    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if me is None or not me.is_file() or me.suffix == ".py":
        me = Path(sys.executable).resolve().parent / "trail"  # `python -m trail`: the script beside this Python
    found = shutil.which("trail")
    if found is not None and Path(found).resolve() == me:
        return "trail", None
    return shlex.quote(str(me)), str(me.parent)

"""Setting trail up: `trail init`, `config`, `doctor` and `demo`."""

from __future__ import annotations

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


@click.command("config")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--add", is_flag=True, help="Add VALUE to a key that can hold several (redact.pattern).")
@click.option("--unset", is_flag=True, help="Remove KEY.")
@click.option("--list", "as_list", is_flag=True, help="Show every setting.")
@pass_ctx
def config_command(ctx: Context, key: str | None, value: str | None, add: bool, unset: bool, as_list: bool) -> None:
    """Read or change trail's settings for this repository (.git/trail/config).

    Your defaults for every repository go in ~/.config/trail/config (edit it with git config -f); the
    repository's own file overrides them.

    \b
    Keys:
      snapshot.maxFileSize       files larger than this are left out of steps (default 10m)
      snapshot.sensitive         a file-name pattern left out of snapshots, like .env (several with --add)
      snapshot.allow             a file-name pattern kept in snapshots after all (several with --add)
      snapshot.sensitiveDefaults false: only your own snapshot.sensitive patterns apply (default true)
      redact.pattern             an extra regex to redact; several with --add
      redact.enabled             false turns redaction off (default true)
      watch.auto                 false: agent sessions (hooks) do not start `trail watch` (default true)
      watch.idleMinutes          a watcher with no request for this long stops (default 60)
      claude.transcriptRoot      another folder transcripts may be read from (several with --add)
      sign                       true: sign each session when it ends, with your git signing key (default false)
      otel.otherSpans            skip: `trail otel serve` and `trail import otlp` drop non-GenAI spans (default note)
      price.<model>.<kind>       input, output, cacheRead or cacheWrite price per million tokens (trail stats)

    \b
    Examples:
      trail config watch.auto false
      trail config --add snapshot.allow .env.test
      trail config price.claude-sonnet-4-5.output 15
    """
    from trail.config import init_trail, set_config

    init_trail(ctx.repo)
    out = set_config(ctx.repo, key, value, add=add, unset=unset, as_list=as_list)
    if out:
        click.echo(out, nl=not out.endswith("\n"))


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
    """
    from trail.demo import run_demo

    result = run_demo(directory)
    sid = result.session_id
    edit = next((s.n for s in result.steps if s.event.payload.get("name") == "Edit"), 2)
    click.echo(f"Recorded a sample session of {len(result.steps)} steps in {result.path}\n")
    click.echo("Try:")
    lines = [
        (f"cd {result.path}", ""),
        ("trail replay", "the session as a story: prompts, answers, tools, diffs"),
        ("trail view --open", "the same as a page in your browser"),
        (f"trail show @{edit}", "one step in full"),
        ("trail blame stats.py", "which step and prompt wrote each line"),
        ("trail search ZeroDivisionError", "search every session"),
        (f"trail rewind @{edit - 1}", "the code just before the fix, in place (trail rewind --undo)"),
        ("trail stats", "steps, tools and tokens"),
        (f"git log --stat trail/sessions/{sid}", "the same history, with plain git"),
    ]
    width = max(len(cmd) for cmd, _ in lines[:-1])
    for cmd, what in lines:
        click.echo(f"  {cmd.ljust(width)}  {'# ' + what if what else ''}".rstrip())
    click.echo("\nTo record your own sessions: `trail hooks install claude|codex|gemini|cursor` in your repository,")
    click.echo("`trail import PATH` for an agent's saved logs (aider too), `trail record -- CMD` (any agent), or")
    click.echo("trail.Recorder from Python.")

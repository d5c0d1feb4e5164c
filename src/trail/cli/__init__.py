"""The `trail` command line: parsing, output and exit codes only; the work is done by the modules it calls.

Exit codes: 0 success, 1 a problem the message explains (TrailError), 2 a usage error, 3 an unexpected failure
(a traceback is written to a log file named in the message), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from trail import __version__
from trail.cli.context import Context, echo_json, pass_ctx
from trail.cli.hooks import hooks
from trail.errors import TrailError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-C",
    "directory",
    default=".",
    metavar="PATH",
    help="Run as if trail was started in PATH (like git -C).",
)
@click.version_option(__version__, prog_name="trail")
@click.pass_context
def cli(ctx: click.Context, directory: str) -> None:
    """trail: a flight recorder for coding agents.

    trail records every step of an agent session (prompts, responses, tool calls, decisions) together with the
    code of the working tree at that step, into the repository itself: each session is a ref,
    refs/trail/sessions/<id>, and each step a commit on it. Your index, HEAD, branches and files are never
    touched.

    \b
    Steps are named by:
      SESSION@N   step N of a session (SESSION may be any unique prefix of its id)
      @N          step N of the latest session (@0 is its last step, @-1 the one before)
      SESSION     the last step of a session
      COMMIT      a step's commit id, or any revision that names one (trail/sessions/<id>~2)

    Start with `trail demo` to see a recorded session.
    """
    ctx.obj = Context(directory)


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Prepare this repository for trail (.git/trail/ and its config file).

    Optional: recording creates what it needs. The config file explains the settings
    (snapshot.maxFileSize, redact.pattern, redact.enabled).
    """
    from trail.config import init_trail

    created = init_trail(ctx.repo)
    state = "Initialized" if created else "Already initialized:"
    click.echo(f"{state} trail in {ctx.repo.trail_dir}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option(
    "--commit",
    "commit",
    metavar="REV",
    help="Only the sessions in which you made commit REV (recorded by `trail hooks install git`), with the "
    "steps that led to it.",
)
@pass_ctx
def sessions(ctx: Context, as_json: bool, commit: str | None) -> None:
    """List recorded sessions, most recently active first."""
    from trail.views.terminal import format_commit_origins, format_sessions

    store = ctx.store
    if commit:
        origins = store.steps_leading_to(commit)
        if as_json:
            echo_json([{**info.to_json(), "steps": [s.to_json() for s in steps]} for info, steps in origins])
        else:
            click.echo(format_commit_origins(commit, origins), nl=False)
        return
    found = store.sessions()
    if as_json:
        echo_json([info.to_json() for info in found])
    else:
        click.echo(format_sessions(found), nl=False)


@cli.command()
@click.argument("session", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of steps, each with its full event.")
@pass_ctx
def log(ctx: Context, session: str | None, as_json: bool) -> None:
    """Show the steps of SESSION (default: the latest session), oldest first.

    SESSION is a session id or any unique prefix of one.
    """
    from trail.views.terminal import format_log

    store = ctx.store
    sid = store.resolve_session(session) if session else store.latest_session()
    steps = store.steps(sid)
    if as_json:
        echo_json([step.to_json() for step in steps])
        return
    info = store.session(sid)
    click.echo(format_log(info, steps), nl=False)


@cli.command()
@click.argument("step")
@click.option("--json", "as_json", is_flag=True, help="Print the step and its full event as JSON.")
@pass_ctx
def show(ctx: Context, step: str, as_json: bool) -> None:
    """Show one step in full: what happened, its text, and which files it changed."""
    from trail.views.terminal import format_step

    store = ctx.store
    found = store.resolve(step)
    if as_json:
        echo_json(found.to_json())
        return
    stats = store.diff(None, found).stats
    diffstat = (
        f"{stats.files_changed} changed, {stats.insertions} insertions(+), {stats.deletions} deletions(-)"
        if stats.files_changed
        else "no change"
    )
    click.echo(format_step(found, diffstat), nl=False)


@cli.command()
@click.argument("step")
@click.argument("step2", required=False)
@click.option("--stat", is_flag=True, help="Show a summary of changed files instead of the patch.")
@pass_ctx
def diff(ctx: Context, step: str, step2: str | None, stat: bool) -> None:
    """Show the code change of STEP, or from STEP to STEP2.

    Same as `git diff STEP~1 STEP` (or `git diff STEP STEP2`) on the step commits.
    """
    store = ctx.store
    first = store.resolve(step)
    changes = store.diff(first, store.resolve(step2)) if step2 else store.diff(None, first)
    if stat:
        from pygit2.enums import DiffStatsFormat

        click.echo(changes.stats.format(DiffStatsFormat.FULL | DiffStatsFormat.INCLUDE_SUMMARY, 80), nl=False)
        return
    out = sys.stdout.buffer
    for index in range(len(changes)):
        patch = changes[index]
        if patch is not None:
            out.write(patch.data)  # bytes: file contents and names need not be UTF-8
    out.flush()


@cli.command()
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

    found = ctx.store.resolve(step)
    path = checkout_step(ctx.repo, found, directory)
    for item in found.omitted:
        click.echo(f"note: {item.path} ({item.size} bytes) was over the size limit and is not in this step", err=True)
    click.echo(str(path))


@cli.command()
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
        ("trail log", "the session, step by step"),
        (f"trail show @{edit}", "one step in full"),
        (f"trail diff @{edit}", "the code change the agent made"),
        (f"trail checkout @{edit - 1}", "the code just before that, in a new worktree"),
        (f"git log --stat trail/sessions/{sid}", "the same history, with plain git"),
    ]
    width = max(len(cmd) for cmd, _ in lines[:-1])
    for cmd, what in lines:
        click.echo(f"  {cmd.ljust(width)}  {'# ' + what if what else ''}".rstrip())
    click.echo("\nTo record your own sessions: `trail hooks install claude` in your repository (Claude Code),")
    click.echo("`trail record -- CMD` (any agent), or trail.Recorder from Python.")


@cli.group("import")
def import_group() -> None:
    """Record past sessions from agents' transcripts."""


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
    for path in targets:
        result = import_claude(ctx.repo, path)
        what = f"{result.added} steps" if result.added else result.note
        click.echo(f"{result.session_id}: {what} ({path})")


@cli.command()
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


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@pass_ctx
def record(ctx: Context, command: tuple[str, ...]) -> None:
    """Record an agent that has no hooks: trail record -- CMD ARGS...

    Starts a session (and a watcher, if none runs), runs CMD in this terminal, records a file_edit step with
    the code after each burst of file changes (once nothing changed for 300 ms), and the exit status at the end.
    Ctrl-C reaches CMD as usual. Exits with CMD's exit status.
    """
    from trail.capture.record import record_command

    result = record_command(ctx.directory, command)
    click.echo(f"trail: recorded session {result.session_id} ({result.steps} steps)", err=True)
    raise SystemExit(result.exit_code if result.exit_code >= 0 else 128 - result.exit_code)


@cli.command("config")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--add", is_flag=True, help="Add VALUE to a key that can hold several (redact.pattern).")
@click.option("--unset", is_flag=True, help="Remove KEY.")
@click.option("--list", "as_list", is_flag=True, help="Show every setting.")
@pass_ctx
def config_command(ctx: Context, key: str | None, value: str | None, add: bool, unset: bool, as_list: bool) -> None:
    """Read or change trail's settings for this repository (.git/trail/config).

    \b
    Keys:
      snapshot.maxFileSize  files larger than this are left out of steps (default 10m)
      redact.pattern        an extra regex to redact; several with --add
      redact.enabled        false turns redaction off (default true)
      watch.auto            true: a Claude Code session starts `trail watch` (default false)
    """
    from trail.config import init_trail, set_config

    init_trail(ctx.repo)
    out = set_config(ctx.repo, key, value, add=add, unset=unset, as_list=as_list)
    if out:
        click.echo(out, nl=not out.endswith("\n"))


@cli.command()
@pass_ctx
def doctor(ctx: Context) -> None:
    """Check that trail can record here, and show errors it logged."""
    from trail.doctor import FAIL, run_checks

    checks = run_checks(ctx.directory)
    width = max(len(c.name) for c in checks)
    for c in checks:
        click.echo(f"[{c.status:>4}] {c.name.ljust(width)}  {c.detail}")
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)


cli.add_command(hooks)


def _crash_log_path(directory: str) -> Path:
    try:
        from trail.repo import TrailRepo

        repo = TrailRepo.discover(directory)
        repo.ensure_dirs()
        return repo.trail_dir / "crash.log"
    except Exception:
        return Path(tempfile.gettempdir()) / "trail-crash.log"


def _directory_from_argv(argv: Sequence[str]) -> str:
    for i, arg in enumerate(argv[:-1]):
        if arg == "-C":
            return argv[i + 1]
    return "."


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="trail", standalone_mode=False)
        return 0
    except TrailError as e:
        click.ClickException(str(e)).show()
        return 1
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except BrokenPipeError:
        # The reader went away (`trail log | head`): not an error. Stop Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        log = _crash_log_path(_directory_from_argv(args))
        try:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"--- {datetime.now().isoformat()} trail {__version__} argv={args!r}\n")
                f.write(traceback.format_exc())
        except OSError:
            log = Path("(could not write a log)")
        kind = sys.exc_info()[0]
        click.echo(
            f"trail: unexpected error ({kind.__name__ if kind else 'unknown'}); this is a bug in trail. "
            f"The details are in {log}: please include them in a report.",
            err=True,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())

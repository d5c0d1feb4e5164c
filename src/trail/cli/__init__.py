"""The `trail` command line: parsing, output and exit codes only; the work is done by the modules it calls.

Commands live in modules by family (read.py, view.py, capture.py, travel.py, maintain.py, admin.py, hooks.py) and are
imported only when run, so a command pays for what it uses and nothing else.

Exit codes: 0 success, 1 a problem the message explains (TrailError), 2 a usage error, 3 an unexpected failure
(a traceback is written to a log file named in the message), 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from trail import __version__
from trail.cli.context import Context
from trail.errors import TrailError

# name -> (module, attribute), in the order `trail --help` lists them.
COMMANDS = {
    "sessions": ("trail.cli.read", "sessions"),
    "log": ("trail.cli.read", "log"),
    "show": ("trail.cli.read", "show"),
    "diff": ("trail.cli.read", "diff"),
    "stats": ("trail.cli.read", "stats"),
    "view": ("trail.cli.view", "view"),
    "serve": ("trail.cli.view", "serve"),
    "export": ("trail.cli.view", "export"),
    "search": ("trail.cli.search", "search"),
    "reindex": ("trail.cli.search", "reindex"),
    "push": ("trail.cli.share", "push"),
    "fetch": ("trail.cli.share", "fetch"),
    "archive": ("trail.cli.archive", "archive"),
    "checkout": ("trail.cli.travel", "checkout"),
    "rewind": ("trail.cli.travel", "rewind"),
    "files": ("trail.cli.travel", "files"),
    "cat": ("trail.cli.travel", "cat"),
    "bisect": ("trail.cli.bisect", "bisect"),
    "blame": ("trail.cli.bisect", "blame"),
    "replay": ("trail.cli.resume", "replay"),
    "resume": ("trail.cli.resume", "resume"),
    "rm": ("trail.cli.maintain", "rm"),
    "prune": ("trail.cli.maintain", "prune"),
    "scrub": ("trail.cli.maintain", "scrub"),
    "verify": ("trail.cli.maintain", "verify"),
    "record": ("trail.cli.capture", "record"),
    "watch": ("trail.cli.capture", "watch"),
    "import": ("trail.cli.capture", "import_group"),
    "otel": ("trail.cli.otel", "otel_group"),
    "hooks": ("trail.cli.hooks", "hooks"),
    "init": ("trail.cli.admin", "init"),
    "config": ("trail.cli.admin", "config_command"),
    "doctor": ("trail.cli.admin", "doctor"),
    "demo": ("trail.cli.admin", "demo"),
    "completion": ("trail.cli.completion", "completion"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are run (or listed by --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + [name for name in super().list_commands(ctx) if name not in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-C",
    "directory",
    default=".",
    metavar="PATH",
    help="Run as if trail was started in PATH (like git -C).",
)
@click.option(
    "--color",
    type=click.Choice(("auto", "always", "never")),
    default="auto",
    help="Colour the output: auto (on a terminal, unless NO_COLOR is set), always or never.",
)
@click.option("--no-pager", is_flag=True, help="Never page the output (as git --no-pager).")
@click.version_option(__version__, prog_name="trail")
@click.pass_context
def cli(ctx: click.Context, directory: str, color: str, no_pager: bool) -> None:
    """trail: a flight recorder for coding agents.

    trail records every step of an agent session (prompts, responses, tool calls, decisions) together with the
    code of the working tree at that step, into the repository itself: each session is a ref,
    refs/trail/sessions/<id>, and each step a commit on it. Your index, HEAD, branches and files are never
    touched.

    \b
    Steps are named by:
      SESSION@N   step N of a session (SESSION: its id, a unique prefix, or the handle trail shows)
      @N          step N of the latest session (@0 is its last step, @-1 the one before)
      SESSION     a session (its last step, where one step is meant)
      COMMIT      a step's commit id, or any revision that names one (trail/sessions/<id>~2)

    Long output goes through your pager (GIT_PAGER, core.pager, PAGER, less) on a terminal.
    Start with `trail demo` to see a recorded session.

    \b
    Examples:
      trail demo                      record a sample session, and see what to try on it
      trail hooks install claude      record the Claude Code sessions of this repository
      trail log                       the steps of the latest session
      trail -C ~/src/app sessions     the sessions of another repository
      trail COMMAND --help            what a command does, with examples
    """
    ctx.obj = Context(directory, color=color, paging=not no_pager)


def _crash_log_path(directory: str) -> Path:
    import tempfile

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
        # Not standalone, click returns the code of a `ctx.exit(n)` (click.exceptions.Exit) instead of raising it.
        code = cli.main(args=args, prog_name="trail", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except TrailError as e:
        click.ClickException(str(e)).show()
        return 1
    except (click.exceptions.Abort, KeyboardInterrupt):
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
        import traceback
        from datetime import datetime

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

"""Finding where a session went wrong: `trail bisect` (the first step where a command fails) and `trail blame`
(the step, prompt and tool call behind each line of a file)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from trail.cli.context import Context, echo_json, json_text, output_options, pass_ctx

PROMPT_WIDTH = 32
WHAT_WIDTH = 14


@click.command()
@click.argument("session")
@click.option("--run", "command", required=True, metavar="CMD", help="The command that tells good from bad.")
@click.option(
    "--base",
    metavar="STEP",
    help="A step known to be good (N, or SESSION@N); default: the session's first step, the code it started from.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the runs, the step, its prompt).")
@output_options
@pass_ctx
def bisect(
    ctx: Context, session: str, command: str, base: str | None, as_json: bool, color: str | None, no_pager: bool
) -> None:
    """Find the first step of SESSION where CMD fails, as `git bisect run` finds a commit.

    Each step is checked out in a temporary linked worktree (removed afterwards, also on Ctrl-C or when CMD cannot
    start) and CMD runs there through `sh -c`. Exit 0 means good, 125 that the step cannot be tested (a neighbour
    is tried instead), 1 to 127 bad; above 127 or a signal stops the search, as with git. CMD must pass at the
    session's first step (the code it started from; --base names another) and fail at its last step. Only steps
    that changed the code are run: a 64-step session takes at most 8 runs. Imported steps, whose tree is not the
    code of their moment, are never run: they count as steps that cannot be tested.

    Prints the runs, then the first bad step with the prompt that led to it, its tool call, the decision taken
    since that prompt, and its diff. CMD's own output and the progress go to standard error. Your working tree,
    index and HEAD are not touched. Exits 1 when there is nothing to find, or when skipped steps leave several
    that could be the first bad one (they are listed).

    \b
    Examples:
      trail bisect 3f2a9b1c --run "pytest -x tests/test_invoices.py"
      trail bisect 3f2a9b1c --run "make test" --base 12
      trail bisect @ --run "./check.sh" --json
    """
    from trail.timetravel import bisect as engine
    from trail.timetravel.blame import StepLookup

    history = ctx.history
    found = history.latest() if session == "@" else history.resolve(session)[0]  # a step names its session
    handle = history.handle(found.id)
    good = None
    if base:
        if base.isdigit() and not 1 <= int(base) <= found.steps:
            raise click.BadParameter(f"session {found.handle} has steps 1 to {found.steps}", param_hint="--base")
        good = found.step(int(base)) if base.isdigit() else history.step(base)
    result = engine.bisect(
        ctx.repo,
        found.id,
        command,
        good=good,
        progress=lambda text: click.echo(
            f"trail bisect: {_clean_line(text.replace(found.id + '@', handle + '@'))}", err=True
        ),
    )
    lookup = StepLookup(history.store)
    bad = result.first_bad
    prompt = lookup.prompt_before(bad.session_id, bad.n) if bad is not None else None
    decision = lookup.decision_since_prompt(bad.session_id, bad.n) if bad is not None else None
    changes = history.changes(bad) if bad is not None else []
    if as_json:
        echo_json(
            {
                "session": found.id,
                "handle": handle,
                "command": command,
                "good": result.good.to_json(full=False),
                "first_bad": bad.to_json(full=False) if bad is not None else None,
                "candidates": [s.n for s in result.candidates],
                "prompt": _step_json(prompt),
                "decision": _step_json(decision),
                "files": [c.to_json() for c in changes],
                "runs": [r.to_json() for r in result.runs],
                "tested_steps": result.tested_steps,
                "unchanged_steps": result.unchanged_steps,
                "imported_steps": result.imported_steps,
            }
        )
    else:
        with ctx.terminal(color, no_pager) as term:
            term.write(_format_bisect(result, handle, command, prompt, decision, changes, term))
            if bad is not None:
                _write_diff(history.diff(None, bad), term)
    if bad is None:
        raise SystemExit(1)


@click.command()
@click.argument("paths", nargs=-1, metavar="PATH")
@click.option("--step", "step", metavar="STEP", help="Blame the file as STEP's tree holds it (default: on disk now).")
@click.option("--session", "session", metavar="SESSION", help="Weigh only this session's steps.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per line of the file.")
@click.option(
    "--agent-trace",
    "agent_trace",
    metavar="RANGE",
    help="Instead: an Agent Trace record (JSON, one per line) for each commit of RANGE (A..B, or one commit), "
    "for the files it changed (those under the PATHs given).",
)
@output_options
@pass_ctx
def blame(
    ctx: Context,
    paths: tuple[str, ...],
    step: str | None,
    session: str | None,
    as_json: bool,
    agent_trace: str | None,
    color: str | None,
    no_pager: bool,
) -> None:
    """Show, for each line of PATH, the recorded step that last changed it, the prompt that led to it and the
    tool call, as `git blame` shows commits.

    Any tool's change counts (an Edit, a `sed` run through Bash, a formatter): each step's tree is the whole
    working tree, so the steps where the file changed are compared. Lines no session wrote show your commit, as
    `git blame` names it, or `not committed`. A line a session wrote that you committed unchanged is the session's;
    a line you rewrote since is yours. By default PATH is the file on disk and every session that changed it is
    weighed; with --step, the file as that step had it, that session up to the step and the sessions before it.

    With --agent-trace A..B, prints the same attribution for each commit of the range as an Agent Trace record
    (the open format of agent-trace.dev, version 0.1), one JSON object per line: the lines each commit added,
    grouped by session (`ai`, with the model; `url` trail:<session>) and by person (`human`).

    \b
    Examples:
      trail blame src/app.py
      trail blame src/app.py --step 3f2a9b1c@40 --json
      trail blame --agent-trace main..HEAD > traces.jsonl
    """
    from trail.timetravel.blame import Blamer

    history = ctx.history
    repo_paths = [_repo_path(ctx, p) for p in paths]
    if agent_trace is not None:
        if step or as_json or session:
            raise click.UsageError("--agent-trace takes a commit range and PATHs only")
        from trail.timetravel.agent_trace import export

        for record in export(history.store, agent_trace, repo_paths):
            sys.stdout.write(json_text(record, indent=None) + "\n")
        return
    if len(repo_paths) != 1:
        raise click.UsageError("name one file to blame (several PATHs go with --agent-trace)")
    path = repo_paths[0]
    session_id = history.session(session).id if session else None
    blamer = Blamer(history.store)
    result = blamer.at_step(history.step(step), path, session_id) if step else blamer.worktree(path, session_id)
    if as_json:
        # One object per line of the file, each on one line: a long file stays quick to write and to grep.
        rows = [json_text(line.to_json(), indent=None) for line in result.lines]
        sys.stdout.write("[\n" + ",\n".join(rows) + "\n]\n" if rows else "[]\n")
        return
    with ctx.terminal(color, no_pager) as term:
        term.write(_format_blame(result, history.handle, term))


# -- bisect output --------------------------------------------------------------------------------------------------


def _step_json(step: Any) -> dict[str, Any] | None:
    if step is None:
        return None
    text = step.event.payload.get("text") if step.kind == "prompt" else None
    return {**step.to_json(full=False), **({"text": text} if isinstance(text, str) else {})}


def _clean_line(text: str) -> str:
    from trail.views.term import clean

    return clean(text, True)


def _format_bisect(result: Any, handle: str, command: str, prompt: Any, decision: Any, changes: Any, term: Any) -> str:
    from trail.views.term import clean
    from trail.views.terminal import diffstat, file_lines, kind_label, local

    width = len(str(result.last.n)) + 1
    lines = [term.style("bold", f"bisect log of {clean(handle)}: {clean(command, True)}")]
    for run in result.runs:
        style = {"good": "green", "bad": "red", "skip": "yellow"}[run.verdict]
        note = f"  {run.role}" if run.role else ""
        lines.append(
            f"  {term.style('yellow', f'@{run.step.n}'.ljust(width))}  {term.style(style, run.verdict.ljust(4))}  "
            f"exit {run.code:<3}  {run.seconds:6.2f}s{note}"
        )
    left = []
    if result.unchanged_steps:
        left.append(f"{result.unchanged_steps} steps that changed no code were not run")
    if result.imported_steps:
        left.append(f"{result.imported_steps} imported steps were not run (their trees are not the code of then)")
    if left:
        lines.append("  (" + "; ".join(left) + ")")
    lines.append("")
    bad = result.first_bad
    if bad is None:
        steps = " ".join(f"{clean(handle)}@{s.n}" for s in result.candidates)
        lines.append(
            term.style("bold", "The first bad step could be any of: ")
            + steps
            + "\n(the command could not test the steps between them: exit 125)"
        )
        return "\n".join(lines) + "\n"
    field = lambda name: term.style("bold", f"{name:<9}")  # noqa: E731
    lines.append(term.style("bold red", f"{clean(handle)}@{bad.n} is the first bad step"))
    lines.append(f"{field('step')}{kind_label(bad, term)} {clean(bad.summary, True)}")
    if bad.tool:
        lines.append(f"{field('tool')}{clean(bad.tool, True)}")
    lines.append(f"{field('time')}{local(bad.time)}")
    lines.append(f"{field('commit')}{bad.commit}")
    if prompt is not None:
        where = f"{clean(handle)}@{prompt.n}" if prompt.session_id == bad.session_id else clean(prompt.address)
        lines.append(f"{field('prompt')}{term.style('yellow', where)} {clean(prompt.summary, True)}")
    if decision is not None:
        where = f"{clean(handle)}@{decision.n}"
        lines.append(f"{field('decision')}{term.style('yellow', where)} {clean(decision.summary, True)}")
    lines.append(f"{field('files')}{diffstat(changes)}")
    lines += file_lines(changes, term, indent="  ")
    return "\n".join(lines) + "\n\n"


def _write_diff(diff: Any, term: Any) -> None:
    """The step's change, coloured as `trail diff` colours it."""
    from trail.views.term import clean_bytes
    from trail.views.terminal import color_patch

    for patch in diff:
        if patch is not None:
            term.write_bytes(color_patch(clean_bytes(patch.data), term))


# -- blame output ---------------------------------------------------------------------------------------------------


def _repo_path(ctx: Context, path: str) -> str:
    """PATH as the repository names it: relative to the folder trail runs in, as git blame takes it."""
    from trail.errors import TrailError

    full = Path(os.path.abspath(os.path.join(ctx.directory, path)))
    root = ctx.repo.workdir.resolve()
    where = full.parent.resolve() / full.name
    try:
        relative = where.relative_to(root)
    except ValueError:
        raise TrailError(f"{path} is outside the repository ({root})") from None
    if not relative.parts or relative.parts[0] == ".git":
        raise TrailError(f"{path} is not a file of the working tree")
    return relative.as_posix()


def _format_blame(result: Any, handle: Any, term: Any) -> str:
    """`WHO WHAT WHY N) line` rows, as git blame prints them: the columns are worked out once per origin (a step,
    a commit, or not committed), since many lines share one."""
    from trail.views.term import clean

    cells: dict[Any, tuple[list[tuple[str, int]], tuple[str | None, ...]]] = {}
    keys = []
    for line in result.lines:
        key = line.origin if line.origin is not None else line.commit
        keys.append(key)
        if key in cells:
            continue
        if line.origin is not None:
            step = line.origin.step
            prompt = line.origin.prompt
            texts = (
                f"{handle(step.session_id)}@{step.n}",
                step.tool or step.kind,
                prompt.summary if prompt is not None else "",
            )
            styles: tuple[str | None, ...] = ("yellow", "cyan", None)
        elif line.commit is not None:
            texts = (line.commit.id[:10], line.commit.author, line.commit.time.strftime("%Y-%m-%d"))
            styles = ("dim", None, "dim")
        else:
            texts = ("not committed", "you", "")
            styles = ("red", None, None)
        who, what, why = texts
        shown = [clean(who, True), _cut(clean(what, True), WHAT_WIDTH), _cut(clean(why, True), PROMPT_WIDTH)]
        cells[key] = ([(text, _width(text)) for text in shown], styles)
    widths = [max((columns[i][1] for columns, _ in cells.values()), default=0) for i in range(3)]
    prefixes = {
        key: " ".join(
            term.style(style, text + " " * (widths[i] - width)) if style else text + " " * (widths[i] - width)
            for i, ((text, width), style) in enumerate(zip(columns, styles, strict=True))
        )
        for key, (columns, styles) in cells.items()
    }
    number_width = len(str(len(result.lines)))
    out = [
        f"{prefixes[key]} {str(line.number).rjust(number_width)}) "
        + clean(line.text.decode("utf-8", "replace").removesuffix("\r"))
        for line, key in zip(result.lines, keys, strict=True)
    ]
    return "\n".join(out) + ("\n" if out else "")


def _cut(text: str, width: int) -> str:
    """`fit`, without measuring every character when the part that shows is ASCII (summaries end in "…")."""
    from trail.views.term import fit

    head = text[: width + 1]
    if head.isascii():
        return head if len(head) <= width else head[: width - 1] + "…"
    return fit(text, width)


def _width(text: str) -> int:
    from trail.views.term import width_of

    if text[:-1].isascii() and text[-1:] in ("…", "") or text.isascii():
        return len(text)  # "…" takes one column
    return width_of(text)

"""`trail hooks`: install, remove and show the hooks through which agents and git report to trail.

Parsing and output only; the work is in trail.install: agents.py for Claude Code and git, and a module per other
agent, named in MORE_AGENTS, with:

- `SCOPES`: the settings files it can write to, the first being the default (empty when there is one place);
- `install(workdir, scope) -> str` and `uninstall(workdir, scope) -> str`: do it, and say what was done;
- `status(workdir) -> list[tuple[str, str, str]]`: one row per place (scope or file, path, state);
- `status_json(workdir) -> object`: the same as data;
- `installations(workdir) -> list[trail.install.checks.Installation]`: the same for `trail doctor`, which checks
  that each installed hook's command finds a trail-hook where the agent runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import click

from trail.cli.context import Context, echo_json, pass_ctx
from trail.errors import NotARepositoryError
from trail.install import agents as inst

# agent -> the module of trail.install that installs its hooks (Claude Code and git: agents.py, below).
MORE_AGENTS: dict[str, str] = {
    "gemini": "trail.install.gemini",
    "cursor": "trail.install.cursor",
    "codex": "trail.install.codex",
}
AGENTS = ("claude", "git", *MORE_AGENTS)
_SCOPE_HELP = (
    "Which settings file (the first is the default). claude: project = .claude/settings.json at the root of this "
    "working tree, local = .claude/settings.local.json there, user = ~/.claude/settings.json ($CLAUDE_CONFIG_DIR). "
    "gemini: project = .gemini/settings.json, user = ~/.gemini/settings.json ($GEMINI_CLI_HOME/.gemini). "
    "cursor: project = .cursor/hooks.json, user = ~/.cursor/hooks.json. codex: auto = the project's hooks, or "
    "notify when the installed Codex predates hooks (0.114), project = .codex/hooks.json, user = "
    "$CODEX_HOME/hooks.json (~/.codex), notify = the notify program in $CODEX_HOME/config.toml. git takes none. "
    "A project file is usually committed: it should name a trail-hook that everyone has (trail doctor checks)."
)


@click.group("hooks")
def hooks() -> None:
    """Install the hooks through which agents and git report to trail.

    trail-hook always exits 0 and answers only what an agent requires, so a hook never changes what the agent
    does; `trail doctor` checks that every installed hook finds trail-hook where its agent runs it.

    \b
    Examples:
      trail hooks install claude   Claude Code runs `trail-hook claude` on each of its events
      trail hooks install gemini   Gemini CLI runs `trail-hook gemini` (.gemini/settings.json)
      trail hooks install cursor   Cursor's agent runs `trail-hook cursor` (.cursor/hooks.json)
      trail hooks install codex    Codex CLI runs `trail-hook codex` (.codex/hooks.json, or notify)
      trail hooks install git      git runs `trail-hook git-post-commit` after each commit
      trail hooks status           what is installed where, for every agent
      trail hooks uninstall AGENT  remove them, leaving the files as they were before
    """


def _more(agent: str) -> ModuleType:
    import importlib

    return importlib.import_module(MORE_AGENTS[agent])


def _scope_for(agent: str, scope: str | None) -> str | None:
    scopes: tuple[str, ...] = tuple(_more(agent).SCOPES)
    if scope is None:
        return scopes[0] if scopes else None
    if scope not in scopes:
        raise click.UsageError(
            f"--scope {scope} is not one of {agent}'s ({', '.join(scopes)})" if scopes else f"{agent} takes no --scope"
        )
    return scope


def _workdir(ctx: Context) -> Path | None:
    try:
        return ctx.repo.workdir
    except NotARepositoryError:
        return None


@hooks.command()
@click.argument("agent", type=click.Choice(AGENTS))
@click.option("--scope", default=None, help=_SCOPE_HELP)
@pass_ctx
def install(ctx: Context, agent: str, scope: str | None) -> None:
    """Install trail's hooks for AGENT (claude, gemini, cursor, codex or git).

    claude: adds a command hook running `trail-hook claude` (timeout 30 s) for each event trail records
    (SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, PostToolUseFailure, Notification, Stop,
    SubagentStart, SubagentStop, PreCompact, SessionEnd) to the settings file chosen by --scope. Other hooks
    and settings stay as they are, and installing again changes nothing. The file as it was is saved under
    $XDG_STATE_HOME/trail/backups/ (~/.local/state/trail/backups/), so that uninstall can put it back byte for
    byte. The same holds for every agent's file below.

    gemini: a command hook `trail-hook gemini` (named "trail", timeout 30000 ms: Gemini CLI counts in
    milliseconds) for SessionStart, BeforeAgent, BeforeTool, AfterTool, AfterAgent, Notification, PreCompress and
    SessionEnd; the model, tokens and thoughts of each turn come from the chat file Gemini CLI keeps. Gemini CLI
    runs a project's hooks only in a folder you trust, and none while its settings turn hooks off (it says so).

    cursor: `trail-hook cursor` for sessionStart, beforeSubmitPrompt, afterAgentThought, afterAgentResponse,
    afterFileEdit, afterShellExecution, afterMCPExecution, preCompact, stop and sessionEnd, after your own hooks
    of each event. Cursor reads JSON back: trail answers {} and, to beforeSubmitPrompt, {"continue": true}. No
    permission hook (beforeShellExecution, beforeMCPExecution, beforeReadFile) is installed: its answer would
    allow or refuse the agent's actions.

    codex: Codex CLI's hooks.json (0.114 and later; trust them in Codex's /hooks), or, with --scope notify or
    an older Codex, its notify program, chaining one that is there.

    git: writes a post-commit hook running `trail-hook git-post-commit` in the directory git takes hooks from
    (core.hooksPath if set, else .git/hooks). A post-commit hook already there (yours, husky's, lefthook's,
    pre-commit's) is moved to post-commit.pre-trail and runs first; trail never makes a commit fail.

    trail-hook is named by its full path unless PATH finds this same installation's trail-hook without the
    virtual environment trail runs in (an agent started from another shell has none). A project file that names
    a path inside your virtual environment or home is flagged: for whoever else gets it, the hook runs nothing.

    \b
    Examples:
      trail hooks install claude                  .claude/settings.json, shared with the project
      trail hooks install claude --scope user     ~/.claude/settings.json, every project of yours
      trail hooks install codex --scope notify
      trail hooks install git
    """
    if agent in MORE_AGENTS:
        click.echo(_more(agent).install(_workdir(ctx), _scope_for(agent, scope)))
        return
    _claude_scope(agent, scope)
    if agent == "claude":
        from trail.install.checks import install_notes

        chosen = scope or "project"
        change = inst.install_claude(_settings_path(ctx, chosen))
        if change.action == "unchanged":
            click.echo(f"trail's Claude Code hooks are already installed in {change.path} ({change.events} events)")
        else:
            verb = "Installed" if change.action == "installed" else "Updated"
            click.echo(f"{verb} trail's Claude Code hooks in {change.path} ({change.events} events)")
        reinstall = f"trail hooks install claude --scope {chosen}"
        for note in install_notes(change.path, _workdir(ctx), chosen == "project", inst.hook_command(), reinstall):
            click.echo(note, err=True)
        return
    workdir = ctx.repo.workdir
    git_change = inst.install_git(inst.git_hooks_dir(workdir), workdir=workdir)
    if git_change.action == "unchanged":
        click.echo(f"trail's git post-commit hook is already installed: {git_change.hook}")
    else:
        verb = "Installed" if git_change.action == "installed" else "Updated"
        click.echo(f"{verb} trail's git post-commit hook: {git_change.hook}")
    if git_change.chained and git_change.action == "installed":
        click.echo(f"Moved your post-commit hook to {git_change.hooks_dir / inst.GIT_CHAINED}; it runs first")
    for note in git_change.notes:
        click.echo(f"note: {note}", err=True)


@hooks.command()
@click.argument("agent", type=click.Choice(AGENTS))
@click.option("--scope", default=None, help=_SCOPE_HELP)
@pass_ctx
def uninstall(ctx: Context, agent: str, scope: str | None) -> None:
    """Remove trail's hooks for AGENT (claude, gemini, cursor, codex or git), and only those.

    claude, gemini, cursor, codex: takes trail's entries out of the file chosen by --scope. If nothing else in
    it changed since install, the file is put back exactly as it was (or deleted, if install created it);
    otherwise the rest is kept as it is now.

    git: deletes trail's post-commit hook and moves post-commit.pre-trail, if there is one, back to
    post-commit, with its content and mode as they were.

    \b
    Examples:
      trail hooks uninstall claude
      trail hooks uninstall claude --scope user
      trail hooks uninstall git
    """
    if agent in MORE_AGENTS:
        click.echo(_more(agent).uninstall(_workdir(ctx), _scope_for(agent, scope)))
        return
    _claude_scope(agent, scope)
    if agent == "claude":
        change = inst.uninstall_claude(_settings_path(ctx, scope or "project"))
        messages = {
            "restored": f"Removed trail's Claude Code hooks: {change.path} is back as it was before install",
            "deleted": f"Removed trail's Claude Code hooks: deleted {change.path}, which install had created",
            "removed": f"Removed trail's Claude Code hooks from {change.path} ({change.events} events)",
            "absent": f"trail's Claude Code hooks are not installed in {change.path}: nothing to do",
        }
        click.echo(messages[change.action])
        return
    git_change = inst.uninstall_git(inst.git_hooks_dir(ctx.repo.workdir))
    messages = {
        "restored": f"Removed trail's git post-commit hook and put back yours: {git_change.hook}",
        "removed": f"Removed trail's git post-commit hook: {git_change.hook}",
        "absent": f"trail's git post-commit hook is not installed in {git_change.hooks_dir}: nothing to do",
    }
    click.echo(messages[git_change.action])


@hooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Show where trail's hooks are installed, for every agent.

    For each settings file of each agent (Claude Code: project, local, user; Gemini CLI and Cursor: project,
    user; Codex CLI: project, user, notify): whether it has trail's hooks for all the events trail records, for
    some (which are missing), or none, and whether they run another installation's trail-hook. For git: the
    hooks directory, whether trail's post-commit hook is there, and whether it chains a hook that was there
    before. With --json, the same as data, one key per agent. `trail doctor` goes further: it checks that each
    installed hook finds a trail-hook where its agent runs it.

    \b
    Examples:
      trail hooks status
      trail hooks status --json
    """
    workdir = _workdir(ctx)
    claude = [inst.claude_status(scope, workdir) for scope in inst.SCOPES]
    git = inst.git_status(workdir)
    current = inst.hook_command()
    if as_json:
        more = {agent: _more(agent).status_json(workdir) for agent in MORE_AGENTS}
        echo_json({"program": current, "claude": [s.to_json() for s in claude], "git": git.to_json(), **more})
        return
    click.echo("Claude Code (settings files):")
    rows = [(s.scope, str(s.path) if s.path else "-", _claude_state(s, current)) for s in claude]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for scope, path, state in rows:
        click.echo(f"  {scope.ljust(widths[0])}  {path.ljust(widths[1])}  {state}")
    click.echo("git (post-commit hook):")
    click.echo(f"  {git.hooks_dir or '-'}  {_git_state(git, current)}")
    for agent in MORE_AGENTS:
        module = _more(agent)
        click.echo(f"{module.TITLE}:")
        rows = module.status(workdir)
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for where, path, state in rows:
            click.echo(f"  {where.ljust(widths[0])}  {path.ljust(widths[1])}  {state}")


def _claude_state(found: inst.ClaudeStatus, current: str) -> str:
    if found.error:
        return found.error
    if found.state == "none":
        return "not installed"
    state = "installed" if found.state == "all" else f"partly installed, missing {', '.join(found.missing)}"
    return state + _other_program(found.programs, current)


def _git_state(found: inst.GitStatus, current: str) -> str:
    if found.error:
        return found.error
    if not found.installed:
        return "not installed"
    state = f"installed, chaining {inst.GIT_CHAINED}" if found.chained else "installed"
    return state + _other_program([found.program] if found.program else [], current)


def _other_program(programs: Sequence[str], current: str) -> str:
    others = [program for program in programs if program != current]
    return f" (runs {others[0]}, not this trail's trail-hook; install again to update)" if others else ""


def _settings_path(ctx: Context, scope: str) -> Path:
    return inst.claude_settings_path(scope, None if scope == "user" else ctx.repo.workdir)


def _claude_scope(agent: str, scope: str | None) -> None:
    if agent == "git" and scope is not None:
        raise click.UsageError("git takes no --scope: git hooks belong to one repository")
    if agent == "claude" and scope is not None and scope not in inst.SCOPES:
        raise click.UsageError(f"--scope for claude is one of {', '.join(inst.SCOPES)}")

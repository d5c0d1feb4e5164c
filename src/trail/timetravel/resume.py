"""Forking a session at a step: the step's code in a new linked worktree, and the agent's own session file cut at
that step, so that the agent carries on the conversation from there (`claude --resume ID`, `codex resume ID`).

The new session is linked to the step it came from: a record in `.git/trail/forks/<new id>.json` (shared by every
worktree) is read by the writer when the agent's first hook records the new session (capture/writer.py,
`fork_link`), and its first step names the session and step it forked from, as a subagent's names its parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trail import events as ev
from trail.adapters import claude_fork, codex_fork
from trail.adapters.fork_files import start_values, write_new_private
from trail.api import History
from trail.capture.keep import private_dir, write_private
from trail.capture.writer import fork_record
from trail.errors import TrailError
from trail.gitcli import run_git
from trail.store.steps import Step
from trail.timetravel.checkout import checkout_step

AGENTS = ("claude", "codex")
# The names sessions record their agent by, and the agent that resumes them.
_AGENT_OF = {"claude-code": "claude", "claude": "claude", "codex": "codex", "codex-cli": "codex"}
_CONVERSATION = (ev.PROMPT, ev.RESPONSE, ev.TOOL_CALL)


@dataclass(frozen=True)
class Fork:
    """A session forked at a step, ready to go on: run `command`."""

    agent: str  # "claude" or "codex"
    session_id: str  # the new session's id, as the agent will know it
    step: Step  # the step forked from
    worktree: Path  # the new linked worktree, at the step's code
    cwd: Path  # where the agent starts: the worktree, or the folder in it where the session ran
    session_file: Path  # the agent's own session file, written for the fork
    last_step: int  # the step the session file ends with: `step`, or the last one before it the agent had
    source: Path | None  # the transcript cut (Claude Code), None when the file was made from the steps
    dropped_calls: int  # tool calls whose results came after the step, left out

    @property
    def command(self) -> str:
        program = "claude --resume" if self.agent == "claude" else "codex resume"
        return f"cd {shlex.quote(str(self.cwd))} && {program} {self.session_id}"


def agent_for(step: Step, chosen: str | None) -> str:
    """The agent to resume with: the one asked for, else the session's own."""
    if chosen is not None:
        if chosen not in AGENTS:
            raise TrailError(f"trail resumes sessions with {' or '.join(AGENTS)}, not {chosen!r}")
        return chosen
    recorded = step.session.get("agent") or step.agent
    found = _AGENT_OF.get(str(recorded or "").lower())
    if found is None:
        what = f"was recorded from {recorded!r}" if recorded else "does not say which agent ran it"
        raise TrailError(f"session {step.session_id} {what}: name the agent to resume with, --agent claude or codex")
    return found


def default_directory(history: History, step: Step) -> Path:
    """A new folder beside the repository: `<repo>-<session handle>-<step>` (then -2, -3, … if taken)."""
    workdir = history.repo.workdir.resolve()
    stem = f"{workdir.name}-{history.handle(step.session_id).split('.')[0]}-{step.n}"
    candidate = workdir.parent / stem
    number = 2
    while candidate.exists():
        candidate = workdir.parent / f"{stem}-{number}"
        number += 1
    return candidate


def resume(
    history: History, step: Step, agent: str | None = None, directory: str | os.PathLike[str] | None = None
) -> Fork:
    """Fork the session of `step` there: a linked worktree (at `directory`, or beside the repository) with the step's
    code, the agent's session file cut at the step, and the record that links the new session to the step once the
    agent records it. Nothing is left behind if any part fails."""
    chosen = agent_for(step, agent)
    if ".agent-" in step.session_id:
        parent = step.session.get("parent_session") or step.session_id.split(".agent-")[0]
        raise TrailError(
            f"{step.session_id} is a subagent's session, which its agent cannot resume on its own: resume the session "
            f"that started it ({parent}) instead"
        )
    steps = list(history.store.iter_steps(step.session_id, 1, step.n))
    if not any(s.kind in _CONVERSATION for s in steps):
        raise TrailError(
            f"at step {step.n} the conversation of {step.session_id} had not begun: there is nothing to resume "
            f"(`trail checkout {history.handle(step.session_id)}@{step.n}` gives you the code of that step)"
        )
    # As the agent will see it (getcwd): absolute, `..` and symbolic links resolved.
    target = Path(os.path.realpath(directory)) if directory is not None else default_directory(history, step)
    worktree = checkout_step(history.repo, step, target)
    try:
        return _fork(history, step, steps, chosen, worktree)
    except BaseException:
        _remove_worktree(history, worktree)
        raise


def _fork(history: History, step: Step, steps: list[Step], agent: str, worktree: Path) -> Fork:
    cwd_for = _cwd_mapping(steps, worktree)
    start = cwd_for(_started_in(steps) or "")
    cwd = Path(start)
    source: Path | None = None
    dropped = 0
    if agent == "claude":
        new_id = str(uuid.uuid4())  # Claude Code's own ids are random UUIDs
        forked = None
        source = claude_fork.find_transcript(step.session_id, steps)
        if source is not None:
            forked = claude_fork.cut_transcript(source, steps, new_id, cwd_for)
        if forked is None:
            source = None
            version, branch = _claude_version(steps), history.repo.head_branch()
            forked = claude_fork.rebuild_transcript(steps, new_id, start, version, branch)
        session_file = claude_fork.transcript_path(start, new_id)
        write_new_private(session_file, forked.lines)
        last, dropped = forked.last_step, forked.dropped_calls
    else:
        new_id = ev.new_session_id()  # Codex's ids are time-ordered UUIDs (version 7), as trail's own
        now = datetime.now(UTC)
        rollout = codex_fork.build_rollout(steps, new_id, start, step.commit, now)
        session_file = codex_fork.rollout_path(new_id, now)
        write_new_private(session_file, rollout.lines)
        last = rollout.last_step
    try:
        _record_fork(history, step, agent, new_id, worktree, session_file)
    except BaseException:
        session_file.unlink(missing_ok=True)
        raise
    return Fork(agent, new_id, step, worktree, cwd, session_file, last, source, dropped)


def _record_fork(history: History, step: Step, agent: str, new_id: str, worktree: Path, session_file: Path) -> None:
    record = {
        "parent_session": step.session_id,
        "parent_step": step.n,
        "commit": step.commit,
        "agent": agent,
        "worktree": str(worktree),
        "session_file": str(session_file),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = fork_record(history.repo, new_id)
    private_dir(path.parent)
    write_private(path, json.dumps(record).encode())


def _started_in(steps: list[Step]) -> str | None:
    """The folder the session's agent ran in, as its first steps say (the hook's cwd, or the transcript's)."""
    return next(iter(start_values(steps, "hook.cwd", "cwd")), None)


def _cwd_mapping(steps: list[Step], worktree: Path) -> Callable[[str], str]:
    """Old working folder -> new: a folder inside the worktree the session was recorded in becomes the same folder in
    the new worktree (if the step has it); anything else (an imported session's machine) the new worktree itself."""
    recorded = steps[0].session.get("worktree") if steps else None
    root = Path(recorded) if isinstance(recorded, str) and recorded else None

    def mapped(old: str) -> str:
        if root is not None and old:
            try:
                inside = Path(old).relative_to(root)
            except ValueError:
                return str(worktree)
            candidate = worktree / inside
            if candidate.is_dir():
                return str(candidate)
        return str(worktree)

    return mapped


def _claude_version(steps: list[Step]) -> str | None:
    for step in steps[:50]:
        if step.kind == ev.SESSION_START:
            version = step.event.payload.get("version")
            if isinstance(version, str):
                return version
    return None


def _remove_worktree(history: History, worktree: Path) -> None:
    with contextlib.suppress(TrailError):
        run_git(["worktree", "remove", "--force", os.fspath(worktree)], cwd=history.repo.workdir)

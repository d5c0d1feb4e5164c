"""Finding the first step of a session where a command fails, as `git bisect run` finds a commit: a binary search
over the steps, each tested in a temporary linked worktree that is removed afterwards whatever happens.

Only steps whose tree differs from the step before's are tested: a step that changed no code gives the same
result as the one before it. The known-good step is run first (the command must pass there); the last step is
taken to fail and is run only if the search comes to lean on it, so a 64-step session takes at most
log2(64) + 2 runs of the command. Exit codes are read as git reads them: 0 good, 125 cannot test (a neighbour is
tried instead), 1 to 127 bad, above 127 (or killed by a signal) stops the search. A step whose tree is not the code
of its moment (an imported step: `tree_source` is set) is never run: it counts as a step that cannot be tested,
and cannot be the known-good one.

The command is the user's own, typed on their command line, and runs through `sh -c` as git bisect runs it;
nothing recorded in a session ever becomes part of it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from trail.errors import TrailError
from trail.gitcli import clean_env, run_git
from trail.repo import TrailRepo
from trail.store.steps import Step, Store

GOOD, BAD, SKIP = "good", "bad", "skip"
SKIP_CODE = 125


class BisectError(TrailError):
    """The search cannot start or cannot go on; the message says why."""


@dataclass(frozen=True)
class Run:
    """One run of the command at one step."""

    step: Step
    code: int  # the exit code; -N when killed by signal N
    verdict: str  # good, bad or skip
    seconds: float
    role: str = ""  # "good base" or "last step" for the two runs that check the ends

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.n,
            "commit": self.step.commit,
            "exit": self.code,
            "verdict": self.verdict,
            "seconds": round(self.seconds, 3),
            "role": self.role or None,
        }


@dataclass
class Result:
    session: str
    good: Step
    last: Step
    runs: list[Run]
    first_bad: Step | None  # None when skipped steps leave several that could be it
    candidates: list[Step] = field(default_factory=list)  # the steps that could be the first bad one
    tested_steps: int = 0  # steps whose tree differs from the one before (the search space)
    unchanged_steps: int = 0  # steps passed over: same tree as the step before
    imported_steps: int = 0  # steps the search reached but did not run: their tree is not the code of their moment


def bisect(
    repo: TrailRepo,
    session_id: str,
    command: str,
    good: Step | None = None,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """The first step of the session (after `good`, by default its first step) where `command` fails."""
    store = Store(repo)
    say = progress or (lambda text: None)
    steps = _Steps(store, session_id)
    good = good or steps.get(1)
    if good.session_id != session_id:
        raise BisectError(f"step {good.address} is not a step of session {session_id}")
    if good.tree_source:
        raise BisectError(
            f"step {good.address}'s tree is not the code of that moment ({good.tree_source}): it cannot be the "
            "known-good step. Name one with --base STEP"
        )
    trees = steps.trees()
    changes: list[int] = []  # the steps whose tree differs from the step before's, after the good one
    tree = good.tree
    for n in range(good.n + 1, len(trees) + 1):
        if trees[n - 1] != tree:
            changes.append(n)
            tree = trees[n - 1]
    later = len(trees) - good.n
    result = Result(
        session_id,
        good,
        steps.get(len(trees)),
        [],
        None,
        tested_steps=len(changes),
        unchanged_steps=later - len(changes),
    )
    if not changes:
        raise BisectError(f"no step after {good.address} changed the code: there is nothing to bisect")
    searched = "1 step" if len(changes) == 1 else f"{len(changes)} steps"
    runs = (len(changes) - 1).bit_length() + 1
    say(
        f"bisecting {searched} that changed the code, of {later} after {good.address}: about "
        f"{runs} run{'s' if runs != 1 else ''} after the known-good one, unless steps are skipped"
    )
    with Worktree(repo, good.commit) as worktree:
        first = worktree.run(good, command, say, "good base")
        result.runs.append(first)
        if first.verdict != GOOD:
            raise BisectError(
                f"{_command_failed(first)} at {good.address}, the step known to be good: there is nothing to bisect. "
                "Check the command, or name a step where it passes with --base STEP"
            )
        _search(worktree, _Lazy(steps, changes), command, say, result)
    return result


class _Steps:
    """A session's steps, read as they are needed: their trees all at once from `git log` (no step is parsed for
    that), a step itself when the search reaches it."""

    def __init__(self, store: Store, session_id: str) -> None:
        self.store = store
        self.session_id = session_id
        self.tip = store.tip(session_id)
        self.commits = store.index.commits(session_id, self.tip)
        self._loaded: dict[int, Step] = {self.tip.n: self.tip}

    def get(self, n: int) -> Step:
        if n not in self._loaded:
            self._loaded[n] = self.store.step_at(self.session_id, n)
        return self._loaded[n]

    def trees(self) -> list[str]:
        """The tree of each step, 1 to the last."""
        first = self.get(1)
        since = [f"^{first.parents[0]}"] if first.parents else []
        listed = run_git(
            ["log", "--first-parent", "--no-show-signature", "--format=%H %T", self.tip.commit, *since, "--"],
            cwd=self.store.repo.workdir,
        )
        tree_of = dict(line.split(" ", 1) for line in listed.splitlines() if line)
        try:
            return [tree_of[commit] for commit in self.commits]
        except KeyError:
            raise BisectError(f"the steps of session {self.session_id} are not one chain of commits") from None


class _Lazy:
    """The steps `numbers`, each read when the search reaches it."""

    def __init__(self, steps: _Steps, numbers: list[int]) -> None:
        self.steps = steps
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, i: int) -> Step:
        return self.steps.get(self.numbers[i])


def _search(worktree: Worktree, changes: _Lazy, command: str, say: Callable[[str], None], result: Result) -> None:
    """Binary search of `changes` (steps, oldest first): every step before index `lo` passed, `hi` failed. The last
    one is taken to fail until the search has to lean on it: then it is run too (it may pass: nothing to find).
    A step whose tree is not the code of its moment (an import) is never run: it counts as one that cannot be
    tested, as exit 125 does."""
    lo, hi = -1, len(changes) - 1
    hi_seen = False  # whether the step at `hi` was run and failed
    skipped: set[int] = set()
    while True:
        untested = [i for i in range(lo + 1, hi) if i not in skipped]
        if untested:
            at = min(untested, key=lambda i: (abs(i - (lo + hi) / 2), i))
        elif not hi_seen and hi not in skipped:
            at = hi
        else:
            break
        step = changes[at]
        if step.tree_source:
            run = Run(step, SKIP_CODE, SKIP, 0.0, "imported: not run")
            result.imported_steps += 1
            say(f"  {step.address}: imported (its tree is not the code of that moment), not run")
        else:
            run = worktree.run(step, command, say, "last step" if at == len(changes) - 1 else "")
        result.runs.append(run)
        if run.verdict == GOOD:
            if at == len(changes) - 1:
                raise BisectError(
                    f"the command passes at {step.address}, the last step that changed the code: there is no failing "
                    "step to find"
                )
            lo = at
        elif run.verdict == BAD:
            hi, hi_seen = at, True
        else:
            skipped.add(at)
    if not hi_seen:
        raise BisectError(
            f"the command could not test {changes[hi].address}, the last step that changed the code, and failed at no "
            "other step: there is no failing step to find"
        )
    candidates = [changes[i] for i in range(lo + 1, hi + 1)]
    if len(candidates) == 1:
        result.first_bad = candidates[0]
    result.candidates = candidates


def _command_failed(run: Run) -> str:
    if run.code == SKIP_CODE:
        return "the command exited 125 (cannot test)"
    if run.code == 127:
        return "the command was not found (exit 127)"
    return f"the command failed (exit {run.code})"


class Worktree:
    """A temporary linked worktree with a detached HEAD, moved from step to step, and removed on leaving however
    it is left: an error, the command failing to start, Ctrl-C, SIGTERM or SIGHUP.

    Removal is `git worktree remove --force`; if git cannot (the folder was made unreadable, say), the folder and
    its entry under .git/worktrees are deleted by hand. Other worktrees' entries are never pruned: one on a disk
    that is not mounted is still the user's.
    """

    def __init__(self, repo: TrailRepo, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self.path = Path(tempfile.mkdtemp(prefix="trail-bisect-"))
        self.admin: Path | None = None
        self.at = commit
        self.dirty = False  # a command ran since the last checkout: it may have left files behind
        self._signals: dict[int, Any] = {}

    def __enter__(self) -> Worktree:
        self._trap_signals()
        try:
            run_git(
                ["worktree", "add", "--detach", "--quiet", os.fspath(self.path), self.commit], cwd=self.repo.workdir
            )
            self.admin = self._admin_dir()
        except BaseException:
            self.remove()
            self._restore_signals()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._hold_signals()  # a second Ctrl-C must not cut the removal short
            self.remove()
        finally:
            self._restore_signals()

    def checkout(self, commit: str) -> None:
        """The worktree at `commit`, exactly: files the last command made or changed are put back or removed
        (ignored files, a build's caches, are kept, as git bisect keeps them)."""
        if self.dirty:
            run_git(["clean", "-fdq"], cwd=self.path)
        if commit != self.at or self.dirty:
            run_git(["checkout", "--quiet", "--force", "--detach", commit], cwd=self.path)
            self.at = commit
        self.dirty = False

    def run(self, step: Step, command: str, say: Callable[[str], None], role: str = "") -> Run:
        """Run `command` at `step` and read its exit code as git bisect does; above 127 stops everything."""
        self.checkout(step.commit)
        say(f"running at {step.address}{f' ({role})' if role else ''}: {command}")
        started = time.monotonic()
        code = run_command(command, self.path)
        seconds = time.monotonic() - started
        self.dirty = True
        if code < 0 or code > 127:
            how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
            raise BisectError(
                f"the command {how} at {step.address}: bisect stopped (as git bisect run stops for exit codes "
                "above 127 and signals). Exit 125 means: cannot test this step"
            )
        verdict = GOOD if code == 0 else SKIP if code == SKIP_CODE else BAD
        say(f"  {step.address}: exit {code}, {verdict}")
        return Run(step, code, verdict, seconds, role)

    def remove(self) -> None:
        with contextlib.suppress(TrailError, OSError):
            run_git(["worktree", "remove", "--force", os.fspath(self.path)], cwd=self.repo.workdir)
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        admin = self.admin or self._admin_dir()
        if admin is not None and admin.exists():
            shutil.rmtree(admin, ignore_errors=True)

    def _admin_dir(self) -> Path | None:
        """This worktree's entry under .git/worktrees, as its `.git` file names it."""
        try:
            text = (self.path / ".git").read_text()
        except OSError:
            return self.admin
        if not text.startswith("gitdir: "):
            return None
        admin = Path(text[len("gitdir: ") :].strip())
        worktrees = (self.repo.commondir / "worktrees").resolve()
        return admin if admin.resolve().parent == worktrees else None

    # SIGTERM and SIGHUP end Python without running `finally`: raise instead, so the worktree goes too.
    def _trap_signals(self) -> None:
        if not _main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):
                self._signals[sig] = signal.signal(sig, _interrupt)

    def _hold_signals(self) -> None:
        if not _main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):
                previous = signal.signal(sig, signal.SIG_IGN)
                self._signals.setdefault(sig, previous)

    def _restore_signals(self) -> None:
        for sig, handler in self._signals.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)
        self._signals.clear()


def run_command(command: str, cwd: Path) -> int:
    """Run the user's command line through `sh -c`, as `git bisect run` does (it is never built from session
    data), and return its exit code (-N: killed by signal N).

    It runs in a process group of its own, so that when trail is interrupted (Ctrl-C, SIGTERM) everything the
    command started goes too, not only the shell; its output goes to standard error, leaving standard output to
    the result.
    """
    try:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=cwd, env=clean_env(), stdin=subprocess.DEVNULL, stdout=_err(), process_group=0
        )
    except OSError as e:
        raise BisectError(f"could not start the command ({e.strerror}): is `sh` on PATH?") from None
    try:
        return proc.wait()
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _err() -> Any:
    """Where the command's output goes: standard error, so that standard output (--json) stays the result."""
    import sys

    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL

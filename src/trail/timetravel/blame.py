"""Who wrote each line of a file: the recorded step that last changed it (with the prompt that led there and the
tool call), or, for lines no session wrote, the user's commit as `git blame` names it.

A step's tree is the whole working tree of its moment, so a session's history of a file is the file along its steps,
whichever tool changed it (an Edit, a `sed` run through Bash, a formatter). One `git log -p -U0` of the file along
the session's first-parent chain gives every change (git's diff, in C, on other cores: a long session is cut in
pieces run side by side, while trail reads the steps it will name), and each line's origin is carried through the
hunks, in place. Nothing is diffed where the file did not change.

Each session that changed the file claims the lines of the blamed file that its last state holds unchanged (its
state at the step, or at the commit, being blamed; its exact state when the file is as one of its steps left it).
Claims are weighed line by line: a subagent's beats its parent's (the parent only saw the change land, when its
Task call returned), otherwise the newest wins. A line no session claims (rewritten since, by you) falls back to
`git blame` of your history, run meanwhile: a line a session wrote and you committed unchanged still belongs to the
session, a line you rewrote after it is yours, committed or not."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import DiffOption, FileMode

from trail import events as ev
from trail.errors import TrailError
from trail.gitcli import clean_env
from trail.store.attachments import is_side_commit
from trail.store.format import MalformedStep
from trail.store.steps import BrokenSessionError, Step, Store

# Changes that appear at these steps were not made by the agent: your own edits between its tool calls
# (external_change), your commits, rewinds, what was there when a session (re)started, edits seen only when the
# next prompt or the end of the session was recorded.
NOT_THE_AGENTS = frozenset(("external_change", "user_commit", "rewind", "session_start", "session_end", "prompt"))
REWIND = "rewind"
BINARY_PROBE = 8000  # as git: a NUL byte in the first 8000 bytes makes a file binary
PIECE_STEPS = 250  # a session is cut in pieces of at least this many steps, one `git log` each, run side by side
MAX_PIECES = 4
MAX_RUNNING = 8  # `git log` processes at once, for a file many sessions changed
MAX_NESTING = 16  # subagents of subagents followed this far up for a prompt (a loop of parents ends here too)


class BinaryFileError(TrailError):
    """The file has no lines to blame."""


@dataclass(frozen=True)
class Origin:
    """The recorded step that wrote a line, and the prompt that led to it (the nearest earlier `prompt` step of
    its session, or of the session that started it, for a subagent)."""

    step: Step
    prompt: Step | None

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.step.session_id,
            "step": self.step.n,
            "commit": self.step.commit,
            "kind": self.step.kind,
            "tool": self.step.tool,
            "summary": self.step.summary,
            "time": self.step.time.isoformat(),
            "prompt": self.prompt.summary if self.prompt is not None else None,
            "prompt_session": self.prompt.session_id if self.prompt is not None else None,
            "prompt_step": self.prompt.n if self.prompt is not None else None,
        }


@dataclass(frozen=True)
class UserCommit:
    """A commit of yours that `git blame` names for a line."""

    id: str
    author: str
    email: str
    time: datetime
    summary: str


@dataclass(frozen=True)
class Line:
    """One line of the blamed file: written by a recorded step (`origin`), or by you (`commit`, or neither: a line
    not committed)."""

    number: int  # 1-based
    text: bytes  # without its line break
    origin: Origin | None
    commit: UserCommit | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"line": self.number, "text": self.text.decode("utf-8", "replace")}
        if self.origin is not None:
            return {**data, "origin": "session", **self.origin.to_json()}
        if self.commit is not None:
            return {
                **data,
                "origin": "commit",
                "user_commit": self.commit.id,
                "author": self.commit.author,
                "author_email": self.commit.email,
                "time": self.commit.time.isoformat(),
                "summary": self.commit.summary,
            }
        return {**data, "origin": "uncommitted", "user_commit": None, "author": None}


@dataclass
class Blame:
    path: str
    where: str  # what was blamed: "the working tree", a step's address, a commit id
    lines: list[Line]
    sessions: list[str]  # the sessions whose states were weighed (those that changed the file)


# -- line bookkeeping -----------------------------------------------------------------------------------------------


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a file as git's diff counts them: split at \\n, a last line without one still a line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def line_count(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_PROBE]


Hunk = tuple[int, int, int, int]  # old_start, old_lines, new_start, new_lines, as a unified diff's header has them


def carry(old: Sequence[Any], hunks: Iterable[Hunk], fill: Any) -> list[Any]:
    """Per-line values of the old side of a diff carried to its new side: lines the hunks (of a diff with no
    context lines, in order) leave alone keep theirs, lines they add get `fill`."""
    out: list[Any] = []
    at = 0
    for old_start, old_lines, _new_start, new_lines in hunks:
        # A hunk that removes nothing starts *after* its old_start line; one that does starts *at* it.
        start = old_start - 1 if old_lines else old_start
        out += old[at:start]
        out += [fill] * new_lines
        at = start + old_lines
    out += old[at:]
    return out


def apply(values: list[Any], hunks: Sequence[Hunk], fill: Any) -> None:
    """`carry`, in place: the hunks applied from the last to the first, so that each one's line numbers still hold
    (no copy of the whole list per change, which is what a long session's replay would spend its time on)."""
    for old_start, old_lines, _new_start, new_lines in reversed(hunks):
        start = old_start - 1 if old_lines else old_start
        values[start : start + old_lines] = [fill] * new_lines


def line_hunks(old: pygit2.Blob | bytes, new: pygit2.Blob | bytes) -> list[Hunk]:
    """The hunks of the line diff from `old` to `new` (libgit2's, with no context lines)."""
    patch = pygit2.Patch.create_from(old, new, flag=DiffOption.FORCE_TEXT, context_lines=0)
    return [(h.old_start, h.old_lines, h.new_start, h.new_lines) for h in patch.hunks]


# -- steps of a session: kinds and prompts ---------------------------------------------------------------------------


class StepLookup:
    """Steps of sessions found by number, their kinds read once: the prompt that led to a step, the decision
    taken since that prompt. A session's steps are found through its step index (store/lookup.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._commits: dict[str, Sequence[str]] = {}
        self._steps: dict[tuple[str, int], Step] = {}
        self._numbers: dict[str, dict[str, int]] = {}
        self._prompt_at_or_before: dict[tuple[str, int], int | None] = {}

    def numbers(self, session_id: str) -> dict[str, int]:
        """Step number by commit id."""
        if session_id not in self._numbers:
            self._numbers[session_id] = {c: n for n, c in enumerate(self.commits(session_id), 1)}
        return self._numbers[session_id]

    def commits(self, session_id: str) -> Sequence[str]:
        """The commits of steps 1..tip, oldest first."""
        if session_id not in self._commits:
            self._commits[session_id] = self.store.index.commits(session_id, self.store.tip(session_id))
        return self._commits[session_id]

    def step(self, session_id: str, n: int) -> Step:
        key = (session_id, n)
        if key not in self._steps:
            try:
                self._steps[key] = self.store.load(self.commits(session_id)[n - 1], session_id)
            except MalformedStep as e:
                raise BrokenSessionError(f"step {session_id}@{n} cannot be read: {e}") from None
        return self._steps[key]

    def prompt_before(self, session_id: str, n: int, depth: int = 0) -> Step | None:
        """The nearest `prompt` step before step `n`; for a subagent with none, its parent's before it started."""
        found = self._prompt_at_or_before_n(session_id, n - 1)
        if found is not None:
            return self.step(session_id, found)
        parent = _parent(self.store, session_id, self.step(session_id, 1) if n > 1 else None)
        if parent is None or depth >= MAX_NESTING:
            return None
        try:
            return self.prompt_before(parent[0], parent[1] + 1, depth + 1)
        except TrailError:
            return None  # the parent session is not here (not fetched, or deleted)

    def decision_since_prompt(self, session_id: str, n: int) -> Step | None:
        """The nearest `decision` step before step `n` and after the prompt that led to it."""
        for k in range(n - 1, 0, -1):
            step = self.step(session_id, k)
            if step.kind == ev.DECISION:
                return step
            if step.kind == ev.PROMPT:
                return None
        return None

    def _prompt_at_or_before_n(self, session_id: str, n: int) -> int | None:
        visited = []
        found: int | None = None
        k = n
        while k >= 1:
            known = self._prompt_at_or_before.get((session_id, k), -1)
            if known != -1:
                found = known
                break
            visited.append(k)
            if self.step(session_id, k).kind == ev.PROMPT:
                found = k
                break
            k -= 1
        for v in visited:
            self._prompt_at_or_before[(session_id, v)] = found
        return found


def _parent(store: Store, session_id: str, first: Step | None) -> tuple[str, int] | None:
    """The session and step that started this one (a subagent's parent), from its own description."""
    info = (first or store.tip(session_id)).session
    parent, step = info.get("parent_session"), info.get("parent_step")
    if isinstance(parent, str) and isinstance(step, int) and parent != session_id:
        return parent, step
    return None


# -- the engine -----------------------------------------------------------------------------------------------------


@dataclass
class _State:
    """A session's file at one of its steps: the blob (None: absent), and per line the step that wrote it
    (None: it was there before the session, or someone other than the agent wrote it)."""

    blob: str | None
    origins: list[Step | None]
    # Earlier states worth keeping, by blob (those the file came back to, and the one being blamed): their origins
    # at the last step the file was in that state.
    states: dict[str, list[Step | None]] = field(default_factory=dict)


class _Git:
    """A git command writing to a temporary file, so that it works on another core while trail does something
    else; its output is read when wanted."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.command = next(a for a in args if a in ("log", "blame"))
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by output() or close()
        self.err = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["git", *args], cwd=cwd, env=clean_env(), stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err
        )

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> bytes:
        code = self.proc.wait()
        self.out.seek(0)
        data = self.out.read()
        if code != 0:
            self.err.seek(0)
            detail = self.err.read().decode("utf-8", "replace").strip()
            self.close()
            raise TrailError(f"git {self.command} failed: {detail}")
        self.close()
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()


def _log(workdir: Path, tip: str, since: str | None, path: str) -> _Git:
    """`git log -p` of one file along the first-parent chain from `since` (excluded) to `tip`: the diffs are git's
    work, in C. Settings of the user's that would change what git prints are set back to git's defaults."""
    overrides = (
        "log.follow=false",
        "log.showRoot=true",
        "log.showSignature=false",
        "diff.noprefix=false",
        "diff.mnemonicPrefix=false",
        "diff.relative=false",
    )
    args = ["--literal-pathspecs", *(x for o in overrides for x in ("-c", o))]
    args += [
        "log",
        "--first-parent",
        "-m",
        "--reverse",
        "-p",
        "-U0",
        "--text",
        "--full-index",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--diff-algorithm=myers",
        "--format=%x00%H",
        tip,
        *([f"^{since}"] if since else []),
        "--",
        path,
    ]
    return _Git(args, workdir)


def _changes(output: bytes) -> Iterator[tuple[str, str | None, str | None, list[Hunk]]]:
    """Each commit of a `_log` that changed the file, oldest first: its id, the old and new blob (None: absent),
    and the hunks."""
    commit: str | None = None
    blobs: tuple[str | None, str | None] | None = None
    hunks: list[Hunk] = []
    for match in _LOG.finditer(output):
        sha, old, new, a, b, c, d = match.groups()
        if sha is not None:
            if commit is not None and blobs is not None:
                yield commit, blobs[0], blobs[1], hunks
            commit, blobs, hunks = sha.decode(), None, []
        elif old is not None:
            blobs = (_blob_id(old), _blob_id(new))
        else:
            hunks.append((int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d)))
    if commit is not None and blobs is not None:
        yield commit, blobs[0], blobs[1], hunks


# What matters in `git log -p -U0 --format=%x00%H` output: the commit lines, the blob ids, the hunk headers. The
# file's own lines all start with +, - or a space (or \), so none of them can look like these.
_LOG = re.compile(
    rb"^\x00([0-9a-f]{40,64})$|^index ([0-9a-f]+)\.\.([0-9a-f]+)|^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@",
    re.M,
)


def _blob_id(text: bytes) -> str | None:
    value = text.decode()
    return None if not value.strip("0") else value


class Blamer:
    """Blames files of one repository; keeps what it read, so several files (an export) cost less than each alone."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.git = store.git
        self.lookup = StepLookup(store)
        self._states: dict[tuple[str, int, str, str], _State] = {}

    # -- what can be blamed ----------------------------------------------------------------------------------------

    def worktree(self, path: str, session: str | None = None) -> Blame:
        """Blame the file as it is on disk now."""
        full = self.store.repo.workdir / path
        if full.is_symlink():
            data = os.fsencode(os.readlink(full))
        elif full.is_dir():
            raise TrailError(f"{path} is a folder; blame names a file")
        else:
            try:
                data = full.read_bytes()
            except FileNotFoundError:
                raise TrailError(
                    f"{path} is not in the working tree; to blame it as a step had it, add --step STEP"
                ) from None
            except OSError as e:
                raise TrailError(f"cannot read {path}: {e.strerror}") from None
        self._refuse_binary(data, path, "in the working tree")
        head = self.store.repo.head_commit()
        layers = self._layers(path, session=session)
        return self._blame(data, path, layers, str(head.id) if head is not None else None, "the working tree")

    def at_step(self, step: Step, path: str, session: str | None = None) -> Blame:
        """Blame the file as `step`'s tree holds it: that session up to the step, and the sessions before it."""
        if step.tree_source:
            raise TrailError(
                f"step {step.address}'s tree is not the code of that moment ({step.tree_source}): there is nothing "
                "to blame in it"
            )
        data = self._file_in(step.tree, path, f"step {step.address}")
        self._refuse_binary(data, path, f"at step {step.address}")
        if session is not None and session != step.session_id:
            raise TrailError(f"step {step.address} is not a step of session {session}")
        layers = self._layers(path, step=step)
        return self._blame(data, path, layers, self._user_commit_at(step), step.address)

    def at_commit(self, commit: pygit2.Commit, path: str) -> Blame | None:
        """Blame the file as your commit holds it, with each session as it was when the commit was made; None for
        a binary file."""
        data = self._file_in(str(commit.tree_id), path, f"commit {str(commit.id)[:12]}")
        if is_binary(data):
            return None
        until = datetime.fromtimestamp(commit.commit_time, UTC) + timedelta(seconds=1)
        layers = self._layers(path, until=until)
        return self._blame(data, path, layers, str(commit.id), str(commit.id))

    # -- inside ----------------------------------------------------------------------------------------------------

    def _blame(self, data: bytes, path: str, layers: list[tuple[str, int]], user_rev: str | None, where: str) -> Blame:
        texts = split_lines(data)
        blob = str(pygit2.hash(data))
        claims: list[Step | None] = [None] * len(texts)
        weighed = []
        user = self._start_user_blame(data, path, user_rev)
        try:
            states = self._states_of(layers, path, blob)
        except BaseException:
            if user is not None:
                user.close()
            raise
        for (session_id, _), state in zip(layers, states, strict=True):
            exact = state.states.get(blob)  # the file is as one of the session's steps left it
            if exact is not None:
                mapped = exact
            elif state.blob is not None:
                mapped = carry(state.origins, line_hunks(self._blob(state.blob), data), None)
            else:
                continue
            if not any(o is not None for o in mapped):
                continue
            weighed.append(session_id)
            for i, step in enumerate(mapped):
                if step is not None:
                    current = claims[i]
                    claims[i] = step if current is None else _prefer(current, step)
        unclaimed = [i for i, c in enumerate(claims) if c is None]
        commits = user.commits(unclaimed) if user is not None else {}
        origins: dict[Step, Origin] = {}
        lines = []
        for i, text in enumerate(texts):
            step = claims[i]
            origin = None
            if step is not None:
                origin = origins.get(step)
                if origin is None:
                    origin = origins[step] = Origin(step, self.lookup.prompt_before(step.session_id, step.n))
            lines.append(Line(i + 1, text, origin, commits.get(i)))
        return Blame(path, where, lines, weighed)

    def _layers(
        self,
        path: str,
        session: str | None = None,
        step: Step | None = None,
        until: datetime | None = None,
    ) -> list[tuple[str, int]]:
        """The sessions to weigh, each with the last step to read: those whose file at that step differs from
        their first step's (a session that left the file as it found it wrote none of its lines)."""
        if step is not None:
            until = step.time
        ids = [session] if session is not None else self.store.session_ids()
        out = []
        for sid in ids:
            try:
                tip = self.store.tip(sid)
            except TrailError:
                if session is not None:
                    raise
                continue  # a ref that is not a readable session: `trail sessions` reports it
            if step is not None and sid == step.session_id:
                last = step.n
            elif until is not None:
                last = self._last_before(sid, tip, until)
            else:
                last = tip.n
            if last < 1:
                continue
            commits = self.lookup.commits(sid)
            if self._blob_at(commits[0], path) == self._blob_at(commits[last - 1], path):
                continue
            out.append((sid, last))
        return out

    def _last_before(self, session_id: str, tip: Step, until: datetime) -> int:
        """The last step recorded at or before `until` (steps are recorded in time order); 0 for none."""
        if tip.time <= until:
            return tip.n
        lo, hi = 0, tip.n  # step lo is at or before `until` (0: none), step hi after it
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.lookup.step(session_id, mid).time <= until:
                lo = mid
            else:
                hi = mid
        return lo

    def _states_of(self, layers: list[tuple[str, int]], path: str, target: str) -> list[_State]:
        """The file at the last step of each layer, with the steps that wrote its lines (and its lines' origins
        at the last step where it was `target`, if it ever was).

        git writes the diffs of several layers at once (a long session cut in pieces run side by side; at most
        MAX_RUNNING processes), while trail reads the steps that the replay will need, newest first, until git is
        done.
        """
        wanted = []
        for session_id, last in layers:
            key = (session_id, last, path, target)
            if key not in self._states and key not in wanted:
                wanted.append(key)
        while wanted:
            logs: dict[tuple[str, int, str, str], list[_Git]] = {}
            try:
                while wanted and sum(len(pieces) for pieces in logs.values()) < MAX_RUNNING:
                    key = wanted.pop(0)
                    logs[key] = self._logs(key[0], key[1], path)
                running = [log for pieces in logs.values() for log in pieces]
                self._read_ahead([(key[0], key[1]) for key in logs], running)
                for key, pieces in logs.items():
                    self._states[key] = self._replay(key[0], pieces, target)
            finally:
                for pieces in logs.values():
                    for log in pieces:
                        log.close()
        return [self._states[(session_id, last, path, target)] for session_id, last in layers]

    def _logs(self, session_id: str, last: int, path: str) -> list[_Git]:
        commits = self.lookup.commits(session_id)
        first = self.lookup.step(session_id, 1)
        bounds: list[str | None] = [first.parents[0] if first.parents else None]
        pieces = min(os.cpu_count() or 1, MAX_PIECES, max(1, last // PIECE_STEPS))
        bounds += [commits[last * i // pieces - 1] for i in range(1, pieces + 1)]
        workdir = self.store.repo.workdir
        return [_log(workdir, str(tip), since, path) for since, tip in zip(bounds, bounds[1:], strict=False)]

    def _read_ahead(self, layers: list[tuple[str, int]], logs: list[_Git]) -> None:
        for session_id, last in layers:
            for n in range(last, 0, -1):
                if n % 16 == 0 and not any(log.running for log in logs):
                    return
                self.lookup.step(session_id, n)

    def _replay(self, session_id: str, logs: list[_Git], target: str) -> _State:
        """The file's changes along the session, each line's origin carried through the hunks.

        What a session began with is not its work (the change of its first step: what was uncommitted then), nor
        is a change its agent did not make (NOT_THE_AGENTS). After a rewind, a file back in a state it had before
        gets that state's origins back: restoring is not writing. A step whose tree is not the code of its moment
        (an import) is passed over: the next real step is compared with the state before it.
        """
        numbers = self.lookup.numbers(session_id)
        changes = [
            (numbers[commit], old, new, hunks)
            for log in logs
            for commit, old, new, hunks in _changes(log.output())
            if commit in numbers  # git walked no further than the session's first step, but be sure
        ]
        # States worth a copy of their origins: those the file comes back to (a rewind may restore them), and the
        # state being blamed.
        counts = Counter(new for _, _, new, _ in changes)
        if changes and changes[0][1] is not None:
            counts[changes[0][1]] += 1
        keep = {blob for blob, count in counts.items() if count > 1} | {target}
        blob: str | None = None
        origins: list[Step | None] = []
        seen: dict[str, list[Step | None]] = {}
        last_change = 0
        detoured = False
        for n, old, new, hunks in changes:
            step = self.lookup.step(session_id, n)
            if step.tree_source:
                detoured = True
                continue
            if not last_change and old is not None and blob is None:
                blob, origins = old, [None] * line_count(self._blob(old).data)  # as the session found it
                if old in keep:
                    seen[old] = origins.copy()
            if detoured:
                detoured = False
                if new == blob:
                    continue
                if new is not None and blob is not None:
                    hunks = line_hunks(self._blob(blob), self._blob(new))
                elif new is not None:
                    hunks = [(0, 0, 1, line_count(self._blob(new).data))]
            if new is None:
                origins = []
            elif new in seen and self._rewound_between(session_id, last_change, n):
                origins = seen[new].copy()
            else:
                apply(origins, hunks, None if n == 1 or step.kind in NOT_THE_AGENTS else step)
                if new in keep:
                    seen[new] = origins.copy()
            blob = new
            last_change = n
        return _State(blob, origins, seen)

    def _rewound_between(self, session_id: str, after: int, upto: int) -> bool:
        return any(self.lookup.step(session_id, k).kind == REWIND for k in range(after + 1, upto + 1))

    def _blob(self, oid: pygit2.Oid | str) -> pygit2.Blob:
        return self.git[oid].peel(pygit2.Blob)

    def _blob_at(self, commit: str, path: str) -> str | None:
        found = _blob_in(self.git, self.git[commit].peel(pygit2.Commit).tree_id, path)
        return str(found) if found is not None else None

    def _file_in(self, tree: str, path: str, where: str) -> bytes:
        try:
            entry = self.git[tree].peel(pygit2.Tree)[path]
        except KeyError:
            raise TrailError(f"{path} is not in {where}; `trail files` lists what is") from None
        if entry.type_str == "tree":
            raise TrailError(f"{path} is a folder in {where}; blame names a file")
        if entry.filemode == FileMode.COMMIT:
            raise TrailError(f"{path} is a submodule in {where}, not a file")
        return bytes(self.git[entry.id].peel(pygit2.Blob).data)

    def _refuse_binary(self, data: bytes, path: str, where: str) -> None:
        if is_binary(data):
            raise BinaryFileError(f"{path} is a binary file {where}: blame names the origin of lines of text")

    def _user_commit_at(self, step: Step) -> str | None:
        """Your newest commit as of `step`: the last one a `user_commit` step recorded, else the session's base."""
        commits = self.lookup.commits(step.session_id)
        for n in range(step.n, 0, -1):
            parents = self.git[commits[n - 1]].peel(pygit2.Commit).parent_ids
            if n > 1 and len(parents) > 1 and is_side_commit(self.git.odb.read(parents[-1])[1]):
                parents = parents[:-1]  # a step's attachments, not a commit of yours
            if n > 1 and len(parents) > 1:
                return str(parents[-1])
            if n == 1:
                return str(parents[0]) if parents else None
        return None

    def _start_user_blame(self, data: bytes, path: str, rev: str | None) -> _UserBlame | None:
        """`git blame` of your history at `rev`, started now to run beside the sessions' replay; None when `rev`
        does not have the file (every line the sessions do not claim is then not committed)."""
        if rev is None:
            return None
        committed = _blob_in(self.git, self.git[rev].peel(pygit2.Commit).tree_id, path)
        if committed is None:
            return None
        theirs = self.git[committed].peel(pygit2.Blob)
        if pygit2.hash(data) == committed:
            mapped: list[int | None] = list(range(line_count(data)))
        else:
            mapped = carry(list(range(line_count(theirs.data))), line_hunks(theirs, data), None)
        if all(m is None for m in mapped):
            return None
        return _UserBlame(mapped, _Git(["blame", "--porcelain", rev, "--", path], self.store.repo.workdir))


@dataclass
class _UserBlame:
    """`git blame` of the file at one of your commits, and where each line of the blamed file is in it."""

    mapped: list[int | None]  # line of the blamed file (0-based) -> line at the commit, None: changed since
    blame: _Git

    def commits(self, wanted: list[int]) -> dict[int, UserCommit]:
        """The commit of each line `wanted` (0-based) that the commit has as it is; the others are not committed."""
        if not any(self.mapped[i] is not None for i in wanted):
            self.blame.close()
            return {}
        by_line = parse_porcelain(self.blame.output())
        out = {}
        for i in wanted:
            at = self.mapped[i]
            found = by_line.get(at + 1) if at is not None else None
            if found is not None:
                out[i] = found
        return out

    def close(self) -> None:
        self.blame.close()


def _blob_in(git: pygit2.Repository, tree: pygit2.Oid | str, path: str) -> pygit2.Oid | None:
    """The blob of `path` in `tree` (a link's too); None when absent or not a file."""
    try:
        entry = git[tree].peel(pygit2.Tree)[path]
    except KeyError:
        return None
    if entry.type_str != "blob":
        return None
    return entry.id


def _prefer(current: Step, other: Step) -> Step:
    """Of two steps that both hold a line as it is, the one that wrote it."""
    if other.session_id.startswith(current.session_id + ".agent-"):
        return other  # a subagent wrote it; its parent saw it land when its Task call returned
    if current.session_id.startswith(other.session_id + ".agent-"):
        return current
    return other if other.time > current.time else current


def parse_porcelain(output: bytes) -> dict[int, UserCommit]:
    """Line number (in the blamed revision) -> commit, from `git blame --porcelain`."""
    fields: dict[str, dict[str, str]] = {}
    made: dict[str, UserCommit] = {}
    out: dict[int, UserCommit] = {}
    lines = output.split(b"\n")
    i = 0
    while i < len(lines):
        header = lines[i].decode("utf-8", "replace").split(" ")
        i += 1
        if len(header) < 3:
            continue
        sha, final = header[0], int(header[2])
        info = fields.setdefault(sha, {})
        while i < len(lines) and not lines[i].startswith(b"\t"):
            key, _, value = lines[i].decode("utf-8", "replace").partition(" ")
            info[key] = value
            i += 1
        i += 1  # the line's text
        if sha not in made:
            made[sha] = UserCommit(
                sha,
                info.get("author", ""),
                info.get("author-mail", "").strip("<>"),
                _git_time(info.get("author-time", "0"), info.get("author-tz", "+0000")),
                info.get("summary", ""),
            )
        out[final] = made[sha]
    return out


def _git_time(seconds: str, zone: str) -> datetime:
    try:
        sign = -1 if zone.startswith("-") else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        return datetime.fromtimestamp(int(seconds), timezone(offset))
    except (ValueError, IndexError):
        return datetime.fromtimestamp(0, UTC)

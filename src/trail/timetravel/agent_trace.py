"""Agent Trace records of your commits: which lines each commit added came from a recorded agent conversation (a
trail session) and which from a person, in the open Agent Trace format, version 0.1.

The format is the one published at https://agent-trace.dev/ (source and JSON schema:
https://github.com/cursor/agent-trace, `schemas/trace-record.json`, `$id`
https://agent-trace.dev/schemas/v1/trace-record.json). One record per commit (merges are left out: their lines
are in the records of the commits they merge), `vcs.revision` the commit, line numbers as the commit has them
(1-based), ranges grouped by conversation: one per session, `contributor.type` `ai`, and one for the lines no
session wrote, `human`. The attribution is `trail blame`'s (blame.py), with each session taken as it was when the
commit was made.

Two choices the spec leaves open: `version` is "0.1", the form its schema accepts (`^[0-9]+\\.[0-9]+$`; the
spec's prose examples write "0.1.0", which that pattern rejects), and a conversation's `url` is `trail:<session>`
(a prompt's, in `related`, `trail:<session>@<step>`): a session is a ref of the repository,
refs/trail/sessions/<session>, not a web page; `trail log` and `trail show` read those addresses as they are.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from trail import __version__
from trail.errors import TrailError
from trail.gitcli import run_git
from trail.store.steps import REF_PREFIX, Step, Store
from trail.timetravel.blame import Blamer, Line, carry, line_count, line_hunks

VERSION = "0.1"
URL_SCHEME = "trail"
MODEL_ID_LIMIT = 250
# models.dev names a model `provider/model`; agents record the model's own name.
_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("codex", "openai"),
    ("gemini", "google"),
)


def commits_in(store: Store, spec: str) -> list[pygit2.Commit]:
    """The commits `spec` names, oldest first: a range (`A..B`, `A...B`) as `git rev-list` reads it, or one commit.
    Merges are left out."""
    spec = spec.strip()
    if not spec or spec.startswith("-"):
        raise TrailError(f"{spec!r} is not a commit range; give A..B (the commits of B that A lacks) or a commit")
    git = store.git
    if ".." in spec:
        try:
            listed = run_git(["rev-list", "--reverse", "--no-merges", spec, "--"], cwd=store.repo.workdir).split()
        except TrailError as e:
            raise TrailError(f"{spec!r} is not a range of commits here ({str(e).partition(': ')[2]})") from None
        return [git[oid].peel(pygit2.Commit) for oid in listed]
    try:
        commit = git.revparse_single(spec).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise TrailError(f"{spec!r} names no commit") from None
    return [] if len(commit.parent_ids) > 1 else [commit]


def export(store: Store, spec: str, paths: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """An Agent Trace record for each commit of `spec` (oldest first), for the text files it added lines to
    (those under `paths`, when given)."""
    blamer = Blamer(store)
    for commit in commits_in(store, spec):
        yield trace_record(blamer, commit, paths)


def trace_record(blamer: Blamer, commit: pygit2.Commit, paths: Sequence[str] = ()) -> dict[str, Any]:
    """The Agent Trace record of one commit."""
    files = []
    sessions: dict[str, dict[str, Any]] = {}
    skipped = []
    for path, added in _added_lines(blamer.store.git, commit):
        if paths and not any(_under(path, p) for p in paths):
            continue
        blame = blamer.at_commit(commit, path)
        if blame is None:
            skipped.append({"path": path, "reason": "binary"})
            continue
        conversations = _conversations([blame.lines[i] for i in added], sessions)
        if conversations:
            files.append({"path": path, "conversations": conversations})
    record: dict[str, Any] = {
        "version": VERSION,
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "vcs": {"type": "git", "revision": str(commit.id)},
        "tool": {"name": "trail", "version": __version__},
        "files": files,
    }
    trail_data: dict[str, Any] = {
        "url_scheme": f"{URL_SCHEME}:<session>[@<step>] names a session recorded in this repository "
        f"({REF_PREFIX}<session>) or one of its steps; `trail log` and `trail show` read it",
        "sessions": sessions,
    }
    if skipped:
        trail_data["skipped"] = skipped
    record["metadata"] = {"trail": trail_data}
    return record


def model_id(model: str | None) -> str | None:
    """A recorded model name in models.dev's `provider/model` form, where the provider is plain from the name."""
    if not model:
        return None
    if "/" not in model:
        for prefix, provider in _PROVIDERS:
            if model.startswith(prefix):
                model = f"{provider}/{model}"
                break
    return model[:MODEL_ID_LIMIT]


def content_hash(texts: Sequence[bytes]) -> str:
    """sha256 of the range's lines, each ended by \\n."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.rstrip(b"\r") + b"\n")
    return "sha256:" + digest.hexdigest()


# -- inside ---------------------------------------------------------------------------------------------------------


def _added_lines(git: pygit2.Repository, commit: pygit2.Commit) -> Iterator[tuple[str, list[int]]]:
    """Each file the commit added or changed lines in, with those lines (0-based, as the commit has them)."""
    parent = commit.parents[0].tree if commit.parents else None
    diff = parent.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
    diff.find_similar()  # a renamed file's lines are not new
    for delta in diff.deltas:
        if delta.status == DeltaStatus.DELETED or delta.new_file.mode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            continue
        path = delta.new_file.path
        new = git[delta.new_file.id].peel(pygit2.Blob)
        if delta.status == DeltaStatus.ADDED or parent is None:
            added = list(range(line_count(new.data)))
        else:
            old = git[delta.old_file.id].peel(pygit2.Blob)
            marks = carry([False] * line_count(old.data), line_hunks(old, new), True)
            added = [i for i, mark in enumerate(marks) if mark]
        if added:
            yield path, added


def _under(path: str, folder: str) -> bool:
    folder = folder.strip("/")
    return not folder or path == folder or path.startswith(folder + "/")


def _conversations(lines: list[Line], sessions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines grouped by who wrote them: one conversation per session, one for people."""
    by_session: dict[str, list[Line]] = {}
    human: list[Line] = []
    for line in lines:
        if line.origin is None:
            human.append(line)
        else:
            by_session.setdefault(line.origin.step.session_id, []).append(line)
    out = []
    for session_id, own in by_session.items():
        models = [_model(line.origin.step) if line.origin else None for line in own]
        main = max(set(models), key=models.count) if models else None
        conversation: dict[str, Any] = {"url": f"{URL_SCHEME}:{session_id}"}
        contributor: dict[str, Any] = {"type": "ai"}
        if main:
            contributor["model_id"] = main
        conversation["contributor"] = contributor
        conversation["ranges"] = _ranges(own, models, main)
        prompts = sorted({(o.prompt.session_id, o.prompt.n) for o in (line.origin for line in own) if o and o.prompt})
        if prompts:
            conversation["related"] = [{"type": "prompt", "url": f"{URL_SCHEME}:{sid}@{n}"} for sid, n in prompts]
        out.append(conversation)
        _describe(sessions, session_id, own)
    if human:
        out.append({"contributor": {"type": "human"}, "ranges": _ranges(human, [None] * len(human), None)})
    return out


def _ranges(lines: list[Line], models: list[str | None], main: str | None) -> list[dict[str, Any]]:
    """Runs of consecutive lines with the same model, each with its content hash (and its model when it is not
    the conversation's)."""
    out: list[dict[str, Any]] = []
    run: list[Line] = []
    run_model: str | None = None
    for line, model in zip(lines, models, strict=True):
        if run and (line.number != run[-1].number + 1 or model != run_model):
            out.append(_range(run, run_model, main))
            run = []
        if not run:
            run_model = model
        run.append(line)
    if run:
        out.append(_range(run, run_model, main))
    return out


def _range(run: list[Line], model: str | None, main: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "start_line": run[0].number,
        "end_line": run[-1].number,
        "content_hash": content_hash([line.text for line in run]),
    }
    if model != main:
        item["contributor"] = {"type": "ai", **({"model_id": model} if model else {})}
    return item


def _model(step: Step) -> str | None:
    model = step.model or step.session.get("model")
    return model_id(model if isinstance(model, str) else None)


def _describe(sessions: dict[str, dict[str, Any]], session_id: str, lines: list[Line]) -> None:
    entry = sessions.setdefault(session_id, {"ref": REF_PREFIX + session_id, "steps": []})
    for line in lines:
        if line.origin is None:
            continue
        step = line.origin.step
        agent = step.agent
        if agent and "agent" not in entry:
            entry["agent"] = agent
        if step.n not in entry["steps"]:
            entry["steps"].append(step.n)
    entry["steps"].sort()

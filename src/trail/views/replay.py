"""A session as the data of its replay: the listing of every step (what the first screen needs), each step's
readable parts in chunks the page parses when it shows them, each distinct code change stored once, and the
subagent sessions nested under the steps that started them.

All text is made safe here (markup.text, markup.markdown); html.py only lays the data out in the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pygit2

from trail import events as ev
from trail import tracetree
from trail.api import History, Session, file_changes
from trail.errors import TrailError
from trail.events import Event
from trail.store.steps import Step
from trail.tracetree import TraceTree, TreeSession
from trail.views import markup

CHUNK_STEPS = 50  # step bodies per JSON block: showing step 4,000 parses one block, not the whole session
DIFF_CHUNK = 10  # distinct code changes per JSON block
FIELD_LIMIT = 1_000_000  # characters of one field kept in a page (the rest: `trail show --full`)
FILE_PATCH_LIMIT = 200_000  # characters of one file's patch kept in a page
STEP_PATCH_LIMIT = 1_000_000  # characters of one change's patches together
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TOOL_OUTPUT_STREAMS = (("stdout", "Output", ""), ("stderr", "Stderr", "err"))


@dataclass
class Replay:
    """What a replay page holds: `index` (sessions and their step listings), `bodies` (JSON blocks of step bodies,
    by element id `b-<session>-<chunk>`) and `changes` (distinct code changes, in blocks of DIFF_CHUNK)."""

    index: dict[str, Any]
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return sum(len(s["rows"]) for s in self.index["sessions"])

    def change_blocks(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for start in range(0, len(self.changes), DIFF_CHUNK):
            yield f"d-{start // DIFF_CHUNK}", self.changes[start : start + DIFF_CHUNK]


def build(
    history: History,
    session: Session,
    nav: list[tuple[str, str]] | None = None,
    session_links: Callable[[str], dict[str, str]] | None = None,
    tree: TraceTree | None = None,
    page_url: Callable[[str], str] | None = None,
) -> Replay:
    """The replay of `session` and of the subagent sessions it started (and theirs). The web UI adds `nav` (links
    of the page's header), `session_links` (for a session id, URL templates of the pages only a server can
    answer: `files` at step {n}, `diff` from step {a} to {b}) and `page_url` (the page of another session).

    The page also shows the tree of sessions of the session's trace (`tree`, made here when not given): other
    processes' sessions are linked where the page can reach them (its own sessions, or a server's pages), and
    named otherwise."""
    family = [session, *subagents(history, session)]
    builder = _Builder(history, family, session_links)
    for number, member in enumerate(family):
        builder.add(number, member)
    if tree is None:
        try:
            tree = session.tree()
        except TrailError:  # the tree is an extra: a repository whose sessions cannot all be read still replays
            tree = None
    trace = _Trace(builder, tree, page_url) if tree is not None else None
    index: dict[str, Any] = {
        "v": 1,
        "mode": "session",
        "title": markup.text(session.title or session.handle),
        "generated": datetime.now().astimezone().isoformat(timespec="seconds"),
        "chunk": CHUNK_STEPS,
        "diffChunk": DIFF_CHUNK,
        "kinds": builder.kinds,
        "models": builder.models,
        "sessions": builder.sessions,
        "totals": builder.totals(),
        "links": {"nav": [list(link) for link in nav]} if nav else None,
        "trace": trace.rows if trace is not None and len(trace.tree) > 1 else None,
    }
    return Replay(index, builder.bodies, builder.changes)


class _Trace:
    """The trace tree as the page shows it: rows of sessions and of the steps that started sessions, each with a
    link where the page can follow one; and, on each session of the page, the other processes' sessions each of
    its steps started (`spawned`) and what started it (`origin`)."""

    def __init__(self, builder: _Builder, tree: TraceTree, page_url: Callable[[str], str] | None) -> None:
        self.builder = builder
        self.tree = tree
        self.page_url = page_url
        self.rows: list[dict[str, Any]] = []
        for root in tree.roots:
            self._add(root, 0)
        for number, info in enumerate(builder.sessions):
            node = tree.find(builder.family[number].id)
            if node is None:
                continue
            spawned: dict[str, list[dict[str, Any]]] = {}
            for branch in node.branches:
                outside = [c for c in branch.sessions if c.id not in builder.number]
                if outside and branch.step is not None:
                    spawned[str(branch.step)] = [self._session(c, 0) for c in outside]
            if spawned:
                info["spawned"] = spawned
            if number == 0 and node.parent is not None:
                parent, step = node.parent
                relation = _relation(node.session, node.link)
                known = parent in {n.id for _, n in tree.walk()}
                name = builder.history.handle(parent) if known else parent
                href = self._step_href(parent, step) if known and step else self._href(parent) if known else None
                info["origin"] = [markup.text(name), step, href, relation]

    def _add(self, node: TreeSession, depth: int) -> None:
        self.rows.append(self._session(node, depth))
        for branch in node.branches:
            inner = depth + 1
            if branch.step is not None:
                self.rows.append(
                    {
                        "d": inner,
                        "n": branch.step,
                        "kind": markup.text(branch.kind or ""),
                        "summary": markup.text(ev.one_line(branch.summary or "")),
                        "href": self._step_href(node.id, branch.step),
                    }
                )
                inner += 1
            for child in branch.sessions:
                self._add(child, inner)

    def _session(self, node: TreeSession, depth: int) -> dict[str, Any]:
        s = node.session
        row: dict[str, Any] = {
            "d": depth,
            "handle": markup.text(s.handle),
            "agent": markup.text(s.agent or ""),
            "steps": s.steps,
            "title": markup.text(ev.one_line(s.title)),
            "here": node.asked,
            "href": self._href(s.id),
        }
        if node.link is None and node.parent is not None:
            row["from"] = markup.text(ev.one_line(node.parent[0])) + (f"@{node.parent[1]}" if node.parent[1] else "")
        elif node.link is None and s.info.parent_span_id is not None:
            row["from"] = "span " + s.info.parent_span_id
        return row

    def _href(self, session_id: str) -> str | None:
        number = self.builder.number.get(session_id)
        if number is not None:
            return self._hash(number, 1)
        return self.page_url(session_id) if self.page_url is not None else None

    def _step_href(self, session_id: str, n: int) -> str | None:
        number = self.builder.number.get(session_id)
        if number is not None:
            return self._hash(number, n)
        return f"{self.page_url(session_id)}#step-{n}" if self.page_url is not None else None

    def _hash(self, number: int, n: int) -> str:
        key = self.builder.sessions[number]["key"] if number < len(self.builder.sessions) else ""
        return f"#{key}-step-{n}" if key else f"#step-{n}"


def _relation(session: Session, link: str | None = None) -> str:
    """How the session a page shows came from its parent, in the words of its header."""
    parent = session.parent[0] if session.parent else ""
    if parent and session.id.startswith(parent + ".agent-"):
        return "a subagent of"
    if session.info.parent_span_id is not None or link == tracetree.SPAN_LINK:
        return "started by"
    return "forked from"


def subagents(history: History, session: Session) -> list[Session]:
    """The sessions `session` started, and theirs, parents before children, each group in the order it began."""
    found = []
    for sid in history.store.children(session.id):
        try:
            found.append(history.session(sid))
        except TrailError:  # a child whose ref cannot be read is left out, as `trail sessions` skips it
            continue
    found.sort(key=lambda s: (s.id.count(".agent-"), s.started))
    return found


def change_entry(diff: pygit2.Diff, address: str) -> dict[str, Any]:
    """A code change as the page shows it: the files (status, path, old path, lines added and removed, binary)
    and each file's patch from its first hunk, cut where a page would grow too large."""
    files = []
    patches: list[str | None] = []
    total = 0
    left_out = 0
    changes = file_changes(diff)
    for change, patch in zip(changes, (p for p in diff if p is not None), strict=False):
        files.append(
            [
                change.status,
                markup.text(change.path),
                markup.text(change.old_path) if change.old_path else None,
                change.additions,
                change.deletions,
                int(change.binary),
            ]
        )
        if change.binary:
            patches.append(None)
            continue
        data = patch.data
        start = data.find(b"\n@@")
        body = markup.text(data[start + 1 :].decode("utf-8", "replace")) if start >= 0 else ""
        if len(body) > FILE_PATCH_LIMIT:
            cut = body.rfind("\n", 0, FILE_PATCH_LIMIT)
            hidden = body.count("\n", cut + 1)
            body = body[: max(cut, 0)] + f"\n\\ … {hidden} more lines: `trail diff {address}` shows them"
        if total + len(body) > STEP_PATCH_LIMIT:
            patches.append(None)
            left_out += 1
            continue
        total += len(body)
        patches.append(body)
    note = (
        f"{left_out} more files' patches are not in this page: `trail diff {address}` shows them" if left_out else None
    )
    return {"f": files, "p": patches, "n": note}


class _Builder:
    """Collects the sessions of one page: their listings, step bodies, distinct changes and token totals."""

    def __init__(self, history: History, family: list[Session], links: Callable[[str], dict[str, str]] | None) -> None:
        self.history = history
        self.links = links
        self.family = family
        self.number = {s.id: i for i, s in enumerate(family)}
        self.kinds: list[str] = []
        self._kind_ids: dict[str, int] = {}
        self.models: list[str] = []
        self._model_ids: dict[str, int] = {}
        self.sessions: list[dict[str, Any]] = []
        self.bodies: dict[str, list[Any]] = {}
        self.changes: list[dict[str, Any]] = []
        self._change_ids: dict[tuple[str | None, str], int] = {}
        self._model_totals: dict[str, list[int]] = {}
        self._times: dict[int, list[float]] = {}

    # -- tables --------------------------------------------------------------------------------------------------

    def _kind(self, kind: str) -> int:
        kind = kind if _KIND_RE.match(kind) else "note"
        if kind not in self._kind_ids:
            self._kind_ids[kind] = len(self.kinds)
            self.kinds.append(kind)
        return self._kind_ids[kind]

    def _model(self, model: str | None) -> int:
        if not model:
            return -1
        if model not in self._model_ids:
            self._model_ids[model] = len(self.models)
            self.models.append(markup.text(model))
        return self._model_ids[model]

    # -- one session ---------------------------------------------------------------------------------------------

    def add(self, number: int, session: Session) -> None:
        handle = self.history.handle(session.id)
        main = self.family[0]
        rows: list[list[Any]] = []
        bodies: list[Any] = []
        t0: float | None = None
        times: list[float] = []
        previous_tree: str | None = None
        tokens = [0, 0]
        for step in session.iter_steps(full=True):
            stamp = step.time.timestamp() * 1000
            if t0 is None:
                t0 = stamp
                previous_tree = self._base_tree(step)
            times.append(stamp)
            change = self._change(step, previous_tree, f"{handle}@{step.n}")
            previous_tree = step.tree
            files = len(self.changes[change]["f"]) if change is not None else 0
            tin, tout = step.tokens_in, step.tokens_out
            tokens[0] += tin or 0
            tokens[1] += tout or 0
            self._count_model(step)
            flags = 1 if step.failed else 0
            rows.append(
                [
                    self._kind(step.kind),
                    round(stamp - t0),
                    markup.text(ev.one_line(step.summary)),
                    tin,
                    tout,
                    self._model(step.model),
                    files,
                    flags,
                ]
            )
            bodies.append(self._body(step, change, f"{handle}@{step.n}"))
        for start in range(0, len(bodies), CHUNK_STEPS):
            self.bodies[f"b-{number}-{start // CHUNK_STEPS}"] = bodies[start : start + CHUNK_STEPS]
        self._times[number] = times
        info: dict[str, Any] = {
            "id": markup.text(session.id),
            "handle": markup.text(handle),
            "key": session.id[len(main.id) + 1 :] if number else "",
            "title": markup.text(session.title),
            "agent": markup.text(session.agent or ""),
            "model": markup.text(session.model or ""),
            "started": session.started.isoformat(),
            "ended": session.ended,
            "t0": round(t0 or 0),
            "rows": rows,
            "tokens": tokens,
            "parent": self._parent(number, session),
            "origin": None,
        }
        if self.links is not None:
            info["links"] = self.links(session.id)
        if number == 0 and session.parent:
            origin, step_number = session.parent
            info["origin"] = [markup.text(origin), step_number, None, _relation(session)]
        self.sessions.append(info)

    def _parent(self, number: int, session: Session) -> list[int] | None:
        """[session number, step] in this page of the step that started a subagent."""
        if number == 0:
            return None
        named, step = session.parent or (None, None)
        parent = self.number.get(named) if named else None
        if parent is None or parent >= number:
            parent = self.number.get(session.id.rsplit(".agent-", 1)[0], 0)
        count = len(self.sessions[parent]["rows"])
        if not isinstance(step, int) or not 1 <= step <= count:
            # No step named: the last step of the parent recorded before the subagent began.
            began = session.started.timestamp() * 1000
            times = self._times.get(parent, [])
            step = max((i + 1 for i, t in enumerate(times) if t <= began), default=1)
        return [parent, step]

    def _base_tree(self, step: Step) -> str | None:
        if not step.parents:
            return None
        try:
            return str(self.history.repo.git[step.parents[0]].peel(pygit2.Commit).tree_id)
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def _change(self, step: Step, previous_tree: str | None, address: str) -> int | None:
        if step.tree == previous_tree:
            return None
        key = (previous_tree, step.tree)
        found = self._change_ids.get(key)
        if found is None:
            try:
                entry = change_entry(self.history.diff(None, step), address)
            except (KeyError, ValueError, pygit2.GitError):
                return None
            if not entry["f"]:
                return None
            found = self._change_ids[key] = len(self.changes)
            self.changes.append(entry)
        return found

    def _count_model(self, step: Step) -> None:
        if step.tokens_in is None and step.tokens_out is None:
            return
        totals = self._model_totals.setdefault(markup.text(step.model or "unknown model"), [0, 0, 0, 0, 0])
        found = step.facts.get("usage")
        usage: dict[str, Any] = found if isinstance(found, dict) else {}
        totals[0] += 1
        totals[1] += step.tokens_in or 0
        totals[2] += step.tokens_out or 0
        totals[3] += _number(usage.get("cache_read_input_tokens"))
        totals[4] += _number(usage.get("cache_creation_input_tokens"))

    def totals(self) -> dict[str, Any]:
        models = sorted(self._model_totals.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))
        return {
            "in": sum(s["tokens"][0] for s in self.sessions),
            "out": sum(s["tokens"][1] for s in self.sessions),
            "steps": sum(len(s["rows"]) for s in self.sessions),
            # [model, responses, tokens in, tokens out, cache reads, cache writes]
            "models": [[name, *numbers] for name, numbers in models],
        }

    # -- one step ------------------------------------------------------------------------------------------------

    def _body(self, step: Step, change: int | None, address: str) -> dict[str, Any]:
        try:
            event = step.event
        except (ValueError, TypeError, KeyError) as e:
            return {"c": step.commit, "p": [["pre", "Unreadable", f"this step's event cannot be read: {e}", "err"]]}
        body: dict[str, Any] = {"c": step.commit, "p": parts(event, address)}
        if change is not None:
            body["d"] = change
        meta = _meta(step, event)
        if meta:
            body["m"] = meta
        return body


def parts(event: Event, address: str) -> list[list[Any]]:
    """The readable parts of an event, as the page shows them:
    ["md", label, html, collapsed], ["pre", label, text, tone] (tone "", "err" or "code"), ["list", label, items],
    ["kv", label, [[key, value], ...]]."""
    p = event.payload
    out: list[list[Any]] = []
    kind = event.kind
    if kind == ev.PROMPT:
        _markdown(out, "", p.get("text"), address)
    elif kind == ev.RESPONSE:
        _markdown(out, "", p.get("text"), address)
        _markdown(out, "Thinking", p.get("thinking"), address, collapsed=True)
        uses = [u for u in p.get("tool_uses") or () if isinstance(u, dict)]
        if uses and not p.get("text"):
            _list(out, "Calls", [f"{u.get('name') or 'tool'}" for u in uses])
        if not p.get("text") and p.get("text_recorded_at"):
            _pre(out, "", f"The answer is step {p['text_recorded_at']}; this step carries its token usage.", address)
    elif kind in (ev.TOOL_CALL, ev.TOOL_RESULT):
        _tool_input(out, p.get("input"), address)
        _tool_output(out, p.get("output"), address)
        _pre(out, "Error", p.get("error"), address, tone="err")
    elif kind == ev.DECISION:
        _markdown(out, "Chose", p.get("choice"), address)
        _markdown(out, "Reasoning", p.get("reasoning"), address)
        alternatives = p.get("alternatives")
        if alternatives:
            items = alternatives if isinstance(alternatives, list) else [alternatives]
            _list(out, "Alternatives", [_string(a) for a in items])
    elif kind == ev.COMMAND:
        typed = f"{p.get('name') or ''} {p.get('args') or ''}".strip()
        _pre(out, "", typed or p.get("text"), address)
        _pre(out, "Output", p.get("output"), address)
    elif kind == ev.NOTE:
        _pre(out, "", p.get("text"), address)
        _fields(out, {k: v for k, v in p.items() if k != "text"}, address)
    else:
        _fields(out, p, address)
    return out


def _markdown(out: list[list[Any]], label: str, value: Any, address: str, collapsed: bool = False) -> None:
    if value in (None, "", [], {}):
        return
    text = _string(value)
    if len(text) > markup.MARKDOWN_LIMIT:
        _pre(out, label, text, address)
        return
    out.append(["md", label, markup.markdown(text), collapsed])


def _pre(out: list[list[Any]], label: str, value: Any, address: str, tone: str = "") -> None:
    if value in (None, "", [], {}, False):
        return
    out.append(["pre", label, _cut(_string(value, pretty=True), address), tone])


def _list(out: list[list[Any]], label: str, items: list[str]) -> None:
    out.append(["list", label, [markup.text(item) for item in items if item]])


def _fields(out: list[list[Any]], payload: dict[str, Any], address: str) -> None:
    rows = [
        [markup.text(str(key)), _cut(_string(value, pretty=True), address)]
        for key, value in payload.items()
        if value not in (None, "", [], {})
    ]
    if rows:
        out.append(["kv", "", rows])


def _tool_input(out: list[list[Any]], value: Any, address: str) -> None:
    if isinstance(value, dict) and isinstance(value.get("command"), str):
        _pre(out, "Command", "$ " + value["command"], address, tone="code")
        rest = {k: v for k, v in value.items() if k != "command" and v not in (None, "", [], {})}
        if rest:
            _pre(out, "Input", rest, address, tone="code")
        return
    _pre(out, "Input", value, address, tone="code")


def _tool_output(out: list[list[Any]], value: Any, address: str) -> None:
    if isinstance(value, dict):
        streams = [(key, label, tone) for key, label, tone in _TOOL_OUTPUT_STREAMS if isinstance(value.get(key), str)]
        if streams:
            for key, label, tone in streams:
                _pre(out, label, value[key], address, tone=tone)
            return
        file = value.get("file")
        if isinstance(file, dict) and isinstance(file.get("content"), str):
            _pre(out, "Output", file["content"], address)
            return
    _pre(out, "Output", value, address)


def _meta(step: Step, event: Event) -> list[list[str]]:
    """Small facts shown beside a step's header: duration, cache split, stop reason, redactions, files left out."""
    p = event.payload
    meta = []
    duration = p.get("duration_ms")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        meta.append(["duration", f"{duration / 1000:.1f} s" if duration >= 1000 else f"{duration:g} ms"])
    found = p.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    for key, label in (
        ("cache_read_input_tokens", "cache read"),
        ("cache_creation_input_tokens", "cache write"),
        ("input_tokens", "fresh input"),
    ):
        if isinstance(usage.get(key), int) and usage[key]:
            meta.append([label, f"{usage[key]:,}"])
    if isinstance(p.get("stop_reason"), str):
        meta.append(["stop", markup.text(p["stop_reason"])])
    if step.redacted:
        meta.append(["redacted", ", ".join(f"{markup.text(k)} ×{v}" for k, v in sorted(step.redacted.items()))])
    for item in step.omitted:
        why = markup.text(item.reason) if item.reason else "over the size limit"
        meta.append(["left out", f"{markup.text(item.path)} ({item.size:,} bytes, {why})"])
    if step.tree_source:
        meta.append(["tree", markup.text(step.tree_source)])
    return meta


def _string(value: Any, pretty: bool = False) -> str:
    if isinstance(value, str):
        return markup.text(value)
    try:
        text = json.dumps(value, indent=2 if pretty else None, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    return markup.text(text)


def _cut(text: str, address: str) -> str:
    if len(text) <= FIELD_LIMIT:
        return text
    return (
        text[:FIELD_LIMIT]
        + f"\n[… {len(text) - FIELD_LIMIT:,} more characters are not in this page: `trail show --full {address}`]"
    )


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""The tree of sessions a session belongs to, across processes, agents and machines: each session under the step
of the session that started it.

Two kinds of link make the tree. A session's description may name its parent session and step (a subagent, a fork,
a process started by a recorder with TRAIL_PARENT_STEP; with no step named, the parent's last step before the
child began, as the replay places it); or it may name only the span that started it in its W3C
trace (`parent_span_id`), which is the span of a step of another session of that trace, recorded in any
repository: a step's span id is a hash of its session id and number (traceids.py), so finding it takes no read;
only steps that came with a span id of their own are read, and only in sessions whose description says they have
some. Everything else comes from the sessions' newest steps, as `trail sessions` reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trail import traceids
from trail.api import History, Session
from trail.errors import TrailError

SESSION_LINK = "session"  # the child's description names its parent session (and step)
SPAN_LINK = "span"  # the child's parent span is the span of a step of that session, in the same trace


@dataclass
class Branch:
    """The sessions one step started (`step` None: sessions whose parent named no step)."""

    step: int | None
    kind: str | None = None
    summary: str | None = None
    span_id: str | None = None
    sessions: list[TreeSession] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "summary": self.summary,
            "span_id": self.span_id,
            "sessions": [s.to_json() for s in self.sessions],
        }


@dataclass
class TreeSession:
    """A session in the tree: how it is linked to its parent, and the steps of it that started others."""

    session: Session
    asked: bool = False
    link: str | None = None  # SESSION_LINK, SPAN_LINK, or None for a session at the top of the tree
    parent: tuple[str, int | None] | None = None  # its parent session and step, found or only named
    branches: list[Branch] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def children(self) -> Iterator[TreeSession]:
        for branch in self.branches:
            yield from branch.sessions

    def to_json(self) -> dict[str, Any]:
        s = self.session
        return {
            "session": s.id,
            "handle": s.handle,
            "agent": s.agent,
            "model": s.model,
            "steps": s.steps,
            "title": s.title,
            "started": s.started.isoformat(),
            "ended": s.ended,
            "trace_id": s.info.trace_id,
            "asked": self.asked,
            "link": self.link,
            "parent_session": self.parent[0] if self.parent else None,
            "parent_step": self.parent[1] if self.parent else None,
            "parent_span_id": s.info.parent_span_id,
            "children": [b.to_json() for b in self.branches],
        }


@dataclass
class TraceTree:
    """The sessions linked to one asked for, as trees from the sessions that nothing here started."""

    asked: str
    roots: list[TreeSession]

    def walk(self) -> Iterator[tuple[int, TreeSession]]:
        """Every session of the tree with its depth, parents before their children."""
        stack = [(0, root) for root in reversed(self.roots)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(list(node.children)))

    def find(self, session_id: str) -> TreeSession | None:
        return next((node for _, node in self.walk() if node.id == session_id), None)

    @property
    def trace_ids(self) -> list[str]:
        """The traces of the tree's sessions, the asked session's first."""
        found = [node.session.info.trace_id for _, node in self.walk()]
        asked = self.find(self.asked)
        first = asked.session.info.trace_id if asked is not None else None
        ordered = ([first] if first else []) + sorted({t for t in found if t and t != first})
        return ordered

    def __len__(self) -> int:
        return sum(1 for _ in self.walk())

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.asked,
            "trace_ids": self.trace_ids,
            "sessions": len(self),
            "roots": [root.to_json() for root in self.roots],
        }


def trace_tree(history: History, session: Session) -> TraceTree:
    """The tree `session` is part of, from every session of `history`."""
    by_id = {s.id: s for s in history.sessions()}
    by_id.setdefault(session.id, session)
    members = _linked(session.id, by_id)
    parents = _parents(members, by_id)
    nodes = {sid: TreeSession(by_id[sid], asked=sid == session.id) for sid in members}
    for sid, node in nodes.items():
        info = by_id[sid]
        if sid in parents:
            parent, step, link = parents[sid]
            node.parent, node.link = (parent, step), link
        elif info.parent is not None:
            node.parent = info.parent  # named, but not recorded in this repository
    branches: dict[tuple[str, int | None], Branch] = {}
    for sid in sorted(parents, key=lambda s: by_id[s].started):
        parent, step, _ = parents[sid]
        key = (parent, step)
        if key not in branches:
            branches[key] = _branch(parent, step, by_id[parent])
            nodes[parent].branches.append(branches[key])
        branches[key].sessions.append(nodes[sid])
    for node in nodes.values():
        node.branches.sort(key=lambda b: -1 if b.step is None else b.step)
    roots = sorted((nodes[sid] for sid in members if sid not in parents), key=lambda n: n.session.started)
    tree = TraceTree(session.id, roots)
    # Links that go round in a circle (hand-made or damaged descriptions) leave sessions no root reaches: each
    # circle is cut above its earliest session, which is shown as if nothing had started it.
    reached = {node.id for _, node in tree.walk()}
    for sid in sorted(members - reached, key=lambda s: by_id[s].started):
        if sid in reached:
            continue
        node = nodes[sid]
        parent, step, _ = parents.pop(sid)
        branch = branches[(parent, step)]
        branch.sessions.remove(node)
        if not branch.sessions:
            nodes[parent].branches.remove(branch)
        node.link = None
        tree.roots.append(node)
        reached |= {n.id for _, n in TraceTree(sid, [node]).walk()}
    return tree


def _linked(start: str, by_id: dict[str, Session]) -> set[str]:
    """The sessions linked to `start` by a parent named or a trace shared, however far."""
    by_trace: dict[str, list[str]] = {}
    named_children: dict[str, list[str]] = {}
    for s in by_id.values():
        trace = s.info.trace_id
        if trace is not None:
            by_trace.setdefault(trace, []).append(s.id)
        if s.parent is not None:
            named_children.setdefault(s.parent[0], []).append(s.id)
    members: set[str] = set()
    traces: set[str] = set()
    queue = [start]
    while queue:
        sid = queue.pop()
        if sid in members:
            continue
        members.add(sid)
        s = by_id[sid]
        trace = s.info.trace_id
        if trace is not None and trace not in traces:
            traces.add(trace)
            queue.extend(by_trace[trace])
        queue.extend(named_children.get(sid, ()))
        if s.parent is not None and s.parent[0] in by_id:
            queue.append(s.parent[0])
    return members


def _parents(members: set[str], by_id: dict[str, Session]) -> dict[str, tuple[str, int | None, str]]:
    """child -> (parent session, its step, how the link was found), for the members whose parent is a member."""
    found: dict[str, tuple[str, int | None, str]] = {}
    wanted: dict[str, list[str]] = {}  # parent span id -> the sessions it started, not linked by name
    for sid in members:
        s = by_id[sid]
        if s.parent is not None and s.parent[0] in members and s.parent[0] != sid:
            step = s.parent[1] if s.parent[1] is not None else _step_before(by_id[s.parent[0]], s)
            found[sid] = (s.parent[0], step, SESSION_LINK)
        elif s.info.parent_span_id is not None and s.info.trace_id is not None:
            wanted.setdefault(s.info.parent_span_id, []).append(sid)
    if not wanted:
        return found
    traces = {by_id[sid].info.trace_id for children in wanted.values() for sid in children}
    candidates = [sid for sid in sorted(members) if by_id[sid].info.trace_id in traces]
    for sid, n, span in _spans(candidates, by_id):
        for child in wanted.pop(span, ()):
            if child != sid and by_id[child].info.trace_id == by_id[sid].info.trace_id:
                found[child] = (sid, n, SPAN_LINK)
        if not wanted:
            break
    return found


def _step_before(parent: Session, child: Session) -> int | None:
    """For a parent named without a step (a subagent imported before its parent said which step started it): the
    parent's last step recorded before the child began, as the replay places it."""
    try:
        for step in parent.iter_steps(newest_first=True):
            if step.time <= child.started:
                return step.n
    except TrailError:
        return None
    return None


def _spans(candidates: list[str], by_id: dict[str, Session]) -> Iterator[tuple[str, int, str]]:
    """(session, step, span id) of the steps of `candidates`: first every step's own hashed span id (no read), then
    the span ids steps came with, read from their summaries in the sessions whose description says they have some."""
    for sid in candidates:
        for n in range(1, by_id[sid].steps + 1):
            yield sid, n, traceids.step_span_id(sid, n)
    for sid in candidates:
        if not by_id[sid].tip.session.get("given_span_ids"):
            continue
        try:
            for step in by_id[sid].iter_steps(newest_first=True):
                given = step.facts.get("span_id")
                if isinstance(given, str) and traceids.is_span_id(given):
                    yield sid, step.n, given
        except TrailError:
            continue


def _branch(parent: str, step: int | None, session: Session) -> Branch:
    """The step `step` of `parent` as the tree shows it (its kind and summary, read from its summary alone)."""
    if step is None or not 1 <= step <= session.steps:
        return Branch(step)
    try:
        found = session.step(step)
    except TrailError:
        return Branch(step)
    span = found.facts.get("span_id")
    return Branch(
        step, found.kind, found.summary, span if traceids.is_span_id(span) else traceids.step_span_id(parent, step)
    )

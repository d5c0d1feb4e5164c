"""The search index, `.git/trail/index.sqlite`: every step's text in SQLite FTS5, derived from the session refs.

It is a cache. Its invariant: for each session it lists, it holds exactly the steps 1..N of the chain that ends at
the tip it records. Before every search it is brought up to date cheaply: the refs are read from git's files (no
libgit2), and only sessions whose tip moved are read, from the new tip down to the step it already holds (steps
were added) or whole (the session was rewritten). So a hook never has to update it, and nothing it does can make
a search answer from a session's old history. Deleting the file loses nothing; `trail reindex` rebuilds it. The
schema changes through named migrations, applied once each, in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trail.search.text import fts_query, indexable
from trail.store.archive import archived_tips
from trail.store.reflist import session_tips

if TYPE_CHECKING:
    from trail.store.steps import Step, Store

NAME = "index.sqlite"
MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_initial",
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY, tip TEXT NOT NULL, steps INTEGER NOT NULL, agent TEXT, model TEXT,
            title TEXT, started REAL, updated REAL, ended INTEGER, parent TEXT
        );
        CREATE TABLE steps (
            id INTEGER PRIMARY KEY, session TEXT NOT NULL, n INTEGER NOT NULL, commit_id TEXT NOT NULL,
            kind TEXT NOT NULL, ts REAL NOT NULL, time TEXT NOT NULL, tool TEXT, agent TEXT, model TEXT,
            summary TEXT, UNIQUE (session, n)
        );
        CREATE INDEX steps_ts ON steps (ts);
        CREATE TABLE step_paths (step INTEGER NOT NULL, path TEXT NOT NULL);
        CREATE INDEX step_paths_path ON step_paths (path);
        CREATE INDEX step_paths_step ON step_paths (step);
        CREATE TABLE step_body (id INTEGER PRIMARY KEY, body BLOB NOT NULL, paths TEXT NOT NULL, extra TEXT NOT NULL);
        CREATE TABLE dictionary (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL);
        CREATE VIEW step_content AS SELECT id, unz(body) AS body, paths, extra FROM step_body;
        CREATE VIRTUAL TABLE step_text USING fts5 (
            body, paths, extra, content = 'step_content', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        """,
    ),
]
Progress = Callable[[int, int], None]  # (sessions done, sessions to do)
RANKED = 10_000  # matches ranked by bm25 at most (the newest ones)
_DICTIONARY_SIZE = 4 * 1024


@dataclass
class Filters:
    session: str | None = None
    kinds: tuple[str, ...] = ()
    tool: str | None = None
    agent: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    file: str | None = None


@dataclass
class Hit:
    session: str
    n: int
    commit: str
    kind: str
    time: str
    tool: str | None
    agent: str | None
    model: str | None
    summary: str
    snippet: str
    matches: list[tuple[int, int]] = field(default_factory=list)  # where the snippet matched, as (start, end)
    rank: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "n": self.n,
            "address": f"{self.session}@{self.n}",
            "commit": self.commit,
            "kind": self.kind,
            "time": self.time,
            "tool": self.tool,
            "agent": self.agent,
            "model": self.model,
            "summary": self.summary,
            "snippet": self.snippet,
            "matches": [list(m) for m in self.matches],
            "rank": self.rank,
        }


@dataclass
class Freshness:
    changed: dict[str, str]  # session -> its tip now
    removed: set[str]

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)


class SearchIndex:
    def __init__(self, commondir: Path, open_store: Callable[[], Store] | None = None) -> None:
        self.commondir = commondir
        self.path = commondir / "trail" / NAME
        self.open_store = open_store  # called only when sessions must be read (it loads libgit2)
        self.warnings: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._zdict: bytes | None = None

    # -- the database ----------------------------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            db = self._connect()
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._migrate(db)
            return db
        except sqlite3.DatabaseError as e:
            # A cache that cannot be read is thrown away and built again: nothing in it is not in git.
            self.warnings.append(f"the search index {self.path} could not be read ({e}); rebuilding it")
            with contextlib.suppress(Exception):
                db.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            db = self._connect()
            self._migrate(db)
            return db

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        # The text is kept compressed (it is most of the index's size); FTS5 reads it through a view that inflates.
        db.create_function("unz", 1, lambda data: self._inflate(db, data), deterministic=True)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _dictionary(self, db: sqlite3.Connection, samples: list[bytes] | None = None) -> bytes:
        """The preset dictionary every step's text is compressed with: the index's first texts, 4 KB of them. Short
        texts share most of their words, which a dictionary spares each of them from spelling out again."""
        if self._zdict is None:
            row = db.execute("SELECT data FROM dictionary WHERE id = 1").fetchone()
            if row is None and samples:
                data = b"".join(samples)[-_DICTIONARY_SIZE:]
                db.execute("INSERT OR IGNORE INTO dictionary (id, data) VALUES (1, ?)", (data,))
                row = db.execute("SELECT data FROM dictionary WHERE id = 1").fetchone()
            if row is None:
                return b""
            self._zdict = bytes(row[0])
        return self._zdict

    def _deflate(self, db: sqlite3.Connection, text: bytes, samples: list[bytes]) -> bytes:
        zdict = self._dictionary(db, samples)
        compressor = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, zdict) if zdict else None
        return compressor.compress(text) + compressor.flush() if compressor else zlib.compress(text, 6)

    def _inflate(self, db: sqlite3.Connection, data: bytes | None) -> str:
        if not data:
            return ""
        zdict = self._dictionary(db)
        inflater = zlib.decompressobj(15, zdict) if zdict else zlib.decompressobj(15)
        return (inflater.decompress(data) + inflater.flush()).decode("utf-8", "surrogatepass")

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
        done = {row[0] for row in db.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone() is None:
                    for statement in sql.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- keeping it current ----------------------------------------------------------------------------------------

    def freshness(self) -> Freshness:
        """What changed since the index was last brought up to date, read from the ref files alone."""
        tips = {**archived_tips(self.commondir), **session_tips(self.commondir)}  # a ref wins over its archive
        indexed = dict(self.db.execute("SELECT id, tip FROM sessions"))
        changed = {sid: tip for sid, tip in tips.items() if indexed.get(sid) != tip}
        return Freshness(changed, set(indexed) - set(tips))

    def update(self, progress: Progress | None = None) -> Freshness:
        """Bring the index up to date with the refs; returns what it changed."""
        stale = self.freshness()
        if not stale:
            return stale
        with self._lock():
            stale = self.freshness()  # another process may have done it while we waited
            if not stale:
                return stale
            for sid in stale.removed:
                self._forget(sid)
            if stale.changed:
                if self.open_store is None:
                    raise RuntimeError("the index needs a store to read sessions from")
                store = self.open_store()
                total = len(stale.changed)
                for done, (sid, tip) in enumerate(sorted(stale.changed.items()), 1):
                    self._index_session(store, sid, tip)
                    if progress is not None:
                        progress(done, total)
        return stale

    def rebuild(self, progress: Progress | None = None) -> int:
        """Index every session from scratch; returns how many steps were indexed."""
        with self._lock():
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO step_text (step_text) VALUES ('delete-all')")
            self._zdict = None
            for table in ("sessions", "steps", "step_paths", "step_body", "dictionary"):
                self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - the names are ours
            self.db.execute("COMMIT")
        self.update(progress)
        return int(self.db.execute("SELECT count(*) FROM steps").fetchone()[0])

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _forget(self, sid: str) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        ids = [row[0] for row in db.execute("SELECT id FROM steps WHERE session = ?", (sid,))]
        # An external-content index forgets a row when told what it held.
        db.executemany(
            "INSERT INTO step_text (step_text, rowid, body, paths, extra) "
            "SELECT 'delete', id, body, paths, extra FROM step_content WHERE id = ?",
            [(i,) for i in ids],
        )
        db.executemany("DELETE FROM step_body WHERE id = ?", [(i,) for i in ids])
        db.executemany("DELETE FROM step_paths WHERE step = ?", [(i,) for i in ids])
        db.execute("DELETE FROM steps WHERE session = ?", (sid,))
        db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        db.execute("COMMIT")

    def _index_session(self, store: Store, sid: str, tip_commit: str) -> None:
        from trail.errors import TrailError

        db = self.db
        row = db.execute("SELECT tip, steps FROM sessions WHERE id = ?", (sid,)).fetchone()
        try:
            tip = store.load(tip_commit, sid)
            new: list[Step] = []
            known = row[1] if row is not None else 0
            for step in store.walk(sid, start=tip, full=True):
                if step.n <= known:
                    break
                new.append(step)
            # The steps we hold are still this chain's only if the step below the new ones is the tip we recorded.
            below = new[-1].parents[0] if new and new[-1].n > 1 and new[-1].parents else None
            if row is not None and (not new or new[-1].n != known + 1 or below != row[0]):
                self._forget(sid)
                new = list(store.walk(sid, start=tip, full=True))
                row = None
        except TrailError as e:
            self.warnings.append(f"session {sid} could not be read for the index ({e})")
            self._forget(sid)
            return
        records = [_step_row(store, step, new[i + 1] if i + 1 < len(new) else None) for i, step in enumerate(new)]
        samples = [r[1].encode("utf-8", "surrogatepass") for r in records[:200]]
        db.execute("BEGIN IMMEDIATE")
        try:
            for values, body, paths, extra in reversed(records):
                cursor = db.execute(
                    "INSERT INTO steps (session, n, commit_id, kind, ts, time, tool, agent, model, summary) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                rowid = cursor.lastrowid
                joined = " ".join(paths)
                encoded = body.encode("utf-8", "surrogatepass")
                db.execute(
                    "INSERT INTO step_body (id, body, paths, extra) VALUES (?, ?, ?, ?)",
                    (rowid, self._deflate(db, encoded, samples), joined, extra),
                )
                db.execute(
                    "INSERT INTO step_text (rowid, body, paths, extra) VALUES (?, ?, ?, ?)",
                    (rowid, body, joined, extra),
                )
                db.executemany("INSERT INTO step_paths (step, path) VALUES (?, ?)", [(rowid, p) for p in paths])
            info = tip.session
            parent = info.get("parent_session")
            db.execute(
                "INSERT OR REPLACE INTO sessions (id, tip, steps, agent, model, title, started, updated, ended, parent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sid,
                    tip.commit,
                    tip.n,
                    info.get("agent") or tip.agent,
                    info.get("model") or tip.model,
                    info.get("title"),
                    _timestamp(info.get("started")) or tip.time.timestamp(),
                    tip.time.timestamp(),
                    1 if info.get("ended") else 0,
                    parent if isinstance(parent, str) else None,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- searching -------------------------------------------------------------------------------------------------

    def search(self, query: str, filters: Filters | None = None, limit: int = 20) -> list[Hit]:
        """The steps that match `query` and `filters`, best first (bm25: words in the text weigh most, then
        changed paths; a match only through identifier parts or character pairs ranks after direct ones)."""
        filters = filters or Filters()
        where = ["step_text MATCH ?"]
        params: list[Any] = [fts_query(query)]
        if filters.session:
            where.append("(s.session = ? OR s.session LIKE ? ESCAPE '\\')")
            params += [filters.session, _like_prefix(filters.session + ".agent-")]
        if filters.kinds:
            where.append(f"s.kind IN ({','.join('?' * len(filters.kinds))})")
            params += list(filters.kinds)
        for column, value in (("tool", filters.tool), ("agent", filters.agent), ("model", filters.model)):
            if value:
                where.append(f"lower(s.{column}) = lower(?)")
                params.append(value)
        if filters.since is not None:
            where.append("s.ts >= ?")
            params.append(filters.since.timestamp())
        if filters.until is not None:
            where.append("s.ts <= ?")
            params.append(filters.until.timestamp())
        if filters.file:
            path = filters.file.strip("/")
            where.append("s.id IN (SELECT step FROM step_paths WHERE path = ? OR path LIKE ? ESCAPE '\\')")
            params += [path, _like_prefix(path + "/")]
        match = fts_query(query)
        # 1. The best candidates by bm25 alone. A word found in a great many steps is ranked among its newest
        # RANKED matches: bm25 costs a little for every match, and a word that is everywhere ranks them all alike.
        beyond = self.db.execute(
            "SELECT rowid FROM step_text WHERE step_text MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?", [match, RANKED]
        ).fetchone()
        if beyond is not None:
            where.append("step_text.rowid > ?")
            params.append(beyond[0])
        candidates = self.db.execute(
            "SELECT step_text.rowid, bm25(step_text, 10.0, 3.0, 0.05) AS r FROM step_text "
            f"JOIN steps s ON s.id = step_text.rowid WHERE {' AND '.join(where)} ORDER BY r LIMIT ?",
            [*params, max(limit * 10, 200)],
        ).fetchall()
        if not candidates:
            return []
        ids = [row[0] for row in candidates]
        marks = ",".join("?" * len(ids))
        # 2. Of those, what was typed found as typed (an identifier whole, a phrase) comes before the same words
        # apart.
        typed = query.strip().strip('"').lower()
        exact = {
            row[0]
            for row in self.db.execute(
                f"SELECT id FROM step_content WHERE id IN ({marks}) AND instr(lower(body), ?) > 0", [*ids, typed]
            )
        }
        order = sorted(candidates, key=lambda row: (row[0] not in exact, row[1]))[:limit]
        chosen = [row[0] for row in order]
        ranks = {row[0]: row[1] for row in order}
        # 3. Snippets and step facts for the few shown.
        marks = ",".join("?" * len(chosen))
        rows = {
            row[0]: row[1:]
            for row in self.db.execute(
                "SELECT s.id, s.session, s.n, s.commit_id, s.kind, s.time, s.tool, s.agent, s.model, s.summary, "
                "snippet(step_text, 0, char(2), char(3), '…', 16) "
                "FROM step_text JOIN steps s ON s.id = step_text.rowid "
                f"WHERE step_text MATCH ? AND step_text.rowid IN ({marks})",
                [match, *chosen],
            )
        }
        hits = []
        for rowid in chosen:
            session, n, commit, kind, when, tool, agent, model, summary, raw = rows[rowid]
            snippet, matches = _marks(raw or "")
            if not matches:  # matched in paths or identifier parts: show the summary
                snippet = summary or ""
            hits.append(
                Hit(
                    session,
                    n,
                    commit,
                    kind,
                    when,
                    tool,
                    agent,
                    model,
                    summary,
                    snippet,
                    matches,
                    round(ranks[rowid], 4),
                )
            )
        return hits

    def counts(self) -> tuple[int, int]:
        sessions, steps = self.db.execute(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM steps)"
        ).fetchone()
        return int(sessions), int(steps)


def _step_row(store: Store, step: Step, below: Step | None) -> tuple[tuple[Any, ...], str, list[str], str]:
    event = step.event
    body, extra = indexable(event.payload)
    values = (
        step.session_id,
        step.n,
        step.commit,
        step.kind,
        step.time.timestamp(),
        step.time.isoformat(),
        step.tool,
        step.agent,
        step.model,
        step.summary,
    )
    return values, body, _changed_paths(store, step, below), extra


def _changed_paths(store: Store, step: Step, below: Step | None) -> list[str]:
    """The files the step changed: its tree against the step below's. The first step's tree against the commit the
    session began on is what was uncommitted then, not a change of the session's: it is left out."""
    import pygit2

    if not step.parents or step.n == 1:
        return []
    old_tree = below.tree if below is not None else None
    try:
        if old_tree is None:
            old_tree = str(store.git[step.parents[0]].peel(pygit2.Commit).tree_id)
        if old_tree == step.tree:
            return []
        diff = store.git[old_tree].peel(pygit2.Tree).diff_to_tree(store.git[step.tree].peel(pygit2.Tree))
    except (KeyError, ValueError, pygit2.GitError):
        return []
    paths = set()
    for delta in diff.deltas:
        paths.add(delta.new_file.path)
        paths.add(delta.old_file.path)
    return sorted(paths)


def _marks(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet without SQLite's highlight marks (STX/ETX), and where they were."""
    out: list[str] = []
    matches = []
    pos = 0
    start = None
    for char in snippet:
        if char == "\x02":
            start = pos
        elif char == "\x03" and start is not None:
            matches.append((start, pos))
            start = None
        else:
            out.append(char)
            pos += 1
    return "".join(out), matches


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None

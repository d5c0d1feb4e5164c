"""`trail serve`: a local, read-only web UI over the sessions of one repository, on the standard library's server.

Only GET and HEAD are answered (anything else is a 405: no route changes anything). A request must name this
server in its Host header, so that a web page elsewhere cannot reach it through a DNS name rebound to 127.0.0.1
(421 otherwise). Paths are decoded and checked before use (`.` and `..` segments are refused), files are read from
git's trees (never from the disk), served as text/plain or as a download, never as HTML, and unknown sessions,
steps and files are 404s. Every answer carries a Content-Security-Policy and `nosniff`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote_to_bytes, urlsplit

import pygit2

from trail.api import History, Session
from trail.errors import TrailError
from trail.localhttp import LocalServer
from trail.repo import TrailRepo
from trail.store.steps import SESSION_ID_RE
from trail.tracetree import TraceTree
from trail.views import html, markup, replay, site
from trail.views.term import clean

# Answers that are not HTML pages: even a browser that guessed HTML would run nothing and load nothing.
_PLAIN_POLICY = "default-src 'none'; sandbox; frame-ancestors 'none'"
_CACHED_PAGES = 3  # replay pages kept, by session and tip: a 5,000-step page takes a second to build


class NotFound(Exception):
    """A request for something that is not there; the message is shown on the 404 page."""


class BadRequest(Exception):
    """A request trail refuses to look up (a path leaving the tree); the message is shown on the 400 page."""


class TrailServer(LocalServer):
    """The web UI's server: one repository, the host names it answers to, and the pages it built lately."""

    def __init__(self, repo_path: Path, host: str, port: int) -> None:
        self.repo_path = repo_path
        self.pages: OrderedDict[tuple[Any, ...], html.Page] = OrderedDict()
        self.pages_lock = threading.Lock()
        self.quiet = False
        super().__init__(host, port, RequestHandler)

    def cached(self, key: tuple[Any, ...], make: Callable[[], html.Page]) -> html.Page:
        """The page `key` names, made once while it stays among the last few asked for."""
        with self.pages_lock:
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
        page = make()
        with self.pages_lock:
            self.pages[key] = page
            while len(self.pages) > _CACHED_PAGES:
                self.pages.popitem(last=False)
        return page


def make_server(repo_path: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8421) -> TrailServer:
    """A server for the repository at `repo_path`, bound and ready for `serve_forever()`."""
    try:
        return TrailServer(Path(repo_path), host, port)
    except socket.gaierror:
        raise TrailError(f"cannot listen on {host!r}: it is not an address of this machine; try 127.0.0.1") from None
    except OSError as e:
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise TrailError(f"port {port} is in use: choose another with --port (0 picks a free one)") from None
        raise TrailError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


class RequestHandler(BaseHTTPRequestHandler):
    server: TrailServer

    def version_string(self) -> str:
        return "trail"

    def __getattr__(self, name: str) -> Any:
        # Every method but GET and HEAD (POST, PUT, DELETE, PATCH, OPTIONS, …) is refused the same way.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        if not self.server.quiet:
            super().log_message("%s", clean(format % args, one_line=True))

    # -- answers -------------------------------------------------------------------------------------------------

    def _not_allowed(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b"trail serve is read-only: only GET and HEAD.\n",
            "text/plain",
            extra={"Allow": "GET, HEAD"},
        )

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        kind: str,
        policy: str = _PLAIN_POLICY,
        extra: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind if "charset" in kind or "/octet" in kind else f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head and self.command != "HEAD":
            self.wfile.write(body)

    def _page(self, page: html.Page, head: bool, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, page.encode(), "text/html", page.csp, head=head)

    def _error(self, status: HTTPStatus, message: str, head: bool = False) -> None:
        body = (
            f'<div class="page"><h1>{status.value} {markup.esc(status.phrase)}</h1><p>{markup.esc(message)}</p>'
            '<p><a href="/">All sessions</a></p></div>'
        )
        self._page(html.document(f"{status.phrase} · trail", body), head, status)

    def _answer(self, head: bool) -> None:
        if not self.server.answers_to(self.headers.get("Host")):
            # Not a name of this server: a page on another site reaching 127.0.0.1 through DNS rebinding.
            self._send(
                HTTPStatus.MISDIRECTED_REQUEST,
                b"This trail server answers only to its own address (127.0.0.1 or localhost and its port).\n",
                "text/plain",
                head=head,
            )
            return
        try:
            self._route(head)
        except NotFound as e:
            self._error(HTTPStatus.NOT_FOUND, str(e), head)
        except BadRequest as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e), head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except TrailError as e:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(e), head)
        except Exception as e:  # noqa: BLE001 - one bad page must not take the server down; its cause goes to stderr
            self.log_error("unexpected error on %s: %s", self.path, repr(e))
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR, "trail could not make this page: this is a bug in trail.", head
            )

    def _route(self, head: bool) -> None:
        parts = urlsplit(self.path)
        segments = _segments(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        history = History(TrailRepo.discover(self.server.repo_path))
        if not segments:
            self._sessions(history, query, head)
            return
        if segments[0] != b"s" or len(segments) < 2:
            raise NotFound("There is no such page: the sessions are listed at /.")
        session = _session(history, segments[1])
        rest = segments[2:]
        if not rest:
            self._replay(history, session, head)
        elif rest == [b"session.html"]:
            self._download_html(history, session, head)
        elif rest == [b"session.md"]:
            self._download_markdown(history, session, head)
        elif rest == [b"diff"]:
            self._diff(history, session, query, head)
        elif rest[0] == b"files" and len(rest) >= 2:
            self._files(history, session, rest[1], rest[2:], parts.path.endswith("/"), head)
        else:
            raise NotFound("There is no such page for this session.")

    # -- pages ---------------------------------------------------------------------------------------------------

    def _sessions(self, history: History, query: dict[str, str], head: bool) -> None:
        found, problems = history.scan()
        chosen = site.SessionFilter(query.get("q", "").strip(), query.get("agent", ""), query.get("days", ""))
        self._page(site.sessions_page(found, chosen, len(problems)), head)

    def _key(self, history: History, session: Session, what: str, tree: TraceTree) -> tuple[Any, ...]:
        """What a cached page depends on: the session, its subagents, and the sessions of its trace tree."""
        store = history.store
        tips = tuple((sid, store.tip_commit(sid)) for sid in store.children(session.id))
        linked = tuple(sorted((node.id, node.session.tip.commit) for _, node in tree.walk()))
        return (what, session.id, session.tip.commit, tips, linked)

    def _replay(self, history: History, session: Session, head: bool) -> None:
        tree = session.tree()

        def make() -> html.Page:
            nav = [
                ("All sessions", "/"),
                ("Download HTML", site.session_url(session.id, "session.html")),
                ("Download Markdown", site.session_url(session.id, "session.md")),
            ]
            built = replay.build(history, session, nav=nav, session_links=_links, tree=tree, page_url=site.session_url)
            return html.replay_page(built)

        self._page(self.server.cached(self._key(history, session, "page", tree), make), head)

    def _download_html(self, history: History, session: Session, head: bool) -> None:
        # The file to send someone: no links to this server, which they cannot reach.
        tree = session.tree()
        page = self.server.cached(
            self._key(history, session, "file", tree),
            lambda: html.replay_page(replay.build(history, session, tree=tree)),
        )
        download = _attachment(f"{session.handle}.html")
        self._send(HTTPStatus.OK, page.encode(), "text/html", page.csp, extra=download, head=head)

    def _download_markdown(self, history: History, session: Session, head: bool) -> None:
        from trail.views.markdown_export import export_markdown

        text = export_markdown(history, session).text
        self._send(
            HTTPStatus.OK, text.encode("utf-8"), "text/markdown", extra=_attachment(f"{session.handle}.md"), head=head
        )

    def _diff(self, history: History, session: Session, query: dict[str, str], head: bool) -> None:
        old = _step_of(history, session, query.get("from", ""))
        new = _step_of(history, session, query.get("to", ""))
        old_name = f"{history.handle(old.session_id)}@{old.n}"
        new_name = f"{history.handle(new.session_id)}@{new.n}"
        change = replay.change_entry(history.diff(old, new), f"{old_name} {new_name}")
        nav = [("All sessions", "/"), (f"Session {session.handle}", site.session_url(session.id))]
        page = html.diff_page(
            f"Change from {old_name} to {new_name}",
            f"The code at step {new.n} compared with step {old.n} ({old.kind} → {new.kind}).",
            change,
            {"nav": nav},
        )
        self._page(page, head)

    def _files(
        self, history: History, session: Session, step_segment: bytes, path: list[bytes], folder: bool, head: bool
    ) -> None:
        step = _step_of(history, session, step_segment.decode("ascii", "replace"))
        found = _lookup(history.repo.git[step.tree].peel(pygit2.Tree), path)
        if isinstance(found, pygit2.Tree):
            self._page(site.tree_page(session, step.n, path, found), head)
            return
        if not isinstance(found, pygit2.Blob) or folder:
            raise NotFound(f"Step {step.n} has no file at {_shown(path)}.")
        name = _shown(path[-1:]) or "file"
        if found.is_binary:
            self._send(HTTPStatus.OK, found.data, "application/octet-stream", extra=_attachment(name), head=head)
        else:
            self._send(HTTPStatus.OK, found.data, "text/plain; charset=utf-8", head=head)


def _links(session_id: str) -> dict[str, str]:
    return {
        "files": site.session_url(session_id, "files/{n}/"),
        "diff": site.session_url(session_id, "diff?from={a}&to={b}"),
    }


def _attachment(name: str) -> dict[str, str]:
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name) or "download"
    return {"Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"}


def _segments(path: str) -> list[bytes]:
    """The segments of a URL path, each percent-decoded to bytes; `.`, `..`, NUL and empty inner segments refused."""
    if not path.startswith("/"):
        raise BadRequest("The path must start with /.")
    raw = path[1:]
    if raw.endswith("/"):
        raw = raw[:-1]
    if not raw:
        return []
    out = []
    for part in raw.split("/"):
        segment = unquote_to_bytes(part)
        if segment in (b"", b".", b"..") or b"\0" in segment or b"/" in segment:
            raise BadRequest("A path may not hold empty, '.' or '..' segments: it would leave the folder it names.")
        out.append(segment)
    return out


def _session(history: History, segment: bytes) -> Session:
    name = segment.decode("utf-8", "replace")
    if not SESSION_ID_RE.match(name):
        raise NotFound("There is no session by that name.")
    try:
        return history.session(name)
    except TrailError:
        raise NotFound(f"There is no session {name!r} in this repository.") from None


def _step_of(history: History, session: Session, text: str) -> Any:
    """Step N of `session`, or any step address (`SESSION@N`)."""
    text = text.strip()
    try:
        if text.isdigit():
            number = int(text)
            if not 1 <= number <= session.steps:
                raise NotFound(f"Session {session.handle} has steps 1 to {session.steps}, not {number}.")
            return session.step(number)
        if "@" in text:
            return history.step(text)
    except TrailError as e:
        raise NotFound(str(e)) from None
    raise NotFound(f"{text!r} names no step: give a step number.")


def _lookup(tree: pygit2.Tree, path: list[bytes]) -> pygit2.Object | None:
    """The entry at `path` under `tree`, matched by raw name bytes (file names need not be UTF-8)."""
    found: pygit2.Object = tree
    for segment in path:
        if not isinstance(found, pygit2.Tree):
            return None
        entry = next((e for e in found if e.raw_name == segment), None)
        if entry is None:
            return None
        found = entry
    return found


def _shown(path: list[bytes]) -> str:
    return "/".join(s.decode("utf-8", "replace") for s in path)

"""The web UI over HTTP, as any client sees it: pages and their headers, 404s for what is not there, refused
traversal, the Host check against DNS rebinding, and no method that could change anything."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import commit_all
from replay_fixtures import ATTACK, HOSTILE, HOSTILE_FILE, RICH, SUBAGENT, record_hostile_session, record_rich_session

from trail.views.serve import TrailServer, make_server


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@pytest.fixture
def server(repo: Path) -> Iterator[TrailServer]:
    record_rich_session(repo)
    record_hostile_session(repo)
    (repo / "logo.bin").write_bytes(bytes(range(256)))
    (repo / "caf\xe9.txt".encode("latin-1").decode("utf-8", "surrogateescape")).write_text("latin-1 name\n")
    commit_all(repo, "more files")
    from trail import Recorder

    with Recorder(repo, session_id="files", agent="a") as rec:
        rec.note("files")
    served = make_server(repo, "127.0.0.1", 0)
    served.quiet = True
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()
    thread.join(5)


def request(server: TrailServer, path: str, method: str = "GET", host: str | None = "default") -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host == "default":
            host = f"127.0.0.1:{server.port}"
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        return Answer(connection.getresponse())
    finally:
        connection.close()


def policy(answer: Answer) -> dict[str, str]:
    return dict((rule + " ").split(" ", 1) for rule in answer.headers["content-security-policy"].split("; "))


def test_the_session_list_with_filters_and_figures(server: TrailServer) -> None:
    answer = request(server, "/")
    assert answer.status == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
    rules = policy(answer)
    assert rules["default-src"].strip() == "'none'" and rules["frame-ancestors"].strip() == "'none'"
    assert rules["script-src"].strip() == "'none'" and rules["form-action"].strip() == "'self'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = answer.text
    assert "<b>4</b> sessions" in page and "<b>1</b> of them subagents" in page
    assert page.index(f'href="/s/{RICH}/"') < page.index(f'href="/s/{SUBAGENT}/"')  # nested under its parent
    assert "<script>" not in page and "&lt;script&gt;window.__pwned" in page  # the hostile title, escaped
    only = request(server, "/?q=hostile").text
    assert f'href="/s/{HOSTILE}/"' in only and f'href="/s/{RICH}/"' not in only
    agent = request(server, "/?agent=evil-agent").text
    assert f'href="/s/{HOSTILE}/"' in agent and f'href="/s/{RICH}/"' not in agent
    assert "No session matches these filters." in request(server, "/?q=nothing-like-this").text


def test_a_session_page_is_the_replay_with_links_to_the_server(server: TrailServer) -> None:
    answer = request(server, f"/s/{RICH}/")
    assert answer.status == 200
    page = answer.text
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert meta is not None
    assert answer.headers["content-security-policy"] == meta.group(1) + "; frame-ancestors 'none'"
    index = json.loads(re.search(r'id="trail-index">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert index["links"]["nav"][1] == ["Download HTML", f"/s/{RICH}/session.html"]
    assert index["sessions"][1]["links"]["files"] == f"/s/{SUBAGENT}/files/{{n}}/"
    assert request(server, f"/s/{RICH}").status == 200


def test_unknown_sessions_steps_and_paths_are_404(server: TrailServer) -> None:
    for path in (
        "/nope",
        "/s/",
        "/s/no-such-session/",
        f"/s/{RICH}/nope",
        f"/s/{RICH}/files/0/",
        f"/s/{RICH}/files/99/",
        f"/s/{RICH}/files/x/",
        f"/s/{RICH}/files/2/no-such-file",
        f"/s/{RICH}/files/2/src/app.py/",
        f"/s/{RICH}/files/2/README.md/more",
        f"/s/{RICH}/diff?from=1&to=99",
        f"/s/{RICH}/diff?from=abc&to=2",
        f"/s/{RICH}/diff",
    ):
        answer = request(server, path)
        assert answer.status == 404, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_paths_that_leave_the_tree_are_refused(server: TrailServer) -> None:
    for path in (
        f"/s/{RICH}/files/2/../../../etc/passwd",
        f"/s/{RICH}/files/2/%2e%2e/%2e%2e/etc/passwd",
        f"/s/{RICH}/files/2/src/%2E%2E/README.md",
        f"/s/{RICH}/files/2/src%2F..%2FREADME.md",
        f"/s/{RICH}/files/2/./README.md",
        f"/s/{RICH}/files/2//etc/passwd",
        f"/s/{RICH}/files/2/README.md%00.txt",
        "/s/..%2F..%2Fetc/",
    ):
        answer = request(server, path)
        assert answer.status == 400, path
        assert b"root:" not in answer.body


def test_the_host_header_must_name_this_server(server: TrailServer) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert request(server, "/", host=host).status == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1", "", None):
        answer = request(server, "/", host=host)
        assert answer.status == 421, host
        assert b"session" not in answer.body.lower().replace(b"sessions", b"")  # nothing of the repository


def test_only_get_and_head_are_answered(server: TrailServer) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
        answer = request(server, f"/s/{RICH}/", method=method)
        assert answer.status == 405, method
        assert answer.headers["allow"] == "GET, HEAD"
    head = request(server, f"/s/{RICH}/", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 1000


def test_files_are_served_as_plain_text_or_as_downloads(server: TrailServer, repo: Path) -> None:
    listing = request(server, f"/s/{RICH}/files/1/")
    assert listing.status == 200 and 'href="/s/rich-1/files/1/src/">src/</a>' in listing.text
    code = request(server, f"/s/{RICH}/files/5/src/app.py")
    assert code.status == 200 and code.headers["content-type"] == "text/plain; charset=utf-8"
    assert code.body.startswith(b"def average(values):\n    if not values:")
    assert request(server, f"/s/{RICH}/files/1/src/app.py").body == b"print('hello')\n"  # as it was then
    # A file whose name and content are HTML: listed escaped, served as text that nothing will run.
    hostile_listing = request(server, f"/s/{HOSTILE}/files/2/").text
    assert "&lt;img src=x onerror=window.__pwned=&#x27;file&#x27;&gt;.py" in hostile_listing
    assert "<img" not in hostile_listing
    from urllib.parse import quote

    served = request(server, f"/s/{HOSTILE}/files/2/{quote(HOSTILE_FILE, safe='')}")
    assert served.status == 200 and served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.body.startswith(ATTACK[:40].encode())
    assert "sandbox" in policy(served) and served.headers["x-content-type-options"] == "nosniff"
    binary = request(server, "/s/files/files/2/logo.bin")
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["content-disposition"].startswith('attachment; filename="logo.bin"')
    assert binary.body == bytes(range(256))
    # A name that is not UTF-8 is listed, and its link (the raw bytes, percent-encoded) works.
    latin = request(server, "/s/files/files/2/")
    assert 'href="/s/files/files/2/caf%E9.txt"' in latin.text
    assert request(server, "/s/files/files/2/caf%E9.txt").body == b"latin-1 name\n"


def test_the_diff_between_two_steps_and_the_downloads(server: TrailServer) -> None:
    diff = request(server, f"/s/{RICH}/diff?from=1&to=5")
    assert diff.status == 200
    index = json.loads(re.search(r'id="trail-index">(.*?)</script>', diff.text, re.S).group(1))  # type: ignore[union-attr]
    assert index["mode"] == "diff" and index["change"]["f"][0][:2] == ["M", "src/app.py"]
    assert "+    if not values:" in index["change"]["p"][0]
    across = request(server, f"/s/{RICH}/diff?from={SUBAGENT}@1&to=9")
    assert across.status == 200
    page = request(server, f"/s/{RICH}/session.html")
    assert page.headers["content-disposition"].startswith('attachment; filename="rich-1.html"')
    assert page.text.startswith("<!DOCTYPE html>") and '"links":null' in page.text  # a file for sending, no server
    markdown = request(server, f"/s/{RICH}/session.md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.text.startswith(f"### trail session `{RICH}`")

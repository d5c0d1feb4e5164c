"""The tree of a trace in the replay and the web UI: a session links to the step of another process's session that
started it and to the sessions its steps started, in the page's data (escaped) and in a real browser."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git
from test_browser import PROBE, browser, open_replay, page, screenshot, shown  # noqa: F401 - fixtures shared with those tests
from trace_fixtures import HOSTILE_AGENT, HOSTILE_TITLE, Family, record_three_processes

import trail
from trail.views import site as site_pages
from trail.views.html import replay_page
from trail.views.replay import build
from trail.views.serve import TrailServer, make_server


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Family:
    folder = tmp_path_factory.mktemp("trace-view")
    repo = folder / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "README.md").write_text("# project\n")
    commit_all(repo, "initial")
    return record_three_processes(repo, folder)


@pytest.fixture(scope="module")
def server(family: Family) -> Iterator[TrailServer]:
    served = make_server(family.repo, "127.0.0.1", 0)
    served.quiet = True
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def index_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="trail-index">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_holds_the_tree_with_links_it_can_follow(family: Family) -> None:
    history = trail.open(family.repo)
    ids = [family.session(level) for level in (1, 2, 3)]
    handles = [history.handle(sid) for sid in ids]
    n1, n2 = family.spawn_step(1), family.spawn_step(2)
    mailer = history.session(ids[1])

    # A file: only its own steps are links; other sessions are named.
    html = replay_page(build(history, mailer)).html
    index = index_of(html)
    rows = [(r["d"], r.get("handle") or f"@{r['n']} {r['kind']}", r["href"]) for r in index["trace"]]
    assert rows == [
        (0, handles[0], None),
        (1, f"@{n1} tool_call", None),
        (2, handles[1], "#step-1"),
        (3, f"@{n2} tool_call", f"#step-{n2}"),
        (4, handles[2], None),
    ]
    assert [r.get("here") for r in index["trace"] if "handle" in r] == [False, True, False]
    main = index["sessions"][0]
    assert main["origin"] == [handles[0], n1, None, "started by"]
    [spawned] = main["spawned"][str(n2)]
    assert (spawned["handle"], spawned["title"], spawned["agent"], spawned["href"]) == (
        handles[2],
        HOSTILE_TITLE,
        HOSTILE_AGENT,
        None,
    )
    # The attacks in the formatter's title and agent are data, escaped so that no text can close the block.
    assert "<img src=x" not in html and "<script>window.__pwned" not in html
    assert "\\u003cimg src=x onerror" in html

    # The web UI: every session of the tree is a page of its own.
    index = index_of(replay_page(build(history, mailer, page_url=site_pages.session_url)).html)
    hrefs = [r["href"] for r in index["trace"]]
    assert hrefs == [f"/s/{ids[0]}/", f"/s/{ids[0]}/#step-{n1}", "#step-1", f"#step-{n2}", f"/s/{ids[2]}/"]
    assert index["sessions"][0]["origin"][2] == f"/s/{ids[0]}/#step-{n1}"
    assert index["sessions"][0]["spawned"][str(n2)][0]["href"] == f"/s/{ids[2]}/"


def test_a_session_alone_has_no_tree(tmp_path: Path) -> None:
    repo = tmp_path / "alone"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    with trail.Recorder(repo, traceparent=None) as rec:
        rec.note("by itself")
    history = trail.open(repo)
    assert index_of(replay_page(build(history, history.session(rec.session_id))).html)["trace"] is None


def test_the_tree_in_the_browser(page: Any, family: Family, server: TrailServer) -> None:  # noqa: F811
    history = trail.open(family.repo)
    ids = [family.session(level) for level in (1, 2, 3)]
    handles = [history.handle(sid) for sid in ids]
    n1, n2 = family.spawn_step(1), family.spawn_step(2)

    # The file of the mailer's replay: the tree, what started it, and what its step started.
    path = family.repo.parent / "mailer.html"
    path.write_bytes(replay_page(build(history, history.session(ids[1]))).encode())
    open_replay(page, path.as_uri())
    shown(page, "step-1")
    rows = page.locator("#trace .trace-row")
    assert [rows.nth(i).locator(".name").inner_text() for i in range(rows.count())] == [
        handles[0],
        f"@{n1} tool_call",
        handles[1],
        f"@{n2} tool_call",
        handles[2],
    ]
    assert page.locator("#trace .trace-row.here .name").inner_text() == handles[1]
    assert page.locator("#trace .trace-row.here .mark").inner_text() == "this page"
    assert page.locator("#trace .trace-row a").count() == 2  # its own steps; the other sessions are in no file
    assert rows.nth(4).locator(".what").inner_text() == f"{HOSTILE_AGENT} · 5 steps · {HOSTILE_TITLE}"  # as text
    screenshot(page, "replay-trace.png")
    assert page.inner_text(".meta .origin") == f"started by {handles[0]}@{n1}"
    rows.nth(3).locator("a").click()  # the mailer's own step that started the formatter
    shown(page, f"step-{n2}")
    assert page.text_content(".subs.spawned .label") == "Sessions started here, in other processes"
    assert page.inner_text(".subs.spawned .spawn") == f"↳ {handles[2]} {HOSTILE_AGENT} · 5 steps · {HOSTILE_TITLE}"
    probe = page.evaluate(PROBE)
    assert probe["pwned"] is None and probe["handlers"] == [] and probe["foreign"] == 0
    assert probe["scriptLinks"] == 0

    # The web UI: from the mailer to the step of the planner that started it, and on to the formatter.
    open_replay(page, server.url + f"s/{ids[1]}/")
    shown(page, "step-1")
    page.click(".meta .origin a")
    page.wait_for_url(re.compile(re.escape(f"/s/{ids[0]}/#step-{n1}") + "$"))
    open_replay(page, page.url)
    shown(page, f"step-{n1}")
    assert page.inner_text(".subs.spawned .spawn").startswith(f"↳ {handles[1]} mailer · 6 steps")
    page.click(f"#trace a:text-is('{handles[2]}')")
    page.wait_for_url(re.compile(re.escape(f"/s/{ids[2]}/") + "$"))
    open_replay(page, page.url)
    assert page.inner_text(".meta .origin") == f"started by {handles[1]}@{n2}"
    assert page.locator("#trace .trace-row.here .name").inner_text() == handles[2]
    probe = page.evaluate(PROBE)
    assert probe["pwned"] is None and probe["handlers"] == [] and probe["foreign"] == 0

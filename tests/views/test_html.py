"""The replay page as a file, without a browser: self-contained, its policy matching its own script and style, every
text from the session escaped, Markdown reduced to safe tags, each code change stored once.

(tests/views/test_browser.py opens the same pages in Chromium.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from replay_fixtures import HOSTILE, HOSTILE_FILE, RICH, SUBAGENT, record_hostile_session, record_rich_session

import trail
from trail import Recorder
from trail.views import markup
from trail.views.html import replay_page
from trail.views.replay import build

BLOCK = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)
SAFE_TAGS = {
    "p", "a", "code", "pre", "strong", "em", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
    "br", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "s",
}  # fmt: skip


def page_of(repo: Path, session: str) -> str:
    history = trail.open(repo)
    return replay_page(build(history, history.session(session))).html


def blocks(page: str) -> dict[str, object]:
    return {m.group(1): json.loads(m.group(2)) for m in BLOCK.finditer(page)}


def markdown_parts(value: object) -> list[str]:
    """Every Markdown rendering in a block of step bodies."""
    found = []
    if isinstance(value, list):
        if len(value) == 4 and value[0] == "md" and isinstance(value[2], str):
            found.append(value[2])
        for item in value:
            found += markdown_parts(item)
    elif isinstance(value, dict):
        for item in value.values():
            found += markdown_parts(item)
    return found


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.fixture
def rich(repo: Path) -> Path:
    record_rich_session(repo)
    return repo


@pytest.fixture
def hostile(repo: Path) -> Path:
    record_hostile_session(repo)
    return repo


def test_the_page_is_self_contained_and_its_policy_allows_only_its_own_script_and_style(rich: Path) -> None:
    page = page_of(rich, RICH)
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy is not None and page.index(policy.group()) < page.index("<style>")
    rules = dict(rule.split(" ", 1) for rule in policy.group(1).split("; "))
    assert rules["default-src"] == "'none'" and rules["img-src"] == "data:" and rules["base-uri"] == "'none'"
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    digest = lambda text: "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"  # noqa: E731
    assert rules["script-src"] == digest(scripts[0])
    assert rules["style-src"] == digest(styles[0])
    # Nothing is fetched: no external script, style, image, frame or font, no base URL.
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b|\bsrc=|@import|url\(", page.replace("data:", ""))


def test_the_index_holds_the_listing_nested_subagents_and_token_totals(rich: Path) -> None:
    data = blocks(page_of(rich, RICH))
    index = data["trail-index"]
    assert isinstance(index, dict)
    main, sub = index["sessions"]
    assert (main["id"], sub["id"], sub["key"]) == (RICH, SUBAGENT, "agent-a1")
    note = next(n for n, row in enumerate(main["rows"], 1) if index["kinds"][row[0]] == "note")
    assert sub["parent"] == [0, note]  # nested under the step that started it
    assert [index["kinds"][r[0]] for r in sub["rows"]] == ["session_start", "prompt", "response", "session_end"]
    assert index["totals"]["in"] == 1200 + 2000 + 300 and index["totals"]["out"] == 40 + 60 + 20
    models = {m[0]: m[1:] for m in index["totals"]["models"]}
    assert models["claude-sonnet-4-5"][:3] == [2, 3200, 100]
    assert models["claude-haiku-4-5"][:3] == [1, 300, 20]
    assert models["claude-sonnet-4-5"][3:] == [900, 100]  # cache reads and writes
    failed = [row for row in main["rows"] if row[7] & 1]
    assert [row[2] for row in failed] == ["Bash pytest -q (failed)"]
    # Bodies are in blocks of their own, parsed when shown; the first goes before the script, the rest after it.
    assert {"b-0-0", "b-1-0", "d-0"} <= set(data)
    page = page_of(rich, RICH)
    assert page.index('id="b-0-0"') < page.index("<script>") < page.index('id="b-1-0"')


def test_every_text_of_a_hostile_session_is_escaped(hostile: Path) -> None:
    page = page_of(hostile, HOSTILE)
    outside = BLOCK.sub("", page)
    parser = Tags()
    parser.feed(outside)
    assert not {"img", "iframe", "base", "object", "embed", "details"} & {tag for tag, _ in parser.tags}
    assert [tag for tag, _ in parser.tags].count("script") == 1 and [t for t, _ in parser.tags].count("svg") == 3
    assert not [name for _, attrs in parser.tags for name, _ in attrs if name.startswith("on")]
    assert not [v for _, attrs in parser.tags for _, v in attrs if v and "javascript" in v.lower()]
    data = blocks(page)
    for element_id, value in data.items():
        text = page[page.index(f'id="{element_id}">') :].split("</script>", 1)[0]
        assert "<" not in text.split(">", 1)[1], element_id  # nothing in JSON can open or close a tag
        assert "\u2028" not in text and "\u2029" not in text
        assert value  # and the JSON is intact
    assert page.count("</script>") == len(data) + 1
    # Markdown keeps only safe tags, and links only to the web or mail.
    rendered = markdown_parts(data)
    assert rendered
    for html in rendered:
        parser = Tags()
        parser.feed(html)
        for tag, attrs in parser.tags:
            assert tag in SAFE_TAGS, (tag, html)
            for name, value in attrs:
                assert name in ("href", "rel", "target", "class"), (name, html)
                if name == "href":
                    assert value and value.startswith(("http://", "https://", "mailto:")), value
                if name == "class":
                    assert value and re.fullmatch(r"language-\S+|ta-(left|right|center)", value), value
        assert "&lt;script&gt;" in html or "script" not in html
    # Controls are shown, not sent: an escape as ^[, a bidi override by name, a lone surrogate as U+FFFD.
    assert "\x1b" not in page and "^[[31m" in page and "<U+202E>" not in outside and "\\u003cU+202E\\u003e" in page
    assert "\ufffd" in page
    assert HOSTILE_FILE not in page and markup.script_json(HOSTILE_FILE) in page  # the file name, as data


def test_markdown_renders_safely() -> None:
    out = markup.markdown(
        "**bold** [web](https://example.com/a?b=1&c=2) [mail](mailto:a@b.c) [js](javascript:alert(1)) "
        "[rel](../etc/passwd) [data](data:text/html,x) <b onclick=x>raw</b> ![img](https://example.com/x.png)"
    )
    assert "<strong>bold</strong>" in out
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">web' in out
    assert '<a href="mailto:a@b.c"' in out
    assert out.count("<a ") == 3  # the web link, the mail link, and the image shown as its link
    assert "[js](javascript:alert(1))" in out and "[rel](../etc/passwd)" in out and "<img" not in out
    assert "&lt;b onclick=x&gt;raw&lt;/b&gt;" in out
    table = markup.markdown("| a | b |\n| :- | -: |\n| 1 | 2 |")
    assert 'class="ta-right"' in table and "style=" not in table


def test_script_json_cannot_close_its_element() -> None:
    text = markup.script_json({"x": "</script><!-- \u2028 & <b>"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"x": "</script><!-- \u2028 & <b>"}


def test_a_change_shared_by_several_steps_is_stored_once(repo: Path) -> None:
    app = repo / "src" / "app.py"
    original = app.read_text()
    with Recorder(repo, session_id="again", agent="a") as rec:
        app.write_text(original + "value = 'marker-v2'\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py"})
        app.write_text(original)
        rec.tool_call("Edit", input={"file_path": "src/app.py"})
        app.write_text(original + "value = 'marker-v2'\n")
        rec.tool_call("Edit", input={"file_path": "src/app.py"})
    history = trail.open(repo)
    replay = build(history, history.session("again"))
    assert len(replay.changes) == 2  # there and back; the third step points at the first change
    bodies = [b for chunk in replay.bodies.values() for b in chunk]
    assert [b.get("d") for b in bodies] == [None, 0, 1, 0, None]
    assert replay_page(replay).html.count("marker-v2") == 2  # once added, once removed


def test_a_big_change_is_cut_with_a_note(repo: Path) -> None:
    big = repo / "big.txt"
    with Recorder(repo, session_id="big-change", agent="a") as rec:
        big.write_text("".join(f"line {i} " + "x" * 60 + "\n" for i in range(5000)))
        rec.tool_call("Write", input={"file_path": "big.txt"})
    history = trail.open(repo)
    change = build(history, history.session("big-change")).changes[0]
    assert change["f"][0][:5] == ["A", "big.txt", None, 5000, 0]
    assert len(change["p"][0]) < 210_000
    assert change["p"][0].endswith("more lines: `trail diff big-change@2` shows them")


def test_an_empty_repository_and_a_session_without_changes(empty_repo: Path) -> None:
    with Recorder(empty_repo, session_id="nothing", agent="a") as rec:
        rec.note("no code")
    page = page_of(empty_repo, "nothing")
    assert blocks(page)["trail-index"]["sessions"][0]["rows"][1][6] == 0  # type: ignore[index]

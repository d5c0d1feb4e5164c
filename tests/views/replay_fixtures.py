"""Sessions for the replay tests: one like an agent's (Markdown, tool output, a decision, a code change, a
subagent, tokens of two models) and one whose every field holds an attack on the page that shows it."""

from __future__ import annotations

from pathlib import Path

from trail import Recorder

RICH = "rich-1"
SUBAGENT = "rich-1.agent-a1"
HOSTILE = "hostile-1"
# Each of these would set window.__pwned (and the title) if any of it ran.
PAYLOADS = [
    "<script>window.__pwned='script';document.title='PWNED'</script>",
    "<img src=x onerror=\"window.__pwned='img';document.title='PWNED'\">",
    "<svg onload=\"window.__pwned='svg';document.title='PWNED'\"><circle r=5 /></svg>",
    "</script><script>window.__pwned='breakout';document.title='PWNED'</script>",
    "</SCRIPT ><script>window.__pwned='breakout2'</script><!--",
    "[click me](javascript:window.__pwned='md-link') <javascript:window.__pwned='autolink'>",
    "<a href=\"javascript:window.__pwned='a'\">a link</a> [data](data:text/html,<script>alert(1)</script>)",
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details>",
    '"><iframe srcdoc="<script>parent.__pwned=\'iframe\'</script>"></iframe>',
    '<style>body{display:none}</style><base href="https://evil.invalid/">',
    "\u2028\u2029 line separators; a lone surrogate \ud800; an escape \x1b[31m; a bidi override \u202e",
]
ATTACK = "\n".join(PAYLOADS)
HOSTILE_FILE = "<img src=x onerror=window.__pwned='file'>.py"


def record_rich_session(repo: Path) -> str:
    """The session rich-1 and its subagent; returns the session id."""
    with Recorder(repo, session_id=RICH, agent="claude-code", model="claude-sonnet-4-5") as rec:
        rec.prompt(
            "Make `average` handle an **empty list**.\n\n"
            "See [the docs](https://docs.python.org/3/) and [not this](javascript:alert(1)).\n\n"
            "| case | result |\n| --- | ---: |\n| [] | 0.0 |"
        )
        rec.response(
            "I will run the tests first.\n\n```python\ndef average(values):\n    return sum(values) / len(values)\n```",
            tokens_in=1200,
            tokens_out=40,
            thinking="Reproduce the failure before reading code.",
            usage={"input_tokens": 200, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 100},
        )
        rec.tool_call(
            "Bash",
            input={"command": "pytest -q"},
            output="\n".join(f"tests/test_app.py::test_{i} PASSED" for i in range(300)),
            duration_ms=1830,
        )
        (repo / "src" / "app.py").write_text(
            "def average(values):\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n"
        )
        rec.tool_call("Edit", input={"file_path": "src/app.py"}, output="The file src/app.py has been updated.")
        rec.decision(
            "Return 0.0 for an empty list",
            reasoning="The test *expects* `0.0`, and callers sum averages.",
            alternatives=["raise ValueError", "return None"],
        )
        started = rec.note("Starting a subagent to look for other callers.")
        with Recorder(
            repo,
            session_id=SUBAGENT,
            agent="claude-code",
            model="claude-haiku-4-5",
            parent_session=RICH,
            parent_step=started.n,
        ) as sub:
            sub.prompt("Find the callers of `average`.")
            sub.response("Two callers, both fine.", tokens_in=300, tokens_out=20)
        rec.tool_call("Bash", input={"command": "pytest -q"}, error="1 failed: test_spread", duration_ms=900)
        rec.prompt("Good. Now fix `spread` too.")
        rec.response("Done: both handle an empty list.", tokens_in=2000, tokens_out=60)
    return RICH


def record_hostile_session(repo: Path) -> str:
    """The session hostile-1: the attacks in every field a page shows, in a file's name and in its content."""
    content = ATTACK.encode("utf-8", "surrogatepass") + b"\n"  # the lone surrogate as bytes that are not UTF-8
    (repo / HOSTILE_FILE).write_bytes(content)
    (repo / "notes.md").write_bytes(content)
    with Recorder(repo, session_id=HOSTILE, agent="evil-agent", model="model <b>bold</b>") as rec:
        rec.prompt("Hostile inputs, one per field.\n\n" + ATTACK)
        rec.response(ATTACK, tokens_in=10, tokens_out=5, thinking=ATTACK)
        (repo / "src" / "app.py").write_bytes(content + b"print('changed')\n\xff\xfe not UTF-8\n")
        rec.tool_call(
            "<img src=x onerror=window.__pwned='tool'>",
            input={"command": ATTACK, ATTACK: ATTACK},
            output=ATTACK,
            error=ATTACK,
            duration_ms=5,
        )
        rec.tool_call("Read", input={"file_path": HOSTILE_FILE}, output={"stdout": ATTACK, "stderr": ATTACK})
        rec.decision(ATTACK, reasoning=ATTACK, alternatives=[ATTACK, {"x": ATTACK}])
        rec.note(ATTACK, extra={"nested": ATTACK})
        rec.record("custom_kind", text=ATTACK, other=[ATTACK])
    return HOSTILE

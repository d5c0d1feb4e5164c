"""`trail search`: ranked hits across every session, in any language, with every filter, from an index that can
always be rebuilt and never answers from a session's old history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git, trail

from trail import Recorder
from trail.repo import TrailRepo
from trail.search.index import SearchIndex
from trail.store.steps import Store


def hits(repo: Path, *args: str) -> list[dict[str, object]]:
    done = trail("search", *args, "--json", cwd=repo)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def addresses(repo: Path, *args: str) -> list[str]:
    return [f"{h['session']}@{h['n']}" for h in hits(repo, *args)]


@pytest.fixture
def recorded(repo: Path) -> Path:
    with Recorder(repo, session_id="billing", agent="claude-code", model="claude-sonnet-4-5") as rec:
        rec.prompt("Remind customers about overdue invoices")
        rec.tool_call("Bash", input={"command": "psql -c 'SELECT * FROM overdue_invoices'"}, output="12 rows")
        (repo / "src" / "mailer.py").write_text("def send_overdue_reminders(customers):\n    pass\n")
        rec.tool_call("Edit", input={"file_path": "src/mailer.py"}, output="updated")
        rec.decision(
            "Send to every customer with an overdue invoice",
            reasoning="The query already filters",
            alternatives=["filter on active = true"],
        )
        rec.response("Called overdueInvoicesFor(customer) for each.", tokens_in=10, tokens_out=5)
    with Recorder(repo, session_id="cleanup", agent="codex", model="gpt-5") as rec:
        rec.prompt("Drop the old staging tables")
        rec.tool_call("Bash", input={"command": "psql -c 'DROP TABLE staging_invoices'"}, output="DROP TABLE")
        rec.note("Facture impayée relancée. 請求書の支払いを催促しました。 결제 알림을 보냈습니다")
        rec.note(" ".join(["filler"] * 400) + " overdue")
        rec.note("overdue overdue overdue")
    return repo


def test_words_in_every_field_and_the_ranking(recorded: Path) -> None:
    found = addresses(recorded, "overdue")
    assert found[0] == "cleanup@6"  # the step that is about nothing else ranks first
    assert "cleanup@5" in found and found.index("cleanup@5") > found.index("cleanup@6")
    assert {"billing@2", "billing@3", "billing@5", "billing@6"} <= set(found)
    assert addresses(recorded, '"DROP TABLE"') == ["cleanup@3"]
    assert addresses(recorded, "active", "true") == ["billing@5"]  # an alternative of a decision
    assert addresses(recorded, "mailer.py") == ["billing@4"]  # the path a step changed
    assert set(addresses(recorded, "overd*")) == set(addresses(recorded, "overdue"))
    hit = hits(recorded, "DROP", "TABLE")[0]
    assert hit["address"] == "cleanup@3" and hit["kind"] == "tool_call" and hit["tool"] == "Bash"
    start, end = hit["matches"][0]
    assert hit["snippet"][start:end] == "DROP"


def test_any_language_and_identifiers(recorded: Path) -> None:
    assert addresses(recorded, "impayee") == ["cleanup@4"]  # accents or not
    assert addresses(recorded, "IMPAYÉE") == ["cleanup@4"]
    assert addresses(recorded, "支払い") == ["cleanup@4"]  # Japanese, with no spaces to split words
    assert addresses(recorded, "請求書") == ["cleanup@4"]
    assert addresses(recorded, "알림을") == ["cleanup@4"]
    assert set(addresses(recorded, "invoices", "--kind", "tool_call")) == {"billing@3", "cleanup@3"}
    assert "billing@6" in addresses(recorded, "invoices")  # inside overdueInvoicesFor
    assert "billing@6" in addresses(recorded, "overdueInvoicesFor")
    # An identifier is its words in a row: the step that names it comes first, the same words in prose after.
    assert addresses(recorded, "overdue_invoices")[0] == "billing@3"
    assert "billing@2" in addresses(recorded, "overdue_invoices")


def test_every_filter(recorded: Path) -> None:
    assert set(addresses(recorded, "overdue", "--session", "cleanup")) == {"cleanup@5", "cleanup@6"}
    assert addresses(recorded, "overdue", "--kind", "decision") == ["billing@5"]
    assert set(addresses(recorded, "psql", "--tool", "bash")) == {"billing@3", "cleanup@3"}
    assert set(addresses(recorded, "overdue", "--agent", "codex")) == {"cleanup@5", "cleanup@6"}
    assert addresses(recorded, "overdue", "--model", "claude-sonnet-4-5", "--kind", "response") == ["billing@6"]
    assert addresses(recorded, "overdue", "--since", "2999-01-01") == []
    assert addresses(recorded, "overdue", "--until", "2000-01-01") == []
    assert addresses(recorded, "send_overdue_reminders", "--file", "src") == []  # a file's content is not an event
    assert addresses(recorded, "updated", "--file", "src/mailer.py") == ["billing@4"]
    assert addresses(recorded, "updated", "--file", "src") == ["billing@4"]
    assert len(addresses(recorded, "overdue", "-n", "2")) == 2
    none = trail("search", "nothing-like-this", cwd=recorded)
    assert none.returncode == 1 and none.stdout == ""
    text = trail("search", "DROP", cwd=recorded).stdout
    assert text.startswith("cleanup@3") and "DROP TABLE" in text


def test_never_answers_from_an_old_history(recorded: Path) -> None:
    assert addresses(recorded, "staging_invoices") == ["cleanup@3"]
    Recorder(recorded, session_id="cleanup").note("staging_invoices done")  # a new step
    assert set(addresses(recorded, "staging_invoices")) == {"cleanup@3", "cleanup@9"}  # 8: its resumption
    scrubbed = trail("scrub", "cleanup", "--text", "staging_invoices", cwd=recorded)
    assert scrubbed.returncode == 0, scrubbed.stderr
    assert addresses(recorded, "staging_invoices") == []
    assert trail("rm", "cleanup", cwd=recorded).returncode == 0
    assert addresses(recorded, "DROP") == []


def test_deleted_or_corrupt_index_is_rebuilt_with_the_same_results(recorded: Path) -> None:
    queries = [["overdue"], ["支払い"], ["psql", "--tool", "Bash"], ["updated", "--file", "src"]]
    before = [addresses(recorded, *q) for q in queries]
    index = recorded / ".git" / "trail" / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)
    assert [addresses(recorded, *q) for q in queries] == before
    Path(str(index) + "-wal").unlink(missing_ok=True)
    Path(str(index) + "-shm").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    done = trail("search", "overdue", cwd=recorded)
    assert done.returncode == 0 and "could not be read" in done.stderr and "rebuilding" in done.stderr
    assert [addresses(recorded, *q) for q in queries] == before
    rebuilt = trail("reindex", cwd=recorded)
    assert rebuilt.returncode == 0 and "Indexed 14 steps of 2 sessions" in rebuilt.stdout
    assert [addresses(recorded, *q) for q in queries] == before


def test_finds_everything_git_log_grep_finds(recorded: Path) -> None:
    for word in ("overdue", "psql", "DROP", "mailer"):
        grep = git("log", "--format=%H", "--glob=refs/trail/sessions/*", f"--grep={word}", cwd=recorded).split()
        found = {h["commit"] for h in hits(recorded, word, "-n", "100")}
        assert set(grep) <= found, word


def test_a_current_index_is_searched_without_loading_libgit2(recorded: Path) -> None:
    assert trail("search", "overdue", cwd=recorded).returncode == 0  # brings the index up to date
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trail.cli", "search", "overdue"],
        cwd=recorded,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert "pygit2" not in done.stderr
    commit_all(recorded, "a commit of the user's, nothing trail must read")
    Recorder(recorded, session_id="third").note("overdue again")
    index = SearchIndex(TrailRepo.discover(recorded).commondir, open_store=lambda: Store(TrailRepo.discover(recorded)))
    assert set(index.freshness().changed) == {"third"}


def test_a_word_found_everywhere_is_ranked_among_its_newest_matches(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trail.search.index as index_module

    with Recorder(repo, session_id="common") as rec:
        for i in range(12):
            rec.note(f"everywhere {i}" + " everywhere" * (12 - i))  # the oldest say it most often
    monkeypatch.setattr(index_module, "RANKED", 5)
    index = SearchIndex(TrailRepo.discover(repo).commondir, open_store=lambda: Store(TrailRepo.discover(repo)))
    index.update()
    found = [hit.n for hit in index.search("everywhere", limit=20)]
    assert len(found) == 5 and min(found) >= 9  # only the newest five (steps 9-13) were ranked
    monkeypatch.setattr(index_module, "RANKED", 1000)
    assert [hit.n for hit in index.search("everywhere", limit=3)] == [2, 3, 4]  # all ranked: the densest first

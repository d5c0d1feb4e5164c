"""Events too large for one git object: their large values kept as blobs of at most store.maxObjectSize beside the
step, read back byte for byte by every reader, pushed in packs below a host's limit, scrubbed, verified, bundled;
and a small event stored exactly as before."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import git, git_bytes
from conftest import trail as run_trail

import trail
from trail.capture.writer import StepWriter
from trail.events import Event
from trail.repo import TrailRepo
from trail.share.bundle import export_bundle, import_bundle
from trail.share.remote import fetch, push
from trail.store import attachments, bodies, objectsize
from trail.store import format as fmt
from trail.store.scrub import MARK, scrub
from trail.store.steps import Step
from trail.store.verify import verify_sessions

MiB = 1024 * 1024


def random_text(size: int) -> str:
    """`size` characters of base64 of random bytes: nothing compresses it much."""
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode("ascii")[:size]


def limit_objects(repo: Path, size: str) -> None:
    (repo / ".git" / "trail").mkdir(exist_ok=True)
    with open(repo / ".git" / "trail" / "config", "a") as f:
        f.write(f"[store]\n\tmaxObjectSize = {size}\n")


def record(repo: Path, sid: str, *payloads: dict[str, object], extra: dict[str, object] | None = None) -> list[Step]:
    writer = StepWriter(TrailRepo.discover(repo))
    out = []
    with writer.session_lock(sid):
        writer.write(Event("session_start", {"source": "startup"}, sid, agent="demo"), None)
        for payload in payloads:
            out.append(writer.write(Event("tool_call", payload, sid, agent="demo", extra=extra or {}), None))
    return out


def objects(repo: Path) -> list[tuple[str, str, int]]:
    """(id, type, size) of every object in the repository."""
    out = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)", cwd=repo)
    return [(oid, kind, int(size)) for oid, kind, size in (line.split() for line in out.splitlines())]


def test_a_small_event_is_stored_as_before(repo: Path) -> None:
    (step,) = record(repo, "small", {"name": "Bash", "input": {"command": "ls"}, "output": "a\nb\n" * 1000})
    raw = git_bytes("cat-file", "commit", step.commit, cwd=repo)
    parsed = fmt.ParsedCommit(raw)
    record_ = parsed.record()
    assert bodies.FIELD not in record_ and "attachments_commit" not in record_
    assert len(parsed.parents) == 1 and step.recorded_commits == ()
    # The commit is exactly what the encoder made of the whole record before large values existed.
    event = Event.from_dict(record_["event"])
    committer = TrailRepo.discover(repo).user_identity()
    again, _ = fmt.encode_commit(event, record_, parsed.tree, parsed.parents, committer)
    assert again == raw


def test_large_values_leave_the_commit_and_read_back(repo: Path) -> None:
    limit_objects(repo, "1m")
    big = random_text(3 * MiB + 17)
    unicode = "é☃\U0001f600\udc80" * 300_000  # 3.3 MB of UTF-8 with a lone surrogate, cut mid-character
    many = [random_text(600) for _ in range(2000)]  # no single value is large, together they are
    lookalike = {"trail_body": {"blobs": ["0" * 40], "size": 1, "sha256": "x", "type": "text"}}
    (step,) = record(
        repo,
        "big",
        {"name": "Bash", "input": {"command": "cat"}, "output": big, "unicode": unicode, "many": many, "x": lookalike},
    )
    raw = git_bytes("cat-file", "commit", step.commit, cwd=repo)
    assert len(raw) < 600_000
    stored = fmt.ParsedCommit(raw).record()
    assert stored["event"]["payload"]["output"]["trail_body"]["size"] == len(big)
    assert stored["event"]["payload"]["x"] == lookalike  # the event's own object, not a reference
    assert stored["event"]["payload"]["many"]["trail_body"]["type"] == "json"  # out as a whole, being too large
    # Every object trail wrote stays within the limit; the chain of body commits hangs from the step.
    assert max(size for _, _, size in objects(repo)) <= MiB
    side = stored["attachments_commit"]
    assert step.parents[-1] == side and step.recorded_commits == ()
    chain = git("rev-list", side, cwd=repo).split()
    assert len(chain) >= 7  # 3 + 4 MiB of text at 1 MiB a commit
    assert git("cat-file", "-p", side, cwd=repo).count("trail-body") == 1
    # Read back by the API, the command line and git fsck.
    history = trail.open(repo)
    payload = history.step("big@2").event.payload
    assert payload["output"] == big and payload["unicode"] == unicode and payload["many"] == many
    assert payload["x"] == lookalike
    shown = run_trail("show", "big@2", "--json", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["event"]["payload"]["output"] == big
    git("fsck", "--strict", "--no-dangling", cwd=repo)
    assert [c.ok for c in verify_sessions(StepWriter(TrailRepo.discover(repo)).store)] == [True]


def test_attachments_and_large_values_share_one_side_parent(repo: Path) -> None:
    limit_objects(repo, "1m")
    writer = StepWriter(TrailRepo.discover(repo))
    image = os.urandom(5000)
    blob = writer.store.write_blob(image)
    event = Event("prompt", {"text": random_text(2 * MiB)}, "both", agent="demo")
    attachments.attach(event, [attachments.entry(blob, "image/png", len(image))])
    with writer.session_lock("both"):
        step = writer.write(event, None)
    assert len(step.parents) == 2 and step.recorded_commits == ()
    assert step.attachments[0]["blob"] == blob and writer.store.attachment(blob) == image
    assert step.event.payload["text"] == event.payload["text"]
    assert attachments.is_side_commit(git_bytes("cat-file", "commit", step.parents[-1], cwd=repo))
    assert [c.ok for c in verify_sessions(writer.store)] == [True]


def test_redaction_sees_the_whole_value_before_it_is_cut(repo: Path) -> None:
    limit_objects(repo, "1m")
    token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    text = random_text(MiB - 10) + " " + token + " " + random_text(MiB)  # the token sits across a blob boundary
    (step,) = record(repo, "redact", {"name": "Bash", "output": text})
    output = trail.open(repo).step("redact@2").event.payload["output"]
    assert token not in output and "[REDACTED:" in output and len(output) > 2 * MiB
    assert step.redacted


def test_scrub_reaches_a_secret_inside_a_large_value(repo: Path) -> None:
    limit_objects(repo, "1m")
    secret = "XyZzy-leak-4242"
    text = random_text(MiB - 5) + secret + random_text(MiB)
    record(repo, "leak", {"name": "Bash", "output": text})
    store = StepWriter(TrailRepo.discover(repo)).store
    result = scrub(store, "leak", texts=[secret])
    assert result.moved == ["leak"] and result.sessions[0].replaced == 1
    output = trail.open(repo).step("leak@2").event.payload["output"]
    assert output == text.replace(secret, MARK)
    assert [c.ok for c in verify_sessions(store)] == [True]
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    everything = git_bytes("cat-file", "--batch-all-objects", "--batch", cwd=repo)
    assert secret.encode() not in everything


def test_a_bundle_carries_the_large_values(repo: Path, tmp_path: Path) -> None:
    limit_objects(repo, "1m")
    big = random_text(3 * MiB)
    record(repo, "bundled", {"name": "Bash", "output": big})
    store = StepWriter(TrailRepo.discover(repo)).store
    export_bundle(store, ["bundled"], tmp_path / "s.bundle")
    other = tmp_path / "other"
    git("clone", "-q", repo, other, cwd=tmp_path)
    import_bundle(StepWriter(TrailRepo.discover(other)).store, tmp_path / "s.bundle")
    assert trail.open(other).step("bundled@2").event.payload["output"] == big


def test_snapshots_leave_out_files_over_the_object_limit(repo: Path) -> None:
    limit_objects(repo, "1m")
    (repo / "big.bin").write_bytes(os.urandom(2 * MiB))  # under snapshot.maxFileSize (10m), over the object limit
    writer = StepWriter(TrailRepo.discover(repo))
    with writer.session_lock("snap"):
        step = writer.write(Event("note", {"text": "x"}, "snap", agent="demo"), writer.snapshot())
    assert [(o.path, o.reason) for o in step.omitted] == [("big.bin", objectsize.REASON)]


def test_a_120_mb_tool_output_pushes_under_a_60_mb_cap_and_reads_back(repo: Path, tmp_path: Path) -> None:
    """The issue's case: one huge tool output, a host that takes at most 60 MB a push and (standing in for its
    object cap) no object over store.maxObjectSize, then another clone reads it back byte for byte."""
    server = tmp_path / "server.git"
    git("init", "-q", "--bare", server, cwd=tmp_path)
    git("config", "receive.maxInputSize", str(60 * 1000 * 1000), cwd=server)
    git("remote", "add", "origin", server, cwd=repo)
    output = random_text(120 * 1000 * 1000)
    (step,) = record(repo, "huge", {"name": "Bash", "input": {"command": "cat dump"}, "output": output})
    limit = 32 * MiB
    assert max(size for _, _, size in objects(repo)) <= limit
    # A plain push of the session is refused by the cap; trail's goes through in parts.
    refused = subprocess.run(
        ["git", "push", "origin", "refs/trail/sessions/huge:refs/trail/sessions/plain"], cwd=repo, capture_output=True
    )
    assert refused.returncode != 0
    result = push(StepWriter(TrailRepo.discover(repo)).store, "origin", ["huge"])
    assert [(u.session, u.status) for u in result.updates] == [("huge", "new")] and result.staged >= 4
    assert max(size for _, _, size in objects(server)) <= limit
    assert git("for-each-ref", "refs/trail/", cwd=server).split()[-1] == "refs/trail/sessions/huge"  # no tmp refs
    del output  # keep memory down: the clone compares with the sha256 the step names
    other = tmp_path / "other"
    git("clone", "-q", server, other, cwd=tmp_path)
    fetched = fetch(StepWriter(TrailRepo.discover(other)).store, "origin")
    assert [u.status for u in fetched.updates] == ["new"]
    back = trail.open(other).step("huge@2").event.payload["output"]
    ref = fmt.ParsedCommit(git_bytes("cat-file", "commit", step.commit, cwd=repo)).record()["event"]["payload"]
    assert len(back) == 120 * 1000 * 1000
    assert hashlib.sha256(back.encode()).hexdigest() == ref["output"]["trail_body"]["sha256"]


@pytest.mark.parametrize("size", ["512k", "nonsense"])
def test_a_bad_limit_is_refused(repo: Path, size: str) -> None:
    done = run_trail("config", "store.maxObjectSize", size, cwd=repo)
    assert done.returncode != 0 and "store.maxObjectSize" in done.stderr

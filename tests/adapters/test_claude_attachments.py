"""Pasted images and other binary attachments are kept as git blobs that hang from their step: byte for byte, out
of the commit headers, never redacted, and kept by `git gc --prune=now`, a push of the session ref and a bundle."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import REAL, transcript_lines
from conftest import git, git_bytes

from trail import events as ev
from trail.adapters.claude_import import import_claude
from trail.adapters.claude_rebuild import rebuild_messages
from trail.adapters.claude_transcript import Cursor, TranscriptConverter, read_lines
from trail.capture.writer import StepWriter
from trail.errors import TrailError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store import attachments
from trail.store.steps import Store

IMAGES = REAL / "claude-omarchy-images.jsonl"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # not text: redaction must never see or change it


def pasted(path: Path) -> list[bytes]:
    """The images people pasted in the transcript, decoded here from its lines."""
    found = []
    for raw in path.read_text().splitlines():
        content = (json.loads(raw).get("message") or {}).get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "image":
                found.append(base64.b64decode(block["source"]["data"]))
    return found


def image_line(session: str, uuid: str, parent: str, text: str, data: bytes = PNG) -> str:
    content = [
        {"type": "text", "text": text},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()},
        },
    ]
    line = {
        "parentUuid": parent,
        "uuid": uuid,
        "sessionId": session,
        "type": "user",
        "timestamp": "2026-11-20T10:01:00.000Z",
        "cwd": "/w",
        "message": {"role": "user", "content": content},
    }
    return json.dumps(line) + "\n"


def attached_steps(store: Store, session_id: str) -> list[Any]:
    return [s for s in store.steps(session_id, full=True) if s.attachments]


@pytest.mark.skipif(not IMAGES.is_file(), reason="../shared/fixtures/real is not here")
def test_pasted_images_are_blobs_that_survive_gc_and_a_push(repo: Path, tmp_path: Path) -> None:
    trail_repo = TrailRepo.discover(repo)
    store = Store(trail_repo)
    session_id = import_claude(trail_repo, IMAGES).session_id
    want = pasted(IMAGES)
    assert len(want) == 9
    steps = attached_steps(store, session_id)
    assert [store.attachment(a["blob"]) for s in steps for a in s.attachments] == want
    assert all(
        a["media_type"] == "image/png" and a["size"] == len(store.attachment(a["blob"]))
        for s in steps
        for a in s.attachments
    )
    head_tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    for step in steps:
        # The tree is still exactly the step's tree; the blobs hang from a last parent of their own.
        assert step.tree == head_tree and len(step.parents) == 2
        side = step.parents[1]
        assert attachments.is_side_commit(git_bytes("cat-file", "commit", side, cwd=repo))
        assert git("rev-list", "--count", side, cwd=repo).strip() == "1"  # a root: it brings nothing else along
        listed = git("ls-tree", "-r", "--name-only", side, cwd=repo).split()
        assert listed == sorted(f"{a['blob']}.png" for a in step.attachments)
        assert step.record["attachments_commit"] == side
    # The commit objects hold no image data (the smallest image is 25 KB).
    assert max(int(git("cat-file", "-s", s.commit, cwd=repo)) for s in steps) < 10_000
    assert git("rev-list", "--first-parent", "--count", f"trail/sessions/{session_id}", cwd=repo).strip() == str(
        len(store.steps(session_id)) + 1
    )

    git("gc", "-q", "--prune=now", cwd=repo)
    git("fsck", "--no-progress", "--strict", cwd=repo)
    messages = rebuild_messages(Store(TrailRepo.discover(repo)), session_id)
    images = [b for m in messages if isinstance(m["content"], list) for b in m["content"] if b.get("type") == "image"]
    assert [base64.b64decode(b["source"]["data"]) for b in images] == want

    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", remote, cwd=tmp_path)
    ref = f"refs/trail/sessions/{session_id}"
    git("push", "-q", str(remote), f"{ref}:{ref}", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=remote)
    assert [git_bytes("cat-file", "blob", a["blob"], cwd=remote) for s in steps for a in s.attachments] == want
    other = tmp_path / "other"
    git("init", "-q", other, cwd=tmp_path)
    git("fetch", "-q", str(remote), f"{ref}:{ref}", cwd=other)
    fetched = rebuild_messages(Store(TrailRepo.discover(other)), session_id)
    assert fetched == messages


def test_redaction_reads_the_words_and_never_the_image(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    path.write_text(image_line("red-1", "u1", None, f"the token is {secret}"))  # type: ignore[arg-type]
    trail_repo = TrailRepo.discover(repo)
    session_id = import_claude(trail_repo, path).session_id
    store = Store(trail_repo)
    (prompt,) = [s for s in store.steps(session_id, full=True) if s.kind == "prompt"]
    assert secret not in prompt.event.payload["text"] and "[REDACTED:" in prompt.event.payload["text"]
    assert prompt.redacted
    (item,) = prompt.attachments
    assert store.attachment(item["blob"]) == PNG
    block = prompt.event.payload["content"][1]
    assert block["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "trail_blob": item["blob"],
        "trail_blob_key": "data",
    }


def test_live_hooks_keep_the_images_pasted_with_a_prompt(repo: Path, tmp_path: Path) -> None:
    """The UserPromptSubmit hook has the words; the transcript, read at the next hook, has the image: kept as a
    note beside the prompt, its blob written loose and kept by gc like any step's object."""
    path = tmp_path / "s.jsonl"
    path.write_text(image_line("live-1", "u1", None, "[Image #1] what is this?"))  # type: ignore[arg-type]
    trail_repo = TrailRepo.discover(repo)
    writer = StepWriter(trail_repo)
    lines, _ = read_lines(path, 0)
    converter = TranscriptConverter(
        "live-1", Cursor(), prompts=False, defer_tools=True, blob_sink=writer.store.write_blob
    )
    (note,) = converter.feed(lines)
    assert note.kind == ev.NOTE and note.payload["prompt_content"] is True
    step = writer.write(note, None)
    git("gc", "-q", "--prune=now", cwd=repo)
    store = Store(TrailRepo.discover(repo))
    assert store.attachment(store.tip("live-1").attachments[0]["blob"]) == PNG
    assert step.parents[-1] == store.tip("live-1").record["attachments_commit"]


def test_only_trail_can_attach_and_only_what_it_wrote(repo: Path) -> None:
    """Attachments are the event's own field, beside the payload: a hook payload that names a blob attaches
    nothing, and a list naming an object that was never written is refused."""
    trail_repo = TrailRepo.discover(repo)
    writer = StepWriter(trail_repo)
    secret_blob = git("rev-parse", "HEAD:README.md", cwd=repo).strip()
    forged = Event(kind=ev.NOTE, payload={"text": "hi", "attachments": [{"blob": secret_blob}]}, session_id="f-1")
    step = writer.write(forged, None)
    assert len(step.parents) == 1 and step.attachments == []
    missing = Event(kind=ev.NOTE, payload={"text": "x"}, session_id="f-1")
    attachments.attach(missing, [attachments.entry("0" * 40, "image/png", 1)])
    with pytest.raises(TrailError, match="not in the repository"):
        writer.write(missing, None)
    bad = Event(kind=ev.NOTE, payload={"text": "x"}, session_id="f-1", extra={"attachments": "HEAD"})
    with pytest.raises(TrailError, match="not a list of blob ids"):
        writer.write(bad, None)
    assert len(Store(trail_repo).steps("f-1")) == 1


def test_an_import_run_again_adds_no_second_copy_of_an_image(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = transcript_lines("transcript.jsonl", session_id="img-2", cwd=str(repo))[:-1]
    path.write_text("".join(lines[:3]))
    trail_repo = TrailRepo.discover(repo)
    import_claude(trail_repo, path)
    path.write_text("".join(lines) + image_line("img-2", "u9", "s1", "and this"))
    more = import_claude(trail_repo, path)
    assert more.added > 0
    store = Store(trail_repo)
    (step,) = attached_steps(store, "img-2")
    assert store.attachment(step.attachments[0]["blob"]) == PNG
    assert import_claude(trail_repo, path).added == 0


def test_a_bundle_carries_the_images_and_blame_and_verify_read_past_them(repo: Path, tmp_path: Path) -> None:
    """The attachments commit is a parent but neither a commit of yours nor a step: a bundle (which leaves out
    your commits, the teammate has them) carries it; blame does not take it for your newest commit; verify is
    content."""
    from conftest import trail

    writer = StepWriter(TrailRepo.discover(repo))
    writer.write(Event(kind=ev.PROMPT, payload={"text": "hello"}, session_id="img-b"), None)
    shown = Event(kind=ev.NOTE, payload={"text": "a picture"}, session_id="img-b")
    attachments.attach(shown, [attachments.entry(writer.store.write_blob(PNG), "image/png", len(PNG))])
    step = writer.write(shown, None)
    assert step.n == 2 and step.recorded_commits == () and step.attachments_commit == step.parents[-1]

    blamed = trail("blame", "README.md", "--step", "img-b@2", "--json", cwd=repo)
    assert blamed.returncode == 0, blamed.stderr
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    assert [(line["origin"], line["user_commit"]) for line in json.loads(blamed.stdout)] == [("commit", head)]
    checked = trail("verify", "img-b", cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    bundle = tmp_path / "s.bundle"
    made = trail("export", "img-b", "--bundle", str(bundle), cwd=repo)
    assert made.returncode == 0, made.stderr
    other = tmp_path / "other"
    git("clone", "-q", "--no-local", str(repo), str(other), cwd=tmp_path)  # objects copied, not linked
    taken = trail("import", "bundle", str(bundle), cwd=other)
    assert taken.returncode == 0, taken.stderr
    there = Store(TrailRepo.discover(other))
    (copied,) = attached_steps(there, "img-b")
    assert there.attachment(copied.attachments[0]["blob"]) == PNG

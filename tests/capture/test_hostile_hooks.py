"""Hostile and careless input to real `trail-hook` processes: exit 0, nothing on stdout, within the budget, bounded
memory, and the payload recorded or kept, whatever it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trail.repo import TrailRepo
from trail.store.steps import Store

BUDGET = 10.0  # the hook's own budget; Claude Code allows 30 s


def run_hook(payload: bytes, cwd: Path) -> tuple[subprocess.CompletedProcess[bytes], float, int]:
    """Run trail-hook claude as Claude Code does; returns the process, its wall time and its peak memory (KiB)."""
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdin=sys.stdin, capture_output=True)\n"
        "sys.stderr.buffer.write(done.stderr); sys.stdout.buffer.write(done.stdout)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    hook = Path(sys.executable).parent / "trail-hook"
    command = [str(hook), "claude"] if hook.exists() else [sys.executable, "-m", "trail.capture.hook", "claude"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", measure, *command], input=payload, capture_output=True, cwd=cwd, timeout=120
    )
    elapsed = time.monotonic() - started
    peak = int(done.stderr.decode().strip().splitlines()[-1])
    return done, elapsed, peak


def base(repo: Path, **fields: object) -> dict[str, object]:
    return {
        "session_id": "hostile",
        "cwd": str(repo),
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_use_id": "toolu_1",
        "tool_input": {"command": "echo"},
        **fields,
    }


def projects() -> Path:
    folder = Path.home() / ".claude" / "projects" / "hostile"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


CASES = {
    "transcript /etc/passwd": lambda repo: base(repo, hook_event_name="Stop", transcript_path="/etc/passwd"),
    "transcript /dev/zero": lambda repo: base(repo, hook_event_name="Stop", transcript_path="/dev/zero"),
    "a link to /dev/zero where transcripts live": lambda repo: base(
        repo, hook_event_name="Stop", transcript_path=str(_link(projects() / "zero.jsonl", "/dev/zero"))
    ),
    "a FIFO where transcripts live": lambda repo: base(
        repo, hook_event_name="Stop", transcript_path=str(_fifo(projects() / "fifo.jsonl"))
    ),
    "50 MB string": lambda repo: base(repo, tool_response="x" * (50 << 20)),
    "a million keys": lambda repo: base(repo, tool_input={f"k{i}": i for i in range(1_000_000)}),
}


def _link(path: Path, target: str) -> Path:
    path.unlink(missing_ok=True)
    path.symlink_to(target)
    return path


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_payloads(repo: Path, case: str) -> None:
    payload = json.dumps(CASES[case](repo)).encode()
    done, elapsed, peak = run_hook(payload, repo)
    assert done.returncode == 0 and done.stdout == b""
    assert elapsed < BUDGET + 5, f"{case}: {elapsed:.1f} s"
    assert peak < 1_200_000, f"{case}: {peak} KiB"  # bounded: a small multiple of the 64 MiB a payload may be
    print(f"\n{case}: {elapsed:.2f} s, {peak / 1024:.0f} MiB")
    store = Store(TrailRepo.discover(repo))
    kinds = [s.kind for s in store.walk("hostile")]
    assert kinds and kinds[0] in ("tool_call", "response", "session_start", "external_change", "note")


@pytest.mark.parametrize(
    ("case", "raw"),
    [
        ("50 MB of random bytes", os.urandom(50 << 20)),
        ("nested 10,000 deep", b'{"session_id": "hostile", "a": ' * 10_000 + b"1" + b"}" * 10_000),
        ("nested 900 deep", b'{"session_id": "hostile", "a": ' + b"[" * 900 + b"]" * 900 + b"}"),
        ("empty", b""),
        ("a JSON list", b"[1, 2, 3]"),
    ],
)
def test_unreadable_payloads_become_notes(repo: Path, case: str, raw: bytes) -> None:
    done, elapsed, peak = run_hook(raw, repo)
    assert done.returncode == 0 and done.stdout == b"" and elapsed < BUDGET + 5
    print(f"\n{case}: {elapsed:.2f} s, {peak / 1024:.0f} MiB")
    store = Store(TrailRepo.discover(repo))
    sessions = {s.id: s for s in store.sessions()}
    note = (sessions.get("hostile") or sessions["claude-unrouted"]).tip
    assert note.kind == "note"
    kept = note.event.payload["raw"].encode("utf-8", "surrogateescape")
    assert kept == raw[: 1 << 20]  # every byte kept (cut at 1 MiB, with the size and hash of the whole)
    if len(raw) > 1 << 20:
        assert note.event.payload["size"] == len(raw)


def test_a_hook_out_of_time_keeps_its_payload_and_the_next_one_records_it(repo: Path, monkeypatch) -> None:  # noqa: ANN001
    """The budget expires (made tiny here): the payload is kept, owner-only and redacted; the next hook finishes it."""
    secret = "ghp_" + "Fake0123" * 4 + "Test"
    payload = base(repo, tool_response=f"token {secret}")
    env = {**os.environ, "TRAIL_HOOK_BUDGET": "0.001"}
    hook = Path(sys.executable).parent / "trail-hook"
    done = subprocess.run(
        [str(hook), "claude"], input=json.dumps(payload).encode(), capture_output=True, cwd=repo, env=env, timeout=60
    )
    assert done.returncode == 0 and done.stdout == b""
    pending = repo / ".git" / "trail" / "pending"
    kept = list(pending.glob("*.json"))
    if not kept:  # the machine was fast enough to finish in a millisecond
        pytest.skip("recorded within the tiny budget")
    assert (pending.stat().st_mode & 0o777) == 0o700 and all((k.stat().st_mode & 0o777) == 0o600 for k in kept)
    assert secret not in kept[0].read_text() and "[REDACTED:github-token]" in kept[0].read_text()
    later = base(repo, hook_event_name="UserPromptSubmit", prompt="next")
    done = subprocess.run(
        [str(hook), "claude"], input=json.dumps(later).encode(), capture_output=True, cwd=repo, timeout=60
    )
    assert done.returncode == 0
    assert not list(pending.glob("*.json"))
    kinds = [s.kind for s in Store(TrailRepo.discover(repo)).steps("hostile")]
    assert "tool_call" in kinds and kinds[-1] == "prompt"


def test_trails_files_are_its_owners_alone(repo: Path) -> None:
    secret = "ghp_" + "Fake0123" * 4 + "Test"
    projects_dir = Path.home() / ".claude" / "projects" / "modes"
    projects_dir.mkdir(parents=True, exist_ok=True)
    transcript = projects_dir / "modes.jsonl"
    transcript.write_text("")
    hook = Path(sys.executable).parent / "trail-hook"
    for event in ("SessionStart", "Stop"):
        payload = base(
            repo,
            session_id="modes",
            hook_event_name=event,
            transcript_path=str(transcript),
            last_assistant_message=f"use {secret}",
        )
        subprocess.run([str(hook), "claude"], input=json.dumps(payload).encode(), cwd=repo, check=True)
    trail_dir = repo / ".git" / "trail"
    state = trail_dir / "claude" / "modes.json"
    assert secret not in state.read_text()
    for path in (state, trail_dir / "errors.log"):
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, path
    assert (trail_dir / "claude").stat().st_mode & 0o077 == 0

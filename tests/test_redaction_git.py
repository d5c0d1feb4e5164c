"""Secrets in event text never reach a git object; working-tree files are stored as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, git_bytes, trail

from trail import Recorder
from trail.store.steps import REF_PREFIX

# Fake values in the real formats, assembled so that no scanner mistakes this file for a leak.
SECRETS = {
    "aws-access-key": "AKIA" + "QWERTYUIOPASDFGH",
    "aws-secret-key": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github-token": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github-pat": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "openai-key": "sk-" + "abcdefghijklmnopqrstuvwxyz012345",
    "openai-project-key": "sk-proj-" + "Zyxwvutsrqponmlkjihgfedcba9876543210",
    "anthropic-key": "sk-ant-" + "api03-abcdefghijklmnopqrstuvwxyz0123456789",
    "slack-token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "google-api-key": "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",
    "private-key": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Zs0123456789abcdefABCDEF\n"
    "c2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA " + "PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer-token": "Authorization: Bearer " + "opaque-token-0123456789abcdef",
    "url-password": "postgres://app:" + "hunter2hunter2" + "@db.internal:5432/prod",
}
# The part of each secret that must not survive (the whole value, or the secret group of it).
SENSITIVE = {
    "aws-secret-key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "private-key": "MIIEowIBAAKCAQEAx4Zs0123456789abcdefABCDEF",
    "bearer-token": "opaque-token-0123456789abcdef",
    "url-password": "hunter2hunter2",
}


def all_objects(repo: Path) -> bytes:
    return git_bytes("cat-file", "--batch-all-objects", "--batch", cwd=repo)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secret_reaches_no_git_object(repo: Path, name: str) -> None:
    secret = SECRETS[name]
    with Recorder(repo, agent="leaky") as rec:
        rec.prompt(f"Use this: {secret} please")
        rec.response(f"I will use {secret}", thinking=f"the secret is {secret}")
        rec.tool_call("Bash", input={"command": f"curl -H 'x: {secret}'"}, output=f"env:\n{secret}\n", error=secret)
        rec.note("done", context={"nested": [secret, {"deeper": secret}]})
    blob = all_objects(repo)
    needle = SENSITIVE.get(name, secret).encode()
    assert needle not in blob
    assert b"[REDACTED:" in blob
    steps = rec.store.steps(rec.session_id)
    assert all(sum(s.redacted.values()) > 0 for s in steps if s.kind in ("prompt", "response", "tool_call"))
    log = git("log", REF_PREFIX + rec.session_id, cwd=repo)
    assert "Trail-Redacted:" in log


def test_working_tree_files_are_not_altered(repo: Path) -> None:
    secret = SECRETS["openai-key"]
    (repo / "settings.py").write_text(f"KEY = '{secret}'\n")
    with Recorder(repo) as rec:
        step = rec.note("snapshot")
    assert (repo / "settings.py").read_text() == f"KEY = '{secret}'\n"
    assert git("show", f"{step.commit}:settings.py", cwd=repo) == f"KEY = '{secret}'\n"


def test_extra_patterns_from_config(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    git("config", "-f", ".git/trail/config", "--add", "redact.pattern", r"acme_[0-9a-f]{8}", cwd=repo)
    with Recorder(repo) as rec:
        step = rec.prompt("token acme_deadbeef here")
    assert step.event.payload["text"] == "token [REDACTED:custom] here"
    assert b"acme_deadbeef" not in all_objects(repo)


def test_bad_extra_pattern_is_left_out_and_logged(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    git("config", "-f", ".git/trail/config", "--add", "redact.pattern", "([unclosed", cwd=repo)
    git("config", "-f", ".git/trail/config", "--add", "redact.pattern", r"acme_[0-9a-f]{8}", cwd=repo)
    with Recorder(repo) as rec:
        step = rec.prompt("token acme_deadbeef here")
    assert step.event.payload["text"] == "token [REDACTED:custom] here"  # the pattern that compiles still applies
    assert "redact.pattern must be a regular expression" in (repo / ".git" / "trail" / "errors.log").read_text()

"""Signing sessions with the user's own git signing setup (ssh, openpgp) and checking the signature as git does.

The ssh tests need ssh-keygen (Debian: openssh-client), the openpgp ones gpg; each is skipped without its program.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from conftest import trail as run_trail
from pygit2.enums import ObjectType

from trail import Recorder
from trail.errors import TrailError
from trail.repo import TrailRepo
from trail.store.sign import BAD, GOOD, UNCHECKED, UNTRUSTED, add_signature, sign_session, signature_of
from trail.store.steps import Store
from trail.store.verify import verify_sessions

needs_ssh = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is missing")
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is missing")


def store_of(repo: Path) -> Store:
    return Store(TrailRepo.discover(repo))


def raw_tip(repo: Path, sid: str) -> bytes:
    return git("cat-file", "commit", f"refs/trail/sessions/{sid}", cwd=repo).encode("utf-8", "surrogateescape")


def ssh_key(folder: Path, name: str = "key", passphrase: str = "") -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", key], check=True)
    return key


def record(repo: Path, sid: str) -> None:
    with Recorder(repo, session_id=sid) as rec:
        rec.prompt("sign me")
        (repo / "new.txt").write_text("new\n")
        rec.tool_call("Write", input={"file_path": "new.txt"}, output="ok")


@pytest.fixture
def ssh_repo(repo: Path, tmp_path: Path) -> Path:
    key = ssh_key(tmp_path)
    git("config", "gpg.format", "ssh", cwd=repo)
    git("config", "user.signingKey", key, cwd=repo)
    return repo


def allow(repo: Path, key: Path) -> None:
    signers = key.with_name("allowed_signers")
    signers.write_text(f"test@example.com {key.with_suffix('.pub').read_text()}")
    git("config", "gpg.ssh.allowedSignersFile", signers, cwd=repo)


@needs_ssh
def test_an_ssh_signature_on_the_tip_covers_the_session(ssh_repo: Path, tmp_path: Path) -> None:
    record(ssh_repo, "s")
    unsigned = git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip()
    store = store_of(ssh_repo)
    store.step_at("s", 2)  # the step index exists before signing
    signed = sign_session(store, "s", unsigned)
    assert git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip() == signed != unsigned
    raw = raw_tip(ssh_repo, "s")
    head, _, message = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    at = lines.index(b"gpgsig -----BEGIN SSH SIGNATURE-----")
    assert lines[at - 1].startswith(b"trail-event ")  # the last header, as git places it
    assert all(line.startswith(b" ") for line in lines[at + 1 :]) and message.startswith(b"session_end: ")
    assert git("rev-parse", "trail/sessions/s^", cwd=ssh_repo) == git("rev-parse", f"{unsigned}^", cwd=ssh_repo)
    # Everything else reads it as before: the step index was kept current, and the log shows the same steps.
    index = (ssh_repo / ".git" / "trail" / "steps" / "s").read_bytes()
    assert index[-20:] == bytes.fromhex(signed) and len(index) == 20 * 4
    assert store_of(ssh_repo).tip("s").kind == "session_end"
    assert sign_session(store_of(ssh_repo), "s") == signed  # signed already: left as it is

    (check,) = verify_sessions(store_of(ssh_repo))
    assert check.ok and check.signature is not None
    assert check.signature.status == UNCHECKED and "gpg.ssh.allowedSignersFile" in check.signature.detail
    allow(ssh_repo, tmp_path / "key")
    (check,) = verify_sessions(store_of(ssh_repo))
    assert check.signature is not None and check.signature.status == GOOD
    assert 'Good "git" signature for test@example.com' in check.signature.detail
    assert subprocess.run(["git", "verify-commit", signed], cwd=ssh_repo, capture_output=True).returncode == 0


@needs_ssh
def test_a_tampered_session_or_an_unknown_key_is_told_apart(ssh_repo: Path, tmp_path: Path) -> None:
    record(ssh_repo, "s")
    sign_session(store_of(ssh_repo), "s")
    raw = raw_tip(ssh_repo, "s")
    allow(ssh_repo, tmp_path / "key")
    tampered = str(store_of(ssh_repo).git.odb.write(ObjectType.COMMIT, raw.replace(b"\nsession_end:", b"\nnote:")))
    git("update-ref", "refs/trail/sessions/s", tampered, cwd=ssh_repo)
    (check,) = verify_sessions(store_of(ssh_repo))
    assert not check.ok and check.faults == []
    assert check.signature is not None and check.signature.status == BAD
    git(
        "update-ref",
        "refs/trail/sessions/s",
        git("hash-object", "-t", "commit", "-w", "--stdin", cwd=ssh_repo, input=raw).strip(),
        cwd=ssh_repo,
    )
    allow(ssh_repo, ssh_key(tmp_path, "stranger"))  # trusts another key only
    (check,) = verify_sessions(store_of(ssh_repo))
    assert check.ok and check.signature is not None and check.signature.status == UNTRUSTED
    (check,) = verify_sessions(store_of(ssh_repo), require_signature=True)
    assert not check.ok and check.faults[0].what.startswith("its signature is not good")


@needs_ssh
def test_a_key_with_a_passphrase_fails_at_once_instead_of_waiting(ssh_repo: Path, tmp_path: Path) -> None:
    locked = ssh_key(tmp_path, "locked", passphrase="correct horse")
    git("config", "user.signingKey", locked, cwd=ssh_repo)
    record(ssh_repo, "s")
    tip = git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip()
    started = time.monotonic()
    with pytest.raises(TrailError, match="could not sign"):
        sign_session(store_of(ssh_repo), "s")
    assert time.monotonic() - started < 10
    assert git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip() == tip


@needs_ssh
def test_sign_true_signs_each_session_in_the_background_when_it_ends(ssh_repo: Path, tmp_path: Path) -> None:
    assert run_trail("config", "sign", "true", cwd=ssh_repo).returncode == 0
    assert run_trail("config", "sign", cwd=ssh_repo).stdout.strip() == "true"
    record(ssh_repo, "s")
    deadline = time.monotonic() + 20
    while signature_of(raw_tip(ssh_repo, "s")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert signature_of(raw_tip(ssh_repo, "s")) is not None
    allow(ssh_repo, tmp_path / "key")
    done = run_trail("verify", cwd=ssh_repo)
    assert done.returncode == 0, done.stderr
    assert 'signed (ssh): Good "git" signature for test@example.com' in done.stdout


@needs_ssh
def test_a_failed_signature_is_logged_and_the_recording_goes_on(repo: Path) -> None:
    git("config", "gpg.format", "ssh", cwd=repo)  # and no key at all
    assert run_trail("config", "sign", "true", cwd=repo).returncode == 0
    record(repo, "s")
    log = repo / ".git" / "trail" / "maintenance.log"
    deadline = time.monotonic() + 20
    while "sign-session" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "sign-session s: not signed: gpg.format is ssh but no key is set" in log.read_text()
    assert signature_of(raw_tip(repo, "s")) is None
    assert store_of(repo).tip("s").n == 4


def test_a_signature_is_placed_and_indented_as_git_does() -> None:
    raw = b"tree x\nauthor a\ncommitter c\ntrail-event {}\n\nmessage\n"
    signed = add_signature(raw, b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n")
    assert signed == (
        b"tree x\nauthor a\ncommitter c\ntrail-event {}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n"
        b" -----END PGP SIGNATURE-----\n\nmessage\n"
    )
    assert signature_of(signed) == b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"


@pytest.fixture
def gnupg_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring of its own, short enough a path for gpg-agent's socket; its agent is stopped afterwards."""
    home = Path(tempfile.mkdtemp(prefix="trail-gpg-"))
    monkeypatch.setenv("GNUPGHOME", str(home))
    yield home
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)}, check=False)
    shutil.rmtree(home, ignore_errors=True)


@needs_gpg
def test_an_openpgp_signature(repo: Path, gnupg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(
        ["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", "Test User <test@example.com>"]
        + ["ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    git("config", "user.signingKey", "test@example.com", cwd=repo)
    record(repo, "s")
    sign_session(store_of(repo), "s")
    assert raw_tip(repo, "s").split(b"\n\n")[0].split(b"\n")[6] == b"gpgsig -----BEGIN PGP SIGNATURE-----"
    (check,) = verify_sessions(store_of(repo))
    assert check.signature is not None and check.signature.status == GOOD
    assert "Test User <test@example.com>" in check.signature.detail
    empty = Path(tempfile.mkdtemp(prefix="trail-gpg-"))
    try:
        monkeypatch.setenv("GNUPGHOME", str(empty))  # a keyring without the signer's key
        (check,) = verify_sessions(store_of(repo))
        assert check.ok and check.signature is not None and check.signature.status == UNCHECKED
        assert "is not in your keyring" in check.signature.detail
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(empty)}, check=False)
        shutil.rmtree(empty, ignore_errors=True)


@needs_ssh
def test_a_scrubbed_session_drops_its_old_signature_and_is_signed_again(ssh_repo: Path, tmp_path: Path) -> None:
    assert run_trail("config", "sign", "true", cwd=ssh_repo).returncode == 0
    record(ssh_repo, "s")
    deadline = time.monotonic() + 20
    while signature_of(raw_tip(ssh_repo, "s")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    signed = git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip()
    assert signature_of(raw_tip(ssh_repo, "s")) is not None
    done = run_trail("scrub", "s", "--text", "new.txt", "--json", cwd=ssh_repo)  # in step 3 only
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["sessions"]
    assert (result["changed"], result["rechained"]) == (1, 1)
    assert result["new_tip"] != signed
    # The re-chained tip carried the old signature, which would be false now: it was dropped, then the session
    # was signed again in the background.
    deadline = time.monotonic() + 20
    while (
        git("rev-parse", "trail/sessions/s", cwd=ssh_repo).strip() == result["new_tip"] and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert signature_of(git("cat-file", "commit", result["new_tip"], cwd=ssh_repo).encode()) is None
    allow(ssh_repo, tmp_path / "key")
    verified = run_trail("verify", "s", cwd=ssh_repo)
    assert verified.returncode == 0 and 'signed (ssh): Good "git" signature' in verified.stdout

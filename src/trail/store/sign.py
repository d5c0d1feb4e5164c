"""Signatures on sessions: the last step signed with the user's own git signing setup, and checked with
`git verify-commit`.

Each step names its parent by hash, so one signature on the last step covers the session; it is a `gpgsig` header
placed as git places it, which makes a new commit that the ref moves to by compare-and-swap. The signer is run as
git runs it (`gpg --status-fd=2 -bsau KEY`, `ssh-keygen -Y sign -n git -f KEY`), with no terminal, no input and a
time limit, so a passphrase prompt fails instead of waiting.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pygit2.enums import ObjectType

from trail.errors import TrailError
from trail.gitcli import clean_env
from trail.repo import TrailRepo
from trail.store.steps import Store, session_ref

SIGNATURE_HEADERS = (b"gpgsig ", b"gpgsig-sha256 ")
TIMEOUT = 30.0  # seconds a signer or a check may take
_PROGRAMS = {"openpgp": "gpg", "x509": "gpgsm", "ssh": "ssh-keygen"}

GOOD = "good"  # the signature is valid and its key is trusted
UNTRUSTED = "untrusted"  # valid, by a key your configuration does not trust
BAD = "bad"  # the commit is not what was signed, or the signature is broken
UNCHECKED = "unchecked"  # it could not be checked here (no allowed signers file, no public key, no program)


@dataclass(frozen=True)
class SigningSetup:
    """How git would sign here: `gpg.format`, the program for it and `user.signingKey` (None: git's default)."""

    format: str
    program: str
    key: str | None
    default_key_command: str | None = None


@dataclass(frozen=True)
class SignatureCheck:
    status: str  # GOOD, UNTRUSTED, BAD or UNCHECKED
    format: str  # openpgp, ssh or x509
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "format": self.format, "detail": self.detail}


# -- the bytes of a signed commit -------------------------------------------------------------------------------


def signature_of(raw: bytes) -> bytes | None:
    """The signature a commit carries (its `gpgsig` header, unindented), or None."""
    head = raw[: _header_end(raw)]
    lines = head.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(SIGNATURE_HEADERS):
            out = [line.split(b" ", 1)[1]]
            for more in lines[i + 1 :]:
                if not more.startswith(b" "):
                    break
                out.append(more[1:])
            return b"\n".join(out) + b"\n"
    return None


def add_signature(raw: bytes, signature: bytes) -> bytes:
    """`raw` with `signature` as its `gpgsig` header, placed and indented as git places it."""
    at = _header_end(raw)
    lines = signature.rstrip(b"\n").split(b"\n")
    header = b"gpgsig " + lines[0] + b"\n" + b"".join(b" " + line + b"\n" for line in lines[1:])
    return raw[:at] + header + raw[at:]


def strip_signature(raw: bytes) -> bytes:
    """`raw` without its signature headers: what was signed, or a commit to rewrite (its signature would lie)."""
    at = _header_end(raw)
    kept = []
    skipping = False
    for line in raw[:at].split(b"\n")[:-1]:
        if line.startswith(SIGNATURE_HEADERS):
            skipping = True
            continue
        if skipping and line.startswith(b" "):
            continue
        skipping = False
        kept.append(line + b"\n")
    return b"".join(kept) + raw[at:]


def _header_end(raw: bytes) -> int:
    """Where the headers end: just after the newline that precedes the blank line."""
    end = raw.find(b"\n\n")
    return end + 1 if end >= 0 else len(raw)


def signature_format(signature: bytes) -> str:
    if signature.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        return "ssh"
    if signature.startswith(b"-----BEGIN PGP"):
        return "openpgp"
    return "x509"


# -- signing ----------------------------------------------------------------------------------------------------


def signing_setup(repo: TrailRepo) -> SigningSetup:
    """The user's git signing configuration, read by git itself (includes and conditional includes apply)."""
    config = _git_config(repo)
    fmt = (config.get("gpg.format") or "openpgp").lower()
    if fmt not in _PROGRAMS:
        raise TrailError(f"gpg.format is {fmt!r}; git (and trail) sign with openpgp, x509 or ssh")
    program = config.get(f"gpg.{fmt}.program") or (config.get("gpg.program") if fmt == "openpgp" else None)
    return SigningSetup(
        fmt,
        program or _PROGRAMS[fmt],
        config.get("user.signingkey") or None,
        config.get("gpg.ssh.defaultkeycommand") or None,
    )


def sign_payload(repo: TrailRepo, setup: SigningSetup, payload: bytes) -> bytes:
    """The armored signature of `payload`, made as git makes it; TrailError saying why when the signer fails."""
    if setup.format == "ssh":
        return _sign_ssh(repo, setup, payload)
    key = setup.key
    if key is None:
        name, email = repo.user_identity()
        key = f"{name} <{email}>"  # git's default: the committer's identity
    done = _run([setup.program, "--status-fd=2", "-bsau", key], repo, payload)
    if done.returncode != 0 or b"[GNUPG:] SIG_CREATED " not in done.stderr or not done.stdout:
        raise TrailError(f"{setup.program} could not sign with key {key!r}: {_last_lines(done.stderr)}")
    return done.stdout.replace(b"\r\n", b"\n")


def _sign_ssh(repo: TrailRepo, setup: SigningSetup, payload: bytes) -> bytes:
    key = setup.key
    if key is None and setup.default_key_command:
        found = _run(["sh", "-c", setup.default_key_command], repo, None)
        key = found.stdout.decode("utf-8", "replace").split("\n")[0].strip() or None
    if key is None:
        raise TrailError(
            "gpg.format is ssh but no key is set: git config user.signingKey ~/.ssh/id_ed25519.pub "
            "(or set gpg.ssh.defaultKeyCommand)"
        )
    literal = key.startswith(("ssh-", "key::"))
    with tempfile.TemporaryDirectory(prefix="trail-sign-") as tmp:
        if literal:
            key_file = Path(tmp) / "key.pub"
            key_file.write_text(key.removeprefix("key::") + "\n")
        else:
            key_file = Path(os.path.expanduser(key))
            if not key_file.is_absolute():
                key_file = repo.workdir / key_file
        buffer = Path(tmp) / "payload"
        buffer.write_bytes(payload)
        args = [setup.program, "-Y", "sign", "-n", "git", "-f", os.fspath(key_file)]
        done = _run([*args, *(["-U"] if literal else []), os.fspath(buffer)], repo, None)
        signature = buffer.with_name("payload.sig")
        if done.returncode != 0 or not signature.exists():
            raise TrailError(f"{setup.program} could not sign with {key}: {_last_lines(done.stderr)}")
        return signature.read_bytes()


def sign_session(store: Store, session_id: str, expected_tip: str | None = None) -> str:
    """Sign the last step of a session and move its ref to the signed commit; returns the commit the ref points to.

    `expected_tip` is the step that ended the session: if the session went on since, it is not signed now (it will
    be when it ends again). A tip that is already signed is left as it is."""
    tip = store.tip_commit(session_id)
    if tip is None:
        raise TrailError(f"no session {session_id!r} to sign")
    if expected_tip and tip != expected_tip:
        raise TrailError(f"session {session_id} went on after the step that ended it; it is signed when it ends again")
    _, raw = store.git.odb.read(tip)
    if signature_of(raw) is not None:
        return tip
    step = store.load(tip, session_id)
    signature = sign_payload(store.repo, signing_setup(store.repo), raw)
    signed = str(store.git.odb.write(ObjectType.COMMIT, add_signature(raw, signature)))
    if not store.compare_and_swap(session_id, signed, tip, message="trail: sign session"):
        raise TrailError(f"{session_ref(session_id)} moved while it was being signed; it is signed when it ends again")
    store.index.retipped(session_id, step.n, tip, signed)
    return signed


# -- checking ---------------------------------------------------------------------------------------------------


def check_signature(repo: TrailRepo, commit: str, raw: bytes) -> SignatureCheck | None:
    """What `git verify-commit` says of `commit`'s signature; None when it carries none."""
    signature = signature_of(raw)
    if signature is None:
        return None
    fmt = signature_format(signature)
    try:
        done = subprocess.run(
            ["git", "verify-commit", "--raw", commit],
            cwd=repo.workdir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return SignatureCheck(UNCHECKED, fmt, f"git verify-commit took more than {TIMEOUT:.0f} s")
    except OSError as e:
        return SignatureCheck(UNCHECKED, fmt, f"git could not be run ({e})")
    out = (done.stderr + done.stdout).decode("utf-8", "replace")
    if fmt == "ssh":
        return _ssh_check(done.returncode, out)
    return _gpg_check(fmt, done.returncode, out)


def _ssh_check(returncode: int, out: str) -> SignatureCheck:
    good = next((line.strip() for line in out.splitlines() if line.startswith("Good ")), "")
    if returncode == 0:
        return SignatureCheck(GOOD, "ssh", good or "good signature")
    if "allowedSignersFile needs to be configured" in out:
        return SignatureCheck(
            UNCHECKED,
            "ssh",
            "set gpg.ssh.allowedSignersFile to a file listing the keys you trust (see `git help config`), then "
            "verify again",
        )
    if "No principal matched" in out or (good and "incorrect signature" not in out):
        return SignatureCheck(UNTRUSTED, "ssh", f"{good}, but gpg.ssh.allowedSignersFile does not list that key")
    if "cannot run" in out or "No such file or directory" in out:
        return SignatureCheck(UNCHECKED, "ssh", f"the ssh signing program could not be run: {_last_lines(out)}")
    return SignatureCheck(BAD, "ssh", _last_lines(out) or "the signature does not verify")


def _gpg_check(fmt: str, returncode: int, out: str) -> SignatureCheck:
    status: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("[GNUPG:] "):
            word, _, rest = line[9:].partition(" ")
            status.setdefault(word, rest)
    if "BADSIG" in status:
        return SignatureCheck(BAD, fmt, f"bad signature by {status['BADSIG']}")
    if "GOODSIG" in status:
        who = status["GOODSIG"]
        if returncode == 0:
            return SignatureCheck(GOOD, fmt, f"good signature by {who}")
        return SignatureCheck(UNTRUSTED, fmt, f"good signature by {who}, below gpg.minTrustLevel")
    if "NO_PUBKEY" in status or "ERRSIG" in status:
        key = (status.get("NO_PUBKEY") or status.get("ERRSIG") or "").split(" ")[0]
        return SignatureCheck(UNCHECKED, fmt, f"the signer's public key {key} is not in your keyring (gpg --import it)")
    if "cannot run" in out:
        return SignatureCheck(UNCHECKED, fmt, f"the signing program could not be run: {_last_lines(out)}")
    if returncode == 0:
        return SignatureCheck(GOOD, fmt, "good signature")
    return SignatureCheck(BAD, fmt, _last_lines(out) or "the signature does not verify")


# -- running programs -------------------------------------------------------------------------------------------


def _git_config(repo: TrailRepo) -> dict[str, str]:
    """The `gpg.*` and `user.*` settings in force in the repository (last value wins, as for git)."""
    try:
        done = subprocess.run(
            ["git", "config", "-z", "--get-regexp", r"^(gpg|user)\."],
            cwd=repo.workdir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TrailError(f"git config could not be read ({e})") from None
    config = {}
    for item in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        key, _, value = item.partition("\n")
        if key:
            config[key.lower()] = value
    return config


def _run(args: list[str], repo: TrailRepo, stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
    """A signer run with no terminal (its own session) and no input but `stdin`, for at most TIMEOUT seconds."""
    try:
        return subprocess.run(
            args,
            cwd=repo.workdir,
            env=clean_env(),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise TrailError(
            f"{args[0]} did not finish within {TIMEOUT:.0f} s (waiting for a passphrase? use a key held by an agent)"
        ) from None
    except OSError as e:
        raise TrailError(f"{args[0]} could not be run ({e}); set gpg.program or gpg.ssh.program") from None


def _last_lines(text: str | bytes, count: int = 3) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:])

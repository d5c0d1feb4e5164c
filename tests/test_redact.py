"""Tests for trail.capture.redact: every secret kind is caught where agents meet it, and ordinary text is left alone.

All secret values are fake and assembled here, so nothing in this file is a real credential.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import string
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trail.capture.redact import DEFAULT_RULES, Redactor, Rule
from trail.errors import ConfigError


def _b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _pem(label: str, body_line: str, lines: int = 3) -> str:
    body = "\n".join([body_line] * lines)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


AWS_ACCESS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"
AWS_TEMP_KEY = "ASIA" + "FAKE0123456789AB"
AWS_ROLE_ID = "AROA" + "FAKEFAKE01234567"
AWS_SECRET = "FakeSecret/" * 3 + "Key+Abc"
GITHUB_CLASSIC = "ghp_" + "Fake0123" * 4 + "Test"
GITHUB_OAUTH = "gho_" + "Fake0123" * 4 + "Oaut"
GITHUB_APP = "ghs_" + "Fake0123" * 5
GITHUB_FINE_GRAINED = "github_pat_" + "11FAKE0000_" + "Fake0123" * 7
ANTHROPIC_KEY = "sk-ant-api03-" + "Fake_0123-abc" * 7 + "AA"
OPENAI_LEGACY = "sk-" + "Fake0123" * 6
OPENAI_PROJECT = "sk-proj-" + "Fake_0123-Xy" * 12
SLACK_BOT = "xoxb-" + "1234567890-1234567890123-" + "FakeSlackTok3n"
SLACK_USER = "xoxp-" + "1234567890-" * 3 + "fake"
GOOGLE_KEY = "AIza" + "SyFake0123" * 3 + "abcde"
JWT = ".".join([_b64url({"alg": "HS256", "typ": "JWT"}), _b64url({"sub": "fake"}), "ZmFrZS1zaWduYXR1cmU"])
JWT_UNSIGNED = _b64url({"alg": "none"}) + "." + _b64url({"sub": "fake"}) + "."
PEM_LINE = "MIIEpAIBAAKCAQEA" + "FakeKeyMaterial0" * 3
PEM_RSA = _pem("RSA PRIVATE KEY", PEM_LINE)
PEM_EC = _pem("EC PRIVATE KEY", "MHcCAQEEIFake" + "0123456789" * 4)
PEM_OPENSSH = _pem("OPENSSH PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAA" + "FakeFake" * 5)
PEM_PKCS8 = _pem("PRIVATE KEY", "MIIEvQIBADANBgkqhkiG9w0BAQEFAAS" + "Fake" * 8)
PEM_ENCRYPTED = _pem("ENCRYPTED PRIVATE KEY", "MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq" + "Fake" * 8)
PEM_DSA_WITH_HEADERS = (
    "-----BEGIN DSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FAKE00\n\n"
    + PEM_LINE
    + "\n-----END DSA PRIVATE KEY-----"
)

# Secrets that are recognisable on their own, wherever they appear.
STANDALONE = [
    ("aws-access-key", AWS_ACCESS_KEY),
    ("aws-access-key", AWS_TEMP_KEY),
    ("aws-access-key", AWS_ROLE_ID),
    ("github-token", GITHUB_CLASSIC),
    ("github-token", GITHUB_OAUTH),
    ("github-token", GITHUB_APP),
    ("github-token", GITHUB_FINE_GRAINED),
    ("anthropic-key", ANTHROPIC_KEY),
    ("openai-key", OPENAI_LEGACY),
    ("openai-key", OPENAI_PROJECT),
    ("openai-key", "sk-svcacct-" + "Fake0123_-" * 4),
    ("slack-token", SLACK_BOT),
    ("slack-token", SLACK_USER),
    ("google-api-key", GOOGLE_KEY),
    ("jwt", JWT),
    ("jwt", JWT_UNSIGNED),
    ("private-key", PEM_RSA),
    ("private-key", PEM_EC),
    ("private-key", PEM_OPENSSH),
    ("private-key", PEM_PKCS8),
    ("private-key", PEM_ENCRYPTED),
    ("private-key", PEM_DSA_WITH_HEADERS),
]

# Each context returns the text and how the secret is spelled inside it (JSON escapes a PEM's newlines).
CONTEXTS: dict[str, Callable[[str], tuple[str, str]]] = {
    "prose": lambda s: (f"Here is the credential {s}, please keep it safe.\n", s),
    "json": lambda s: (
        json.dumps({"tool": "Bash", "env": {"TOKEN": s, "DEBUG": "1"}, "exit": 0}),
        json.dumps(s)[1:-1],
    ),
    "shell": lambda s: (f"export TOKEN='{s}' && curl -s -H \"X-Api-Key: $TOKEN\" https://api.example.com", s),
    "tool-output": lambda s: (
        f"$ cat .env\nDEBUG=1\nTOKEN={s}\nPORT=8080\n\n[process exited with code 0 in 0.31s]\n",
        s,
    ),
}


def redact(text: str) -> tuple[str, Counter[str]]:
    return Redactor().redact_text(text)


_STANDALONE_IDS = [f"{kind}-{i}" for i, (kind, _) in enumerate(STANDALONE)]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("kind", "secret"), STANDALONE, ids=_STANDALONE_IDS)
def test_standalone_secret_is_replaced_in_context(kind: str, secret: str, context: str) -> None:
    text, spelled = CONTEXTS[context](secret)
    out, counts = redact(text)
    assert out == text.replace(spelled, f"[REDACTED:{kind}]")
    assert counts == Counter({kind: 1})


def test_exact_output_in_prose() -> None:
    assert redact(f"use {ANTHROPIC_KEY} for evals")[0] == "use [REDACTED:anthropic-key] for evals"
    assert redact(f"AWS key id: {AWS_ACCESS_KEY}.")[0] == "AWS key id: [REDACTED:aws-access-key]."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
            "export AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-key]",
        ),
        (
            f"[default]\naws_access_key_id = {AWS_ACCESS_KEY}\n"
            f"aws_secret_access_key = {AWS_SECRET}\nregion = eu-west-1\n",
            "[default]\naws_access_key_id = [REDACTED:aws-access-key]\n"
            "aws_secret_access_key = [REDACTED:aws-secret-key]\nregion = eu-west-1\n",
        ),
        (
            f's3 = boto3.client("s3", aws_secret_access_key="{AWS_SECRET}")',
            's3 = boto3.client("s3", aws_secret_access_key="[REDACTED:aws-secret-key]")',
        ),
        (
            json.dumps({"aws_secret_access_key": AWS_SECRET}),
            '{"aws_secret_access_key": "[REDACTED:aws-secret-key]"}',
        ),
        (
            # What `aws sts assume-role` prints.
            json.dumps({"Credentials": {"AccessKeyId": AWS_TEMP_KEY, "SecretAccessKey": AWS_SECRET}}),
            '{"Credentials": {"AccessKeyId": "[REDACTED:aws-access-key]", '
            '"SecretAccessKey": "[REDACTED:aws-secret-key]"}}',
        ),
        ("aws_secret_access_key: " + AWS_SECRET + "\n", "aws_secret_access_key: [REDACTED:aws-secret-key]\n"),
    ],
)
def test_aws_secret_key_keeps_the_name(text: str, expected: str) -> None:
    assert redact(text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "curl -H 'Authorization: Bearer abc123' https://api.example.com/v1/me",
            "curl -H 'Authorization: Bearer [REDACTED:bearer-token]' https://api.example.com/v1/me",
        ),
        ('{"Authorization": "Bearer abc"}', '{"Authorization": "Bearer [REDACTED:bearer-token]"}'),
        (
            json.dumps({"headers": {"authorization": "bearer opaque-token_1.2~3/+=="}}),
            '{"headers": {"authorization": "bearer [REDACTED:bearer-token]"}}',
        ),
        (
            "GET /v1/items HTTP/1.1\nHost: api.example.com\nAUTHORIZATION: BEARER Zm9vYmFy\nAccept: */*\n",
            "GET /v1/items HTTP/1.1\nHost: api.example.com\nAUTHORIZATION: BEARER [REDACTED:bearer-token]\n"
            "Accept: */*\n",
        ),
        ("Proxy-Authorization: Bearer t0k3n", "Proxy-Authorization: Bearer [REDACTED:bearer-token]"),
    ],
)
def test_bearer_token_keeps_the_header(text: str, expected: str) -> None:
    out, counts = redact(text)
    assert out == expected
    assert counts == Counter({"bearer-token": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:s3cr3t@db:5432/x", "postgres://app:[REDACTED:url-password]@db:5432/x"),
        (
            "DATABASE_URL=postgresql+psycopg2://app_user:p%40ss-W0rd@db.internal:5432/app",
            "DATABASE_URL=postgresql+psycopg2://app_user:[REDACTED:url-password]@db.internal:5432/app",
        ),
        ("redis://:hunter2@localhost:6379/0", "redis://:[REDACTED:url-password]@localhost:6379/0"),
        (
            "mongodb+srv://admin:hunter2@cluster0.example.net/?retryWrites=true",
            "mongodb+srv://admin:[REDACTED:url-password]@cluster0.example.net/?retryWrites=true",
        ),
        ("https://user:p@ss@host.example/path", "https://user:[REDACTED:url-password]@host.example/path"),
        ('{"a":"redis://:pw@h","b":"x@y"}', '{"a":"redis://:[REDACTED:url-password]@h","b":"x@y"}'),
        (
            "$ git clone https://oauth2:glpat-fake@gitlab.example.com/org/repo.git\nCloning into 'repo'...",
            "$ git clone https://oauth2:[REDACTED:url-password]@gitlab.example.com/org/repo.git\n"
            "Cloning into 'repo'...",
        ),
    ],
)
def test_url_password_keeps_scheme_user_and_host(text: str, expected: str) -> None:
    out, counts = redact(text)
    assert out == expected
    assert counts == Counter({"url-password": 1})


def test_truncated_private_key_is_redacted_to_the_end() -> None:
    text = f"$ cat id_rsa\n-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_LINE}\n{PEM_LINE[:20]}"
    assert redact(text) == ("$ cat id_rsa\n[REDACTED:private-key]", Counter({"private-key": 1}))


def test_private_key_block_leaves_surrounding_output() -> None:
    text = f"before\n{PEM_RSA}\nafter {GITHUB_CLASSIC}\n"
    assert redact(text) == (
        "before\n[REDACTED:private-key]\nafter [REDACTED:github-token]\n",
        Counter({"private-key": 1, "github-token": 1}),
    )


def test_private_key_in_escaped_json_string() -> None:
    escaped = PEM_PKCS8.replace("\n", "\\n")
    text = f'{{"private_key": "{escaped}\\n", "client_email": "bot@example.com"}}'
    out, counts = redact(text)
    assert out == '{"private_key": "[REDACTED:private-key]\\n", "client_email": "bot@example.com"}'
    assert counts == Counter({"private-key": 1})


def test_pgp_private_key_block() -> None:
    block = f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{PEM_LINE}\n=Fake\n-----END PGP PRIVATE KEY BLOCK-----"
    assert redact(f"key:\n{block}\n")[0] == "key:\n[REDACTED:private-key]\n"


_UUID = str(uuid.UUID("0190a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d"))
_RANDOM_BASE64 = base64.b64encode(random.Random(7).randbytes(3000)).decode()

NEGATIVES = [
    "task-ant",
    "the task-ant-colony-simulation-framework-v2 branch is merged",
    "sk-",
    "sk-1234",
    "sk-ant-short",
    "sk-ant-",
    '<div class="sk-fading-circle-animation-delay"></div>',
    "a risk-free-refactoring-of-the-whole-module",
    "git@github.com:org/repo.git",
    "ssh://git@github.com/org/repo.git",
    "http://localhost:8080/",
    "https://example.com:443/search?q=a:b@c",
    "http://[::1]:8080/health",
    "mail someone@example.com or user@host",
    "see https://docs.example.com/a/b:c",
    _UUID,
    "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
    base64.b64encode(bytes(range(256))).decode(),
    _RANDOM_BASE64,
    _b64url({"sub": "fake"}),
    _b64url({"alg": "none"}) + "." + _b64url({"sub": "fake"}),
    "AKIA",
    "the AKIA prefix marks a long-term key",
    "AKIA" + "ABCDEFGHIJKLMNOPQRST",
    "XAKIA" + "ABCDEFGHIJKLMNOP",
    "AKIA" + "abcdefghijklmnop",
    "the ghp_ prefix and gho_short",
    "xoxb-short",
    "AIza" + "x" * 10,
    "Authorization: Bearer $TOKEN",
    'curl -H "Authorization: Bearer ${GITHUB_TOKEN}" https://api.github.com',
    'headers = {"Authorization": f"Bearer {token}"}',
    "Authorization: Bearer <your token>",
    "send an `Authorization: Bearer` header",
    "aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']",
    "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY",
    'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):',
    'pem = "-----BEGIN PRIVATE KEY-----\\n" + body + "\\n-----END PRIVATE KEY-----\\n"',
    "A file starts with -----BEGIN OPENSSH PRIVATE KEY----- and ends with the END line.",
    _pem("PUBLIC KEY", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A" + "Fake" * 8),
    _pem("CERTIFICATE", "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkq" + "Fake" * 8),
    "def sk_ant_helper(token: str) -> None: ...",
    "[REDACTED:github-token] was already redacted",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == (text, Counter())


def test_counts_every_secret_by_kind() -> None:
    text = f"{AWS_ACCESS_KEY} {AWS_TEMP_KEY}\n{GITHUB_CLASSIC}\npostgres://u:pw@db/x and {AWS_ACCESS_KEY}"
    out, counts = redact(text)
    assert counts == Counter({"aws-access-key": 3, "github-token": 1, "url-password": 1})
    assert out.count("[REDACTED:aws-access-key]") == 3


def test_more_specific_rules_win() -> None:
    assert redact(ANTHROPIC_KEY) == ("[REDACTED:anthropic-key]", Counter({"anthropic-key": 1}))
    assert redact(f"Authorization: Bearer {JWT}")[0] == "Authorization: Bearer [REDACTED:jwt]"
    assert redact(f"Authorization: Bearer {OPENAI_LEGACY}") == (
        "Authorization: Bearer [REDACTED:openai-key]",
        Counter({"openai-key": 1}),
    )
    assert redact(f"https://x-access-token:{GITHUB_APP}@github.com/o/r.git") == (
        "https://x-access-token:[REDACTED:github-token]@github.com/o/r.git",
        Counter({"github-token": 1}),
    )
    kinds = [rule.kind for rule in DEFAULT_RULES]
    assert kinds.index("anthropic-key") < kinds.index("openai-key")


_MARKER_CONTEXTS = [
    "{m}",
    "Authorization: Bearer {m}",
    '"Authorization": "Bearer {m}"',
    "postgres://app:{m}@db:5432/x",
    "AWS_SECRET_ACCESS_KEY={m}",
    "sk-{m}",
    "{m}.{m}.{m}",
]


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.kind)
def test_no_rule_matches_a_marker(rule: Rule) -> None:
    for kind in {r.kind for r in DEFAULT_RULES} | {"custom"}:
        for context in _MARKER_CONTEXTS:
            text = context.format(m=f"[REDACTED:{kind}]")
            match = rule.pattern.search(text)
            assert match is None or match.group(rule.group) is None, (rule.kind, text)


def test_redact_value_walks_nested_structures_without_mutating() -> None:
    value = {
        "tool": "Bash",
        "input": {"command": f"gh auth login --with-token {GITHUB_CLASSIC}", "timeout": 30},
        GITHUB_OAUTH: ["key", AWS_ACCESS_KEY, 1, 2.5, True, None, ("nested", (ANTHROPIC_KEY,))],
        7: "int key kept",
    }
    before = copy.deepcopy(value)
    out, counts = Redactor().redact_value(value)
    assert value == before
    assert out == {
        "tool": "Bash",
        "input": {"command": "gh auth login --with-token [REDACTED:github-token]", "timeout": 30},
        "[REDACTED:github-token]": [
            "key",
            "[REDACTED:aws-access-key]",
            1,
            2.5,
            True,
            None,
            ["nested", ["[REDACTED:anthropic-key]"]],
        ],
        7: "int key kept",
    }
    assert counts == Counter({"github-token": 2, "aws-access-key": 1, "anthropic-key": 1})
    assert out["input"] is not value["input"]


@pytest.mark.parametrize("scalar", [None, True, False, 0, 42, -1.5, ""])
def test_redact_value_leaves_scalars(scalar: object) -> None:
    assert Redactor().redact_value(scalar) == (scalar, Counter())


def test_extra_patterns_are_custom_rules_on_top_of_defaults() -> None:
    redactor = Redactor.with_extra_patterns([r"ACME-[0-9]{6}", r"internal\.corp/\w+"])
    out, counts = redactor.redact_text(f"ticket ACME-123456 at internal.corp/secret with {AWS_ACCESS_KEY}")
    assert out == "ticket [REDACTED:custom] at [REDACTED:custom] with [REDACTED:aws-access-key]"
    assert counts == Counter({"custom": 2, "aws-access-key": 1})


def test_bad_extra_pattern_raises_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as excinfo:
        Redactor.with_extra_patterns([r"ok-[0-9]+", r"token=(unclosed"])
    message = str(excinfo.value)
    assert "token=(unclosed" in message
    assert "redact.pattern" in message
    assert ".git/trail/config" in message


def test_a_single_extra_pattern_string_is_one_pattern() -> None:
    redactor = Redactor.with_extra_patterns("ACME-[0-9]+")
    assert redactor.redact_text("a ACME-42 b") == ("a [REDACTED:custom] b", Counter({"custom": 1}))


def test_extra_pattern_matching_empty_text_inserts_nothing() -> None:
    redactor = Redactor.with_extra_patterns([r"x*"])
    assert redactor.redact_text("abc xx def") == ("abc [REDACTED:custom] def", Counter({"custom": 1}))


def test_extra_pattern_never_rematches_markers() -> None:
    redactor = Redactor.with_extra_patterns([r"REDACTED", r"\[.*?\]"])
    once, counts = redactor.redact_text(f"id {AWS_ACCESS_KEY}")
    assert (once, counts) == ("id [REDACTED:aws-access-key]", Counter({"aws-access-key": 1}))
    assert redactor.redact_text(once) == (once, Counter())


def test_rule_group_keeps_text_outside_it() -> None:
    redactor = Redactor([Rule("session-cookie", re.compile(r"session=([0-9a-f]{16,})"), group=1)])
    text = "Set-Cookie: session=0123456789abcdef0123; Path=/"
    assert redactor.redact_text(text) == (
        "Set-Cookie: session=[REDACTED:session-cookie]; Path=/",
        Counter({"session-cookie": 1}),
    )


def test_near_misses_in_megabytes_are_linear() -> None:
    near_misses = (
        "sk-ant-short task-ant-colony sk-1234 AKIA" + "B" * 15 + " ghp_short xoxb-1 AIzaShort "
        "eyJhbGciOiJub25lIn0.eyJ eyJ-eyJ "
        '-----BEGIN RSA PRIVATE KEY----- -----BEGIN PRIVATE KEY-----\n"\n '
        'Authorization: Bearer\nauthorization: "$TOKEN" aws_secret_access_key=short '
        "http://host:8080/a a://b:c/d git@github.com:o/r.git user@host\n"
    )
    runs = ["a" * 100_000, "eyJ" + "a" * 100_000, "a://b:" + "c" * 100_000, "AKIA" * 25_000, "x:" * 50_000]
    text = near_misses * (5_000_000 // len(near_misses)) + "".join(runs)
    started = time.perf_counter()
    out, counts = redact(text)
    elapsed = time.perf_counter() - started
    assert out == text
    assert counts == Counter()
    # Generous: this guards against quadratic or exponential backtracking, which would take minutes.
    assert elapsed < 10, f"redacting 5 MB of near-misses took {elapsed:.1f}s"


_FRAGMENTS = [
    AWS_ACCESS_KEY,
    AWS_SECRET,
    GITHUB_CLASSIC,
    GITHUB_FINE_GRAINED,
    ANTHROPIC_KEY,
    OPENAI_PROJECT,
    SLACK_BOT,
    GOOGLE_KEY,
    JWT,
    PEM_RSA,
    "-----BEGIN EC PRIVATE KEY-----\n",
    "-----END EC PRIVATE KEY-----",
    "AKIA",
    "sk-",
    "sk-ant-",
    "ghp_",
    "xoxb-",
    "AIza",
    "eyJ",
    ".",
    "Authorization: Bearer ",
    '"Authorization": "Bearer ',
    "aws_secret_access_key=",
    "postgres://",
    "://",
    ":",
    "@",
    "[REDACTED:jwt]",
    "[REDACTED:",
    "]",
    "\n",
    " ",
    "-",
    "_",
    "'",
    '"',
]
_ALNUM = string.ascii_letters + string.digits
_secretish_text = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(alphabet=_ALNUM, max_size=20)),
    max_size=30,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_secretish_text)
def test_redacting_twice_is_the_same_as_once(text: str) -> None:
    redactor = Redactor()
    once, _ = redactor.redact_text(text)
    assert redactor.redact_text(once) == (once, Counter())


@given(st.text(alphabet=string.ascii_letters + string.digits + " \n\t,;!?()'", max_size=300))
def test_text_without_secrets_is_unchanged(text: str) -> None:
    # Without `-_.:=/` only an AWS key id or a Google key could form here, and each needs an exact prefix and
    # length that random text does not produce: what this checks is that prose-like text is never touched.
    assert redact(text) == (text, Counter())


@settings(deadline=None)
@given(
    st.sampled_from([secret for _, secret in STANDALONE]),
    _secretish_text,
    _secretish_text,
)
def test_a_standalone_secret_never_survives_its_surroundings(secret: str, before: str, after: str) -> None:
    assume(secret not in before and secret not in after)
    out, _ = redact(f"{before} {secret} {after}")
    assert secret not in out


def test_redaction_repeats_until_nothing_more_matches() -> None:
    # The custom match hides the character that kept the key's boundary check from matching on the first pass.
    redactor = Redactor.with_extra_patterns([r"ACME"])
    out, counts = redactor.redact_text(f"ACME{ANTHROPIC_KEY}")
    assert out == "[REDACTED:custom][REDACTED:anthropic-key]"
    assert counts == Counter({"custom": 1, "anthropic-key": 1})
    assert redactor.redact_text(out) == (out, Counter())

"""The catalog of secrets trail redacts: one `Rule` per kind, saying what the secret looks like and how to find it fast.

Prefixes, lengths and alphabets are taken from maintained rule sets rather than guessed: gitleaks (its
`config/gitleaks.toml` and the rule generators in `cmd/generate/config/rules/`, noted "gitleaks" below), Yelp's
detect-secrets plugins ("detect-secrets"), and for a few formats the generators of betterleaks, a fork of gitleaks
("betterleaks"), or the vendor's own documentation where no rule set has the format yet. The generic rules (an
`Authorization` header, a URL's password, `PASSWORD=…`) tell secrets from placeholders with `placeholders.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from trail.capture.placeholders import is_filler, is_generic_secret, is_placeholder

__all__ = ["DEFAULT_RULES", "Rule", "secret_name_kind"]

Check = Callable[[str, re.Match[str]], bool]
Group = int | str | tuple[int | str, ...]


class Rule:
    """One kind of secret: `pattern` finds it and `group` says which part of a match is the secret.

    Text of the match outside `group` (a header name, a URL's user and host) is kept as it is; `group` may name
    several groups, of which the first that took part in the match is the secret. `keywords`, in lower case, are
    strings one of which every match contains (in any case): text with none of them is not searched by this rule at
    all. A rule without keywords (a user's pattern) searches every text.

    With `anchor` set, every keyword starts exactly `anchor` characters after the start of a match, so the rule
    is tried only where the keyword pass found one of its keywords (`pattern.match` at that place) instead of
    being searched for through the whole text; that is what keeps dozens of rules at the cost of one. `check`, when
    given, sees the secret and its match and may turn the match down (a placeholder, a value too plain to be a
    secret). The pattern is compiled on first use, so a process pays only for the rules its text calls for.
    """

    __slots__ = ("_compiled", "_flags", "_source", "anchor", "check", "group", "keywords", "kind")

    def __init__(
        self,
        kind: str,
        pattern: str | re.Pattern[str],
        group: Group = 0,
        keywords: Iterable[str] = (),
        *,
        anchor: int | None = None,
        check: Check | None = None,
        flags: int = 0,
    ) -> None:
        self.kind = kind
        self.group = group
        self.keywords: tuple[str, ...] = tuple(keywords)
        self.anchor = anchor
        self.check = check
        self._flags = flags
        if isinstance(pattern, str):
            self._source: str = pattern
            self._compiled: re.Pattern[str] | None = None
        else:
            self._source = pattern.pattern
            self._compiled = pattern

    @property
    def pattern(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return compiled

    def secret_span(self, match: re.Match[str]) -> tuple[int, int]:
        """Where the secret is in `match`: (-1, -1) when the group did not take part."""
        if isinstance(self.group, tuple):
            for group in self.group:
                if match.start(group) >= 0:
                    return match.span(group)
            return -1, -1
        return match.span(self.group)

    def __repr__(self) -> str:
        return f"Rule({self.kind!r}, {self._source!r})"


# -- checks: turn a match down when it is a stand-in, not a secret -------------------------------------------------


def _token(secret: str, match: re.Match[str]) -> bool:
    """A token in a vendor's format, unless it is filler (`ghp_xxxx…`)."""
    return not is_filler(secret)


def _aws_key_id(secret: str, match: re.Match[str]) -> bool:
    # AWS's documentation writes its example key ids with the suffix EXAMPLE (AKIAIOSFODNN7EXAMPLE); gitleaks
    # allows `.+EXAMPLE$` for the same reason.
    return not secret.endswith("EXAMPLE") and not is_filler(secret)


def _openai_key(secret: str, match: re.Match[str]) -> bool:
    # A real key's random part has an upper-case letter, or is all letters and digits with a digit (the legacy
    # `sk-` + 48 alphanumerics); kebab-case names that start with `sk-` (SpinKit's `sk-fading-circle`, a package
    # `sk-learn-0-24-compat`) have neither.
    body = match.group("body")
    if is_filler(secret):
        return False
    if any(c.isupper() for c in body):
        return True
    return any(c.isdigit() for c in body) and "-" not in body and "_" not in body


def _mailgun_key(secret: str, match: re.Match[str]) -> bool:
    # Mailgun's private keys are `key-` and 32 lower-case letters and digits (its documentation's example has
    # letters past `f`); `key-` and 32 hex digits is as often a cache key holding an md5, so that shape counts
    # only where the text says mailgun, as gitleaks requires for all of them.
    body = match.group(1)
    if is_filler(secret) or not any(c.isdigit() for c in body):
        return False
    if any(c > "f" for c in body):
        return True
    return "mailgun" in match.string[max(0, match.start() - 200) : match.start()].lower()


def _header_value(secret: str, match: re.Match[str]) -> bool:
    # After `Authorization: Bearer` anything is a credential except a stand-in: a placeholder or a constant's name
    # (`Bearer YOUR_TOKEN`, `Bearer API_KEY`).
    return not is_placeholder(secret) and not re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*", secret)


def _credentials(user: str, password: str) -> bool:
    """A user and password worth redacting: not a placeholder, not a number, not the user's own name again.

    A password equal to the user (`postgres:postgres`, `guest:guest`, `1000:1000` in `docker -u`) is a well-known
    default or not a password at all.
    """
    from urllib.parse import unquote  # checks run only on candidate secrets: keep it out of the import

    password = password.strip("\"'")
    if is_placeholder(password) or is_placeholder(unquote(password)) or password.isdigit():
        return False
    return not (user and password.lower() == user.lower())


def _url_password(secret: str, match: re.Match[str]) -> bool:
    return _credentials(match.group("user"), secret)


def _basic_auth(secret: str, match: re.Match[str]) -> bool:
    import base64
    import binascii

    try:
        decoded = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return _header_value(secret, match)
    user, colon, password = decoded.partition(":")
    if not colon:
        return _header_value(secret, match) and not is_placeholder(decoded)
    return _credentials(user, password)


def _curl_user(secret: str, match: re.Match[str]) -> bool:
    # `-u user:password` means credentials to curl; to docker, ps or sort it means something else (gitleaks'
    # curl-auth-user rule also asks for curl on the line).
    line_start = match.string.rfind("\n", 0, match.start()) + 1
    return "curl" in match.string[line_start : match.start()] and _credentials(match.group("user"), secret)


def _sas_signature(secret: str, match: re.Match[str]) -> bool:
    # A `sig=` is an Azure SAS signature when the same query string has the SAS version or expiry (`sv=`, `se=`).
    text = match.string
    left = max(text.rfind(c, 0, match.start()) for c in " \t\n\"'<>")
    right = min((i for i in (text.find(c, match.end()) for c in " \t\n\"'<>") if i >= 0), default=len(text))
    return bool(re.search(r"(?:^|[?&;])s[ve]=", text[left + 1 : right])) and not is_filler(secret)


# -- building blocks -------------------------------------------------------------------------------------------------

# Not preceded / followed by a character of the token's own alphabet, so a match is the whole token.
_L = r"(?<![A-Za-z0-9_])"
_L_DASH = r"(?<![A-Za-z0-9_-])"
_R = r"(?![A-Za-z0-9_])"
_R_DASH = r"(?![A-Za-z0-9_-])"
_R_B64 = r"(?![A-Za-z0-9+/=_-])"


def _prefixed(
    kind: str, pattern: str, keywords: Iterable[str], *, group: Group = 0, check: Check | None = _token
) -> Rule:
    """A token that starts with one of `keywords`: tried only where the keyword pass found one."""
    return Rule(kind, pattern, group, keywords, anchor=0, check=check)


# -- the rules, most specific first: a rule only sees text the rules before it left unredacted ---------------------

_PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
# A line break as it appears in a raw PEM file, or escaped inside a JSON or source string.
_LINE_BREAK = r"(?:\r?\n|(?:\\r)?\\n)"

PRIVATE_KEY = Rule(
    "private-key",
    rf"-----BEGIN {_PEM_LABEL}"
    # Only a header followed by key material (a base64 line, or a `Proc-Type:`/`Version:` header) opens a block,
    # so code or prose that merely names the header is not redacted to the end of the text.
    rf"(?=[ \t]*(?:{_LINE_BREAK}[ \t]*)+(?:[A-Za-z0-9+/=]{{16}}|[A-Za-z][A-Za-z-]*:))"
    # Without an END line (truncated tool output) everything after the header may be key material.
    rf".*?(?:-----END {_PEM_LABEL}|\Z)",
    keywords=("-----begin",),
    anchor=0,
    flags=re.DOTALL,
)
# gitleaks aws-access-token (prefixes), detect-secrets aws (AGPA, AIDA, AROA, ...).
AWS_ACCESS_KEY = _prefixed(
    "aws-access-key",
    rf"{_L}(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{{16}}(?![A-Za-z0-9])",
    ("a3t", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa", "asca"),
    check=_aws_key_id,
)
AWS_SECRET_KEY = Rule(
    "aws-secret-key",
    # Also catches `SecretAccessKey`, as `aws sts` and `aws iam create-access-key` print it in JSON; the name is
    # not anchored on the left, so `aws_`, `AWS_` or another S3 provider's prefix may precede it.
    r"secret_?access_?key[\"']?[ \t]*[:=][ \t]*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    1,
    ("secret_access_key", "secretaccesskey", "secret_accesskey", "secretaccess_key"),
    anchor=0,
    flags=re.IGNORECASE,
)
# gitleaks github-pat, github-oauth, github-app-token, github-refresh-token (36 alphanumerics), github-fine-grained-pat.
GITHUB_TOKEN = _prefixed(
    "github-token",
    rf"{_L}(?:gh[pousr]_[A-Za-z0-9]{{36,}}|github_pat_[A-Za-z0-9_]{{22,}})",
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
)
# gitleaks gitlab-* rules (lengths per token type; routable tokens end in `.` and 9 characters), detect-secrets
# gitlab_token (20 to 50 characters for the others).
GITLAB_TOKEN = _prefixed(
    "gitlab-token",
    rf"{_L}(?:gl(?:pat|dt|rt|ft|soat|ffct)-[A-Za-z0-9_-]{{20,300}}(?:\.[0-9a-z]{{9}})?"
    rf"|glimt-[A-Za-z0-9_-]{{25}}|glagent-[A-Za-z0-9_-]{{50}}|gloas-[A-Za-z0-9_-]{{64}}|glptt-[0-9a-f]{{40}}"
    rf"|glcbt-[0-9A-Za-z]{{1,5}}_[A-Za-z0-9_-]{{20}}|GR1348941[A-Za-z0-9_-]{{20}}){_R_DASH}",
    ("glpat-", "gldt-", "glrt-", "glft-", "glsoat-", "glffct-", "glimt-", "glagent-", "gloas-", "glptt-", "glcbt-")
    + ("gr1348941",),
)
ANTHROPIC_KEY = _prefixed(
    "anthropic-key",
    # gitleaks has `sk-ant-api03-`, `-admin01-`, `-oat01-`, `-ort01-` with 93 characters and `AA` for keys:
    # anything after `sk-ant-` that is long enough is taken, so a new key version is not missed.
    rf"{_L_DASH}sk-ant-[A-Za-z0-9_-]{{20,}}",
    ("sk-ant-",),
)
# gitleaks openrouter-api-key: `sk-or-v1-` and 64 hex digits.
OPENROUTER_KEY = _prefixed("openrouter-key", rf"{_L_DASH}sk-or-(?:v[0-9]+-)?[a-f0-9]{{64}}{_R_DASH}", ("sk-or-",))
OPENAI_KEY = _prefixed(
    "openai-key",
    # gitleaks asks for the `T3BlbkFJ` marker inside the key; keys are matched without it here, and the check
    # keeps kebab-case look-alikes out.
    rf"{_L_DASH}sk-(?!ant-)(?:proj-|svcacct-|admin-)?(?P<body>[A-Za-z0-9_-]{{20,}})",
    ("sk-",),
    check=_openai_key,
)
# gitleaks stripe-access-token; `whsec_` webhook signing secrets from Stripe's documentation.
STRIPE_KEY = _prefixed(
    "stripe-key",
    rf"{_L}(?:[sr]k_(?:live|test|prod)_[A-Za-z0-9]{{10,99}}|whsec_[A-Za-z0-9+/=]{{24,}}){_R}",
    ("sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "whsec_"),
)
# gitleaks slack-bot-token, -user-token, -legacy-*, -config-*, -app-token; detect-secrets slack.
SLACK_TOKEN = _prefixed(
    "slack-token",
    rf"{_L_DASH}(?:xox[bpose]-[0-9][A-Za-z0-9-]{{9,}}|xox[ar]-[A-Za-z0-9-]{{8,}}"
    rf"|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{{100,}}|xapp-[0-9]-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]+)",
    ("xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxe-", "xoxa-", "xoxr-", "xoxe.", "xapp-"),
)
# gitleaks slack-webhook-url, detect-secrets slack (`/services/T…/B…/…`): the path after `services/` is the secret.
SLACK_WEBHOOK = _prefixed(
    "slack-webhook",
    r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_+/-]{20,})(?![A-Za-z0-9_+/-])",
    ("hooks.slack.com/",),
    group=1,
)
# gitleaks gcp-api-key.
GOOGLE_API_KEY = _prefixed("google-api-key", rf"{_L_DASH}AIza[0-9A-Za-z_-]{{35}}{_R_DASH}", ("aiza",))
# gitleaks npm-access-token; detect-secrets npm for the `.npmrc` `_authToken=` and `_auth=` lines.
NPM_TOKEN = _prefixed("npm-token", rf"{_L}npm_[A-Za-z0-9]{{36}}{_R}", ("npm_",))
NPMRC_AUTH = _prefixed(
    "npm-token",
    r":_auth(?:Token)?[ \t]*=[ \t]*[\"']?([^\s\"']{8,})",
    (":_authtoken=", ":_auth="),
    group=1,
    check=lambda secret, match: not is_placeholder(secret) and not is_filler(secret),
)
# gitleaks pypi-upload-token (pypi.org), detect-secrets pypi_token (also test.pypi.org).
PYPI_TOKEN = _prefixed(
    "pypi-token",
    rf"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{{50,}}{_R_DASH}",
    ("pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"),
)
# gitleaks huggingface-access-token and huggingface-organization-api-token: 34 letters.
HUGGINGFACE_TOKEN = _prefixed("huggingface-token", rf"{_L}(?:hf|api_org)_[A-Za-z]{{34}}{_R}", ("hf_", "api_org_"))
# detect-secrets sendgrid: `SG.` 22 `.` 43.
SENDGRID_KEY = _prefixed("sendgrid-key", rf"{_L}SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_R_DASH}", ("sg.",))
# gitleaks twilio-api-key: `SK` and 32 hex digits. Its keyword `sk` (or `sk` and a hex digit) turns up in every few
# kilobytes of base64 (thinking signatures, images) and in random ids, so, like gitleaks' rules for formats with no
# prefix of their own, this one searches only text that says twilio (`TWILIO_API_KEY=`, `api.twilio.com`).
TWILIO_API_KEY = Rule(
    "twilio-api-key", rf"SK(?<![A-Za-z0-9_]SK)[0-9a-fA-F]{{32}}{_R}", keywords=("twilio",), check=_token
)
# An auth token is 32 hex digits with nothing of its own to recognise it by: it is taken right after an account
# SID (`AC` and 32 hex digits, detect-secrets twilio), as `Client(sid, token)` and `curl -u sid:token` write it, in
# text that says twilio (hex strings and UUIDs are full of `ac` and a hex digit, so that is no keyword), or after a
# name that says twilio.
TWILIO_AUTH_TOKEN = Rule(
    "twilio-auth-token",
    rf"AC(?<![A-Za-z0-9_]AC)[0-9a-f]{{32}}[\"']?[ \t]*[:,][ \t]*[\"']?([0-9a-f]{{32}}){_R}",
    1,
    ("twilio",),
    check=_token,
)
TWILIO_AUTH_TOKEN_BY_NAME = Rule(
    "twilio-auth-token",
    r"twilio[A-Za-z0-9_.-]{0,20}?auth[_.-]?token[\"']?[ \t]*[:=][ \t]*[\"']?([0-9a-f]{32})(?![A-Za-z0-9_])",
    1,
    ("twilio",),
    anchor=0,
    check=_token,
    flags=re.IGNORECASE,
)
# gitleaks databricks-api-token.
DATABRICKS_TOKEN = _prefixed("databricks-token", rf"{_L}dapi[0-9a-f]{{32}}(?:-[0-9])?{_R_DASH}", ("dapi",))
MAILGUN_KEY = _prefixed("mailgun-key", rf"{_L_DASH}key-([0-9a-z]{{32}}){_R_DASH}", ("key-",), check=_mailgun_key)
# detect-secrets mailchimp, gitleaks mailchimp-api-key: 32 hex digits, `-us` and the data center's number. The
# keyword is the `-us` part, so the rule is tried 32 characters before it.
MAILCHIMP_KEY = Rule(
    "mailchimp-key",
    r"(?<![A-Za-z0-9])[0-9a-f]{32}-us[0-9]{1,2}(?![A-Za-z0-9])",
    keywords=tuple(f"-us{d}" for d in "0123456789"),
    anchor=32,
    check=_token,
)
# gitleaks shopify-access-token, -custom-access-token, -private-app-access-token, -shared-secret.
SHOPIFY_TOKEN = _prefixed(
    "shopify-token", rf"{_L}shp(?:at|ca|pa|ss)_[a-fA-F0-9]{{32}}{_R}", ("shpat_", "shpca_", "shppa_", "shpss_")
)
# gitleaks atlassian-api-token.
ATLASSIAN_TOKEN = _prefixed("atlassian-token", rf"{_L}ATATT3[A-Za-z0-9_=-]{{186}}(?![A-Za-z0-9_=-])", ("atatt3",))
# gitleaks digitalocean-pat, -access-token, -refresh-token.
DIGITALOCEAN_TOKEN = _prefixed(
    "digitalocean-token", rf"{_L}do[opr]_v1_[a-f0-9]{{64}}{_R}", ("dop_v1_", "doo_v1_", "dor_v1_")
)
# gitleaks doppler-api-token (`dp.pt.` and 43 alphanumerics); the other prefixes are those of Doppler's token
# formats page (service, CLI, service account, SCIM, audit), whose service tokens carry the config's name.
DOPPLER_TOKEN = _prefixed(
    "doppler-token",
    r"(?<![A-Za-z0-9_.])dp\.(?:pt|st|ct|sa|scim|audit)\.(?:[A-Za-z0-9_-]{1,60}\.)?[A-Za-z0-9]{40,44}(?![A-Za-z0-9_])",
    ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim.", "dp.audit."),
)
# gitleaks postman-api-token.
POSTMAN_KEY = _prefixed("postman-key", rf"{_L}PMAK-[a-fA-F0-9]{{24}}-[a-fA-F0-9]{{34}}{_R}", ("pmak-",))
# gitleaks linear-api-key.
LINEAR_KEY = _prefixed("linear-key", rf"{_L}lin_api_[A-Za-z0-9]{{40}}{_R}", ("lin_api_",))
# gitleaks notion-api-token (`ntn_`, 11 digits, 35 alphanumerics); `secret_` and 43 alphanumerics is the
# internal-integration token Notion issued before `ntn_` (its API documentation).
NOTION_TOKEN = _prefixed(
    "notion-token", rf"{_L}(?:ntn_[0-9]{{11}}[A-Za-z0-9]{{35}}|secret_[A-Za-z0-9]{{43}}){_R}", ("ntn_", "secret_")
)
# gitleaks groq-api-key has 48 characters, betterleaks 52: both are taken.
GROQ_KEY = _prefixed("groq-key", rf"{_L}gsk_[A-Za-z0-9]{{48,52}}{_R}", ("gsk_",))
# gitleaks replicate-api-token has 40 characters after `r8_`; tokens of 37 (40 in all) are seen too.
REPLICATE_TOKEN = _prefixed("replicate-token", rf"{_L}r8_[A-Za-z0-9]{{37,40}}{_R}", ("r8_",))
# gitleaks xai-api-key, perplexity-api-key.
XAI_KEY = _prefixed("xai-key", rf"{_L_DASH}xai-[A-Za-z0-9]{{80}}{_R}", ("xai-",))
PERPLEXITY_KEY = _prefixed("perplexity-key", rf"{_L_DASH}pplx-[A-Za-z0-9]{{48}}{_R}", ("pplx-",))
# detect-secrets telegram_token: a bot id of 8 to 10 digits, `:`, 35 characters (gitleaks: starting with `A`;
# every token BotFather issues starts with `AA`). The bot id is public and stays; the part after `:` goes.
TELEGRAM_BOT_TOKEN = _prefixed(
    "telegram-bot-token",
    rf":(?<=[0-9]{{8}}:)(?<![0-9]{{11}}:)(AA[A-Za-z0-9_-]{{33}}){_R_DASH}",
    (":aa",),
    group=1,
)
# The webhook's id stays, its token goes (discord.js and discohook validate the same shape).
DISCORD_WEBHOOK = _prefixed(
    "discord-webhook",
    r"discord(?:app)?\.com/api/(?:v[0-9]+/)?webhooks/[0-9]{17,20}/([A-Za-z0-9_-]{60,80})(?![A-Za-z0-9_-])",
    ("discord.com/api/", "discordapp.com/api/"),
    group=1,
)
# detect-secrets discord: the user id in base64 (`M`, `N`, or now `O`), a timestamp, an HMAC. Nothing in it is
# constant, so the rule searches only text that says discord (gitleaks' discord rules ask the same).
DISCORD_TOKEN = Rule(
    "discord-token",
    r"(?<![A-Za-z0-9_.-])[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}(?![A-Za-z0-9_.-])",
    keywords=("discord",),
    check=_token,
)
# gitleaks square-access-token and square-secret, detect-secrets square_oauth. `EAAA` tokens may sit at the
# start of a base64 blob's line: a base64 character on either side rules that out.
SQUARE_TOKEN = _prefixed(
    "square-token",
    rf"{_L_DASH}sq0(?:atp-[A-Za-z0-9_-]{{22,60}}|csp-[A-Za-z0-9_-]{{43}}){_R_DASH}",
    ("sq0atp-", "sq0csp-"),
)
SQUARE_EAAA_TOKEN = _prefixed("square-token", rf"(?<![A-Za-z0-9+/=_-])EAAA[A-Za-z0-9_-]{{22,60}}{_R_B64}", ("eaaa",))
# gitleaks facebook-page-access-token.
FACEBOOK_TOKEN = _prefixed(
    "facebook-token", rf"(?<![A-Za-z0-9+/=_-])EAA[MC][A-Za-z0-9]{{100,}}{_R_B64}", ("eaam", "eaac")
)
# gitleaks heroku-api-key-v2, and heroku-api-key for the older UUIDs, which only a name that says heroku marks.
HEROKU_KEY = _prefixed("heroku-key", rf"{_L_DASH}HRKU-AA[0-9A-Za-z_-]{{58}}{_R_DASH}", ("hrku-aa",))
HEROKU_KEY_BY_NAME = Rule(
    "heroku-key",
    r"heroku[A-Za-z0-9_.-]{0,20}[\"']?[ \t]*(?::=|=>|[:=])[ \t]*[\"']?"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![A-Za-z0-9_-])",
    1,
    ("heroku",),
    anchor=0,
    check=_token,
    flags=re.IGNORECASE,
)
# detect-secrets hashicorp_vault_token (`hvs.`, `hvb.`, `hvr.` and 24 or more characters; gitleaks has 90 to 120
# for today's `hvs.` tokens).
VAULT_TOKEN = _prefixed("vault-token", rf"{_L}hv[sbr]\.[A-Za-z0-9_-]{{24,}}{_R_DASH}", ("hvs.", "hvb.", "hvr."))
# gitleaks 1password-service-account-token. (Its 1password-secret-key, `A3-…`, is left out: `a3-` ends half the
# hex groups of UUIDs, and that keyword would send most events down the slow path for a key rarely typed anywhere.)
ONEPASSWORD_TOKEN = _prefixed(
    "1password-token", rf"{_L}ops_eyJ[A-Za-z0-9+/]{{250,}}={{0,3}}(?![A-Za-z0-9+/=_-])", ("ops_eyj",)
)
# gitleaks age-secret-key: bech32 alphabet.
AGE_SECRET_KEY = _prefixed(
    "age-secret-key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", ("age-secret-key-1",)
)
# detect-secrets azure_storage_key and betterleaks azure-storage-account-key: 86 base64 characters and `==`.
AZURE_STORAGE_KEY = Rule(
    "azure-storage-key",
    r"AccountKey[\"']?[ \t]*[:=][ \t]*[\"']?([A-Za-z0-9+/]{86}==)",
    1,
    ("accountkey",),
    anchor=0,
    check=_token,
    flags=re.IGNORECASE,
)
# betterleaks azure-servicebus-connection-string: the `SharedAccessKey=` of a Service Bus or Event Hub.
AZURE_SHARED_KEY = _prefixed(
    "azure-shared-key",
    r"SharedAccessKey=([A-Za-z0-9+/]{32,100}={0,2})(?![A-Za-z0-9+/=])",
    ("sharedaccesskey=",),
    group=1,
)
# A shared access signature's `sig=` (base64, URL-encoded), when its query string has `sv=` or `se=`.
AZURE_SAS_TOKEN = _prefixed(
    "azure-sas-token",
    r"(?<=[?&;])sig=([A-Za-z0-9%+/=]{20,})(?![A-Za-z0-9%+/=])",
    ("sig=",),
    group=1,
    check=_sas_signature,
)
# gitleaks azure-ad-client-secret: three characters, a digit, `Q~`; betterleaks' keywords are the digit and `Q~`,
# which sit three characters into the match.
AZURE_CLIENT_SECRET = Rule(
    "azure-client-secret",
    r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",
    keywords=tuple(f"{d}q~" for d in "0123456789"),
    anchor=3,
    check=_token,
)
# More vendor formats from gitleaks (grafana, sentry, pulumi, rubygems, planetscale, prefect, dynatrace, flyio,
# sendinblue/brevo, langsmith, artifactory, openshift) and betterleaks (dockerhub).
VENDOR_TOKENS = (
    _prefixed(
        "grafana-token",
        rf"{_L}(?:glsa_[A-Za-z0-9]{{32}}_[A-Fa-f0-9]{{8}}|glc_[A-Za-z0-9+/]{{32,400}}={{0,3}}){_R_B64}",
        ("glsa_", "glc_"),
    ),
    _prefixed(
        "sentry-token",
        rf"{_L}(?:sntryu_[a-f0-9]{{64}}|sntrys_eyJ[A-Za-z0-9+/=_]{{40,}}){_R_B64}",
        ("sntryu_", "sntrys_"),
    ),
    _prefixed("pulumi-token", rf"{_L_DASH}pul-[a-f0-9]{{40}}{_R_DASH}", ("pul-",)),
    _prefixed("rubygems-token", rf"{_L}rubygems_[a-f0-9]{{48}}{_R}", ("rubygems_",)),
    _prefixed(
        "planetscale-token",
        rf"{_L}pscale_(?:tkn|oauth|pw)_[A-Za-z0-9_=.-]{{32,64}}(?![A-Za-z0-9_=.-])",
        ("pscale_tkn_", "pscale_oauth_", "pscale_pw_"),
    ),
    _prefixed("prefect-token", rf"{_L}pnu_[A-Za-z0-9]{{36}}{_R}", ("pnu_",)),
    _prefixed("dynatrace-token", rf"{_L}dt0[cs]01\.[A-Za-z0-9]{{24}}\.[A-Za-z0-9]{{64}}{_R}", ("dt0c01.", "dt0s01.")),
    _prefixed(
        "flyio-token",
        rf"{_L}(?:fo1_[A-Za-z0-9_-]{{43}}|fm(?:1[ar]|2)_[A-Za-z0-9+/]{{100,}}={{0,3}}){_R_B64}",
        ("fo1_", "fm1a_", "fm1r_", "fm2_"),
    ),
    _prefixed("brevo-key", rf"{_L_DASH}xkeysib-[a-f0-9]{{64}}-[A-Za-z0-9]{{16}}{_R_DASH}", ("xkeysib-",)),
    _prefixed("langsmith-key", rf"{_L}lsv2_(?:pt|sk)_[a-f0-9]{{32}}_[a-f0-9]{{10}}{_R}", ("lsv2_pt_", "lsv2_sk_")),
    _prefixed(
        "dockerhub-token",
        rf"{_L}dckr_(?:pat_[A-Za-z0-9_-]{{27}}|oat_[A-Za-z0-9_-]{{32}}){_R_DASH}",
        ("dckr_pat_", "dckr_oat_"),
    ),
    _prefixed("artifactory-key", rf"{_L}AKCp[A-Za-z0-9]{{69}}{_R}", ("akcp",)),
    _prefixed("openshift-token", rf"{_L}sha256~[A-Za-z0-9_-]{{43}}{_R_DASH}", ("sha256~",)),
)
JWT = _prefixed(
    "jwt",
    # A JWT may be unsigned (`header.payload.`), but `header.payload...` is documentation cutting one short.
    rf"{_L_DASH}eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.(?:[A-Za-z0-9_-]+|(?!\.))",
    ("eyj",),
    check=None,
)
# The header's name stays. `,` is for `set_header("Authorization", "Bearer …")`. The token alphabet is RFC 6750's,
# so `Bearer $TOKEN`, `Bearer {token}` and `Bearer <token>` do not match, and neither does a `[REDACTED:…]` marker.
_AUTHORIZATION = r"authorization[\"']?[ \t]*[:=,][ \t]*[\"']?"
BEARER_TOKEN = Rule(
    "bearer-token",
    rf"{_AUTHORIZATION}(?:bearer|token|bot)[ \t]+([A-Za-z0-9._~+/=-]+)",
    1,
    ("authorization",),
    anchor=0,
    check=_header_value,
    flags=re.IGNORECASE,
)
BASIC_AUTH = Rule(
    "basic-auth",
    rf"{_AUTHORIZATION}basic[ \t]+([A-Za-z0-9+/]{{4,}}={{0,2}})(?![A-Za-z0-9+/=])",
    1,
    ("authorization",),
    anchor=0,
    check=_basic_auth,
    flags=re.IGNORECASE,
)
CURL_USER = Rule(
    "basic-auth",
    r"(?:[ \t]-u[ \t]*|--user[= \t][ \t]*)[\"']?(?P<user>[^\s:\"'@/\\]*):(?P<password>[^\s\"'\\]+)",
    "password",
    (" -u ", "--user ", "--user="),
    anchor=0,
    check=_curl_user,
)
URL_PASSWORD = Rule(
    "url-password",
    # Tried at each `://`; the scheme is checked behind it. `@` is allowed in the password (people leave it
    # unescaped; parsers split at the last one), quotes, brackets and backslashes are not, so a match cannot run
    # on through compact or escaped JSON, or into a marker.
    r"://(?<=[A-Za-z0-9+.-]://)(?P<user>[^\s:/?#@\[\]\"'`<>\\]*):(?P<password>[^\s/?#\[\]\"'`<>\\]+)@"
    r"(?=[^\s/?#@\"'`<>\\])",
    "password",
    ("://",),
    anchor=0,
    check=_url_password,
)

# -- generic rules: a secret known only by its name -----------------------------------------------------------------

# The operator between a name and its value: `=` (.env, shell, Python), `:` (YAML, JSON, JavaScript), `:=` (Go),
# `=>` (PHP, Ruby). A bare `:` counts only before a blank or a quote, as YAML and JavaScript write it, so
# `arn:aws:secretsmanager:…:secret:name` and `host:token:x` are no assignments.
_OPERATOR = r"(?:[\"'][ \t]*(?::=|=>|[:=])|[ \t]*(?::=|=>|=)|[ \t]*:(?=[ \t\"']))[ \t]*"
# A quoted value may hold anything but its quote; a bare one ends at what ends a word in code and config, but not
# at `(`: `api_key = make_key(…)` is a call.
_VALUE = (
    r"(?:\"(?P<dq>[^\"\\\n]{1,512})\"|'(?P<sq>[^'\\\n]{1,512})'"
    r"|(?P<bare>[^\s\"'`,;&|<>()\[\]{}\\]{1,512})(?=[\s\"'`,;&|<>)\[\]{}\\]|$))"
)
_VALUE_GROUPS = ("dq", "sq", "bare")
# Password names: `password`, `passwd`, `passphrase` after anything (DB_PASSWORD, adminPassword), `pass` as a
# word of its own (DB_PASS, not bypass).
_PASSWORD_NAME = r"pass(?:w(?:or)?d|phrase)|(?<![A-Za-z])pass"
_PASSWORD_NAMES = ("password", "passwd", "passphrase", "pass")
# Secret names: a name ending in secret, token or one of the key words (SECRET_KEY, secret_key_base,
# CLIENT_SECRET, X-Api-Key, authToken); `max_tokens`, `token_count` and `secretary` end in something else.
_SECRET_NAME = r"secret(?:[_.-]?key(?:[_.-]?base)?)?|token|api[_.-]?key|access[_.-]?key|auth[_.-]?key|private[_.-]?key"
_SEPARATORS = ("", "_", ".", "-")
_SECRET_NAMES = (
    "secret",
    "token",
    *(f"secret{a}key{b}" for a in _SEPARATORS for b in ("", *(f"{c}base" for c in _SEPARATORS))),
    *(f"{word}{a}key" for word in ("api", "access", "auth", "private") for a in _SEPARATORS),
)
# The keywords are each name with what may follow it (a closing quote, an operator, a blank before one, or the
# backslash of an escaped quote), so `input_tokens`, `tokenizer` and prose about passwords call no rule up.
_AFTER_NAME = ('"', "'", ":", "=", " ", "\t", "\\")


def _named(names: Iterable[str]) -> tuple[str, ...]:
    # `pass ` is left out: Python's `pass` statement is followed by a blank or a comment in every other file.
    return tuple(name + after for name in names for after in _AFTER_NAME if name + after != "pass ")


# Tokens that open no door: a page of results, a change set, a sync state, an idempotency key, a .NET assembly's
# public key token (gitleaks' generic rule has a similar list).
_HARMLESS_TOKENS = (
    "nexttoken",
    "pagetoken",
    "continuationtoken",
    "changetoken",
    "synctoken",
    "paginationtoken",
    "clienttoken",
    "requesttoken",
    "idempotencytoken",
    "publickeytoken",
    "publictoken",
)


def _generic(secret: str, match: re.Match[str]) -> bool:
    # The match starts at the keyword; the whole name may begin before it (DB_PASSWORD, nextPageToken).
    text = match.string
    start = match.start()
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_-."):
        start -= 1
    name = text[start : match.end("name")].lower().replace("_", "").replace("-", "")
    # A name at the end of a `::` path (`"AWS::IAM::AccessKey": …` in a CloudFormation schema) is a type's.
    if text[max(0, start - 2) : start] == "::" or name.endswith(_HARMLESS_TOKENS):
        return False
    return is_generic_secret(secret, name)


_FLAG_BEFORE = r"--[A-Za-z0-9-]*\Z"


def _flag(secret: str, match: re.Match[str]) -> bool:
    # `-password value` is a flag only after `--` (`--password`, `--db-password`); otherwise it is prose.
    start = match.start() + 1
    return bool(re.search(_FLAG_BEFORE, match.string[max(0, start - 40) : start])) and _generic(secret, match)


PASSWORD_ASSIGNMENT = Rule(
    "password",
    rf"(?P<name>{_PASSWORD_NAME})(?![A-Za-z0-9]){_OPERATOR}{_VALUE}",
    _VALUE_GROUPS,
    _named(_PASSWORD_NAMES),
    anchor=0,
    check=_generic,
    flags=re.IGNORECASE,
)
SECRET_ASSIGNMENT = Rule(
    "secret",
    rf"(?P<name>{_SECRET_NAME})(?![A-Za-z0-9]){_OPERATOR}{_VALUE}",
    _VALUE_GROUPS,
    _named(_SECRET_NAMES),
    anchor=0,
    check=_generic,
    flags=re.IGNORECASE,
)
# Command-line flags, `--password hunter2`, `--github-token …` (`--token=…` is an assignment above).
_FLAG_VALUE = r"[ \t]+(?:\"(?P<dq>[^\"\\\n]{1,512})\"|'(?P<sq>[^'\\\n]{1,512})'|(?P<bare>[^\s\"'`;&|<>]{1,512}))"
PASSWORD_FLAG = Rule(
    "password",
    rf"-(?P<name>passw(?:or)?d|pass){_FLAG_VALUE}",
    _VALUE_GROUPS,
    ("-password ", "-passwd ", "-pass "),
    anchor=0,
    check=_flag,
)
SECRET_FLAG = Rule(
    "secret",
    rf"-(?P<name>token|secret|api-?key){_FLAG_VALUE}",
    _VALUE_GROUPS,
    ("-token ", "-secret ", "-api-key ", "-apikey "),
    anchor=0,
    check=_flag,
)

# Most specific first: a rule only sees text that the rules before it left unredacted, so `sk-ant-…` is an
# anthropic-key rather than an openai-key, `Authorization: Bearer <jwt>` is reported as a jwt, and a vendor's token
# after `API_KEY=` is reported as that vendor's.
DEFAULT_RULES: tuple[Rule, ...] = (
    PRIVATE_KEY,
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    ANTHROPIC_KEY,
    OPENROUTER_KEY,
    OPENAI_KEY,
    STRIPE_KEY,
    SLACK_TOKEN,
    SLACK_WEBHOOK,
    GOOGLE_API_KEY,
    NPM_TOKEN,
    NPMRC_AUTH,
    PYPI_TOKEN,
    HUGGINGFACE_TOKEN,
    SENDGRID_KEY,
    TWILIO_API_KEY,
    TWILIO_AUTH_TOKEN,
    TWILIO_AUTH_TOKEN_BY_NAME,
    DATABRICKS_TOKEN,
    MAILGUN_KEY,
    MAILCHIMP_KEY,
    SHOPIFY_TOKEN,
    ATLASSIAN_TOKEN,
    DIGITALOCEAN_TOKEN,
    DOPPLER_TOKEN,
    POSTMAN_KEY,
    LINEAR_KEY,
    NOTION_TOKEN,
    GROQ_KEY,
    REPLICATE_TOKEN,
    XAI_KEY,
    PERPLEXITY_KEY,
    TELEGRAM_BOT_TOKEN,
    DISCORD_WEBHOOK,
    DISCORD_TOKEN,
    SQUARE_TOKEN,
    SQUARE_EAAA_TOKEN,
    FACEBOOK_TOKEN,
    HEROKU_KEY,
    HEROKU_KEY_BY_NAME,
    VAULT_TOKEN,
    ONEPASSWORD_TOKEN,
    AGE_SECRET_KEY,
    AZURE_STORAGE_KEY,
    AZURE_SHARED_KEY,
    AZURE_SAS_TOKEN,
    AZURE_CLIENT_SECRET,
    *VENDOR_TOKENS,
    JWT,
    BEARER_TOKEN,
    BASIC_AUTH,
    CURL_USER,
    URL_PASSWORD,
    PASSWORD_ASSIGNMENT,
    SECRET_ASSIGNMENT,
    PASSWORD_FLAG,
    SECRET_FLAG,
)

_KEY_NAME: re.Pattern[str] | None = None


def secret_name_kind(name: str) -> str | None:
    """The kind, "password" or "secret", of a dict key that names a secret as the generic rules' names do, or None."""
    global _KEY_NAME
    lower = name.lower()
    if "pass" not in lower and "secret" not in lower and "token" not in lower and "key" not in lower:
        return None
    if _KEY_NAME is None:
        _KEY_NAME = re.compile(rf"[A-Za-z0-9_.-]*?(?:(?P<password>{_PASSWORD_NAME})|{_SECRET_NAME})", re.IGNORECASE)
    match = _KEY_NAME.fullmatch(name)
    if match is None or lower.replace("_", "").replace("-", "").endswith(_HARMLESS_TOKENS):
        return None
    return "password" if match.group("password") else "secret"

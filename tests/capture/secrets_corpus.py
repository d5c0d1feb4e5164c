"""A corpus for redaction: secrets in their real formats where agents meet them, and look-alikes that are not secrets.

Every secret is fake, assembled at run time from a prefix and random characters (a seeded generator, so each run
builds the same corpus), so this file holds no credential and trips no push protection. `score` measures a redactor
against the corpus; the tests and `bench/redact.py` both use it.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
_rng = random.Random(20261130)


def rand(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def password() -> str:
    """A value a person might choose: letters, digits and symbols that end no word in config or shell."""
    return rand(ALNUM, 10) + rand("!@#%^*_-+", 2) + rand(ALNUM, 4)


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Secret:
    """`text` holds one secret of `kind`, spelled `spelled` in it; none of `spelled` may survive redaction.

    With `value` set, the case is a structured event (redact_value) rather than text.
    """

    name: str
    kind: str
    text: str
    spelled: str
    value: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class LookAlike:
    name: str
    text: str


# -- surroundings --------------------------------------------------------------------------------------------------


def shell(command: str, output: str = "") -> str:
    return f"$ {command}\n{output}\n[process exited with code 0 in 0.42s]\n"


def dotenv(line: str) -> str:
    return f"$ cat .env\n# local settings\nAPP_ENV=production\n{line}\nPORT=8080\nLOG_LEVEL=info\n"


def tool_input(command: str) -> str:
    """A Bash tool call's input as JSON text, the way a transcript line holds it."""
    return json.dumps({"type": "tool_use", "name": "Bash", "input": {"command": command, "timeout": 120000}})


def python(line: str) -> str:
    return f"import os\n\n\ndef main() -> None:\n    {line}\n    run(client)\n"


def json_in_json(obj: object) -> str:
    """JSON printed by a tool, held as a string in a JSON line: every quote of the inner JSON is `\\"`."""
    return json.dumps({"type": "tool_result", "content": json.dumps(obj, indent=2)})


def u_escaped(secret: str) -> str:
    """The secret as a JSON encoder that escapes letters writes it (its first character as `\\uXXXX`)."""
    return f"\\u{ord(secret[0]):04x}" + secret[1:]


def _case(name: str, kind: str, secret: str, context: Callable[[str], str], spelled: str | None = None) -> Secret:
    return Secret(name, kind, context(secret), spelled or secret)


def _secrets() -> list[Secret]:
    cases: list[Secret] = []
    add = cases.append

    def case(name: str, kind: str, secret: str, context: Callable[[str], str]) -> None:
        add(_case(name, kind, secret, context))

    # Cloud and code hosting.
    case(
        "aws access key id",
        "aws-access-key",
        "AKIA" + rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        lambda s: shell("aws configure list", f"access_key     ****************  {s} shared-credentials-file"),
    )
    case("aws secret key", "aws-secret-key", rand(B64, 40), lambda s: dotenv(f"AWS_SECRET_ACCESS_KEY={s}"))
    case(
        "github classic pat",
        "github-token",
        "ghp_" + rand(ALNUM, 36),
        lambda s: python(f'client = Github(auth=Auth.Token("{s}"))'),
    )
    case(
        "github fine-grained pat",
        "github-token",
        "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59),
        lambda s: shell(f"echo {s} | gh auth login --with-token", "✓ Logged in to github.com"),
    )
    case("gitlab pat", "gitlab-token", "glpat-" + rand(URLSAFE, 20), lambda s: dotenv(f"GITLAB_TOKEN={s}"))
    case(
        "gitlab deploy token",
        "gitlab-token",
        "gldt-" + rand(URLSAFE, 20),
        lambda s: tool_input(f"git clone https://gitlab.example.com/o/r.git --config http.extraHeader='Deploy: {s}'"),
    )
    case(
        "gitlab runner token",
        "gitlab-token",
        "glrt-" + rand(URLSAFE, 20),
        lambda s: f'[[runners]]\n  name = "ci"\n  url = "https://gitlab.example.com"\n  token = "{s}"\n',
    )
    case(
        "gitlab trigger token",
        "gitlab-token",
        "glptt-" + rand(HEX, 40),
        lambda s: shell(
            f"curl -X POST -F token={s} -F ref=main https://gitlab.example.com/api/v4/projects/9/trigger/pipeline"
        ),
    )
    case(
        "gitlab ci job token",
        "gitlab-token",
        "glcbt-64_" + rand(URLSAFE, 20),
        lambda s: shell("env | grep CI_JOB", f"CI_JOB_TOKEN={s}\nCI_JOB_ID=7781"),
    )
    case(
        "gitlab runner registration",
        "gitlab-token",
        "GR1348941" + rand(URLSAFE, 20),
        lambda s: shell(f"gitlab-runner register --url https://gitlab.example.com --registration-token {s}"),
    )
    case(
        "digitalocean pat", "digitalocean-token", "dop_v1_" + rand(HEX, 64), lambda s: dotenv(f"DIGITALOCEAN_TOKEN={s}")
    )
    case(
        "heroku v2 key",
        "heroku-key",
        "HRKU-AA" + rand(URLSAFE, 58),
        lambda s: shell("heroku auth:token", f"›   Warning: token will expire soon\n{s}"),
    )
    case(
        "heroku legacy key",
        "heroku-key",
        str(uuid.UUID(int=_rng.getrandbits(128), version=4)),
        lambda s: dotenv(f"HEROKU_API_KEY={s}"),
    )
    case(
        "vault service token",
        "vault-token",
        "hvs." + rand(URLSAFE, 90),
        lambda s: shell(f"export VAULT_TOKEN={s} && vault kv get secret/app"),
    )
    case(
        "azure storage connection string",
        "azure-storage-key",
        rand(B64, 86) + "==",
        lambda s: dotenv(
            f"AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acme;"
            f"AccountKey={s};EndpointSuffix=core.windows.net"
        ),
    )
    sig = quote(base64.b64encode(_rng.randbytes(32)).decode(), safe="")
    case(
        "azure sas url",
        "azure-sas-token",
        sig,
        lambda s: shell(
            "az storage blob generate-sas --full-uri ...",
            f'"https://acme.blob.core.windows.net/logs/a.txt?sp=r&st=2026-11-01T00:00:00Z'
            f'&se=2026-12-01T00:00:00Z&spr=https&sv=2022-11-02&sr=b&sig={s}"',
        ),
    )
    case(
        "azure client secret",
        "azure-client-secret",
        rand(ALNUM, 3) + "8Q~" + rand(URLSAFE + "~.", 34),
        lambda s: json.dumps({"tenant": "contoso", "appId": str(uuid.UUID(int=7)), "password": s}),
    )
    case(
        "azure service bus key",
        "azure-shared-key",
        rand(B64, 43) + "=",
        lambda s: python(
            f'conn = "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={s}"'
        ),
    )
    # AI providers.
    anthropic = "sk-ant-api03-" + rand(URLSAFE, 93) + "AA"
    add(
        Secret(
            "anthropic key, \\u-escaped in JSON",
            "anthropic-key",
            '{"env": {"ANTHROPIC_API_KEY": "' + u_escaped(anthropic) + '"}}',
            u_escaped(anthropic),
        )
    )
    case(
        "openai project key",
        "openai-key",
        "sk-proj-" + rand(URLSAFE, 64) + "T3BlbkFJ" + rand(URLSAFE, 64),
        lambda s: dotenv(f"OPENAI_API_KEY={s}"),
    )
    case(
        "openrouter key",
        "openrouter-key",
        "sk-or-v1-" + rand(HEX, 64),
        lambda s: python(f'client = OpenAI(base_url="https://openrouter.ai/api/v1", api_key="{s}")'),
    )
    case("groq key", "groq-key", "gsk_" + rand(ALNUM, 52), lambda s: dotenv(f"GROQ_API_KEY={s}"))
    case(
        "replicate token",
        "replicate-token",
        "r8_" + rand(ALNUM, 37),
        lambda s: shell(f"export REPLICATE_API_TOKEN={s}"),
    )
    case("xai key", "xai-key", "xai-" + rand(ALNUM, 80), lambda s: python(f'client = Client(api_key="{s}")'))
    case(
        "perplexity key",
        "perplexity-key",
        "pplx-" + rand(ALNUM, 48),
        lambda s: json.dumps({"mcpServers": {"perplexity": {"env": {"PERPLEXITY_API_KEY": s}}}}),
    )
    case(
        "hugging face token",
        "huggingface-token",
        "hf_" + rand(string.ascii_letters, 34),
        lambda s: shell(f"huggingface-cli login --token {s}", "Login successful"),
    )
    case(
        "langsmith key",
        "langsmith-key",
        "lsv2_pt_" + rand(HEX, 32) + "_" + rand(HEX, 10),
        lambda s: dotenv(f"LANGSMITH_API_KEY={s}"),
    )
    # Payments and commerce.
    case(
        "stripe live secret key",
        "stripe-key",
        "sk_live_" + rand(ALNUM, 24),
        lambda s: python(f'stripe.api_key = "{s}"'),
    )
    case(
        "stripe test secret key",
        "stripe-key",
        "sk_test_" + rand(ALNUM, 24),
        lambda s: tool_input(f"stripe customers list --api-key {s} --limit 3"),
    )
    case(
        "stripe live restricted key",
        "stripe-key",
        "rk_live_" + rand(ALNUM, 24),
        lambda s: dotenv(f"STRIPE_RESTRICTED_KEY={s}"),
    )
    case(
        "stripe test restricted key",
        "stripe-key",
        "rk_test_" + rand(ALNUM, 24),
        lambda s: shell(f"curl https://api.stripe.com/v1/charges -u {s}:"),
    )
    case(
        "stripe webhook secret",
        "stripe-key",
        "whsec_" + rand(ALNUM, 32),
        lambda s: shell(
            "stripe listen --forward-to localhost:4242/webhook",
            f"> Ready! Your webhook signing secret is {s} (^C to quit)",
        ),
    )
    case(
        "square access token",
        "square-token",
        "sq0atp-" + rand(URLSAFE, 22),
        lambda s: dotenv(f"SQUARE_ACCESS_TOKEN={s}"),
    )
    case(
        "square eaaa token",
        "square-token",
        "EAAA" + rand(URLSAFE, 60),
        lambda s: json.dumps({"square": {"environment": "production", "accessToken": s}}),
    )
    case(
        "shopify admin token",
        "shopify-token",
        "shpat_" + rand(HEX, 32),
        lambda s: shell(
            f"curl -H 'X-Shopify-Access-Token: {s}' https://acme.myshopify.com/admin/api/2024-01/shop.json"
        ),
    )
    case(
        "shopify shared secret",
        "shopify-token",
        "shpss_" + rand(HEX, 32),
        lambda s: json.dumps({"shopify": {"shop": "acme.myshopify.com", "api_secret_key": s}}),
    )
    # Messaging and mail.
    case(
        "slack bot token",
        "slack-token",
        "xoxb-" + rand("0123456789", 12) + "-" + rand("0123456789", 13) + "-" + rand(ALNUM, 24),
        lambda s: json.dumps({"slack": {"bot_token": s, "channel": "#deploys"}}),
    )
    case(
        "slack app token",
        "slack-token",
        "xapp-1-A" + rand("0123456789", 10) + "-" + rand("0123456789", 13) + "-" + rand(HEX, 64),
        lambda s: dotenv(f"SLACK_APP_TOKEN={s}"),
    )
    webhook = "T" + rand(ALNUM.upper(), 8) + "/B" + rand(ALNUM.upper(), 10) + "/" + rand(ALNUM, 24)
    case(
        "slack webhook",
        "slack-webhook",
        webhook,
        lambda s: shell(f'curl -X POST -d \'{{"text":"deployed"}}\' https://hooks.slack.com/services/{s}'),
    )
    add(
        Secret(
            "slack webhook with escaped slashes",
            "slack-webhook",
            '{"url":"https:\\/\\/hooks.slack.com\\/services\\/' + webhook.replace("/", "\\/") + '"}',
            webhook.replace("/", "\\/"),
        )
    )
    case(
        "sendgrid key",
        "sendgrid-key",
        "SG." + rand(URLSAFE, 22) + "." + rand(URLSAFE, 43),
        lambda s: python(f'sg = SendGridAPIClient("{s}")'),
    )
    case(
        "mailgun key",
        "mailgun-key",
        "key-" + rand("0123456789abcdefghijklmnopqrstuvwxyz", 32),
        lambda s: python(f'requests.post(url, auth=("api", "{s}"), data=message)'),
    )
    case("mailchimp key", "mailchimp-key", rand(HEX, 32) + "-us21", lambda s: dotenv(f"MAILCHIMP_KEY={s}"))
    case(
        "brevo key",
        "brevo-key",
        "xkeysib-" + rand(HEX, 64) + "-" + rand(ALNUM, 16),
        lambda s: dotenv(f"BREVO_API_KEY={s}"),
    )
    case("twilio api key", "twilio-api-key", "SK" + rand(HEX, 32), lambda s: dotenv(f"TWILIO_API_KEY={s}"))
    sid = "AC" + rand(HEX, 32)
    case(
        "twilio auth token after the sid",
        "twilio-auth-token",
        rand(HEX, 32),
        lambda s: f'from twilio.rest import Client\n\nclient = Client("{sid}", "{s}")\n',
    )
    case("twilio auth token by name", "twilio-auth-token", rand(HEX, 32), lambda s: dotenv(f"TWILIO_AUTH_TOKEN={s}"))
    case(
        "telegram bot token",
        "telegram-bot-token",
        "AA" + rand(URLSAFE, 33),
        lambda s: shell(f"curl -s https://api.telegram.org/bot7123456789:{s}/getMe", '{"ok":true}'),
    )
    case(
        "discord bot token",
        "discord-token",
        "M" + rand(URLSAFE, 25) + "." + rand(URLSAFE, 6) + "." + rand(URLSAFE, 38),
        lambda s: f'import discord\n\nclient = discord.Client(intents=intents)\nclient.run("{s}")\n',
    )
    case(
        "discord webhook",
        "discord-webhook",
        rand(URLSAFE, 68),
        lambda s: shell(
            f"curl -H 'Content-Type: application/json' -d @msg.json "
            f"https://discord.com/api/webhooks/{rand('0123456789', 18)}/{s}"
        ),
    )
    # Developer tools.
    case(
        "npm token",
        "npm-token",
        "npm_" + rand(ALNUM, 36),
        lambda s: shell("cat ~/.npmrc", f"//registry.npmjs.org/:_authToken={s}"),
    )
    case(
        "npmrc legacy token",
        "npm-token",
        str(uuid.UUID(int=_rng.getrandbits(128), version=4)),
        lambda s: f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={s}\n",
    )
    case(
        "pypi token",
        "pypi-token",
        "pypi-AgEIcHlwaS5vcmc" + rand(URLSAFE, 120),
        lambda s: f"[pypi]\n  username = __token__\n  password = {s}\n",
    )
    case("databricks token", "databricks-token", "dapi" + rand(HEX, 32), lambda s: dotenv(f"DATABRICKS_TOKEN={s}"))
    case(
        "atlassian token",
        "atlassian-token",
        "ATATT3" + rand(URLSAFE + "=", 186),
        lambda s: shell(f"curl -u me@example.com:{s} https://acme.atlassian.net/rest/api/3/myself"),
    )
    case(
        "doppler service token",
        "doppler-token",
        "dp.st.prd." + rand(ALNUM, 43),
        lambda s: shell(f"doppler run --token {s} -- ./server"),
    )
    case("doppler personal token", "doppler-token", "dp.pt." + rand(ALNUM, 43), lambda s: dotenv(f"DOPPLER_TOKEN={s}"))
    case(
        "postman key",
        "postman-key",
        "PMAK-" + rand(HEX, 24) + "-" + rand(HEX, 34),
        lambda s: shell(f"curl -H 'X-Api-Key: {s}' https://api.getpostman.com/me"),
    )
    case(
        "linear key",
        "linear-key",
        "lin_api_" + rand(ALNUM, 40),
        lambda s: json.dumps({"headers": {"Authorization": s, "Content-Type": "application/json"}}),
    )
    case(
        "notion token",
        "notion-token",
        "ntn_" + rand("0123456789", 11) + rand(ALNUM, 35),
        lambda s: dotenv(f"NOTION_TOKEN={s}"),
    )
    case(
        "notion integration secret",
        "notion-token",
        "secret_" + rand(ALNUM, 43),
        lambda s: python(f'notion = Client(auth="{s}")'),
    )
    case(
        "1password service account",
        "1password-token",
        "ops_eyJ" + rand(B64, 300),
        lambda s: dotenv(f"OP_SERVICE_ACCOUNT_TOKEN={s}"),
    )
    case(
        "age secret key",
        "age-secret-key",
        "AGE-SECRET-KEY-1" + rand("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58),
        lambda s: shell("cat key.txt", f"# created: 2026-11-30T10:00:00Z\n# public key: age1ql3z7hjy54pw\n{s}"),
    )
    case(
        "grafana service account",
        "grafana-token",
        "glsa_" + rand(ALNUM, 32) + "_" + rand(HEX, 8),
        lambda s: dotenv(f"GRAFANA_TOKEN={s}"),
    )
    case("sentry user token", "sentry-token", "sntryu_" + rand(HEX, 64), lambda s: dotenv(f"SENTRY_AUTH_TOKEN={s}"))
    case("pulumi token", "pulumi-token", "pul-" + rand(HEX, 40), lambda s: shell(f"export PULUMI_ACCESS_TOKEN={s}"))
    case("rubygems key", "rubygems-token", "rubygems_" + rand(HEX, 48), lambda s: f"---\n:rubygems_api_key: {s}\n")
    case(
        "planetscale token",
        "planetscale-token",
        "pscale_tkn_" + rand(URLSAFE, 43),
        lambda s: dotenv(f"PLANETSCALE_SERVICE_TOKEN={s}"),
    )
    case("prefect key", "prefect-token", "pnu_" + rand(ALNUM, 36), lambda s: shell(f"prefect cloud login -k {s}"))
    case(
        "dynatrace token",
        "dynatrace-token",
        "dt0c01." + rand(ALNUM.upper(), 24) + "." + rand(ALNUM.upper(), 64),
        lambda s: dotenv(f"DT_API_TOKEN={s}"),
    )
    case(
        "fly.io token", "flyio-token", "fo1_" + rand(URLSAFE, 43), lambda s: shell(f"flyctl deploy --access-token {s}")
    )
    case(
        "docker hub pat",
        "dockerhub-token",
        "dckr_pat_" + rand(URLSAFE, 27),
        lambda s: shell(f"docker login -u acme -p {s}", "Login Succeeded"),
    )
    case(
        "artifactory key",
        "artifactory-key",
        "AKCp" + rand(ALNUM, 69),
        lambda s: shell(f"curl -H 'X-JFrog-Art-Api: {s}' https://acme.jfrog.io/artifactory/api/repositories"),
    )
    case(
        "openshift token",
        "openshift-token",
        "sha256~" + rand(URLSAFE, 43),
        lambda s: shell(f"oc login --token={s} --server=https://api.cluster.example.com:6443"),
    )
    case(
        "facebook page token",
        "facebook-token",
        "EAAM" + rand(ALNUM, 120),
        lambda s: python(f'graph = GraphAPI(access_token="{s}")'),
    )
    case(
        "google api key",
        "google-api-key",
        "AIza" + rand(URLSAFE, 35),
        lambda s: shell(f"curl 'https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key={s}'"),
    )
    # Keys and tokens recognised by their shape.
    pem_body = "\n".join(rand(B64, 64) for _ in range(6))
    pem = "-----BEGIN " + "PRIVATE KEY-----\n" + pem_body + "\n-----END " + "PRIVATE KEY-----"
    add(
        Secret(
            "private key in a JSON line",
            "private-key",
            json.dumps({"type": "service_account", "private_key": pem + "\n", "client_email": "ci@acme.iam"}),
            json.dumps(pem)[1:-1],
        )
    )
    openssh = (
        "-----BEGIN "
        + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
        + rand(B64, 40)
        + "\n"
        + rand(B64, 70)
        + "\n-----END "
        + "OPENSSH PRIVATE KEY-----"
    )
    case("openssh key in shell output", "private-key", openssh, lambda s: shell("cat ~/.ssh/id_ed25519", s))
    add(
        Secret(
            "private key in JSON inside JSON",
            "private-key",
            json_in_json({"private_key": pem}),
            json.dumps(json.dumps(pem))[1:-1],
        )
    )
    jwt = (
        b64url({"alg": "HS256", "typ": "JWT"})
        + "."
        + b64url({"sub": "42", "exp": 1893456000})
        + "."
        + rand(URLSAFE, 43)
    )
    case(
        "jwt in an authorization header",
        "jwt",
        jwt,
        lambda s: shell(f"curl -H 'Authorization: Bearer {s}' https://api.example.com/v1/me"),
    )
    case(
        "bearer token in JSON inside JSON",
        "bearer-token",
        rand(ALNUM, 40),
        lambda s: json_in_json({"headers": {"Authorization": f"Bearer {s}", "Accept": "application/json"}}),
    )
    basic = base64.b64encode(f"deploy:{password()}".encode()).decode()
    case(
        "basic auth header",
        "basic-auth",
        basic,
        lambda s: "GET /api/v1/builds HTTP/1.1\nHost: ci.example.com\nAuthorization: Basic " + s + "\n",
    )
    case(
        "curl user and password",
        "basic-auth",
        password(),
        lambda s: shell(f"curl -u deploy:{s} https://ci.example.com/api/json"),
    )
    case(
        "password in a git URL",
        "url-password",
        password(),
        lambda s: shell(f"git clone https://deploy:{s}@git.example.com/acme/app.git", "Cloning into 'app'..."),
    )
    case(
        "password in a database URL, escaped",
        "url-password",
        rand(ALNUM, 14),
        lambda s: '{"DATABASE_URL": "postgres:\\/\\/app:' + s + '@db.internal:5432\\/prod"}',
    )
    # Secrets known only by their name.
    case(".env password", "password", password(), lambda s: dotenv(f"DB_PASSWORD={s}"))
    case(
        "yaml password",
        "password",
        password(),
        lambda s: f"database:\n  host: db.internal\n  user: app\n  password: {s}\n  pool: 5\n",
    )
    case(
        "json password",
        "password",
        password(),
        lambda s: json.dumps({"user": "admin", "password": s, "remember": True}, indent=2),
    )
    case(
        "password flag", "password", password(), lambda s: shell(f"mysqldump --user root --password {s} app > dump.sql")
    )
    case(
        "python secret key",
        "secret",
        "django-insecure-" + password(),
        lambda s: f"DEBUG = False\nSECRET_KEY = '{s}'\nALLOWED_HOSTS = ['*']\n",
    )
    case(".env api key", "secret", rand(ALNUM, 32), lambda s: dotenv(f"ACME_API_KEY={s}"))
    case(".env token", "secret", rand(ALNUM + "-_", 40), lambda s: dotenv(f"CONSUL_HTTP_TOKEN={s}"))
    case(".env client secret", "secret", rand(ALNUM, 30), lambda s: dotenv(f"OAUTH_CLIENT_SECRET={s}"))
    case(
        "api key header in JSON escaped",
        "secret",
        rand(ALNUM, 32),
        lambda s: json_in_json({"headers": {"x-api-key": s}}),
    )
    dict_password = password()
    add(
        Secret(
            "password in a structured tool input",
            "password",
            "",
            dict_password,
            value={"tool_name": "mcp__db__connect", "tool_input": {"host": "db", "DB_PASSWORD": dict_password}},
        )
    )
    dict_token = rand(ALNUM, 40)
    add(
        Secret(
            "token in a structured tool input",
            "secret",
            "",
            dict_token,
            value={"tool_input": {"url": "https://ci.example.com", "api_token": dict_token}},
        )
    )
    return cases


def _look_alikes() -> list[LookAlike]:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(6000)).decode()
    items = {
        "uuid": f"session {uuid.UUID(int=random.Random(5).getrandbits(128), version=4)} resumed",
        "git sha": "commit 3f786850e387550fdab836ed7e6dc881de23001b\nAuthor: Dev <dev@example.com>",
        "sha256 digest": "FROM python@sha256:" + "a3f5c0e2" * 8 + " AS base",
        "base64 image": "data:image/png;base64," + png,
        "anthropic thinking signature": json.dumps(
            {"type": "thinking", "signature": base64.b64encode(random.Random(9).randbytes(1500)).decode()}
        ),
        "env reference": "DB_PASSWORD=${DB_PASSWORD}\nAPI_KEY=${API_KEY:-}\n",
        "angle placeholder": "mysql -u root -p'<password>' app\npassword: <password>\n",
        "changeme": 'password: "changeme"\nadmin_password: change_me\n',
        "spinkit css classes": '<div class="sk-fading-circle"><div class="sk-circle1 sk-circle"></div></div>',
        "npm package names": "npm install sk-learn-0-24-compat-shim @acme/token-utils secret-stream@2.1.0",
        "semver": "bumped 1.24.0-beta.3+build.20261130 to 1.24.0",
        "aws arn and regions": "arn:aws:iam::123456789012:role/deploy in us-east-1 and eu-west-2 (ap-southeast-1)",
        "truncated jwt in docs": "A token looks like eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi... (header.payload.signature)",
        "kebab-case sk- ids": "see sk-learn-compat-layer-for-the-old-api and sk-2024-roadmap-notes",
        "user:pass url": "postgres://user:pass@localhost:5432/app",
        "variable in url": "DATABASE_URL=postgres://app:${PGPASSWORD}@db:5432/app",
        "template": 'password: "{{ vault_db_password }}"\ntoken: {{ .Values.token }}\n',
        "shell variable": "PGPASSWORD=$DB_PASS psql -h db -U app",
        "your-api-key": "OPENAI_API_KEY=your-api-key-here\nANTHROPIC_API_KEY=<your-key>\n",
        "example and dummy": "API_KEY=example\nSECRET_KEY=dummy-secret-for-tests\n",
        "placeholder and redacted": '{"token": "<placeholder>", "password": "REDACTED"}',
        "null none true false empty": '{"password": null, "secret": true, "token": ""}\npassword=None\nPASSWORD=\n',
        "stars and xs": 'password: "********"\nGITHUB_TOKEN=ghp_' + "x" * 36 + "\nSTRIPE_KEY=sk_live_" + "x" * 24,
        "code references": "password = os.environ['DB_PASSWORD']\nconn = connect(user=user, password=password)\n"
        "token = request.headers.get('X-Token')\napi_key = settings.API_KEY\n",
        "typescript types": "interface Login {\n  password: string;\n  token?: string | null;\n}\n",
        "json schema": '{"password": {"type": "string", "minLength": 12}, "api_key": {"type": "string"}}',
        "token usage": '{"usage": {"input_tokens": 1234, "cache_read_input_tokens": 40960, "output_tokens": 567}}',
        "max tokens": "client.messages.create(model=model, max_tokens=4096, messages=messages)",
        "bearer placeholders": 'curl -H "Authorization: Bearer $TOKEN" https://api.example.com\n'
        "Authorization: Bearer YOUR_TOKEN\n",
        "stripe publishable key": "STRIPE_PUBLISHABLE_KEY=pk_live_" + "51Hc2aKJ8hTz3RqW9mVbN0pL",
        "md5 cache key": "cache key-d41d8cd98f00b204e9800998ecf8427e missed",
        "docker user": "docker run -u 1000:1000 --rm -v $PWD:/src node:20 npm test",
        "git push -u": "git push -u origin feature/login",
        "default credentials": "postgres://postgres:postgres@localhost:5432/dev\namqp://guest:guest@localhost:5672/",
        "slack docs webhook": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "aws docs key id": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "hugging face functions": "from huggingface_hub import hf_hub_download, hf_hub_url",
        "kubernetes secret refs": "secretName: tls-cert\nvalueFrom:\n  secretKeyRef:\n    name: db-secret\n"
        "    key: password\n",
        "python pass statement": "try:\n    run()\nexcept KeyError:\n    pass  # nothing to do\n",
        "github actions secret": "with:\n  token: ${{ secrets.GITHUB_TOKEN }}\n",
        "docker password-stdin": "echo $CR_PAT | docker login ghcr.io -u acme --password-stdin",
        "windows path": r"C:\Users\dev\secret_project\token_utils.py",
        "f-string bearer": 'headers = {"Authorization": f"Bearer {token}"}',
        "prose": "Set the password to something strong; the token expires in an hour and the secret rotates.",
        "json secret name": '{"secretName": "my-app-tls", "tokenUrl": "https://auth.example.com/token"}',
        "go getenv": 'token := os.Getenv("GITHUB_TOKEN")\nsecret := cfg.Secret\n',
        "unsigned sig param": "https://cdn.example.com/img.png?w=300&sig=5f2b1c9d8e7a6b5c4d3e2f1a0b9c8d7e",
        "word password in a url": "https://user:password@example.com/",
        "public key": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
        + "q" * 20
        + "\n-----END PUBLIC KEY-----",
        "hex request id": "request-id: 9f86d081884c7d659a2feaa0c55ad015 (twilio-free service)",
    }
    return [LookAlike(name, text) for name, text in items.items()]


SECRETS: list[Secret] = _secrets()
LOOK_ALIKES: list[LookAlike] = _look_alikes()


@dataclass
class Score:
    """How a redactor did on the corpus: recall over the secrets, precision over all it redacted."""

    caught: int = 0
    secrets: int = 0
    right: int = 0
    redacted: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.caught / self.secrets if self.secrets else 1.0

    @property
    def precision(self) -> float:
        return self.right / self.redacted if self.redacted else 1.0


def redact_case(redactor: Any, case: Secret) -> tuple[str, Counter[str]]:
    """The case's redacted text (a structured case's as JSON) and the counts by kind."""
    if case.value is not None:
        value, counts = redactor.redact_value(case.value)
        return json.dumps(value), counts
    text, counts = redactor.redact_text(case.text)
    return text, counts


def score(redactor: Any) -> Score:
    result = Score()
    for case in SECRETS:
        out, counts = redact_case(redactor, case)
        result.secrets += 1
        result.redacted += sum(counts.values())
        if case.spelled not in out and counts[case.kind] >= 1:
            result.caught += 1
            result.right += 1
        else:
            result.misses.append(f"{case.name}: {dict(counts)}")
        extra = sum(counts.values()) - (1 if counts[case.kind] else 0)
        if extra:
            result.false_alarms.append(f"{case.name}: {dict(counts)}")
    for look in LOOK_ALIKES:
        out, counts = redactor.redact_text(look.text)
        result.redacted += sum(counts.values())
        if counts or out != look.text:
            result.false_alarms.append(f"{look.name}: {dict(counts)}")
    return result

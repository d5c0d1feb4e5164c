"""trail's settings: every key of the schema refuses a bad value and takes a good one; `--list` and `--show-origin`
show defaults and files; a bad value written by hand never stops a hook or the SDK from recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, trail

from trail import Recorder
from trail.cli import main
from trail.config import (
    PRICE,
    SETTINGS,
    Bool,
    Choice,
    FileNamePattern,
    Folder,
    Number,
    Regex,
    Setting,
    Size,
    TrailConfig,
    user_config_path,
)
from trail.repo import TrailRepo
from trail.store.steps import Store

HOOK = Path(sys.executable).parent / "trail-hook"
# Values each kind of setting must refuse; a new kind without any fails test_every_kind_has_bad_values.
BAD = {
    Bool: ["maybe", "2"],
    Size: ["lots", "0", "10x", "-5m", "99g"],
    Number: ["soon", "-1", "inf", "nan", "1e9"],
    Choice: ["drop", ""],
    Regex: ["([unclosed", "a{2,1}", ""],
    FileNamePattern: ["", "  "],
    Folder: ["relative/folder", ""],
}
KEYS = [*SETTINGS, PRICE]


def key_of(setting: Setting) -> str:
    return "price.claude-sonnet-4-5.output" if setting is PRICE else setting.key


def bad_cases() -> list[tuple[Setting, str]]:
    return [(s, value) for s in KEYS for value in BAD.get(type(s.kind), [])]


def run(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`trail -C repo ARGS` in this process (the matrix below is large); a few tests run the real command."""
    code = main(["-C", str(repo), *args])
    out, err = capsys.readouterr()
    return code, out, err


def trail_config(repo: Path) -> Path:
    return repo / ".git" / "trail" / "config"


def test_every_kind_has_bad_values() -> None:
    assert {type(s.kind) for s in KEYS} <= set(BAD)


@pytest.mark.parametrize("setting", KEYS, ids=key_of)
def test_a_good_value_is_written_and_read_back(
    repo: Path, setting: Setting, capsys: pytest.CaptureFixture[str]
) -> None:
    key = key_of(setting)
    assert run(repo, "config", key, setting.example, capsys=capsys)[0] == 0
    code, out, err = run(repo, "config", key, capsys=capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == [setting.kind.show(setting.kind.parse(setting.example))]
    assert TrailRepo.discover(repo).config.value(key) == (
        [setting.kind.parse(setting.example)] if setting.multi else setting.kind.parse(setting.example)
    )
    assert TrailRepo.discover(repo).config.problems == []


@pytest.mark.parametrize(("setting", "value"), bad_cases(), ids=lambda v: key_of(v) if isinstance(v, Setting) else v)
def test_a_bad_value_is_refused_and_nothing_is_written(
    repo: Path, setting: Setting, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = key_of(setting)
    assert run(repo, "config", key, setting.example, capsys=capsys)[0] == 0
    before = trail_config(repo).read_bytes()
    add = ["--add"] if setting.multi else []
    code, out, err = run(repo, "config", *add, "--", key, value, capsys=capsys)
    assert code == 1 and out == ""
    assert key in err and "must" in err and repr(value) in err
    assert trail_config(repo).read_bytes() == before


@pytest.mark.parametrize(("setting", "value"), bad_cases(), ids=lambda v: key_of(v) if isinstance(v, Setting) else v)
def test_a_bad_value_written_by_hand_is_the_default(repo: Path, setting: Setting, value: str) -> None:
    key = key_of(setting)
    trail_config(repo).parent.mkdir(parents=True, exist_ok=True)
    git("config", "-f", trail_config(repo), "--", key, value, cwd=repo)
    config = TrailConfig(trail_config(repo))
    assert config.value(key) == ([] if setting.multi else setting.default)
    [problem] = config.problems
    assert problem.key == key and problem.origin == trail_config(repo) and repr(value) in problem.message


def test_nothing_is_created_by_a_refused_value(repo: Path) -> None:
    refused = trail("config", "snapshot.maxFileSize", "lots", cwd=repo)
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: snapshot.maxFileSize must be a size such as 10m")
    assert not (repo / ".git" / "trail").exists()


def test_values_are_written_as_trail_reads_them(repo: Path) -> None:
    assert trail("config", "SNAPSHOT.MAXFILESIZE", "20480K", cwd=repo).returncode == 0
    assert trail("config", "watch.auto", "off", cwd=repo).returncode == 0
    assert trail("config", "otel.otherSpans", "SKIP", cwd=repo).returncode == 0
    assert trail("config", "price.Claude-X.cacheread", "0.30", cwd=repo).returncode == 0
    listed = git("config", "-f", trail_config(repo), "--list", cwd=repo).splitlines()
    expected = {"snapshot.maxfilesize=20m", "watch.auto=false", "otel.otherspans=skip", "price.Claude-X.cacheread=0.30"}
    assert expected <= set(listed)
    assert "maxFileSize = 20m" in trail_config(repo).read_text()  # the key as the docs spell it
    assert TrailRepo.discover(repo).config.prices == {"Claude-X": {"cacheRead": 0.3}}


@pytest.mark.parametrize(
    ("key", "suggested"),
    [
        ("snapshot.maxFileSiz", "snapshot.maxFileSize"),
        ("maxFileSize", "snapshot.maxFileSize"),
        ("watch.idleMinute", "watch.idleMinutes"),
        ("redact.patterns", "redact.pattern"),
        ("price.claude-x.outptu", "price.claude-x.output"),
        ("price.claude-x.cache_read", "price.claude-x.cacheRead"),
    ],
)
def test_an_unknown_key_is_refused_with_the_closest_one(repo: Path, key: str, suggested: str) -> None:
    refused = trail("config", key, "1", cwd=repo)
    assert refused.returncode == 1
    assert f"did you mean {suggested}?" in refused.stderr
    assert not trail_config(repo).exists()


def test_an_unknown_key_with_nothing_close(repo: Path) -> None:
    refused = trail("config", "no.such.key", "1", cwd=repo)
    assert refused.returncode == 1 and "unknown key 'no.such.key'" in refused.stderr
    assert "did you mean" not in refused.stderr
    no_model = trail("config", "price.input", "3", cwd=repo)
    assert no_model.returncode == 1 and "price.<model>.<kind>" in no_model.stderr


def test_add_is_for_keys_of_several_values(repo: Path) -> None:
    refused = trail("config", "--add", "watch.auto", "false", cwd=repo)
    assert refused.returncode == 1 and "holds one value" in refused.stderr
    for pattern in (r"acme_[0-9]+", r"corp-[a-z]{8}"):
        assert trail("config", "--add", "redact.pattern", pattern, cwd=repo).returncode == 0
    assert trail("config", "redact.pattern", cwd=repo).stdout.splitlines() == [r"acme_[0-9]+", r"corp-[a-z]{8}"]
    assert trail("config", "redact.pattern", "only", cwd=repo).returncode == 0  # without --add: replaces them all
    assert trail("config", "redact.pattern", cwd=repo).stdout.splitlines() == ["only"]


def test_unset(repo: Path) -> None:
    assert trail("config", "watch.idleMinutes", "5", cwd=repo).returncode == 0
    assert trail("config", "--unset", "watch.idleMinutes", cwd=repo).returncode == 0
    assert trail("config", "watch.idleMinutes", cwd=repo).stdout == "60\n"  # the default again
    again = trail("config", "--unset", "watch.idleMinutes", cwd=repo)
    assert again.returncode == 1 and "not set" in again.stderr
    elsewhere = trail("config", "--unset", "watch.auto", cwd=repo)  # set in the user's file (conftest)
    assert elsewhere.returncode == 1 and str(user_config_path()) in elsewhere.stderr


def test_list_shows_every_setting_its_default_and_its_source(repo: Path) -> None:
    assert trail("config", "snapshot.maxFileSize", "20m", cwd=repo).returncode == 0
    assert trail("config", "price.claude-x.input", "3", cwd=repo).returncode == 0
    listed = trail("config", "--list", cwd=repo)
    assert listed.returncode == 0 and listed.stderr == ""
    rows = {line.split()[0]: line.split(maxsplit=3)[1:] for line in listed.stdout.splitlines()}
    assert rows["KEY"] == ["VALUE", "DEFAULT", "SOURCE"]
    assert {s.key for s in SETTINGS} | {"price.claude-x.input"} <= set(rows)
    assert rows["snapshot.maxFileSize"] == ["20m", "10m", str(trail_config(repo))]
    assert rows["watch.auto"] == ["false", "true", str(user_config_path())]  # the tests' own user file
    assert rows["redact.enabled"] == ["true", "true", "default"]
    assert rows["watch.idleMinutes"] == ["60", "60", "default"]
    assert rows["price.claude-x.input"] == ["3", "(none)", str(trail_config(repo))]


def test_show_origin_is_as_git_prints_it(repo: Path) -> None:
    assert trail("config", "snapshot.maxFileSize", "20m", cwd=repo).returncode == 0
    assert trail("config", "--add", "snapshot.allow", ".env.test", cwd=repo).returncode == 0
    lines = trail("config", "--list", "--show-origin", cwd=repo).stdout.splitlines()
    assert f"file:{trail_config(repo)}\tsnapshot.maxFileSize=20m" in lines
    assert f"file:{trail_config(repo)}\tsnapshot.allow=.env.test" in lines
    assert f"file:{user_config_path()}\twatch.auto=false" in lines
    assert "default\tredact.enabled=true" in lines and "default\tstore.maxObjectSize=32m" in lines
    assert not any("snapshot.sensitive=" in line for line in lines)  # no value, no line (as git)
    assert trail("config", "--show-origin", "otel.otherSpans", cwd=repo).stdout == "default\tnote\n"
    one = trail("config", "--show-origin", "snapshot.maxFileSize", cwd=repo).stdout
    assert one == f"file:{trail_config(repo)}\t20m\n"


def test_reading_a_bad_stored_value_says_what_is_used_instead(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    git("config", "-f", trail_config(repo), "snapshot.maxFileSize", "lots", cwd=repo)
    read = trail("config", "snapshot.maxFileSize", cwd=repo)
    assert read.returncode == 0 and read.stdout == "10m\n"
    assert "'lots'" in read.stderr and "uses the default, 10m" in read.stderr
    listed = trail("config", "--list", cwd=repo)
    assert "'lots'" in listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("snapshot.maxFileSize "))
    assert row.split()[1:4] == ["10m", "10m", "default"] and "invalid value" in row
    doctor = trail("doctor", cwd=repo)
    assert "config values" in doctor.stdout and "'lots'" in doctor.stdout


def hook(repo: Path, payload: dict[str, object]) -> None:
    done = subprocess.run(
        [str(HOOK), "claude"], input=json.dumps(payload).encode(), cwd=repo, capture_output=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == b""


def test_a_hook_records_its_step_whatever_the_config_holds(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    for key, value in [
        ("snapshot.maxFileSize", "lots"),
        ("redact.pattern", "([unclosed"),
        ("redact.enabled", "maybe"),  # the default: redaction stays on
        ("watch.idleMinutes", "soon"),
        ("snapshot.maxFilesize2", "1m"),
    ]:
        git("config", "-f", trail_config(repo), "--add", key, value, cwd=repo)
    (repo / "big.bin").write_bytes(b"x" * (2 << 20))  # under the default limit: in the step's tree
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    hook(repo, {"session_id": "cfg", "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": secret})
    trail_repo = TrailRepo.discover(repo)
    tip = Store(trail_repo).tip("cfg")
    text = tip.event.payload["text"]
    assert tip.kind == "prompt" and "[REDACTED:" in text and secret not in text
    assert "big.bin" in git("ls-tree", "--name-only", tip.commit, cwd=repo)
    log = (repo / ".git" / "trail" / "errors.log").read_text()
    for said in ("'lots'", "'([unclosed'", "'maybe'", "'soon'", "snapshot.maxfilesize2"):
        assert said in log
    hook(repo, {"session_id": "cfg", "cwd": str(repo), "hook_event_name": "UserPromptSubmit", "prompt": "again"})
    assert Store(trail_repo).tip("cfg").n == tip.n + 1
    assert (repo / ".git" / "trail" / "errors.log").read_text() == log  # said once, not at every hook
    assert not (repo / ".git" / "trail" / "pending").exists() or not os.listdir(repo / ".git" / "trail" / "pending")


def test_a_config_git_cannot_parse_does_not_stop_recording(repo: Path) -> None:
    trail_config(repo).parent.mkdir(parents=True)
    trail_config(repo).write_text("[snapshot\n\tmaxFileSize = 1m\n")
    with Recorder(repo, session_id="sdk") as rec:
        step = rec.note("still recorded")
    assert step.commit in git("rev-list", "trail/sessions/sdk", cwd=repo)
    assert "cannot be read" in (repo / ".git" / "trail" / "errors.log").read_text()
    assert "cannot be read" in trail("doctor", cwd=repo).stdout


def test_the_sdk_records_with_bad_values(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    git("config", "-f", trail_config(repo), "redact.enabled", "perhaps", cwd=repo)
    git("config", "-f", trail_config(repo), "otel.otherSpans", "drop", cwd=repo)
    git("config", "-f", trail_config(repo), "price.m.input", "cheap", cwd=repo)
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    with Recorder(repo, session_id="sdk") as rec:
        step = rec.prompt(f"use {secret}")
    assert "[REDACTED:" in step.event.payload["text"] and secret not in step.event.payload["text"]
    config = TrailRepo.discover(repo).config
    assert config.otel_other_spans == "note" and config.prices == {}
    assert "'perhaps'" in (repo / ".git" / "trail" / "errors.log").read_text()


def test_a_bad_value_in_the_user_file_falls_back_too(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.write_text("[watch]\n\tauto = sometimes\n")
    local = tmp_path / "local"
    local.write_text("[snapshot]\n\tmaxFileSize = 2m\n")
    config = TrailConfig(local, user_path=user)
    assert config.get_bool("watch.auto") is True and config.max_file_size == 2 << 20
    assert [p.origin for p in config.problems] == [user]


def test_help_lists_every_key_from_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--help"]) == 0
    out = capsys.readouterr().out
    keys = out.split("Keys (in any case):\n", 1)[1]
    for setting in KEYS:
        assert f"\n  {setting.key}" in "\n" + keys
        assert f"default {setting.show_default()}" in keys or setting.multi or setting.default is None
    assert "trail config --add redact.pattern" in out


def test_init_writes_every_key_into_the_template(repo: Path) -> None:
    assert trail("init", cwd=repo).returncode == 0
    text = trail_config(repo).read_text()
    for setting in SETTINGS:
        section, _, name = setting.key.partition(".")
        assert f"# [{section}]" in text and f"#     {name} = " in text
    assert TrailConfig(trail_config(repo)).problems == []  # all comments: nothing set

"""The ``online-bot`` command line, through click's CliRunner and once as a real process.

Every run gets a clean environment (no Tencent, Slack or store settings from the
developer's shell) and a fresh working directory (so no ``.env`` is read).
Without TENCENT_IM_SDKAPPID the CLI starts the built-in simulator with the demo
groups; the "real app" cases aim it at a Simulator started here with its own
SDKAppID and key, through TENCENT_IM_BASE_URL.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import make_url
from support.databases import DEFAULT_TEST_POSTGRES_URL
from support.processes import free_port

from bot.cli import main
from bot.settings import Settings
from bot.simulator import (
    DEMO_ADMIN,
    DEMO_SDKAPPID,
    DEMO_SECRET_KEY,
    Faults,
    GroupSpec,
    Scenario,
    ScenarioError,
    Simulator,
    Steady,
    load_scenario,
)
from bot.simulator.scenario import has_mark
from bot.tencent.usersig import UserSigError, decode, verify

TOP_KEYS = {
    "group_id",
    "mark",
    "online_count",
    "member_count",
    "capped",
    "edition_limited",
    "partial",
    "partial_reason",
    "pages",
    "members",
}
MEMBER_KEYS = {"account", "nickname", "avatar", "join_time"}
SIMULATOR_NOTE = "No TENCENT_IM_SDKAPPID set"

APP_ID = 1400012345
APP_KEY = "cli-test-secret-key-0123456789abcdef"
APP_ADMIN = "ops_admin"
APP_GROUP = "@TGS#cli-real"
APP_AUDIENCE = 77
APP_MARK_SHARE = 0.25


def _clean_env() -> dict[str, str | None]:
    """Unset every variable Settings would read (any case), whatever the shell has."""
    fields = set(Settings.model_fields)
    env: dict[str, str | None] = {name.upper(): None for name in fields}
    env.update({key: None for key in os.environ if key.lower() in fields})
    return env


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger for its own stderr; undo that after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in an empty directory with a clean environment plus ``env``."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), env={**_clean_env(), **(env or {})}, input=input)

    return run


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- online (demo)


def test_online_json_shape_and_exact_count(cli):
    result = cli("online", "@TGS#demo-class", "--json")
    data = _json(result)
    assert set(data) == TOP_KEYS
    assert data["group_id"] == "@TGS#demo-class"
    assert data["mark"] is None
    assert data["online_count"] == 45
    assert data["member_count"] == len(data["members"]) == 45
    assert data["capped"] is False
    assert data["edition_limited"] is False
    assert (data["partial"], data["partial_reason"]) == (False, None)
    assert data["pages"] == 1
    for member in data["members"]:
        assert set(member) == MEMBER_KEYS
        assert isinstance(member["join_time"], int)
    accounts = [m["account"] for m in data["members"]]
    assert len(set(accounts)) == len(accounts)


def test_simulator_note_on_stderr_not_stdout(cli):
    result = cli("online", "@TGS#demo-class", "--json")
    assert result.exit_code == 0
    assert SIMULATOR_NOTE in result.stderr
    assert "@TGS#demo-class" in result.stderr
    assert SIMULATOR_NOTE not in result.stdout


def test_online_text_output(cli):
    result = cli("online", "@TGS#demo-small")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("@TGS#demo-small: 12 online (exact count)")
    assert "12 members in 1 page(s)" in first


def test_mark_filters_the_list(cli):
    everyone = _json(cli("online", "@TGS#demo-class", "--json"))
    marked = _json(cli("online", "@TGS#demo-class", "--mark", "1000", "--json"))
    assert marked["mark"] == 1000
    assert 0 < marked["member_count"] < everyone["member_count"]
    assert marked["member_count"] == len(marked["members"])
    assert {m["account"] for m in marked["members"]} < {m["account"] for m in everyone["members"]}
    # The count API has no mark filter: it is the whole audience either way.
    assert marked["online_count"] == everyone["online_count"] == 45


def test_large_group_list_is_capped_but_count_is_exact(cli):
    data = _json(cli("online", "@TGS#demo-large", "--json"))
    assert data["capped"] is True
    assert data["member_count"] == len(data["members"]) == 1000
    assert data["online_count"] > 1000
    assert data["pages"] >= 2


@pytest.mark.parametrize(
    ("group", "code"),
    [("@TGS#demo-public", "10007"), ("@TGS#no-such-group", "10010")],
)
def test_tencent_errors_exit_1_with_one_sentence(cli, group, code):
    result = cli("online", group)
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if not line.startswith(SIMULATOR_NOTE)]
    assert len(errors) == 1
    assert code in errors[0]
    assert errors[0].startswith(f"Error (Tencent error {code}): ")
    assert "Traceback" not in result.stderr


def test_is_checks_accounts_beyond_the_list_cap(cli):
    listed = {m["account"] for m in _json(cli("online", "@TGS#demo-class", "--json"))["members"]}
    first = sorted(listed)[0]
    data = _json(cli("online", "@TGS#demo-class", "--is", f"{first}, ghost", "--json"))
    assert data == {
        "group_id": "@TGS#demo-class",
        "checked_at": data["checked_at"],
        "present": [first],
        "absent": ["ghost"],
    }
    # @TGS#demo-large has about 2,300 online and lists the 1,000 latest; these are older.
    large = {m["account"] for m in _json(cli("online", "@TGS#demo-large", "--json"))["members"]}
    old = [f"user{seq:06d}" for seq in range(1200)]
    result = cli("online", "@TGS#demo-large", "--is", ",".join(old[:500]))
    assert result.exit_code == 0, result.stderr
    head, present, _ = result.stdout.splitlines()
    in_group = set(present.removeprefix("  in:     ").split(", ")) - {"-"}
    assert in_group and not in_group & large  # in the group, though not in the list
    assert head.startswith(f"@TGS#demo-large: {len(in_group)} of 500 in the group now")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--is", " , "], "needs the accounts"),
        (["--is", ",".join(f"u{i}" for i in range(501))], "at most 500 accounts"),
        (["--is", "a", "--mark", "1000"], "leave --mark out"),
    ],
)
def test_is_usage_errors_exit_2(cli, args, fragment):
    result = cli("online", "@TGS#demo-large", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_is_on_a_group_without_it_exits_1_and_says_why(cli):
    result = cli("online", "@TGS#demo-public", "--is", "alice")
    assert result.exit_code == 1
    assert "only in audio-video groups (AVChatRoom)" in result.stderr


def test_invalid_group_id_is_a_usage_error(cli):
    result = cli("online", "@TGS#classe-é")
    assert result.exit_code == 2
    assert "printable ASCII" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_mark_is_a_usage_error(cli):
    result = cli("online", "@TGS#demo-class", "--mark", "-1")
    assert result.exit_code == 2
    assert "--mark" in result.stderr


def test_bad_setting_names_the_variable(cli):
    result = cli("online", "@TGS#demo-class", env={"TENCENT_IM_REGION": "mars"})
    assert result.exit_code == 2
    assert "TENCENT_IM_REGION" in result.stderr
    assert "mars" in result.stderr
    assert "singapore" in result.stderr  # says what is allowed
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_half_configured_app_is_a_usage_error(cli):
    result = cli("online", "@TGS#demo-class", env={"TENCENT_IM_SDKAPPID": str(APP_ID)})
    assert result.exit_code == 2
    assert "TENCENT_IM_SECRET_KEY is missing" in result.stderr


def test_missing_argument_is_a_usage_error(cli):
    result = cli("online")
    assert result.exit_code == 2
    assert "GROUP_ID" in result.stderr


def test_dot_env_in_working_directory_is_read(cli, tmp_path):
    """The isolation above matters: a .env in the working directory is a settings source."""
    (tmp_path / ".env").write_text("TENCENT_IM_REGION=mars\n", encoding="utf-8")
    result = cli("online", "@TGS#demo-class")
    assert result.exit_code == 2
    assert "TENCENT_IM_REGION" in result.stderr


# --------------------------------------------------------------------------- usersig


def test_usersig_for_the_demo_app(cli):
    result = cli("usersig")
    assert result.exit_code == 0, result.stderr
    sig = result.stdout.strip()
    verify(
        sig,
        sdkappid=DEMO_SDKAPPID,
        key=DEMO_SECRET_KEY,
        identifier=DEMO_ADMIN,
        now=int(time.time()),
    )
    assert "demo app" in result.stderr


def test_usersig_identifier_and_expire(cli):
    before = int(time.time())
    result = cli("usersig", "alice", "--expire", "600")
    assert result.exit_code == 0, result.stderr
    sig = result.stdout.strip()
    fields = decode(sig)
    assert fields["TLS.identifier"] == "alice"
    assert fields["TLS.expire"] == 600
    assert before <= int(fields["TLS.time"]) <= int(time.time())  # type: ignore[call-overload]
    verify(
        sig, sdkappid=DEMO_SDKAPPID, key=DEMO_SECRET_KEY, identifier="alice", now=int(time.time())
    )
    with pytest.raises(UserSigError) as expired:
        verify(
            sig,
            sdkappid=DEMO_SDKAPPID,
            key=DEMO_SECRET_KEY,
            identifier="alice",
            now=before + 601 + 5,
        )
    assert expired.value.code == 70001


def test_usersig_expire_out_of_range(cli):
    result = cli("usersig", "--expire", "0")
    assert result.exit_code == 2
    assert "--expire" in result.stderr


def test_usersig_signs_for_the_configured_app(cli):
    env = {
        "TENCENT_IM_SDKAPPID": str(APP_ID),
        "TENCENT_IM_SECRET_KEY": APP_KEY,
        "TENCENT_IM_ADMIN": APP_ADMIN,
    }
    result = cli("usersig", env=env)
    assert result.exit_code == 0, result.stderr
    sig = result.stdout.strip()
    verify(sig, sdkappid=APP_ID, key=APP_KEY, identifier=APP_ADMIN, now=int(time.time()))
    with pytest.raises(UserSigError):
        verify(
            sig, sdkappid=APP_ID, key=DEMO_SECRET_KEY, identifier=APP_ADMIN, now=int(time.time())
        )
    assert SIMULATOR_NOTE not in result.stderr
    assert APP_KEY not in result.output


# --------------------------------------------------------------------------- simulator


@pytest.mark.parametrize(
    "text",
    [
        "groups: [unclosed\n",  # not YAML
        "groups:\n  - group_id: '@TGS#x'\n    name: X\n    stedy: 3\n",  # a typo'd key
        "rate_limit: 0\n",  # a bad value
    ],
    ids=["not-yaml", "unknown-key", "bad-value"],
)
def test_simulator_with_a_broken_scenario_exits_2(cli, tmp_path, text):
    path = tmp_path / "broken.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as expected:
        load_scenario(path)
    result = cli("simulator", "--port", "0", "--scenario", str(path))
    assert result.exit_code == 2
    assert f"Scenario error: {expected.value}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_simulator_with_a_missing_scenario_file_exits_2(cli, tmp_path):
    result = cli("simulator", "--scenario", str(tmp_path / "nope.yml"))
    assert result.exit_code == 2
    assert "nope.yml" in result.stderr


# --------------------------------------------------------------------------- a configured app


@pytest.fixture
def app_sim() -> Iterator[Simulator]:
    scenario = Scenario(
        sdkappid=APP_ID,
        secret_key=APP_KEY,
        admin=APP_ADMIN,
        groups=(
            GroupSpec(
                APP_GROUP, "CLI test", curve=Steady(APP_AUDIENCE), marks={1000: APP_MARK_SHARE}
            ),
        ),
    )
    with Simulator(scenario).start(host="127.0.0.1", port=0) as sim:
        yield sim


def _app_env(sim: Simulator, key: str = APP_KEY) -> dict[str, str]:
    return {
        "TENCENT_IM_BASE_URL": sim.url,
        "TENCENT_IM_SDKAPPID": str(APP_ID),
        "TENCENT_IM_SECRET_KEY": key,
        "TENCENT_IM_ADMIN": APP_ADMIN,
    }


def test_configured_app_counts_match_the_scenario(cli, app_sim):
    result = cli("online", APP_GROUP, "--json", env=_app_env(app_sim))
    data = _json(result)
    assert data["online_count"] == data["member_count"] == APP_AUDIENCE
    assert SIMULATOR_NOTE not in result.stderr
    stats = app_sim.stats()
    assert stats.get_online_member_num.ok == 1
    assert stats.get_members.ok == 1

    marked = _json(cli("online", APP_GROUP, "--mark", "1000", "--json", env=_app_env(app_sim)))
    expected = sum(has_mark(APP_GROUP, seq, 1000, APP_MARK_SHARE) for seq in range(APP_AUDIENCE))
    assert 0 < marked["member_count"] == expected < APP_AUDIENCE
    assert marked["online_count"] == APP_AUDIENCE


def test_a_list_cut_short_by_paging_is_flagged_partial(cli):
    scenario = Scenario(
        sdkappid=APP_ID,
        secret_key=APP_KEY,
        admin=APP_ADMIN,
        page_size=10,
        faults=Faults(repeated_cursor_rate=1.0),
        groups=(GroupSpec(APP_GROUP, "CLI test", curve=Steady(APP_AUDIENCE)),),
    )
    with Simulator(scenario).start(host="127.0.0.1", port=0) as sim:
        data = _json(cli("online", APP_GROUP, "--json", env=_app_env(sim)))
        text = cli("online", APP_GROUP, env=_app_env(sim))
    assert (data["partial"], data["partial_reason"]) == (True, "repeated_cursor")
    assert (data["member_count"], data["pages"], data["online_count"]) == (20, 2, APP_AUDIENCE)
    assert text.exit_code == 0, text.stderr
    assert (
        "note: incomplete list: Tencent stopped paging after 2 page(s) (it sent a page cursor "
        "it had already sent); these are the members it sent." in text.stdout.splitlines()
    )


def test_wrong_secret_key_exits_1_without_leaking_it(cli, app_sim):
    wrong = "wrong-key-that-must-never-be-printed-42"
    result = cli("--log-level", "DEBUG", "online", APP_GROUP, env=_app_env(app_sim, wrong))
    assert result.exit_code == 1
    assert "70009" in result.stderr
    assert "Traceback" not in result.output
    assert wrong not in result.output
    assert APP_KEY not in result.output
    assert re.search(r"usersig=(?!<redacted>)", result.output) is None  # DEBUG logs scrubbed
    assert app_sim.stats().get_members.errors == 1  # a credentials error is not retried


# --------------------------------------------------------------------------- python -m bot


def _run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_bot_prints_json(tmp_path):
    done = _run_module("online", "@TGS#demo-class", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == TOP_KEYS
    assert data["online_count"] == data["member_count"] == 45
    assert SIMULATOR_NOTE in done.stderr


def test_python_m_bot_api_error_has_no_traceback(tmp_path):
    done = _run_module("online", "@TGS#demo-public", cwd=tmp_path)
    assert done.returncode == 1
    assert "10007" in done.stderr
    assert "Traceback" not in done.stderr


def test_shell_refuses_to_poll_tencent_faster_than_its_cache(cli):
    app = {"TENCENT_IM_SDKAPPID": "1400000000", "TENCENT_IM_SECRET_KEY": "k"}
    result = cli("shell", "--poll-interval", "10", env=app)
    assert result.exit_code == 2
    assert "below 40 s" in result.stderr and "cache" in result.stderr


# --------------------------------------------------------------------------- every wrong setting


@pytest.fixture
def command_env(tmp_path, app_sim, fake_slack):
    """command -> (arguments, the settings it needs to get as far as the one under test)."""
    previous = signal.getsignal(signal.SIGTERM)
    data = {"XDG_DATA_HOME": str(tmp_path / "data")}
    app = {**_app_env(app_sim), **data}
    slack = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "run-signing-secret",
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(free_port()),
    }
    yield {
        "online": (["online", APP_GROUP], app),
        "shell": (["shell"], app),
        "db": (["db", "upgrade"], data),
        "run": (["run"], {**app, **slack}),
    }
    signal.signal(signal.SIGTERM, previous)  # run installs its own


def _configuration_error(result: Result, setting: str) -> str:
    """Exit 2 with one sentence naming ``setting``, and nothing uncaught."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (sentence,) = [
        line for line in result.stderr.splitlines() if line.startswith("Configuration error: ")
    ]
    assert setting in sentence
    return sentence


def _missing_postgres_database() -> str:
    base = make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)
    return base.set(database="online_bot_no_such_database").render_as_string(hide_password=False)


#: (setting, a wrong value, the commands that use it)
WRONG_SETTINGS = [
    ("DATABASE_URL", "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/bot", "run shell db"),
    ("DATABASE_URL", _missing_postgres_database(), "run shell db"),
    ("DATABASE_URL", "postgresqlfoo://postgres:hunter2@127.0.0.1/bot", "run shell db"),
    ("DATABASE_URL", "sqlite:////proc/online-bot/bot.db", "run shell db"),  # cannot be created
    ("DATABASE_URL", "sqlite:///{tmp}/a-file/bot.db", "run shell db"),  # a file, not a directory
    ("DATABASE_URL", "sqlite:///{tmp}", "run shell db"),  # a directory, not a file
    ("DATABASE_URL", "sqlite://", "run shell db"),
    ("REDIS_URL", "redis://:notaport", "run shell online"),
    ("WATCH_ADMINS", "alice@example.com", "run shell"),
    ("TENCENT_IM_BASE_URL", "http://", "run shell online"),
    ("TENCENT_IM_BASE_URL", "http://exa mple.com", "run shell online"),
    ("TENCENT_IM_BASE_URL", "http://127.0.0.1:notaport", "run shell online"),
]


@pytest.mark.parametrize(
    ("setting", "value", "command"),
    [
        pytest.param(setting, value, command, id=f"{command}-{setting}={value}")
        for setting, value, commands in WRONG_SETTINGS
        for command in commands.split()
    ],
)
def test_a_wrong_setting_exits_2_with_one_sentence(
    cli, command_env, tmp_path, setting, value, command
):
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    args, env = command_env[command]
    result = cli(*args, env={**env, setting: value.format(tmp=tmp_path)}, input="quit\n")
    sentence = _configuration_error(result, setting)
    assert "hunter2" not in result.output  # a URL's password is never shown
    assert APP_KEY not in result.output
    if "postgresql" in value:
        assert make_url(value).render_as_string(hide_password=True) in sentence  # which server


def test_run_with_its_port_taken_exits_2(cli, command_env):
    args, env = command_env["run"]
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", int(env["PORT"])))
        taken.listen()
        result = cli(*args, env=env)
    sentence = _configuration_error(result, "PORT")
    assert env["PORT"] in sentence


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "text/html"),
        ('{"hello": "world"}', "application/json"),
        ("[1, 2]", "application/json"),
        ('{"ok": "yes"}', "application/json"),
    ],
    ids=["html", "json-without-ok", "json-list", "ok-not-boolean"],
)
def test_run_with_slack_api_url_answering_junk_exits_2(
    cli, command_env, fake_slack, body, content_type
):
    fake_slack.reply_next("auth.test", body, content_type=content_type)
    args, env = command_env["run"]
    sentence = _configuration_error(cli(*args, env=env), "SLACK_API_URL")
    assert "SLACK_BOT_TOKEN" not in sentence  # the token is not what is wrong
    assert fake_slack.calls("auth.test")


def test_secret_key_with_a_pasted_newline_still_signs(cli, app_sim):
    result = cli("online", APP_GROUP, "--json", env=_app_env(app_sim, APP_KEY + "\n"))
    assert _json(result)["online_count"] == APP_AUDIENCE
    warnings = [line for line in result.stderr.splitlines() if "TENCENT_IM_SECRET_KEY" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    assert APP_KEY not in result.output
    assert app_sim.stats().get_members.errors == 0


def test_online_opens_tencent_without_loading_the_database_or_the_slack_app():
    # `online-bot online` (and usersig) import the command line and bot.tencent.connect
    # only: 0.4 s of imports where the composition root (bot.wiring) takes 1 s
    code = (
        "import sys, bot.cli, bot.tencent.connect\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'alembic', 'apscheduler', 'slack_bolt', 'PIL'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"

import logging

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_use_the_simulator():
    settings = load_settings({})
    assert settings.use_simulator
    assert settings.tencent_im_admin == "administrator"
    assert settings.tencent_im_rate_limit == 200
    assert settings.tencent_base_url == "https://console.tim.qq.com"


@pytest.mark.parametrize(
    ("region", "domain"),
    [
        ("singapore", "adminapisgp.im.qcloud.com"),
        ("silicon-valley", "adminapiusa.im.qcloud.com"),
        ("mumbai", "adminapiind.im.qcloud.com"),
    ],
)
def test_region_picks_the_domain(region, domain):
    assert load_settings({"TENCENT_IM_REGION": region}).tencent_base_url == f"https://{domain}"


def test_base_url_overrides_region():
    settings = load_settings(
        {"TENCENT_IM_REGION": "tokyo", "TENCENT_IM_BASE_URL": "http://127.0.0.1:8080/"}
    )
    assert settings.tencent_base_url == "http://127.0.0.1:8080"
    assert settings.tencent_backup_url is None  # an overridden domain has no backup


@pytest.mark.parametrize(
    ("region", "backup"),
    [
        ("china", "https://adminapi.my-imcloud.com"),
        ("singapore", "https://adminapisgp.my-imcloud.com"),
        ("seoul", "https://adminapikr.my-imcloud.com"),
        ("tokyo", "https://adminapijpn.my-imcloud.com"),
        ("frankfurt", "https://adminapiger.my-imcloud.com"),
        ("silicon-valley", "https://adminapiusa.my-imcloud.com"),
        ("jakarta", "https://adminapiidn.my-imcloud.com"),
        ("mumbai", None),
    ],
)
def test_region_has_its_backup_domain(region, backup):
    assert load_settings({"TENCENT_IM_REGION": region}).tencent_backup_url == backup


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"TENCENT_IM_REGION": "mars"},
            "TENCENT_IM_REGION is not valid (got 'mars'): expected china",
        ),
        (
            {"TENCENT_IM_SDKAPPID": "abc", "TENCENT_IM_SECRET_KEY": "k"},
            "TENCENT_IM_SDKAPPID is not valid",
        ),
        ({"TENCENT_IM_SDKAPPID": "-4", "TENCENT_IM_SECRET_KEY": "k"}, "positive integer"),
        ({"TENCENT_IM_SDKAPPID": "1400000000"}, "TENCENT_IM_SECRET_KEY is missing"),
        ({"TENCENT_IM_SECRET_KEY": "k"}, "TENCENT_IM_SDKAPPID is missing"),
        ({"TENCENT_IM_RATE_LIMIT": "0"}, "TENCENT_IM_RATE_LIMIT is not valid (got '0')"),
        ({"TENCENT_IM_RATE_LIMIT": "fast"}, "an integer from 3 to 100000"),
        ({"TENCENT_IM_BASE_URL": "localhost:8080"}, "a URL starting with http:// or https://"),
        ({"TENCENT_IM_ADMIN": ""}, "TENCENT_IM_ADMIN is not valid"),
    ],
)
def test_wrong_values_name_the_variable(env, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert fragment in str(caught.value)


def test_secret_key_never_shown():
    settings = load_settings(
        {"TENCENT_IM_SDKAPPID": "1400000000", "TENCENT_IM_SECRET_KEY": "s3cr3t"}
    )
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings)
    assert settings.tencent_im_secret_key.get_secret_value() == "s3cr3t"
    with pytest.raises(SettingsError) as caught:
        load_settings({"TENCENT_IM_SDKAPPID": "x", "TENCENT_IM_SECRET_KEY": "s3cr3t"})
    assert "s3cr3t" not in str(caught.value)


def test_given_mapping_ignores_the_process_environment(monkeypatch):
    monkeypatch.setenv("TENCENT_IM_REGION", "mars")
    assert load_settings({}).tencent_im_region == "china"


def test_environment_and_dotenv_file(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TENCENT_IM_REGION=seoul\nTENCENT_IM_RATE_LIMIT=50\n")
    monkeypatch.setenv("TENCENT_IM_RATE_LIMIT", "120")
    settings = load_settings(env_file=str(env_file))
    assert settings.tencent_im_region == "seoul"
    assert settings.tencent_im_rate_limit == 120  # the environment wins over .env


def test_poll_interval_below_tencents_cache_is_refused():
    app = {"TENCENT_IM_SDKAPPID": "1400000000", "TENCENT_IM_SECRET_KEY": "k"}
    with pytest.raises(SettingsError) as caught:
        load_settings({**app, "POLL_INTERVAL": "30"})
    assert "at least 40 seconds" in str(caught.value) and "cache" in str(caught.value)
    assert load_settings({**app, "POLL_INTERVAL": "40"}).poll_interval == 40


@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "TENCENT_IM_BASE_URL": "http://127.0.0.1:8080",
            "TENCENT_IM_SDKAPPID": "1",
            "TENCENT_IM_SECRET_KEY": "k",
        },
    ],
)
def test_shorter_poll_interval_only_against_a_local_simulator(env):
    assert load_settings({**env, "POLL_INTERVAL": "2"}).poll_interval == 2


def test_interactive_reserve_must_leave_room():
    with pytest.raises(SettingsError, match="TENCENT_IM_INTERACTIVE_RESERVE"):
        load_settings({"TENCENT_IM_RATE_LIMIT": "10", "TENCENT_IM_INTERACTIVE_RESERVE": "8"})
    assert load_settings({"TENCENT_IM_RATE_LIMIT": "10", "TENCENT_IM_INTERACTIVE_RESERVE": "7"})
    assert load_settings({}).tencent_im_interactive_reserve == 4


def test_redis_url_checked():
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_settings({"REDIS_URL": "localhost:6379"})


# --- values that alone say they are wrong ------------------------------------------------


@pytest.mark.parametrize(
    "value", ["http://", "http://exa mple.com", "http://host:notaport", "https://host:99999"]
)
@pytest.mark.parametrize("name", ["TENCENT_IM_BASE_URL", "SLACK_API_URL"])
def test_urls_need_a_host_and_a_numeric_port(name, value):
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    assert str(caught.value).startswith(f"{name} is not valid")


@pytest.mark.parametrize("value", ["redis://:notaport", "redis://host:99999/0"])
def test_redis_url_needs_a_numeric_port(value):
    with pytest.raises(SettingsError) as caught:
        load_settings({"REDIS_URL": value})
    assert str(caught.value).startswith("REDIS_URL is not valid")
    assert load_settings({"REDIS_URL": "redis://:pw@127.0.0.1:6379/0"}).redis_url


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("postgresqlfoo://user@host/db", "postgresql+psycopg://"),
        ("mysql://user@host/db", "postgresql+psycopg://"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_database_url_of_an_unusable_kind(value, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": value})
    assert str(caught.value).startswith("DATABASE_URL is not valid")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "sqlite:////var/lib/online-bot/bot.db",
        "sqlite+pysqlite:///relative.db",
        "postgresql+psycopg://bot:p%40ss@db:5432/bot",
        "postgresql://bot@db/bot",
    ],
)
def test_database_urls_of_usable_kinds(value):
    assert load_settings({"DATABASE_URL": value}).database == value


@pytest.mark.parametrize(
    "value", ["alice@example.com", "U012AB3CD,alice", "u012ab3cd", "C012AB3CD", "U012-AB3CD"]
)
def test_watch_admins_must_be_slack_ids(value):
    with pytest.raises(SettingsError) as caught:
        load_settings({"WATCH_ADMINS": value})
    assert str(caught.value).startswith("WATCH_ADMINS is not valid")
    assert "user IDs" in str(caught.value) and "S" in str(caught.value)


def test_watch_admins_user_and_group_ids():
    settings = load_settings({"WATCH_ADMINS": "U012AB3CD, W0ABCDE12 S0614TZR7,"})
    assert settings.watch_admin_ids == {"U012AB3CD", "W0ABCDE12", "S0614TZR7"}


# --- values fixed up, with a warning -------------------------------------------------------

KEY = "s3cr3t-key-0123456789"


@pytest.mark.parametrize("pasted", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "])
def test_secret_key_stripped_with_one_warning_without_the_key(pasted, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        settings = load_settings(
            {"TENCENT_IM_SDKAPPID": "1400000000", "TENCENT_IM_SECRET_KEY": pasted}
        )
    assert settings.tencent_im_secret_key.get_secret_value() == KEY
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "TENCENT_IM_SECRET_KEY" in warning.getMessage()
    assert KEY not in warning.getMessage() and "s3cr3t" not in warning.getMessage()


def test_clean_secret_key_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        load_settings({"TENCENT_IM_SDKAPPID": "1400000000", "TENCENT_IM_SECRET_KEY": KEY})
    assert caplog.records == []


def test_mumbai_kept_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        settings = load_settings({"TENCENT_IM_REGION": "mumbai"})
    assert settings.tencent_base_url == "https://adminapiind.im.qcloud.com"
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "TENCENT_IM_REGION" in message and "mumbai" in message
    assert "current" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        load_settings({"TENCENT_IM_REGION": "jakarta"})
    assert caplog.records == []


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "mysql://bot:hunter2@db/bot"},
        {"REDIS_URL": "redis://:hunter2@redis:notaport/0"},
    ],
)
def test_a_refused_url_is_shown_without_its_password(env):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert "hunter2" not in str(caught.value)
    assert ":***@" in str(caught.value)


def test_push_is_off_unless_a_token_or_the_insecure_switch_says_so():
    assert not load_settings({}).push_enabled
    signed = load_settings({"TENCENT_IM_CALLBACK_TOKEN": "  tok3n\n"})
    assert signed.push_enabled
    assert signed.tencent_im_callback_token.get_secret_value() == "tok3n"  # as pasted, trimmed
    assert "tok3n" not in repr(signed)
    assert load_settings({"TENCENT_IM_CALLBACK_INSECURE": "1"}).push_enabled
    assert not load_settings({"TENCENT_IM_CALLBACK_INSECURE": "0"}).push_enabled
    assert not load_settings({"TENCENT_IM_CALLBACK_TOKEN": "   "}).push_enabled
    assert load_settings({}).push_resync_interval == 600


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TENCENT_IM_CALLBACK_TOKEN": "t" * 129}, "1 to 128 characters"),
        ({"TENCENT_IM_CALLBACK_INSECURE": "maybe"}, "TENCENT_IM_CALLBACK_INSECURE is not valid"),
        ({"PUSH_RESYNC_INTERVAL": "30"}, "whole seconds from 60 to 86400"),
    ],
)
def test_wrong_push_settings_name_the_variable_and_hide_the_token(env, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert fragment in str(caught.value)
    assert "t" * 129 not in str(caught.value)


# -- metrics, readiness and logs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"METRICS_PORT": "0"}, "METRICS_PORT is not valid (got '0'): expected a TCP port"),
        ({"METRICS_PORT": "nine"}, "GET /metrics, /readyz and /healthz"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT is not valid (got 'xml'): expected text"),
    ],
)
def test_metrics_port_and_log_format_are_checked(env, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert fragment in str(caught.value)


def test_metrics_port_and_log_format_defaults_and_spellings():
    default = load_settings({"METRICS_PORT": ""})
    assert (default.metrics_port, default.log_format) == (None, "text")
    given = load_settings({"METRICS_PORT": "9100", "LOG_FORMAT": " JSON "})
    assert (given.metrics_port, given.log_format) == (9100, "json")


def test_secret_values_are_every_secret_set_and_nothing_else():
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "signing",
            "SLACK_APP_TOKEN": "xapp-1",
            "TENCENT_IM_SDKAPPID": "1400000001",
            "TENCENT_IM_SECRET_KEY": "key",
            "TENCENT_IM_CALLBACK_TOKEN": "callback",
            "TENCENT_IM_ADMIN": "admin",
        }
    )
    assert sorted(settings.secret_values) == sorted(
        ["xoxb-1", "signing", "xapp-1", "key", "callback"]
    )
    assert load_settings({}).secret_values == ()


def test_serving_slack_needs_a_bot_token_and_a_mode():
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN is missing") as caught:
        load_settings({"SLACK_SIGNING_SECRET": "s"}).check_slack_app()
    assert "api.slack.com/apps > your app > OAuth & Permissions" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}).check_slack_app()
    assert "SLACK_APP_TOKEN" in str(caught.value) and "SLACK_SIGNING_SECRET" in str(caught.value)
    assert "xoxb-1" not in str(caught.value)
    load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}).check_slack_app()
    load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}).check_slack_app()

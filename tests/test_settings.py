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

"""Settings: the one place that reads the environment (and an optional ``.env`` file).

Every value is validated at start; a wrong one raises ``SettingsError`` naming
the variable and what is allowed. Secrets are ``SecretStr``: they never show in
a repr, a log line or an error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.render.blocks import is_user_id, is_usergroup_id
from bot.tencent.ratelimit import BACKGROUND_BURST, sustained_per_window

__all__ = [
    "BACKUP_DOMAINS",
    "REGION_DOMAINS",
    "TOKENS_HELP",
    "Settings",
    "SettingsError",
    "load_settings",
]

log = logging.getLogger(__name__)

#: Tencent Cloud Chat REST domains per data centre (tencent-rest.md).
REGION_DOMAINS: dict[str, str] = {
    "china": "console.tim.qq.com",
    "singapore": "adminapisgp.im.qcloud.com",
    "seoul": "adminapikr.im.qcloud.com",
    "tokyo": "adminapijpn.im.qcloud.com",
    "frankfurt": "adminapiger.im.qcloud.com",
    "silicon-valley": "adminapiusa.im.qcloud.com",
    "jakarta": "adminapiidn.im.qcloud.com",
    "mumbai": "adminapiind.im.qcloud.com",
}
#: The backup domain Tencent publishes for each region, used when the main one cannot be
#: reached (DNS, connect, TLS); Mumbai has none (tencent-rest.md).
BACKUP_DOMAINS: dict[str, str] = {
    "china": "adminapi.my-imcloud.com",
    "singapore": "adminapisgp.my-imcloud.com",
    "seoul": "adminapikr.my-imcloud.com",
    "tokyo": "adminapijpn.my-imcloud.com",
    "frankfurt": "adminapiger.my-imcloud.com",
    "silicon-valley": "adminapiusa.my-imcloud.com",
    "jakarta": "adminapiidn.my-imcloud.com",
}

#: Regions kept for older apps although Tencent's current REST overview no longer lists them.
UNLISTED_REGIONS = frozenset({"mumbai"})

#: The databases the bot ships drivers for (SQLAlchemy drivernames).
DATABASE_KINDS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")

#: Where a Slack app's tokens and secrets are found.
TOKENS_HELP = "api.slack.com/apps > your app"

#: Tencent's list cache is 40 s: polling faster than this gains nothing.
MIN_POLL_INTERVAL = 40

Region = Literal[
    "china", "singapore", "seoul", "tokyo", "frankfurt", "silicon-valley", "jakarta", "mumbai"
]


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable and what is allowed."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    tencent_im_sdkappid: int | None = Field(default=None, gt=0, lt=2**32)
    tencent_im_secret_key: SecretStr | None = None
    tencent_im_admin: str = Field(default="administrator", min_length=1, max_length=32)
    tencent_im_region: Region = "china"
    tencent_im_base_url: str | None = None
    tencent_im_rate_limit: int = Field(default=200, ge=BACKGROUND_BURST + 1, le=100_000)
    tencent_im_interactive_reserve: int = Field(default=4, ge=0, le=99_997)
    redis_url: str | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=1, le=65535)
    #: GET /metrics, /readyz and /healthz on this port (bot.metrics, bot.readiness).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    log_format: Literal["text", "json"] = "text"

    database_url: str | None = None
    xdg_data_home: str | None = None
    poll_interval: int = Field(default=60, ge=1, le=86_400)
    #: Not for users: both replica leases (targets, outbox), in seconds, instead of the
    #: ones fitted to POLL_INTERVAL (``LeasePolicy.for_interval``); the replica tests
    #: set it short, so that a killed replica's work is taken over quickly.
    lease_seconds: int | None = Field(default=None, ge=1, le=3600)
    history_days: int = Field(default=14, ge=1, le=3650)
    watch_admins: str = ""

    # Push: Tencent's member-state callbacks on POST /tencent/callback (bot.alerts.push).
    tencent_im_callback_token: SecretStr | None = None
    tencent_im_callback_insecure: bool = False
    push_resync_interval: int = Field(default=600, ge=60, le=86_400)
    #: Not for users: seconds from a callback to the check it asks for, instead of
    #: ``bot.alerts.push.DEBOUNCE`` (Tencent's count refresh); the replica tests set it short.
    push_debounce: float | None = Field(default=None, ge=0, le=60)

    @field_validator("tencent_im_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return _checked_url(value, ("http", "https")).rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        value = _checked_url(value, ("http", "https"))
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("tencent_im_secret_key", mode="before")
    @classmethod
    def _strip_secret_key(cls, value: object) -> object:
        if isinstance(value, str) and value != value.strip():
            log.warning(
                "TENCENT_IM_SECRET_KEY has spaces or line breaks around it (a pasted newline?): "
                "they were removed, as Tencent would refuse every UserSig signed with them "
                "(70009); remove them from the setting."
            )
            return value.strip() or None
        return value

    @field_validator("tencent_im_callback_token", mode="before")
    @classmethod
    def _callback_token(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None  # as pasted; Tencent's tokens have no spaces
            if value is not None and len(value) > 128:
                raise ValueError("longer than 128 characters")
        return value

    @field_validator("tencent_im_region")
    @classmethod
    def _region_still_listed(cls, value: str) -> str:
        if value in UNLISTED_REGIONS:
            log.warning(
                "TENCENT_IM_REGION=%s (%s) is not in Tencent's current list of data centres "
                "(only older pages mention it): if calls cannot connect or fail with 70016/70020, "
                "check your app's data centre in the Chat console and set the region it shows.",
                value,
                REGION_DOMAINS[value],
            )
        return value

    @field_validator(
        "tencent_im_sdkappid",
        "tencent_im_secret_key",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("unix://"):
            return value
        return _checked_url(value, ("redis", "rediss"))

    @field_validator("watch_admins")
    @classmethod
    def _watch_admins(cls, value: str) -> str:
        wrong = [p for p in _admin_parts(value) if not (is_user_id(p) or is_usergroup_id(p))]
        if wrong:
            raise ValueError(f"not Slack IDs: {', '.join(wrong)}")
        return value

    @model_validator(mode="after")
    def _poll_no_faster_than_the_cache(self) -> Settings:
        if self.poll_interval < MIN_POLL_INTERVAL and not self.tencent_is_local:
            raise ValueError(
                f"POLL_INTERVAL is {self.poll_interval}: it must be at least "
                f"{MIN_POLL_INTERVAL} seconds. Tencent caches the online list for up to 40 s "
                "(the count for about 10 s), so polling faster only repeats the same answer "
                "and spends the rate limit (shorter intervals are allowed only against a "
                "local simulator)"
            )
        return self

    @model_validator(mode="after")
    def _reserve_below_limit(self) -> Settings:
        rate, reserve = self.tencent_im_rate_limit, self.tencent_im_interactive_reserve
        if sustained_per_window(rate, reserve) < 1:  # polling needs a place per window
            most = rate - BACKGROUND_BURST - 1
            raise ValueError(
                f"TENCENT_IM_INTERACTIVE_RESERVE ({reserve}) must be "
                f"at most {most} with TENCENT_IM_RATE_LIMIT {rate}: it is "
                "the number of calls /online queries may make at once ahead of polling, and "
                "polling needs the rest"
            )
        return self

    @model_validator(mode="after")
    def _app_pair(self) -> Settings:
        has_id = self.tencent_im_sdkappid is not None
        has_key = self.tencent_im_secret_key is not None
        if has_id != has_key:
            missing = "TENCENT_IM_SECRET_KEY" if has_id else "TENCENT_IM_SDKAPPID"
            raise ValueError(
                f"{missing} is missing: set both TENCENT_IM_SDKAPPID and TENCENT_IM_SECRET_KEY "
                "(Chat console > Applications > your app > Basic Information), "
                "or neither to use the built-in simulator"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        from sqlalchemy import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a SQLAlchemy URL") from None
        if url.drivername not in DATABASE_KINDS:
            raise ValueError(f"no driver for {url.drivername}://")
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("in-memory")
        return value

    def check_slack_app(self) -> None:
        """What serving Slack needs of the settings alone (``online-bot run`` checks it before
        loading the bot, so a missing token is said at once): a bot token, and a mode (an
        app-level token for Socket Mode, or a signing secret for HTTP mode). SettingsError
        naming what to set, and where to find it, otherwise."""
        if self.slack_bot_token is None:
            raise SettingsError(
                "SLACK_BOT_TOKEN is missing: copy the Bot User OAuth Token (xoxb-...) from "
                f"{TOKENS_HELP} > OAuth & Permissions after installing the app to your workspace."
            )
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise SettingsError(
                "Set SLACK_APP_TOKEN (xapp-..., Basic Information > App-Level Tokens) for "
                "Socket Mode, or SLACK_SIGNING_SECRET (Basic Information > App Credentials) "
                "for HTTP mode."
            )

    @property
    def database(self) -> str:
        """DATABASE_URL, else a SQLite file in the user's data directory."""
        if self.database_url:
            return self.database_url
        base = Path(self.xdg_data_home) if self.xdg_data_home else Path.home() / ".local/share"
        return f"sqlite:///{base / 'online-bot' / 'online-bot.db'}"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret set (tokens, keys): the log scrubs them wherever they appear."""
        held = (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.tencent_im_secret_key,
            self.tencent_im_callback_token,
        )
        return tuple(secret.get_secret_value() for secret in held if secret is not None)

    @property
    def push_enabled(self) -> bool:
        """Whether POST /tencent/callback is served: with a token, or explicitly without."""
        return self.tencent_im_callback_token is not None or self.tencent_im_callback_insecure

    @property
    def watch_admin_ids(self) -> frozenset[str]:
        """Slack user IDs (U.../W...) and user-group IDs (S...) allowed to change watches."""
        return frozenset(_admin_parts(self.watch_admins))

    @property
    def tencent_is_local(self) -> bool:
        """The built-in simulator, or TENCENT_IM_BASE_URL on this machine (a simulator)."""
        if self.use_simulator:
            return True
        host = urlsplit(self.tencent_im_base_url or "").hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")

    @property
    def use_simulator(self) -> bool:
        """No Tencent app configured: the bot runs against the built-in simulator."""
        return self.tencent_im_sdkappid is None

    @property
    def tencent_base_url(self) -> str:
        """Where REST calls go: TENCENT_IM_BASE_URL, else the region's domain."""
        return self.tencent_im_base_url or f"https://{REGION_DOMAINS[self.tencent_im_region]}"

    @property
    def tencent_backup_url(self) -> str | None:
        """The region's backup domain; none when TENCENT_IM_BASE_URL overrides the domain."""
        backup = BACKUP_DOMAINS.get(self.tencent_im_region)
        if self.tencent_im_base_url or backup is None:
            return None
        return f"https://{backup}"


def _admin_parts(value: str) -> list[str]:
    return value.replace(",", " ").split()


def _checked_url(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` if it is a URL with one of ``schemes``, a host and a numeric port (if any)."""
    if any(char.isspace() for char in value):
        raise ValueError("has spaces")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 -- parsing it raises on a port that is not a number 0-65535
    except ValueError:
        raise ValueError("bad port") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError("no host")
    return value


class _GivenOnly(Settings):
    """Settings from the mapping given to ``load_settings`` alone: no os.environ, no .env."""

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls: type[BaseSettings], init_settings: object, **_: object
    ) -> tuple[object, ...]:
        return (init_settings,)


_ALLOWED: dict[str, str] = {
    "tencent_im_sdkappid": "a positive integer (the SDKAppID from the Chat console)",
    "tencent_im_admin": "an App admin account name, 1 to 32 characters",
    "tencent_im_region": ", ".join(REGION_DOMAINS),
    "tencent_im_base_url": "a URL starting with http:// or https:// and a host, e.g. http://127.0.0.1:8080",
    "tencent_im_rate_limit": (
        f"an integer from {BACKGROUND_BURST + 1} to 100000 (calls per second per API)"
    ),
    "tencent_im_interactive_reserve": (
        "an integer from 0 to 99997 (calls /online queries may make at once, ahead of polling)"
    ),
    "redis_url": "a redis:// URL with a host and a numeric port, e.g. redis://localhost:6379/0",
    "slack_bot_token": (
        "a bot token starting with xoxb- (api.slack.com/apps > your app > OAuth & Permissions)"
    ),
    "slack_app_token": (
        "an app-level token starting with xapp- (api.slack.com/apps > your app > "
        "Basic Information > App-Level Tokens, scope connections:write)"
    ),
    "slack_api_url": "a URL starting with http:// or https:// and a host, e.g. https://slack.com/api/",
    "port": "a TCP port from 1 to 65535",
    "metrics_port": (
        "a TCP port from 1 to 65535 for GET /metrics, /readyz and /healthz, or empty (HTTP "
        "mode then serves them on PORT; Socket Mode serves no metrics)"
    ),
    "log_format": "text (one line per record) or json (one JSON object per line)",
    "database_url": (
        "a SQLAlchemy URL: sqlite:////path/to/online-bot.db (a file: an in-memory database "
        "would start empty on every connection and keep nothing) or "
        "postgresql+psycopg://user@host:5432/dbname"
    ),
    "poll_interval": "whole seconds from 40 to 86400",
    "history_days": "whole days from 1 to 3650",
    "watch_admins": (
        "Slack user IDs (U... or W...) and user-group IDs (S...), upper case, comma or space "
        "separated, e.g. U012AB3CD,S0614TZR7 (a member's profile > More > Copy member ID)"
    ),
    "lease_seconds": "whole seconds from 1 to 3600",
    "tencent_im_callback_token": (
        "the webhook authentication token from the Chat console (Callback configuration), "
        "1 to 128 characters"
    ),
    "tencent_im_callback_insecure": "1 or 0 (true or false)",
    "push_resync_interval": "whole seconds from 60 to 86400",
    "push_debounce": "seconds from 0 to 60",
}


#: ``scheme://user:PASSWORD@`` in a URL.
_URL_PASSWORD = re.compile(r"(//[^/:@\s]*:)[^/@\s]*@")


def _explain(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        if not field:  # a model-level rule: its message already names the variables
            lines.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        allowed = _ALLOWED.get(field, str(item["msg"]))
        given = item.get("input")
        secret = any(word in field for word in ("secret", "token"))
        if isinstance(given, str):  # a URL's password, if any, is not shown
            given = _URL_PASSWORD.sub(r"\1***@", given)
        shown = "" if secret or given is None else f" (got {given!r})"
        lines.append(f"{field.upper()} is not valid{shown}: expected {allowed}")
    return "; ".join(lines)


def load_settings(env: dict[str, str] | None = None, *, env_file: str | None = ".env") -> Settings:
    """Read and validate the settings; ``env`` replaces os.environ (for tests)."""
    try:
        if env is None:
            return Settings(_env_file=env_file)  # type: ignore[call-arg]
        lowered = {key.lower(): value for key, value in env.items()}
        return _GivenOnly(**lowered)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None

"""Slack as the bot's transport: the bolt app, wrapped from outside by Socket Mode (with
SLACK_APP_TOKEN) or by HTTP mode (waitress on PORT), and the alert poster.

Besides Slack's endpoint, HTTP mode serves on PORT Tencent's callbacks (with push),
GET /readyz, and GET /metrics unless METRICS_PORT is set; METRICS_PORT, when set, serves
/metrics and /readyz in either mode; Socket Mode serves the callbacks and /readyz on PORT
when push is on. Every port answers GET /healthz (``ports``)."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.alerts.delivery import Poster
from bot.httpserver import WsgiApp, http_server, routes_app
from bot.metrics import Metrics
from bot.readiness import READY_PATH, Recheck
from bot.settings import Settings, SettingsError
from bot.slack.home_refresh import HomeRefresh
from bot.slack.poster import SlackPoster, poster_client
from bot.slack.serve import build_app, check_auth, run_socket_mode, web_client, wsgi_app
from bot.slack.serve import usergroup_members as _usergroup_members
from bot.slack.userzones import UserZones
from bot.store.db import safe_url
from bot.webhook import CALLBACK_PATH
from bot.wiring import Plan

if TYPE_CHECKING:
    from bot.tencent.connect import Tencent
    from bot.wiring import Bot

__all__ = ["GC_YOUNG_THRESHOLD", "SlackTransport", "ports", "settle_memory"]

log = logging.getLogger(__name__)

#: New container objects between two collections of the youngest generation (CPython's
#: default: 700). An /online answer keeps its list (a thousand members) for the 10 s
#: of snapshot reuse and makes almost no cycles; at 700 the collector walked each list
#: again and again before it was freed (about 2.5 ms of CPU per answer; under 0.7 now).
GC_YOUNG_THRESHOLD = 10_000


def settle_memory() -> None:
    """Once built, before serving: what start-up made is frozen (``gc.freeze``: full
    collections no longer walk the libraries' objects), and the youngest generation is
    collected every GC_YOUNG_THRESHOLD new objects."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


class SlackTransport:
    """The Slack workspace the bot token belongs to (``connect`` checks it first)."""

    def __init__(
        self,
        settings: Settings,
        client: WebClient,
        say: Callable[[str], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.say = say  # notes for the operator (stderr)
        self.metrics = metrics if metrics is not None else Metrics()
        self.zones = UserZones()

    @classmethod
    def connect(
        cls, settings: Settings, say: Callable[[str], None], metrics: Metrics | None = None
    ) -> SlackTransport:
        """Check the bot token with Slack before anything starts: SettingsError if Slack
        cannot be served (a token Slack rejects, no Slack there). The settings have passed
        ``Settings.check_slack_app`` (a bot token, a mode: ``run`` checks them before it
        loads the bot). Slack calls are counted into ``metrics`` (give the bot the same)."""
        metrics = metrics if metrics is not None else Metrics()
        client = web_client(settings, metrics)
        identity = check_auth(client)
        say(f"Connected to Slack as {identity.get('user')} in {identity.get('team')}.")
        return cls(settings, client, say, metrics)

    def usergroup_members(self, usergroup: str) -> frozenset[str]:
        return _usergroup_members(self.client, usergroup)

    def user_zone(self, user_id: str) -> ZoneInfo | None:
        """The user's Slack time zone (users.info), None when Slack cannot say."""
        return self.zones.known(self.client, user_id)

    def poster(self, replica: str) -> Poster:
        assert self.settings.slack_bot_token is not None
        token = self.settings.slack_bot_token.get_secret_value()
        return SlackPoster(
            poster_client(token, self.settings.slack_api_url, replica=replica, metrics=self.metrics)
        )

    def plan(self, settings: Settings, tencent: Tencent) -> Plan:
        if tencent.simulator is not None:
            self.say("No TENCENT_IM_SDKAPPID set: answering from the built-in simulator.")
        self.say(f"Database: {safe_url(settings.database)}")
        token = settings.tencent_im_callback_token
        if token is None and settings.tencent_im_callback_insecure:
            log.warning(
                "TENCENT_IM_CALLBACK_INSECURE=1: Tencent's callbacks are taken WITHOUT a "
                "signature, so anyone who can reach %s can make the bot check groups; set "
                "TENCENT_IM_CALLBACK_TOKEN to the console's webhook token instead.",
                CALLBACK_PATH,
            )
        return Plan(
            settings.database,
            settings.poll_interval,
            push=settings.push_enabled,
            push_token=None if token is None else token.get_secret_value(),
            draw_apart=True,
        )

    def serve(self, bot: Bot) -> None:
        """Serve until interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt)."""
        homes = HomeRefresh()  # the Homes open, published again after each alert delivered
        bot.alerting.deliverer.on_state_posted(homes.changed)
        try:
            self._serve(bot, homes)
        finally:
            homes.close()

    def _serve(self, bot: Bot, homes: HomeRefresh) -> None:
        settings = self.settings
        app = build_app(bot.handlers, self.client, metrics=self.metrics, home_refresh=homes)
        probe = web_client(settings, self.metrics, probe=True)
        slack_auth = Recheck(lambda: check_auth(probe), passed=True, errors=(SettingsError,))
        served = ports(settings, bot.callback_routes(), bot.status_routes(slack_auth))
        socket_mode = settings.slack_app_token is not None
        main = None if socket_mode else served.pop(settings.port)
        for port, routes in served.items():  # bound now: a port in use stops the start
            server = http_server(routes_app(routes), "0.0.0.0", port)
            threading.Thread(target=server.run, name=f"http-{port}", daemon=True).start()
            self.say(f"{_paths(routes)} on port {port}.")
        bot.start()
        settle_memory()
        try:
            if settings.slack_app_token is not None:
                self.say("Socket Mode: connecting to Slack.")
                run_socket_mode(
                    app, settings.slack_app_token.get_secret_value(), settings.slack_api_url
                )
            else:
                assert settings.slack_signing_secret is not None and main is not None
                secret = settings.slack_signing_secret.get_secret_value()
                server = http_server(wsgi_app(app, secret, main), "0.0.0.0", settings.port)
                paths = _paths({"/slack/events": app, **main})
                self.say(f"HTTP mode on port {settings.port}: {paths}.")
                server.run()
        except KeyboardInterrupt:
            pass


def ports(
    settings: Settings, callbacks: Mapping[str, WsgiApp], status: Mapping[str, WsgiApp]
) -> dict[int, dict[str, WsgiApp]]:
    """What each port serves besides GET /healthz (and Slack's POST /slack/events on PORT
    in HTTP mode): Tencent's ``callbacks`` and /readyz on PORT (in Socket Mode only when
    push is on); the ``status`` routes (/metrics, /readyz) on METRICS_PORT if set, else on
    PORT in HTTP mode (Socket Mode then serves no metrics)."""
    socket_mode = settings.slack_app_token is not None
    served: dict[int, dict[str, WsgiApp]] = {}
    if not socket_mode or callbacks:
        served[settings.port] = {**callbacks, READY_PATH: status[READY_PATH]}
    if settings.metrics_port is not None:
        served.setdefault(settings.metrics_port, {}).update(status)
    elif not socket_mode:
        served[settings.port].update(status)
    return served


def _paths(routes: Mapping[str, object]) -> str:
    """``POST /slack/events, GET /metrics, ..., GET /healthz`` (Tencent's and Slack's are
    POSTed, the others read)."""
    posted = ("/slack/events", CALLBACK_PATH)
    said = [f"{'POST' if path in posted else 'GET'} {path}" for path in routes]
    return ", ".join([*said, "GET /healthz"])

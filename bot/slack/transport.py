"""Slack as the bot's transport: the bolt app, wrapped from outside by Socket Mode (with
SLACK_APP_TOKEN) or by HTTP mode (waitress on PORT), and the alert poster."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.alerts.delivery import Poster
from bot.httpserver import http_server, routes_app
from bot.settings import Settings, SettingsError
from bot.slack.poster import SlackPoster, poster_client
from bot.slack.serve import build_app, check_auth, run_socket_mode, web_client, wsgi_app
from bot.slack.serve import usergroup_members as _usergroup_members
from bot.store.db import safe_url
from bot.webhook import CALLBACK_PATH
from bot.wiring import Plan

if TYPE_CHECKING:
    from bot.wiring import Bot, Tencent

__all__ = ["GC_YOUNG_THRESHOLD", "SlackTransport", "settle_memory"]

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

    def __init__(self, settings: Settings, client: WebClient, say: Callable[[str], None]) -> None:
        self.settings = settings
        self.client = client
        self.say = say  # notes for the operator (stderr)

    @classmethod
    def connect(cls, settings: Settings, say: Callable[[str], None]) -> SlackTransport:
        """Check the tokens and the mode before anything starts: SettingsError if Slack
        cannot be served (no bot token, no mode, a token Slack rejects, no Slack there)."""
        client = web_client(settings)
        if settings.slack_app_token is None and settings.slack_signing_secret is None:
            raise SettingsError(
                "Set SLACK_APP_TOKEN (xapp-..., Basic Information > App-Level Tokens) for "
                "Socket Mode, or SLACK_SIGNING_SECRET (Basic Information > App Credentials) "
                "for HTTP mode."
            )
        identity = check_auth(client)
        say(f"Connected to Slack as {identity.get('user')} in {identity.get('team')}.")
        return cls(settings, client, say)

    def usergroup_members(self, usergroup: str) -> frozenset[str]:
        return _usergroup_members(self.client, usergroup)

    def poster(self, replica: str) -> Poster:
        assert self.settings.slack_bot_token is not None
        token = self.settings.slack_bot_token.get_secret_value()
        return SlackPoster(poster_client(token, self.settings.slack_api_url, replica=replica))

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
        )

    def serve(self, bot: Bot) -> None:
        """Serve until interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt)."""
        settings = self.settings
        app = build_app(bot.handlers, self.client)
        routes = bot.callback_routes()
        bot.start()
        settle_memory()
        try:
            if settings.slack_app_token is not None:
                if routes:  # Tencent's callbacks still come over HTTP
                    callbacks = http_server(routes_app(routes), "0.0.0.0", settings.port)
                    threading.Thread(target=callbacks.run, name="callbacks", daemon=True).start()
                    self.say(f"Push: POST {CALLBACK_PATH} on port {settings.port}.")
                self.say("Socket Mode: connecting to Slack.")
                run_socket_mode(
                    app, settings.slack_app_token.get_secret_value(), settings.slack_api_url
                )
            else:
                assert settings.slack_signing_secret is not None
                secret = settings.slack_signing_secret.get_secret_value()
                server = http_server(wsgi_app(app, secret, routes), "0.0.0.0", settings.port)
                paths = "POST /slack/events, " + "".join(f"POST {p}, " for p in routes)
                self.say(f"HTTP mode on port {settings.port}: {paths}GET /healthz.")
                server.run()
        except KeyboardInterrupt:
            pass

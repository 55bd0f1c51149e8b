"""Starting the Slack app: token checks, Socket Mode or HTTP mode (waitress)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from waitress import wasyncore
from waitress.server import create_server

from bot.handlers import OnlineHandlers
from bot.settings import Settings, SettingsError
from bot.slack.listeners import register, retry_handlers

__all__ = [
    "build_app",
    "check_auth",
    "http_server",
    "run_socket_mode",
    "stop_http_server",
    "usergroup_members",
    "web_client",
    "wsgi_app",
]

log = logging.getLogger(__name__)

TOKENS_HELP = "api.slack.com/apps > your app"


def web_client(settings: Settings) -> WebClient:
    if settings.slack_bot_token is None:
        raise SettingsError(
            "SLACK_BOT_TOKEN is missing: copy the Bot User OAuth Token (xoxb-...) from "
            f"{TOKENS_HELP} > OAuth & Permissions after installing the app to your workspace."
        )
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=retry_handlers(),
    )


def check_auth(client: WebClient) -> dict[str, Any]:
    """auth.test at start: a rejected token stops the bot with a message saying which."""
    try:
        return dict(client.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as error:
        reason = error.response.get("error", "unknown_error")
        raise SettingsError(
            f"Slack rejected SLACK_BOT_TOKEN ({reason}): copy a fresh Bot User OAuth Token "
            f"from {TOKENS_HELP} > OAuth & Permissions, and reinstall the app if it was revoked."
        ) from None
    except SlackClientError as error:
        raise SettingsError(
            f"Could not reach Slack at {client.base_url} ({type(error).__name__}): check the "
            "network, or SLACK_API_URL."
        ) from None
    except OSError as error:
        raise SettingsError(
            f"Could not reach Slack at {client.base_url} ({error.strerror or error}): check the "
            "network, or SLACK_API_URL."
        ) from None


def usergroup_members(client: WebClient, usergroup: str) -> frozenset[str]:
    """The Slack user IDs in a user group (for WATCH_ADMINS)."""
    return frozenset(client.usergroups_users_list(usergroup=usergroup).get("users") or [])


#: Threads that finish answers after the ack (Tencent, CSV upload, response_url).
ANSWER_THREADS = 16


class _ClientWins(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment by itself, then warns at start
    that the client it is given wins over that token: it does, on purpose (the same
    token, with our retry handlers). Only that warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_bolt_log = logging.getLogger(f"slack_bolt.{App.__name__}")
if not any(isinstance(f, _ClientWins) for f in _bolt_log.filters):
    _bolt_log.addFilter(_ClientWins())


def build_app(
    handlers: OnlineHandlers,
    client: WebClient,
    signing_secret: str,
    answers: Executor | None = None,
) -> App:
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,  # check_auth does it, with a clearer message
        raise_error_for_unhandled_request=False,
        # Listeners only ack and hand over (see listeners.py): run them in the request's
        # thread and answer as soon as they return, instead of bolt polling every 10 ms
        # for an ack from its 5-thread listener pool.
        process_before_response=True,
    )
    if answers is None:
        answers = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer")
    register(app, handlers, answers)
    return app


def wsgi_app(app: App) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """Slack's requests on POST /slack/events, and GET /healthz for load balancers."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return slack(environ, start_response)

    return dispatch


def http_server(app: App, host: str, port: int) -> Any:
    """A waitress server (not started): ``.run()`` serves, ``.close()`` stops."""
    return create_server(wsgi_app(app), host=host, port=port, threads=16, ident="online-bot")


def stop_http_server(server: Any, timeout: float = 5.0) -> None:
    """Stop a waitress server running in another thread, from its own loop thread.

    Closing its sockets from outside races the loop's ``select`` (EBADF); the
    trigger runs the close inside the loop, which then ends for want of sockets.
    """
    server.task_dispatcher.shutdown(timeout=timeout)
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))


def run_socket_mode(app: App, app_token: str, api_url: str) -> None:
    """Connect to Slack over Socket Mode and serve until interrupted."""
    opener = WebClient(base_url=api_url, retry_handlers=retry_handlers())
    SocketModeHandler(app, app_token, web_client=opener, concurrency=16).start()

"""Starting the Slack app: token checks, Socket Mode or HTTP mode (waitress)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.handlers import OnlineHandlers
from bot.home import AppHome
from bot.httpserver import WsgiApp, answer
from bot.metrics import Metrics
from bot.settings import TOKENS_HELP, Settings, SettingsError
from bot.slack.gate import Refused, Unsigned, bolt_request, verify
from bot.slack.home import register as register_home
from bot.slack.home_refresh import HomeRefresh
from bot.slack.listeners import register, retry_handlers
from bot.slack.metered import MeteredWebClient

__all__ = [
    "EVENTS_PATH",
    "build_app",
    "check_auth",
    "metered_listeners",
    "run_socket_mode",
    "usergroup_members",
    "web_client",
    "wsgi_app",
]

log = logging.getLogger(__name__)

#: What Slack's Web API errors look like ("invalid_auth", "token_revoked").
SLACK_ERROR_CODE = re.compile(r"[a-z0-9_]+")


#: Seconds the readiness probe's auth.test may take (no retries): probes have deadlines.
AUTH_PROBE_TIMEOUT = 5


def web_client(
    settings: Settings, metrics: Metrics | None = None, *, probe: bool = False
) -> WebClient:
    """The bot token's Web API client, its calls counted into ``metrics``; with ``probe``,
    one for the readiness check's auth.test (a short timeout, no retries). The settings
    have passed ``Settings.check_slack_app`` (a bot token is set)."""
    assert settings.slack_bot_token is not None, "check_slack_app() first"
    options: dict[str, Any] = (
        {"timeout": AUTH_PROBE_TIMEOUT} if probe else {"retry_handlers": retry_handlers()}
    )
    return MeteredWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        metrics=metrics if metrics is not None else Metrics(),
        **options,
    )


def check_auth(client: WebClient) -> dict[str, Any]:
    """auth.test at start: a rejected token stops the bot with a message saying which."""
    try:
        answer = client.auth_test().data
    except SlackApiError as error:
        reason = error.response.data.get("error") if _is_slack(error.response.data) else None
        # slack_sdk turns a body that is not JSON into {"ok": false, "error": "Received...
        if not isinstance(reason, str) or not SLACK_ERROR_CODE.fullmatch(reason):
            raise _not_slack(client) from None
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
    except AttributeError:  # slack_sdk reading "ok" from a JSON answer that is not an object
        raise _not_slack(client) from None
    if not _is_slack(answer):
        raise _not_slack(client)
    return dict(answer)  # type: ignore[arg-type]


def _is_slack(data: object) -> bool:
    """Whether a Web API answer has the shape of Slack's: an object with a boolean ``ok``."""
    return isinstance(data, dict) and isinstance(data.get("ok"), bool)


def _not_slack(client: WebClient) -> SettingsError:
    return SettingsError(
        f"SLACK_API_URL ({client.base_url}) did not answer auth.test as Slack's Web API does "
        "(not a JSON object with ok): leave SLACK_API_URL unset for https://slack.com/api/, "
        "or point it at a Slack Web API."
    )


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


#: The bolt app's name (its logger's name too).
APP_NAME = "online-bot"


def build_app(
    handlers: OnlineHandlers,
    client: WebClient,
    answers: Executor | None = None,
    metrics: Metrics | None = None,
    home_refresh: HomeRefresh | None = None,
) -> App:
    """The bolt app over ``handlers``; with ``metrics``, the listeners' Slack calls are
    counted too (``metered_listeners``); with ``home_refresh``, the App Homes used are
    published again as watches change (started here, on ``client``)."""
    app = App(
        # Named, or bolt names it from inspect.stack(): every frame's source looked up, a
        # quarter of a second under a deep stack (a test's) for each app built.
        name=APP_NAME,
        client=client,
        signing_secret="",  # not bolt's to check: wsgi_app does, before bolt parses the body
        request_verification_enabled=False,  # (and Socket Mode needs no signatures)
        token_verification_enabled=False,  # check_auth does it, with a clearer message
        raise_error_for_unhandled_request=False,
        # Listeners only ack and hand over (see listeners.py): run them in the request's
        # thread and answer as soon as they return, instead of bolt polling every 10 ms
        # for an ack from its 5-thread listener pool.
        process_before_response=True,
    )
    if metrics is not None:
        app.use(metered_listeners(metrics))
    if answers is None:
        answers = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer")
    register(app, handlers, answers, metrics)
    register_home(app, AppHome(handlers), answers, home_refresh)
    return app


def metered_listeners(metrics: Metrics) -> Callable[[BoltContext, Callable[[], None]], None]:
    """A bolt middleware: bolt gives each request a client of its own, a plain copy of the
    app's; the listeners get a counting one instead (files, conversations.open...)."""

    def metered(context: BoltContext, next: Callable[[], None]) -> None:
        plain = context.client
        context["client"] = MeteredWebClient(
            token=plain.token,
            base_url=plain.base_url,
            timeout=plain.timeout,
            ssl=plain.ssl,
            proxy=plain.proxy,
            headers=dict(plain.headers),  # (the client writes its User-Agent into them)
            team_id=plain.default_params.get("team_id"),
            logger=plain.logger,
            retry_handlers=plain.retry_handlers,
            metrics=metrics,
        )
        next()

    return metered


#: Where Slack sends slash commands and button presses.
EVENTS_PATH = "/slack/events"


def wsgi_app(app: App, signing_secret: str, routes: Mapping[str, WsgiApp] | None = None) -> WsgiApp:
    """Slack's requests on POST /slack/events, GET /healthz for load balancers, and
    ``routes`` (path: WSGI app), e.g. Tencent's callbacks, /metrics, /readyz.

    A request reaches bolt only once its signature matches (401 otherwise) and bolt can
    read its body (400 otherwise): junk costs one HMAC and one log line, never a traceback.
    """
    if not signing_secret:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is missing: HTTP mode needs it to verify Slack's requests "
            f"({TOKENS_HELP} > Basic Information > App Credentials)."
        )

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz":
            return answer(start_response, 200, "text/plain", b"ok")
        if routes and path in routes:
            return routes[path](environ, start_response)
        if path != EVENTS_PATH or method != "POST":
            return answer(start_response, 404, "text/plain", b"Not Found")
        # waitress has refused bodies over MAX_BODY_BYTES (413) and de-chunked the rest
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            verify(
                body,
                environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                environ.get("HTTP_X_SLACK_SIGNATURE"),
                signing_secret,
                now=time.time(),
            )
            request = bolt_request(
                body, environ.get("QUERY_STRING", ""), WsgiHttpRequest(environ).get_headers()
            )
        except Refused as refused:
            level = logging.INFO if isinstance(refused, Unsigned) else logging.WARNING
            log.log(
                level,
                "refused a request to %s from %s (HTTP %d): %s",
                EVENTS_PATH,
                environ.get("REMOTE_ADDR", "?"),
                refused.status,
                refused,
            )
            error = json.dumps({"error": "invalid request"}).encode()
            return answer(start_response, refused.status, "application/json", error)
        response = app.dispatch(request)
        http = WsgiHttpResponse(
            status=response.status, headers=response.headers, body=response.body
        )
        start_response(http.status, http.get_headers())
        return http.get_body()

    return dispatch


def run_socket_mode(app: App, app_token: str, api_url: str) -> None:
    """Connect to Slack over Socket Mode and serve until interrupted."""
    # bolt prints "Bolt app is running!" on stdout when its logger is set above INFO (as
    # bolt sets it: at the root's level when the app was made): logged, it follows the
    # log's level and format (one JSON line with LOG_FORMAT=json).
    app.logger.setLevel(logging.NOTSET)
    opener = WebClient(base_url=api_url, retry_handlers=retry_handlers())
    SocketModeHandler(app, app_token, web_client=opener, concurrency=16).start()

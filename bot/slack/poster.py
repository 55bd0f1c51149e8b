"""Alert messages into Slack: post, update, find one already posted (by metadata key), and
upload a digest's chart.

Errors become ``PostError``: permanent ones (the bot cannot post in that channel)
pause the watch; 429 carries Retry-After; 5xx, network errors and answers that
cannot be read (malformed JSON, ``ok`` without a ``ts``) are retried by the outbox
later. No retry sleeps here: the outbox schedules the next attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.alerts.delivery import PostError
from bot.metrics import Metrics
from bot.slack.errors import error_code
from bot.slack.metered import MeteredWebClient, request_id_of

__all__ = ["PERMANENT_ERRORS", "TRANSIENT_UPLOAD_ERRORS", "SlackPoster", "poster_client"]

#: Slack errors after which posting to that channel cannot succeed until a human acts.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "invalid_auth",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "ekm_access_denied",
        "team_access_not_granted",
    }
)
#: Upload errors worth another attempt (Slack's own trouble); any other refusal is final.
TRANSIENT_UPLOAD_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
#: How far back ``find`` reads a channel, in pages of 200 messages.
FIND_PAGES = 3
#: The reason recorded when Slack's answer cannot be read.
UNREADABLE = "Slack's answer could not be read"


def poster_client(
    token: str, base_url: str, *, replica: str = "", metrics: Metrics | None = None
) -> WebClient:
    """A WebClient for the outbox: connection errors retried at once, 429 left to the outbox;
    its calls counted into ``metrics``.

    ``replica`` goes into the User-Agent, so Slack-side logs (and tests) tell replicas apart.
    """
    return MeteredWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(2)],
        user_agent_suffix=f"online-bot-replica/{replica}" if replica else None,
        metrics=metrics if metrics is not None else Metrics(),
    )


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> str:
        args: dict[str, Any] = {
            "channel": channel,
            "text": payload.get("text", ""),
            "blocks": payload.get("blocks"),
            "metadata": payload.get("metadata"),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
            if broadcast:
                args["reply_broadcast"] = True
        response = _call(lambda: self.client.chat_postMessage(**args))
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:
            # It may have been posted: the next attempt looks for it before posting again.
            raise PostError(f"{UNREADABLE}: it had no ts", permanent=False)
        return ts

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        _call(
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=payload.get("text", ""), blocks=payload.get("blocks")
            )
        )

    def find(self, channel: str, key: str, *, since: float, thread_ts: str | None) -> str | None:
        cursor = None
        for _ in range(FIND_PAGES):
            if thread_ts:
                response = _call(
                    lambda c=cursor: self.client.conversations_replies(
                        channel=channel,
                        ts=thread_ts,
                        oldest=f"{since:.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=c,
                    )
                )
            else:
                response = _call(
                    lambda c=cursor: self.client.conversations_history(
                        channel=channel,
                        oldest=f"{since:.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=c,
                    )
                )
            for message in response.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == key:
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def upload(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        filename: str,
        title: str,
        alt_text: str,
        content: bytes,
    ) -> str:
        """files_upload_v2 into the thread; the file's id. Any refusal but Slack's own
        trouble is for good (the chart is optional: it is never retried for long)."""
        response = _call(
            lambda: self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=content,
                filename=filename,
                title=title,
                alt_txt=alt_text,
            ),
            permanent=lambda code: code not in TRANSIENT_UPLOAD_ERRORS,
        )
        files = response.get("files")
        file_id = files[0].get("id") if isinstance(files, list) and files else None
        if not isinstance(file_id, str) or not file_id:
            raise PostError(f"{UNREADABLE}: it had no file", permanent=False)
        return file_id

    def find_upload(
        self, channel: str, *, thread_ts: str | None, filename: str, since: float
    ) -> str | None:
        """The id of a file named ``filename`` shared in the thread (or the channel)."""
        cursor = None
        for _ in range(FIND_PAGES):
            if thread_ts:
                response = _call(
                    lambda c=cursor: self.client.conversations_replies(
                        channel=channel, ts=thread_ts, oldest=f"{since:.6f}", limit=200, cursor=c
                    )
                )
            else:
                response = _call(
                    lambda c=cursor: self.client.conversations_history(
                        channel=channel, oldest=f"{since:.6f}", limit=200, cursor=c
                    )
                )
            for message in response.get("messages") or []:
                for shared in message.get("files") or []:
                    if isinstance(shared, dict) and shared.get("name") == filename:
                        return str(shared.get("id"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None


def _call(send: Any, permanent: Callable[[str], bool] = PERMANENT_ERRORS.__contains__) -> Any:
    """Send; Slack's refusals as PostError, ``permanent`` for the codes it says."""
    try:
        return send()
    except SlackApiError as error:
        status = error.response.status_code
        request_id = request_id_of(error)
        if status == 429:
            retry_after = _float(error.response.headers.get("Retry-After"), 30.0)
            raise PostError(
                "ratelimited", permanent=False, retry_after=retry_after, request_id=request_id
            ) from None
        code = error_code(error)
        if code is not None:
            raise PostError(code, permanent=permanent(code), request_id=request_id) from None
        reason = f"HTTP {status}" if status != 200 else UNREADABLE
        raise PostError(reason, permanent=False, request_id=request_id) from None
    except (SlackClientError, OSError) as error:
        raise PostError(f"Slack did not answer ({type(error).__name__})", permanent=False) from None
    except ValueError:  # malformed JSON
        raise PostError(UNREADABLE, permanent=False) from None


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default

"""Everything that can go wrong talking to Tencent Cloud Chat, as one hierarchy.

Every exception carries ``user_message``: one sentence a Slack user can act on,
with no secret in it; ``sentence`` is that with ``(Tencent error N)`` after it when
Tencent answered with a code, the form every reply and alert shows. Nothing above the client needs to know about ``requests``
or HTTP status codes::

    TencentError                       base; .user_message, .sentence, .retryable
    ├── InvalidInput                   rejected before any call (group ID, mark)
    ├── TransportError                 no usable answer: network, timeout, HTTP 5xx,
    │                                  malformed body or missing fields (retryable)
    ├── Throttled                      our own rate limiter had no slot before the deadline
    └── ApiError                       ErrorCode != 0; .code .info .request_id
        ├── CredentialsError           SDKAppID, admin, UserSig, key, region, edition
        ├── FeatureNotEnabled          10007 from the count or check APIs: the edition or a
        │                              console feature (e.g. "Group Member Online Status")
        ├── BusyError                  rate or frequency limits (retryable)
        ├── ServerError                Tencent-side failures (retryable)
        ├── RequestError               malformed request or parameter (10003, 10004, ...)
        └── GroupError                 about the group itself
            ├── NotAudioVideoGroup     10007
            ├── GroupNotFound          10010
            └── InvalidGroupId         10015

Whether to retry is decided here, by code (``ApiError.retryable``), not by the
retry loop.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ApiError",
    "BusyError",
    "CredentialsError",
    "FeatureNotEnabled",
    "GroupError",
    "GroupNotFound",
    "InvalidGroupId",
    "InvalidInput",
    "NotAudioVideoGroup",
    "RequestError",
    "ServerError",
    "TencentError",
    "Throttled",
    "TransportError",
    "api_error",
]


class TencentError(Exception):
    """Base of every Tencent client error."""

    retryable = False

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message

    @property
    def code_phrase(self) -> str:
        """``"Tencent error 10010"`` when Tencent answered with a code, else ``""``."""
        return ""

    @property
    def sentence(self) -> str:
        """What users are shown: ``user_message``, then ``(Tencent error N)`` if there is a code."""
        phrase = self.code_phrase
        return f"{self.user_message} ({phrase})" if phrase else self.user_message


class InvalidInput(TencentError, ValueError):
    """The caller's input is wrong; nothing was sent."""


class TransportError(TencentError):
    """No usable answer: connection refused, timeout, HTTP 5xx, a body that is not JSON
    or lacks a field Tencent documents (an OK answer without its OnlineMemberNum).
    ``kind`` says which, for the metrics: ``no_answer`` (network, timeout), ``http_error``
    or ``malformed``."""

    retryable = True

    def __init__(self, user_message: str, *, kind: str = "malformed") -> None:
        super().__init__(user_message)
        self.kind = kind


class Throttled(TencentError):
    """The bot's own limiter (TENCENT_IM_RATE_LIMIT) had no free slot in time."""


class ApiError(TencentError):
    """Tencent answered with ErrorCode != 0.

    ``retry_after``: the least wait, in seconds, before a retry can succeed.
    """

    def __init__(
        self,
        user_message: str,
        *,
        code: int,
        info: str = "",
        request_id: str = "",
        retryable: bool = False,
        retry_after: float = 0.0,
    ) -> None:
        super().__init__(user_message)
        self.code = code
        self.info = info
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def code_phrase(self) -> str:
        return f"Tencent error {self.code}"

    def __str__(self) -> str:
        detail = f" [{self.code_phrase}"
        if self.info:
            detail += f": {self.info}"
        if self.request_id:
            detail += f"; RequestId {self.request_id}"
        return self.user_message + detail + "]"


class CredentialsError(ApiError):
    """The bot's own configuration is wrong: nothing a user can fix by retrying."""


class FeatureNotEnabled(ApiError):
    """The app's edition, or a feature switch in the Chat console, does not allow the call
    for this group (10007 from get_online_member_num or check_members)."""


class BusyError(ApiError):
    """Tencent throttled us."""


class ServerError(ApiError):
    """A failure on Tencent's side."""


class RequestError(ApiError):
    """The request itself was rejected."""


class GroupError(ApiError):
    """Something about the group: its ID, its type, its existence."""


class NotAudioVideoGroup(GroupError):
    pass


class GroupNotFound(GroupError):
    pass


class InvalidGroupId(GroupError):
    pass


@dataclass(frozen=True, slots=True)
class _Code:
    kind: type[ApiError]
    message: str
    retryable: bool = False
    retry_after: float = 0.0


_CHECK_CREDENTIALS = "check TENCENT_IM_SDKAPPID, TENCENT_IM_SECRET_KEY and TENCENT_IM_ADMIN"
_BUSY = "Tencent is busy right now; try again in a minute."

#: Every code in the spec tables: (exception type, user sentence, retry?).
# fmt: off
CODES: dict[int, _Code] = {
    10001: _Code(CredentialsError, f"Tencent did not accept the bot's login: {_CHECK_CREDENTIALS}."),
    10002: _Code(ServerError, "Tencent had an internal error; try again shortly.", True),
    10003: _Code(RequestError, "Tencent did not recognise the request command; this is a bot bug, please report it."),
    10004: _Code(RequestError, "Tencent rejected a parameter of the request."),
    10006: _Code(BusyError, _BUSY, True),
    10007: _Code(NotAudioVideoGroup, "This group is not an audio-video group (AVChatRoom or Community); only those have an online list."),
    10010: _Code(GroupNotFound, "This group does not exist or was disbanded; check the group ID."),
    10015: _Code(InvalidGroupId, "This group ID is not valid; check it in the Chat console."),
    10019: _Code(RequestError, "The account named in the request does not exist."),
    60002: _Code(RequestError, "Tencent could not parse the request URL; this is a bot bug, please report it."),
    60003: _Code(RequestError, "Tencent could not parse the request body; this is a bot bug, please report it."),
    60004: _Code(CredentialsError, f"Tencent rejected the account or signature: {_CHECK_CREDENTIALS}."),
    60005: _Code(CredentialsError, f"Tencent rejected the account or signature: {_CHECK_CREDENTIALS}."),
    60006: _Code(CredentialsError, "Tencent does not know this SDKAppID: check TENCENT_IM_SDKAPPID."),
    60007: _Code(BusyError, "Too many calls to Tencent this second; try again in a moment.", True),
    60008: _Code(ServerError, "Tencent timed out; try again shortly.", True),
    60009: _Code(RequestError, "Tencent did not find the requested resource: check TENCENT_IM_BASE_URL."),
    60010: _Code(CredentialsError, "TENCENT_IM_ADMIN is not an App admin account; set it to one (e.g. administrator)."),
    60011: _Code(BusyError, "The app is over Tencent's request frequency limit; try again in a moment.", True),
    60012: _Code(CredentialsError, "The SDKAppID is missing from the request: set TENCENT_IM_SDKAPPID."),
    60013: _Code(ServerError, "Tencent could not build its answer; try again shortly.", True),
    60014: _Code(ServerError, "Tencent timed out exchanging the account; try again shortly.", True),
    60015: _Code(RequestError, "An account field must be a string; this is a bot bug, please report it."),
    60016: _Code(CredentialsError, "This SDKAppID is disabled in the Tencent Chat console."),
    60017: _Code(CredentialsError, "Tencent has disabled this request for the app."),
    60018: _Code(BusyError, _BUSY, True),
    60019: _Code(BusyError, _BUSY, True),
    60020: _Code(CredentialsError, "The app's Pro package has expired; renew it in the Tencent Chat console."),
    60021: _Code(CredentialsError, "Tencent does not allow calls from this server's IP address; add it to the allow list in the console."),
    70001: _Code(CredentialsError, "The bot's UserSig expired and could not be renewed: check the server clock and TENCENT_IM_SECRET_KEY."),
    70003: _Code(CredentialsError, f"Tencent could not parse the bot's UserSig: {_CHECK_CREDENTIALS}."),
    70009: _Code(CredentialsError, "Tencent rejected the bot's UserSig: check TENCENT_IM_SECRET_KEY and TENCENT_IM_SDKAPPID."),
    70013: _Code(CredentialsError, "The UserSig was made for another account: check TENCENT_IM_ADMIN."),
    70014: _Code(CredentialsError, "The UserSig was made for another app: check TENCENT_IM_SDKAPPID."),
    70016: _Code(CredentialsError, "The SDKAppID belongs to another data centre: check TENCENT_IM_REGION."),
    70020: _Code(CredentialsError, "The SDKAppID belongs to another data centre: check TENCENT_IM_REGION."),
    70050: _Code(CredentialsError, "Tencent rejected the bot's UserSig too many times: the signature is wrong, waiting will not fix it. Check that TENCENT_IM_SECRET_KEY and TENCENT_IM_SDKAPPID belong to the same app; Tencent checks again a minute after the last failure."),
    70051: _Code(CredentialsError, "Tencent has blacklisted the bot's admin account: check TENCENT_IM_ADMIN in the console."),
    70107: _Code(CredentialsError, "Tencent does not know the bot's admin account (TENCENT_IM_ADMIN): it was never imported. Create that account as an App admin of your app in the Chat console, or set TENCENT_IM_ADMIN to an existing App admin."),
}
# fmt: on


def api_error(code: int, info: str = "", request_id: str = "") -> ApiError:
    """The exception for a Tencent ErrorCode; unknown codes still say something useful."""
    known = CODES.get(code)
    if known is None:
        text = f"Tencent refused the request (error {code}"
        text += f": {info})." if info else ")."
        return ApiError(text, code=code, info=info, request_id=request_id)
    message = known.message
    if code == 10004 and info:
        message = f"{message[:-1]}: {info}."
    return known.kind(
        message,
        code=code,
        info=info,
        request_id=request_id,
        retryable=known.retryable,
        retry_after=known.retry_after,
    )

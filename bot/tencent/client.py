"""The Tencent Cloud Chat REST client: signed, paced, retried, paged, explained.

One ``requests.Session`` (pooled, keep-alive) per client. Every call:
waits for a slot in the per-API limiter, signs the URL with the cached admin
UserSig and a fresh ``random``, POSTs JSON with connect and read timeouts, and
turns whatever comes back into data or a ``TencentError`` (see errors.py).
Retryable failures are retried by tenacity with exponential backoff and jitter,
within a bounded number of attempts and an overall deadline. An expired UserSig
(70001) is regenerated and the call retried once. An answer without the fields
Tencent documents (``OnlineMemberNum``, ``MemberList``, ``NextTimestamp``...) is
malformed, never zero (the readers are in answers.py). When the region's domain
cannot be reached (DNS, connect, TLS), calls go to its backup domain for
``BACKUP_STAY`` seconds (route.py).
"""

from __future__ import annotations

import copy
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import tenacity
from requests.adapters import HTTPAdapter

from bot.metrics import Metrics
from bot.tencent import answers
from bot.tencent.errors import (
    ApiError,
    BusyError,
    FeatureNotEnabled,
    NotAudioVideoGroup,
    TencentError,
    Throttled,
    TransportError,
    api_error,
)
from bot.tencent.models import (
    GroupInfo,
    Member,
    MemberCheck,
    OnlineMembers,
    Partial,
    is_community,
)
from bot.tencent.ratelimit import RateLimits
from bot.tencent.route import Route, never_reached
from bot.tencent.usersig import UserSigCache
from bot.tencent.validation import validate_accounts, validate_group_id, validate_mark

__all__ = [
    "BACKUP_STAY",
    "DEFAULT_TIMEOUT",
    "EMPTY_PAGES_LIMIT",
    "MAX_PAGES",
    "RetryPolicy",
    "TencentClient",
]

log = logging.getLogger(__name__)

#: (connect, read) seconds; the read timeout is above Tencent's own 3 s backend timeout.
DEFAULT_TIMEOUT = (3.05, 6.0)
#: The list stops at 1,000 members; 100 pages allows pages as small as 10.
MAX_PAGES = 100
#: Consecutive empty pages that still carry a cursor before the walk stops. The list is
#: a cached snapshot, so an empty page with a cursor is never normal; one may be a
#: hiccup (the snapshot refreshed between our pages), a second in a row means the
#: cursor leads nowhere, and each costs a call of the 200/s budget.
EMPTY_PAGES_LIMIT = 2
#: Seconds calls stay on the backup domain after the main one could not be reached,
#: before the main one is tried again: long enough not to pay a failed connect on
#: every call while DNS or a route is broken, short enough to be back soon after.
BACKUP_STAY = 300.0
#: get_group_info takes at most this many group IDs a call.
GROUP_INFO_BATCH = 50

T = TypeVar("T")


def _as_is(data: dict[str, Any]) -> dict[str, Any]:
    return data


GET_MEMBERS = ("group_open_avchatroom_http_svc", "get_members")
GET_ONLINE_MEMBER_NUM = ("group_open_http_svc", "get_online_member_num")
#: Community groups' count: another API of the same name (its own rate limit).
GET_COMMUNITY_ONLINE_MEMBER_NUM = ("million_group_open_http_svc", "get_online_member_num")
CHECK_MEMBERS = ("group_open_avchatroom_http_svc", "check_members")
GET_GROUP_INFO = ("group_open_http_svc", "get_group_info")
MODIFY_USER_INFO = ("group_open_avchatroom_http_svc", "modify_user_info")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    deadline: float = 20.0  # seconds for one logical call, retries included
    initial_wait: float = 0.2
    max_wait: float = 4.0


class TencentClient:
    """Calls Tencent Cloud Chat's REST API for one app."""

    def __init__(
        self,
        *,
        sdkappid: int,
        secret_key: str,
        base_url: str,
        rate_limits: RateLimits,
        admin: str = "administrator",
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_pages: int = MAX_PAGES,
        pool_size: int = 32,
        background: bool = False,
        backup_url: str | None = None,
        backup_stay: float = BACKUP_STAY,
        metrics: Metrics | None = None,
    ) -> None:
        self.sdkappid = sdkappid
        self.admin = admin
        self.base_url = base_url.rstrip("/")
        self._route = Route(self.base_url, backup_url, backup_stay, clock)
        self.rate_limits = rate_limits
        self.timeout = timeout
        self.retry = retry
        self.max_pages = max_pages
        self.background = background
        self._backoff = tenacity.wait_exponential(
            multiplier=retry.initial_wait, max=retry.max_wait
        ) + tenacity.wait_random(0, retry.initial_wait)
        self._clock = clock
        self._sleep = sleep
        self._sigs = UserSigCache(sdkappid, secret_key, clock=clock)
        self._random = random.SystemRandom()
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self.metrics = metrics if metrics is not None else Metrics()

    def __repr__(self) -> str:
        return f"TencentClient(sdkappid={self.sdkappid}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def for_background(self) -> TencentClient:
        """The same client (session, signatures, limits) for background work: its calls
        leave the rate limit's reserved places to interactive queries, and their turn."""
        clone = copy.copy(self)
        clone.background = True
        return clone

    def __enter__(self) -> TencentClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def usersigs_generated(self) -> int:
        return self._sigs.generated

    # -- the API ------------------------------------------------------------

    def online_members(self, group_id: str, mark: int | None = None) -> OnlineMembers:
        """Every online member of the group (optionally only those with ``mark``).

        Follows ``NextTimestamp`` until 0 whatever the page size and drops members
        repeated across pages. A cursor that repeats, ``EMPTY_PAGES_LIMIT`` empty pages
        in a row that still carry a cursor, or ``max_pages`` pages end the walk with the
        members gathered so far, flagged ``partial``.
        """
        validate_group_id(group_id)
        validate_mark(mark)
        body: dict[str, Any] = {"GroupId": group_id, "Timestamp": 0}
        if mark is not None:
            body["Mark"] = mark
        members: dict[str, Member] = {}
        seen: set[int] = set()
        pages = empty = 0
        partial: Partial | None = None
        while True:
            page, cursor = self.call(*GET_MEMBERS, body, parse=answers.members_page)
            pages += 1
            for member in page:
                members.setdefault(member.account, member)
            empty = 0 if page else empty + 1
            if not cursor:
                break
            if cursor in seen:
                partial = Partial.REPEATED_CURSOR
            elif empty >= EMPTY_PAGES_LIMIT:
                partial = Partial.EMPTY_PAGES
            elif pages >= self.max_pages:
                partial = Partial.PAGE_LIMIT
            if partial is not None:
                log.warning(
                    "Tencent get_members for %s stopped after %d pages (%s); %d members kept",
                    group_id,
                    pages,
                    partial.value,
                    len(members),
                )
                break
            seen.add(cursor)
            body["Timestamp"] = cursor
        return OnlineMembers(
            group_id=group_id,
            mark=mark,
            members=tuple(members.values()),
            pages=pages,
            fetched_at=self._clock(),
            partial=partial,
        )

    def online_count(self, group_id: str, group_type: str | None = None) -> int:
        """The exact online count (refreshed by Tencent about every 10 s; a Community's,
        on its own endpoint, about every 4 min).

        Without ``group_type`` a Community is told by its ID (``@TGS#_``), so no
        get_group_info call is needed.
        """
        validate_group_id(group_id)
        community = is_community(group_id, group_type)
        api = GET_COMMUNITY_ONLINE_MEMBER_NUM if community else GET_ONLINE_MEMBER_NUM
        try:
            return self.call(*api, {"GroupId": group_id}, parse=answers.online_count)
        except NotAudioVideoGroup as error:
            raise _count_refused(error, group_type, community) from None

    def check_members(self, group_id: str, accounts: Sequence[str]) -> MemberCheck:
        """Which of ``accounts`` are in the audio-video group now, beyond the list's
        1,000 cap too (one call, at most MAX_CHECK_ACCOUNTS accounts)."""
        validate_group_id(group_id)
        asked = validate_accounts(list(accounts))
        body = {"GroupId": group_id, "Member_Account": list(asked)}
        try:
            present = self.call(*CHECK_MEMBERS, body, parse=answers.present_accounts)
        except NotAudioVideoGroup as error:
            raise FeatureNotEnabled(
                "Tencent checks members only in audio-video groups (AVChatRoom), on the Pro "
                'edition or above with "List of online audio-video group members" enabled '
                "(Chat console > Group feature configuration).",
                code=error.code,
                info=error.info,
                request_id=error.request_id,
            ) from None
        return MemberCheck(
            group_id=group_id,
            present=tuple(a for a in asked if a in present),
            absent=tuple(a for a in asked if a not in present),
            checked_at=self._clock(),
        )

    def group_info(self, group_id: str) -> GroupInfo:
        """Name and type of one group; raises the group's own error (e.g. 10010)."""
        info = self.group_infos([group_id])[group_id]
        if isinstance(info, ApiError):
            raise info
        return info

    def group_infos(self, group_ids: Sequence[str]) -> dict[str, GroupInfo | ApiError]:
        """Name and type of each group, asked 50 at a time (Tencent's most per call); a
        group Tencent has an error for (e.g. 10010) maps to that error."""
        for group_id in group_ids:
            validate_group_id(group_id)
        found: dict[str, GroupInfo | ApiError] = {}
        for start in range(0, len(group_ids), GROUP_INFO_BATCH):
            chunk = list(group_ids[start : start + GROUP_INFO_BATCH])
            body = {
                "GroupIdList": chunk,
                "ResponseFilter": {"GroupBaseInfoFilter": ["Type", "Name"]},
            }
            parse = functools.partial(answers.group_infos, ids=chunk)
            found.update(self.call(*GET_GROUP_INFO, body, parse=parse))
        return found

    def set_marks(
        self, group_id: str, accounts: Iterable[str], marks: Iterable[int], *, remove: bool = False
    ) -> None:
        """Set (or remove) marks on members; at most 500 accounts a call, as Tencent allows."""
        validate_group_id(group_id)
        mark_list = [m for m in marks if validate_mark(m) is not None]
        account_list = list(accounts)
        for start in range(0, len(account_list), 500):
            chunk = account_list[start : start + 500]
            body = {
                "GroupId": group_id,
                "CommandType": 2 if remove else 1,
                "MemberList": [{"Member_Account": a, "Marks": mark_list} for a in chunk],
            }
            self.call(*MODIFY_USER_INFO, body)

    # -- one logical call ---------------------------------------------------

    def call(
        self,
        service: str,
        command: str,
        body: dict[str, Any],
        parse: Callable[[dict[str, Any]], T] = _as_is,  # type: ignore[assignment]
    ) -> T:
        """POST ``body`` to ``v4/<service>/<command>``; return ``parse(answer)`` or raise
        TencentError. ``parse`` raises TransportError on an answer without the fields
        Tencent documents: that is retried like any malformed answer."""
        started = time.monotonic()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.attempts)
            | tenacity.stop_before_delay(self.retry.deadline),
            wait=self._wait,
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, TencentError) and exc.retryable
            ),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        path = f"/v4/{service}/{command}"
        api = f"{service}/{command}"  # per API: two APIs share the name get_online_member_num
        for attempt in retrying:
            with attempt:
                self._acquire(api, self.retry.deadline - (time.monotonic() - started))
                sent, outcome = time.monotonic(), "ok"
                try:
                    return parse(self._signed_post(path, body))
                except TencentError as error:
                    outcome = _outcome(error)
                    raise
                except Exception:
                    outcome = "malformed"  # an answer the readers choked on
                    raise
                finally:
                    self.metrics.tencent_requests.labels(api, outcome).inc()
                    elapsed = time.monotonic() - sent
                    self.metrics.tencent_request_seconds.labels(api).observe(elapsed)
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def _acquire(self, api: str, timeout: float) -> None:
        """A place in ``api``'s rate limit, the wait measured; Throttled after ``timeout``."""
        waiting = time.monotonic()
        try:
            self.rate_limits.acquire(api, timeout=timeout, background=self.background)
        except Throttled:
            self.metrics.tencent_requests.labels(api, "throttled").inc()
            raise
        finally:
            priority = "background" if self.background else "interactive"
            waited = time.monotonic() - waiting
            self.metrics.tencent_rate_limit_wait_seconds.labels(api, priority).observe(waited)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = self._backoff(state)
        error = state.outcome.exception() if state.outcome else None
        return max(backoff, getattr(error, "retry_after", 0.0))

    def _signed_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        sig = self._sigs.get(self.admin)
        try:
            return self._post(path, body, sig)
        except ApiError as error:
            if error.code != 70001:
                raise
            log.warning("Tencent says the UserSig expired; regenerating it and retrying once")
        self._sigs.invalidate(self.admin, sig)
        return self._post(path, body, self._sigs.get(self.admin))

    def _post(self, path: str, body: dict[str, Any], usersig: str) -> dict[str, Any]:
        base = self._route.current()
        url = base + path
        params = {
            "sdkappid": self.sdkappid,
            "identifier": self.admin,
            "usersig": usersig,
            "random": self._random.getrandbits(32),
            "contenttype": "json",
        }
        # Exceptions from requests carry the URL, and so the UserSig: never chain them.
        try:
            response = self._session.post(url, params=params, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            if never_reached(exc):
                self._route.failed(base, type(exc).__name__)
            if isinstance(exc, requests.Timeout):
                raise TransportError(
                    "Tencent did not answer in time; try again.", kind="no_answer"
                ) from None
            raise TransportError(
                f"Could not reach Tencent Cloud Chat ({type(exc).__name__}); check the network "
                "and TENCENT_IM_REGION / TENCENT_IM_BASE_URL.",
                kind="no_answer",
            ) from None
        if response.status_code != 200:
            raise _http_error(response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TransportError("Tencent sent an answer that is not valid JSON; try again.")
        code, status = data.get("ErrorCode"), data.get("ActionStatus")
        if not answers.is_int(code) or status not in ("OK", "FAIL"):
            raise TransportError(
                "Tencent sent an answer without its ActionStatus or ErrorCode; try again."
            )
        if code or status == "FAIL":
            error = api_error(code, str(data.get("ErrorInfo", "")), answers.request_id(data))
            context = {"tencent_request_id": error.request_id}
            if isinstance(body.get("GroupId"), str):
                context["group_id"] = body["GroupId"]
            log.info(
                "Tencent %s: error %s (%s)",
                url.rsplit("/", 1)[-1],
                code,
                error.request_id,
                extra=context,
            )
            raise error
        return data


def _count_refused(error: ApiError, group_type: str | None, community: bool) -> ApiError:
    """What a 10007 from a count API means: not the group's type, but the edition or the
    "Group Member Online Status" feature (or, on the Community endpoint, not a Community)."""
    if community:
        return NotAudioVideoGroup(
            "Tencent's Community count says this is not a Community group (IDs starting "
            "@TGS#_ are Community groups); check the group ID.",
            code=error.code,
            info=error.info,
            request_id=error.request_id,
        )
    kind = f"{group_type} groups" if group_type else "groups other than audio-video ones"
    return FeatureNotEnabled(
        f"Tencent counts online members of {kind} only on the Pro edition or above with "
        '"Group Member Online Status" enabled (Chat console > Group feature configuration); '
        "enable it to count this group.",
        code=error.code,
        info=error.info,
        request_id=error.request_id,
    )


def _outcome(error: TencentError) -> str:
    """A failed request's outcome, as the metrics count it."""
    if isinstance(error, BusyError):
        return "busy"
    if isinstance(error, ApiError):
        return "api_error"
    return error.kind if isinstance(error, TransportError) else "malformed"


def _http_error(status: int) -> TransportError:
    error = TransportError(
        f"Tencent answered HTTP {status}"
        + (
            "; try again shortly."
            if status >= 500 or status == 429
            else ": check TENCENT_IM_REGION / TENCENT_IM_BASE_URL."
        ),
        kind="http_error",
    )
    error.retryable = status >= 500 or status in (408, 429)
    return error


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "Tencent call failed (attempt %d): %s; retrying in %.2fs",
        state.attempt_number,
        error,
        state.next_action.sleep if state.next_action else 0.0,
    )

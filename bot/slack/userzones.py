"""Each Slack user's time zone, for the times on a chart: ``users.info``'s ``tz``
(scope ``users:read``), remembered for an hour. Whatever stops it (no scope, no such
user, no zone in the profile, a zone this machine does not know, Slack down) gives UTC
and a sentence saying why; it never raises."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render.escape import cut
from bot.slack.errors import error_code
from bot.zones import UTC_ZONE, parse_zone

__all__ = ["ZONE_TTL", "UserZones"]

log = logging.getLogger(__name__)

#: How long a user's zone is remembered (people rarely move; Slack changes it for them).
ZONE_TTL = 3600.0


class UserZones:
    def __init__(
        self, ttl: float = ZONE_TTL, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._known: dict[str, tuple[ZoneInfo, float]] = {}

    def zone(self, client: WebClient, user_id: str) -> tuple[ZoneInfo, str]:
        """The user's zone and the sentence the answer says about it; UTC when unknown."""
        now = self._monotonic()
        with self._lock:
            hit = self._known.get(user_id)
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0], _yours(hit[0])
        zone, note = self._ask(client, user_id)
        if zone is not None:
            with self._lock:
                self._known[user_id] = (zone, now)
            return zone, _yours(zone)
        return UTC_ZONE, f"Times on the chart are in UTC: {note}."

    def known(self, client: WebClient, user_id: str) -> ZoneInfo | None:
        """The user's zone, or None when Slack cannot say (a digest then says UTC, and why)."""
        zone, note = self.zone(client, user_id)
        return zone if note == _yours(zone) else None

    def _ask(self, client: WebClient, user_id: str) -> tuple[ZoneInfo | None, str]:
        try:
            user = client.users_info(user=user_id).get("user")
        except SlackApiError as error:
            code = error_code(error)
            log.warning("users.info for a chart's time zone failed: %s", code or "unreadable")
            if code == "missing_scope":
                return None, (
                    "the bot may not read your time zone (Slack says `missing_scope`: "
                    "reinstall the app, whose manifest asks for users:read)"
                )
            if code is None:
                return None, "Slack's answer about your time zone could not be read"
            return None, f"your Slack time zone could not be read (Slack says `{code}`)"
        except Exception as error:  # network, timeout, an answer that is not JSON
            log.warning("users.info for a chart's time zone failed: %s", type(error).__name__)
            return None, "Slack could not be reached for your time zone"
        name = user.get("tz") if isinstance(user, dict) else None
        if not name:
            return None, "your Slack profile has no time zone"
        zone = parse_zone(name)
        if zone is None:
            return None, f"your Slack time zone {cut(str(name), 64)} is unknown here"
        return zone, ""


def _yours(zone: ZoneInfo) -> str:
    return f"Times on the chart are in {zone.key}, your Slack time zone."

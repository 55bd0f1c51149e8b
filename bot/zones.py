"""Time zones by their IANA names (``Europe/Paris``), as Slack gives them and as the
terminal's machine is set. Reads /etc/localtime and /etc/timezone, nothing else."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.render.charts import UTC_ZONE

__all__ = ["UTC_ZONE", "local_zone", "parse_zone"]

_LOCALTIME = Path("/etc/localtime")
#: Other names of UTC, shown as UTC.
_UTC_ALIASES = frozenset(
    {"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"}
)
_TIMEZONE = Path("/etc/timezone")


def parse_zone(name: object) -> ZoneInfo | None:
    """The zone named ``name`` (``America/Los_Angeles``), or None for anything else: not a
    string, empty, a path, a name the time zone database does not know."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    if name in _UTC_ALIASES:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_zone(localtime: Path = _LOCALTIME, timezone: Path = _TIMEZONE) -> ZoneInfo:
    """This machine's zone: the name /etc/localtime links to (``.../zoneinfo/Asia/Tokyo``),
    else the one /etc/timezone holds, else UTC."""
    try:
        target = str(localtime.resolve(strict=True))
    except OSError:
        target = ""
    if "/zoneinfo/" in target:
        zone = parse_zone(target.split("/zoneinfo/", 1)[1])
        if zone is not None:
            return zone
    try:
        zone = parse_zone(timezone.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        zone = None
    return zone or UTC_ZONE

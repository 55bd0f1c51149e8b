"""How ``/online`` is used: the forms and help texts, and :class:`UsageError`, raised
when what the user typed is not a command. Pure code."""

from __future__ import annotations

__all__ = [
    "DIGEST_FORM",
    "DROP_FORM",
    "HISTORY_FORM",
    "IS_FORM",
    "MUTE_FORM",
    "QUERY_FORM",
    "THRESHOLD_FORM",
    "UNMUTE_FORM",
    "UNWATCH_FORM",
    "USAGE",
    "WATCHES_FORM",
    "WATCH_FORMS",
    "WATCH_USAGE",
    "UsageError",
]

QUERY_FORM = "/online <groupId> [mark] [public]"
IS_FORM = "/online <groupId> is <account>[,<account>...]"
THRESHOLD_FORM = (
    "/online watch <groupId> below|above <N> [for <duration>] [recover <M>] [mark <K>] "
    "[repeat <duration>]"
)
DROP_FORM = "/online watch <groupId> drop <P>% [within <duration>] [mark <K>] [repeat <duration>]"
WATCH_FORMS = f"{THRESHOLD_FORM}  or  {DROP_FORM}"
UNWATCH_FORM = "/online unwatch <id>"
MUTE_FORM = "/online mute <id> <duration> [reason]"
UNMUTE_FORM = "/online unmute <id>"
WATCHES_FORM = "/online watches"
DIGEST_FORM = "/online digest HH:MM [timezone]  or  /online digest off"
HISTORY_FORM = "/online history <groupId> [mark <K>] [1h|6h|24h|7d|<duration>] [public]"

USAGE = """\
/online <groupId> [mark] [public]    who is online in an audio-video group
  /online @TGS#a6I4ZUUGO
  /online @TGS#a6I4ZUUGO 1000 public   only mark 1000; answer in the channel
/online <groupId> is <account>[,...]  are these accounts in the group now (past the 1,000 cap)
  /online @TGS#a6I4ZUUGO is alice,bob
/online history <groupId> [24h]       a chart of a watched group's audience (1h, 6h, 7d...)
  /online history @TGS#a6I4ZUUGO 7d mark 1000 public
/online watches                       this channel's watches (and its digest)
/online digest HH:MM [timezone]       a daily digest of the watched groups here (off: none)
  /online digest 09:00 Europe/Paris
/online help watch                    alerts: below, above, drop, mute"""

WATCH_USAGE = """\
/online watch <groupId> below|above <N> [for <d>] [recover <M>] [mark <K>] [repeat <d>]
/online watch <groupId> drop <P>% [within <d>] [mark <K>] [repeat <d>]
/online watches  |  unwatch <id>  |  mute <id> <d> [reason]  |  unmute <id>
/online digest HH:MM [timezone]  |  digest off  |  digest   (a daily summary of the watches)
  for      how long the condition must last before the alert (0 to 24h; default 0)
  recover  the count that clears a below/above alert (hysteresis; default N)
  within   the window a drop is measured over (1m to 24h; default 5m)
  repeat   remind while still alerting (5m to 7d; default never)
  mark     count only members with this mark
  <d> is a duration: 30s, 5m, 2h, 1d, 1h30m
Examples:
  /online watch @TGS#a6I4ZUUGO below 10 for 5m recover 12
  /online watch @TGS#a6I4ZUUGO above 5000 mark 1000 repeat 1h
  /online watch @TGS#a6I4ZUUGO drop 30% within 10m
  /online mute 3 2h maintenance window"""


class UsageError(ValueError):
    """What the user typed is not a command.

    ``problem`` says what was wrong, ``usage`` the right form; ``str()`` is both.
    """

    def __init__(self, problem: str, usage: str = QUERY_FORM) -> None:
        self.problem = problem
        self.usage = usage
        super().__init__(f"{problem} Usage: {usage}" if usage else problem)

"""The watch forms of ``/online``: ``watch``, ``watches``, ``unwatch``, ``mute`` and
``unmute``, each parsed from the words after its keyword. Pure code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from bot.commands.durations import DAY, MINUTE, WEEK, format_duration
from bot.commands.usage import (
    DROP_FORM,
    MUTE_FORM,
    THRESHOLD_FORM,
    UNMUTE_FORM,
    UNWATCH_FORM,
    WATCH_FORMS,
    WATCHES_FORM,
    UsageError,
)
from bot.commands.values import (
    DEFAULT_WITHIN_SECONDS,
    MAX_REASON_CHARS,
    MAX_THRESHOLD,
    MAX_WATCH_ID,
    Command,
    ListWatches,
    Mute,
    Unmute,
    Unwatch,
    WatchDrop,
    WatchThreshold,
)
from bot.commands.words import (
    RULE_WORDS,
    Word,
    Words,
    closest,
    parse_group_id,
    parse_int,
    parse_mark,
    parse_watch_id,
    split_option,
)
from bot.tencent.validation import quote

__all__ = ["FOR_RANGE", "KEYWORD_PARSERS", "MUTE_RANGE", "REPEAT_RANGE", "WITHIN_RANGE"]

FOR_RANGE = (0, DAY)
WITHIN_RANGE = (MINUTE, DAY)
REPEAT_RANGE = (5 * MINUTE, WEEK)
MUTE_RANGE = (MINUTE, 30 * DAY)


def _parse_watch(words: Words) -> WatchThreshold | WatchDrop:
    first = words.next()
    if first is None:
        raise UsageError("watch needs a group ID and a rule.", WATCH_FORMS)
    if first.key in RULE_WORDS or first.key in ("for", "within", "recover", "mark", "repeat"):
        raise UsageError(
            f"Put the group ID right after watch, e.g. /online watch @TGS#a6I4ZUUGO "
            f"{first.key} ...",
            WATCH_FORMS,
        )
    group_id = parse_group_id(first.text, WATCH_FORMS)
    options = ("for", "within", "recover", "mark", "repeat")
    rule: str | None = None
    amount = 0
    seen: dict[str, int] = {}
    for word in words:
        key, value = split_option(word, options)
        if key in RULE_WORDS:
            if rule is not None:
                raise UsageError(f"One rule per watch: {rule} or {key}, not both.", WATCH_FORMS)
            rule = key
            amount = _rule_amount(rule, word, words)
            continue
        if key not in options:
            guess = closest(key, (*RULE_WORDS, *options))
            hint = f" Did you mean {quote(guess)}?" if guess else ""
            raise UsageError(
                f"I don't understand {quote(word.text)} in a watch.{hint}", WATCH_FORMS
            )
        if key in seen:
            raise UsageError(f"{key} is given twice; give it once.", WATCH_FORMS)
        usage = DROP_FORM if rule == "drop" else THRESHOLD_FORM if rule else WATCH_FORMS
        if value is not None:
            words.push(value, word.start)
        if key == "mark":
            seen[key] = parse_mark(words.value("mark", "mark 1000", usage), usage)
        elif key == "recover":
            seen[key] = parse_int(
                words.value("recover", "recover 12", usage), "recover", 0, MAX_THRESHOLD, usage
            )
        elif key == "for":
            seen[key] = _check_range(
                words.duration("for", "for 5m", usage), "for", FOR_RANGE, usage
            )
        elif key == "within":
            seen[key] = _check_range(
                words.duration("within", "within 10m", usage), "within", WITHIN_RANGE, usage
            )
        else:
            seen[key] = _check_range(
                words.duration("repeat", "repeat 1h", usage), "repeat", REPEAT_RANGE, usage
            )
    if rule is None:
        raise UsageError(
            f"Say when to alert about {group_id}: below <N>, above <N> or drop <P>%.", WATCH_FORMS
        )
    if rule == "drop":
        return _drop(group_id, amount, seen)
    return _threshold(group_id, rule, amount, seen)


def _rule_amount(rule: str, word: Word, words: Words) -> int:
    inline = split_option(word, RULE_WORDS)[1]
    if rule == "drop":
        text = inline or words.value("drop", "drop 30%", DROP_FORM)
        nxt = words.peek()
        if nxt is not None and nxt.key in ("%", "percent", "pct"):
            words.next()
        try:
            return parse_int(text.removesuffix("%"), "The drop", 1, 100, DROP_FORM, " percent")
        except UsageError:
            raise UsageError(
                f"The drop must be a whole percentage from 1% to 100%, not {quote(text)}.",
                DROP_FORM,
            ) from None
    text = inline or words.value(rule, f"{rule} 10", THRESHOLD_FORM)
    return parse_int(text, f"The {rule} threshold", 0, MAX_THRESHOLD, THRESHOLD_FORM)


def _drop(group_id: str, percent: int, seen: dict[str, int]) -> WatchDrop:
    for wrong, right in (("for", "within"), ("recover", None)):
        if wrong in seen:
            instead = f"; use {right} for the window a drop is measured over" if right else ""
            raise UsageError(f"{wrong} goes with below/above rules, not drop{instead}.", DROP_FORM)
    return WatchDrop(
        group_id,
        percent,
        seen.get("within", DEFAULT_WITHIN_SECONDS),
        seen.get("mark"),
        seen.get("repeat"),
    )


def _threshold(group_id: str, rule: str, threshold: int, seen: dict[str, int]) -> WatchThreshold:
    if "within" in seen:
        raise UsageError(
            f"within goes with drop rules; a {rule} rule uses for (how long the count must "
            f"stay {rule} {threshold} before the alert).",
            THRESHOLD_FORM,
        )
    recover = seen.get("recover")
    if recover is not None:
        if rule == "below" and recover < threshold:
            raise UsageError(
                f"recover must be at least the threshold for a below rule: the alert fires "
                f"below {threshold:,} and clears once the count is back to {recover:,} or "
                f"more, so {recover:,} would clear it while still alerting. Use recover "
                f"{threshold:,} or higher.",
                THRESHOLD_FORM,
            )
        if rule == "above" and recover > threshold:
            raise UsageError(
                f"recover must be at most the threshold for an above rule: the alert fires "
                f"above {threshold:,} and clears once the count is back to {recover:,} or "
                f"less, so {recover:,} would clear it while still alerting. Use recover "
                f"{threshold:,} or lower.",
                THRESHOLD_FORM,
            )
    direction: Literal["below", "above"] = "below" if rule == "below" else "above"
    return WatchThreshold(
        group_id,
        direction,
        threshold,
        seen.get("for", 0),
        recover,
        seen.get("mark"),
        seen.get("repeat"),
    )


def _parse_watches(words: Words) -> ListWatches:
    if words.peek() is not None:
        raise UsageError("watches takes nothing after it.", WATCHES_FORM)
    return ListWatches()


def _one_id(words: Words, verb: str, usage: str) -> int:
    word = words.next()
    if word is None:
        raise UsageError(f"{verb} needs a watch ID (see /online watches).", usage)
    watch_id = parse_watch_id(word.text, MAX_WATCH_ID, usage)
    if words.peek() is not None:
        raise UsageError(f"{verb} takes one watch ID, e.g. {verb} 12.", usage)
    return watch_id


def _parse_unwatch(words: Words) -> Unwatch:
    return Unwatch(_one_id(words, "unwatch", UNWATCH_FORM))


def _parse_unmute(words: Words) -> Unmute:
    return Unmute(_one_id(words, "unmute", UNMUTE_FORM))


def _parse_mute(words: Words) -> Mute:
    word = words.next()
    if word is None:
        raise UsageError("mute needs a watch ID and a duration, e.g. mute 12 2h.", MUTE_FORM)
    watch_id = parse_watch_id(word.text, MAX_WATCH_ID, MUTE_FORM)
    if words.peek() is None:
        raise UsageError("mute needs a duration after the watch ID, e.g. 2h or 1d.", MUTE_FORM)
    seconds = _check_range(
        words.duration("mute", "2h", MUTE_FORM), "A mute", MUTE_RANGE, MUTE_FORM, verb="last"
    )
    reason = words.rest() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise UsageError(
            f"Keep the reason under {MAX_REASON_CHARS} characters (it has {len(reason)}).",
            MUTE_FORM,
        )
    return Mute(watch_id, seconds, reason)


def _check_range(
    seconds: int, what: str, bounds: tuple[int, int], usage: str, verb: str = "be"
) -> int:
    lo, hi = bounds
    if lo <= seconds <= hi:
        return seconds
    raise UsageError(
        f"{what} must {verb} from {format_duration(lo)} to {format_duration(hi)}, "
        f"not {format_duration(seconds)}.",
        usage,
    )


#: Each keyword's parser, given the words after the keyword.
KEYWORD_PARSERS: dict[str, Callable[[Words], Command]] = {
    "watch": _parse_watch,
    "watches": _parse_watches,
    "unwatch": _parse_unwatch,
    "mute": _parse_mute,
    "unmute": _parse_unmute,
}

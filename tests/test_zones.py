"""Time zones by name (bot/zones.py), each Slack user's (bot/slack/userzones.py, against
the fake Slack), and answers reused for a few seconds (bot/reuse.py)."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot.reuse import Reused
from bot.slack.userzones import UserZones
from bot.zones import UTC_ZONE, local_zone, parse_zone


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Europe/Paris", ZoneInfo("Europe/Paris")),
        ("America/Argentina/Buenos_Aires", ZoneInfo("America/Argentina/Buenos_Aires")),
        ("UTC", UTC_ZONE),
        ("Etc/UTC", UTC_ZONE),  # shown as UTC
        ("Mars/Olympus_Mons", None),
        ("../../etc/passwd", None),
        ("/etc/localtime", None),
        ("", None),
        (None, None),
        (3600, None),
        ("x" * 65, None),
    ],
)
def test_parse_zone(name, expected):
    assert parse_zone(name) == expected


def test_local_zone_from_the_localtime_link(tmp_path):
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Tokyo")

    assert local_zone(link, tmp_path / "none") == ZoneInfo("Asia/Tokyo")


def test_local_zone_from_etc_timezone_else_utc(tmp_path):
    copy = tmp_path / "localtime"
    copy.write_bytes(b"TZif")  # a copy, not a link: its name is lost
    named = tmp_path / "timezone"
    named.write_text("America/New_York\n")

    assert local_zone(copy, named) == ZoneInfo("America/New_York")
    assert local_zone(copy, tmp_path / "none") == UTC_ZONE
    named.write_text("Nowhere/Else\n")
    assert local_zone(tmp_path / "none", named) == UTC_ZONE


@pytest.fixture
def client(fake_slack):
    return WebClient(token="xoxb-test", base_url=fake_slack.api_url)


def test_a_user_s_zone_is_remembered_for_an_hour(fake_slack, client):
    now = [0.0]
    zones = UserZones(monotonic=lambda: now[0])
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}

    first = zones.zone(client, "U1")
    fake_slack.users["U1"] = {"tz": "Europe/Paris"}  # moved
    now[0] += 3599
    assert zones.zone(client, "U1") == first
    now[0] += 2
    moved = zones.zone(client, "U1")

    assert first == (
        ZoneInfo("Asia/Tokyo"),
        "Times on the chart are in Asia/Tokyo, your Slack time zone.",
    )
    assert moved[0] == ZoneInfo("Europe/Paris")
    assert len(fake_slack.calls("users.info")) == 2


def test_a_failure_is_not_remembered(fake_slack, client):
    zones = UserZones()
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}
    fake_slack.fail_next("users.info", "missing_scope")

    refused = zones.zone(client, "U1")
    answered = zones.zone(client, "U1")

    assert refused[0] == UTC_ZONE and "`missing_scope`" in refused[1]
    assert answered[0] == ZoneInfo("Asia/Tokyo")


def test_an_answer_slack_cannot_have_sent_is_utc(fake_slack, client):
    fake_slack.reply_next("users.info", "{not json")

    zone, note = UserZones().zone(client, "U1")

    assert zone == UTC_ZONE
    assert note.startswith("Times on the chart are in UTC: ")


def test_reused_answers_the_same_key_once_until_it_expires():
    now = [0.0]
    reused: Reused[str, object] = Reused(10, monotonic=lambda: now[0])
    made: list[str] = []

    def make(key):
        def run():
            made.append(key)
            return object()

        return run

    a = reused.get("a", make("a"))
    assert reused.get("a", make("a")) is a
    assert reused.get("b", make("b")) is not a
    now[0] += 10
    assert reused.get("a", make("a")) is not a
    assert made == ["a", "b", "a"]


def test_reused_shares_one_answer_among_those_waiting_and_keeps_no_failure():
    reused: Reused[str, int] = Reused(10)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return 42

    results: list[int] = []
    owner = threading.Thread(target=lambda: results.append(reused.get("k", slow)))
    owner.start()
    started.wait(5)
    waiter = threading.Thread(target=lambda: results.append(reused.get("k", slow)))
    waiter.start()
    release.set()
    owner.join(5)
    waiter.join(5)
    assert results == [42, 42] and calls == [1]

    def broken():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        reused.get("x", broken)
    assert reused.get("x", lambda: 7) == 7

"""The shell: the same handlers as Slack, rendered for a terminal (errbot's text backend idea)."""

from contextlib import contextmanager

import pytest

from bot.handlers import OnlineHandlers
from bot.settings import load_settings
from bot.shell import HOME_USAGE, PRESS_USAGE, Shell, ShellPoster
from bot.simulator import Faults, Scenario, Simulator
from bot.store import Watch
from bot.tencent.client import RetryPolicy, TencentClient
from bot.tencent.models import Member
from bot.tencent.ratelimit import RateLimits
from bot.wiring import open_alerting


@pytest.fixture(scope="module")
def sim():
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group("@TGS#small", "Office Hours", "AVChatRoom")
        running.set_members(
            "@TGS#small",
            [Member("u1", "<!channel>", "", 1_700_000_000), Member("u2", "Tom & Jerry", "", 1)],
        )
        running.add_group("@TGS#big", "Friday Live", "AVChatRoom")
        running.set_members(
            "@TGS#big",
            [Member(f"user{i:04d}", f"Guest {i}", "", 1_700_000_000 + i) for i in range(120)],
        )
        yield running


def _client(sim, retry=None):
    return TencentClient(
        sdkappid=sim.scenario.sdkappid,
        secret_key=sim.scenario.secret_key,
        base_url=sim.url,
        rate_limits=RateLimits(200),
        retry=retry or RetryPolicy(),
    )


@contextmanager
def _alerting(sim, tmp_path, poster):
    """A Tencent client on the simulator, and the alerting services over a SQLite file in
    ``tmp_path``, posting to ``poster``."""
    client = _client(sim)
    database = f"sqlite:///{tmp_path / 'shell.db'}"
    try:
        with open_alerting(load_settings({}), client, database, poster, poll_interval=60) as on:
            yield client, on
    finally:
        client.close()


@pytest.fixture
def shell(sim, tmp_path):
    client = _client(sim)
    handlers = OnlineHandlers(client)
    yield Shell(handlers, tmp_path)
    handlers.close()
    client.close()


def test_query_reads_like_a_conversation(shell):
    out = shell.execute("/online @TGS#small")
    assert "Looking up" in out
    assert "Office Hours" in out
    assert "<!channel>" in out  # shown literally in a terminal: escaping is undone for display
    assert "Tom & Jerry" in out
    assert "&lt;" not in out and "&amp;" not in out


def test_slash_is_optional(shell):
    assert "Office Hours" in shell.execute("@TGS#small")


def test_large_list_written_to_a_file_and_paged(shell, tmp_path):
    out = shell.execute("/online @TGS#big")
    assert "[Next 50]" in out
    files = list(tmp_path.glob("*.csv"))
    assert len(files) == 1 and str(files[0]) in out
    assert files[0].read_text(encoding="utf-8-sig").count("\n") == 121
    second = shell.execute("next")
    assert "user0069" in second  # latest first: the second page holds 69..20
    assert "[Previous]" in second or "[Prev" in second
    back = shell.execute("prev")
    assert "user0119" in back


def test_is_checks_accounts_in_the_shell(shell):
    out = shell.execute("/online @TGS#big is user0000,ghost")
    assert "Looking up whether 2 accounts are online in `@TGS#big`" in out
    assert "*1 of 2* are in *Friday Live*" in out
    assert "In the group (1):\n`user0000`" in out
    assert "Not in the group (1):\n`ghost`" in out


def test_next_without_a_button(shell):
    assert "no [Next] button" in shell.execute("next")


def test_errors_and_help(shell):
    assert "does not exist" in shell.execute("/online @TGS#nope")
    assert "Usage of* `/online`\n\n/online <groupId>" in shell.execute("/online help")
    assert "Usage" in shell.execute("/online a b c d")


def test_an_answer_without_the_count_is_an_error_sentence_not_zero(sim, tmp_path):
    client = _client(sim, RetryPolicy(attempts=4, deadline=5, initial_wait=0.01, max_wait=0.01))
    handlers = OnlineHandlers(client)
    sim.inject_missing_fields("get_online_member_num", times=4)  # every attempt
    try:
        out = Shell(handlers, tmp_path).execute("/online @TGS#small")
    finally:
        sim.clear_injections()
        handlers.close()
        client.close()
    assert "Tencent's answer had no online count (OnlineMemberNum); try again in a minute." in out
    assert "0 online" not in out and "Traceback" not in out


def test_a_list_cut_short_says_so_and_still_writes_the_file(sim, shell, tmp_path):
    sim.inject_cursor_loop("@TGS#big")
    try:
        out = shell.execute("/online @TGS#big")
    finally:
        sim.inject_cursor_loop("@TGS#big", enabled=False)
    assert "120 online" in out and "120 members in the list" in out
    assert "Incomplete list: Tencent stopped paging after 2 pages (it sent a page cursor" in out
    (csv_file,) = tmp_path.glob("*.csv")
    assert csv_file.read_text(encoding="utf-8-sig").count("\n") == 121


def test_loop_reads_until_quit(shell):
    lines = iter(["/online @TGS#small", "", "quit", "never read"])
    shown = []
    shell.loop(read=lambda prompt: next(lines), write=shown.append)
    assert len(shown) == 1 and "Office Hours" in shown[0]


def test_the_same_question_within_seconds_reuses_one_fetch(sim, tmp_path):
    now = [1000.0]
    client = _client(sim)
    handlers = OnlineHandlers(client, reuse_seconds=10, monotonic=lambda: now[0])
    shell = Shell(handlers, tmp_path)
    try:
        before = sim.stats().get_members.calls
        first = shell.execute("/online @TGS#big")
        assert sim.stats().get_members.calls == before + 1
        now[0] += 9
        assert shell.execute("/online @TGS#big").splitlines()[2:] == first.splitlines()[2:]
        assert shell.execute("next")  # the next page comes from the same snapshot
        assert sim.stats().get_members.calls == before + 1
        now[0] += 2
        shell.execute("/online @TGS#big")
        assert sim.stats().get_members.calls == before + 2
        info_before = sim.stats().get_group_info.calls
        shell.execute("/online @TGS#nope")  # failures are not reused
        shell.execute("/online @TGS#nope")
        assert sim.stats().get_group_info.calls == info_before + 2
    finally:
        handlers.close()
        client.close()


def test_alert_buttons_are_pressed_in_the_shell(sim, tmp_path):
    printed: list[str] = []
    poster = ShellPoster(printed.append)
    with _alerting(sim, tmp_path, poster) as (client, alerting):
        handlers = OnlineHandlers(client, alerting.watches)
        shell = Shell(handlers, tmp_path, alerts=poster)
        try:
            assert shell.execute("press ack") == "(no [Acknowledge] button on any alert yet)"
            shell.execute("/online watch @TGS#small below 5")  # 2 online: it fires
            alerting.poller.run_cycle()
            alerting.deliverer.deliver_due()
            (alert,) = printed
            assert "--- #CSHELL: alert 1 ---" in alert
            assert alert.rstrip().endswith("(press ack|mute|unwatch 1)")

            acknowledged = shell.execute("press ack")
            assert acknowledged.startswith("--- alert 1 updated ---")
            assert "(press mute|unwatch 1)" in acknowledged  # no Acknowledge any more
            assert shell.execute("press ack 1") == "(no [Acknowledge] button on alert 1)"
            assert "muted" in shell.execute("press mute 1").lower()
            assert shell.execute("press unwatch 1")
            assert shell.execute("press mute 7") == "(no [Mute 1h] button on alert 7)"
            assert shell.execute("press") == shell.execute("press ack one") == PRESS_USAGE
        finally:
            handlers.close()
        with alerting.sessions() as session:
            watch = session.get(Watch, 1)
            assert watch.state.acknowledged_by == "USHELL"
            assert watch.muted_until is not None
            assert watch.deleted_at is not None


def test_an_alert_prints_then_the_path_of_its_chart(sim, tmp_path):
    printed: list[str] = []
    poster = ShellPoster(printed.append, tmp_path)
    with _alerting(sim, tmp_path, poster) as (client, alerting):
        handlers = OnlineHandlers(client, alerting.watches)
        shell = Shell(handlers, tmp_path, alerts=poster)
        try:
            shell.execute("/online watch @TGS#small below 5")  # 2 online: it fires
            alerting.poller.run_cycle()
            assert alerting.charts is not None
            assert alerting.charts.deliver_due().uploaded == 0  # not before its alert
            alerting.deliverer.deliver_due()
            assert alerting.charts.deliver_due().uploaded == 1
            assert alerting.charts.deliver_due().uploaded == 0  # once
        finally:
            handlers.close()
    alert, chart = printed
    assert "--- #CSHELL: alert 1 ---" in alert and "Audience 2 is below 5" in alert
    head, title, written = chart.strip().splitlines()
    assert head == "--- #CSHELL: chart of alert 1 ---"
    assert title == "Alert of watch #1: audience of Office Hours, last hour, UTC"
    path = tmp_path / "alert-chart-2-TGS-small.png"
    assert written == f"Chart written to {path}"
    assert path.read_bytes().startswith(b"\x89PNG")


def test_home_shows_every_watch_as_the_app_home_does(sim, tmp_path):
    with _alerting(sim, tmp_path, ShellPoster(lambda _: None)) as (client, alerting):
        handlers = OnlineHandlers(client, alerting.watches)
        shell = Shell(handlers, tmp_path)
        try:
            assert "No watches yet" in shell.execute("home")
            shell.execute("/online watch @TGS#small below 5")
            alerting.poller.run_cycle()
            home = shell.execute("home")
            assert "*1 watch* in 1 channel · 🔴 1 firing" in home
            assert "#CSHELL* · 1 watch" in home and "*#1* *Office Hours* (`@TGS#small`)" in home
            assert "Recent counts: `▄▄`" in home and "[Mute 1h]  [Unwatch]" in home
            assert "*#1* *Office Hours*" in shell.execute("home 9")  # past the end: the last
            assert shell.execute("home 0") == shell.execute("home x") == HOME_USAGE
        finally:
            handlers.close()


def test_history_writes_the_chart_to_a_file_and_prints_its_path(sim, tmp_path):
    from zoneinfo import ZoneInfo

    from PIL import Image

    from bot.alerts.history import HistoryReader

    with _alerting(sim, tmp_path, ShellPoster()) as (client, alerting):
        history = HistoryReader(alerting.sessions, alerting.watches.names)
        handlers = OnlineHandlers(client, alerting.watches, history=history)
        shell = Shell(handlers, tmp_path / "files", zone=ZoneInfo("Asia/Tokyo"))
        try:
            shell.execute("/online watch @TGS#small below 5 recover 8")  # checks at once: 2
            alerting.poller.run_cycle()
            out = shell.execute("/online history @TGS#small 1h")
            nothing = shell.execute("/online history @TGS#big")
            (tmp_path / "blocked").write_text("a file where the folder would go")
            shell.files_dir = tmp_path / "blocked"
            unwritable = shell.execute("/online history @TGS#small 1h")
        finally:
            handlers.close()

    assert out.splitlines()[0] == "⏳ Drawing the audience of `@TGS#small` over the last 1h…"
    chart = tmp_path / "files" / "history-TGS-small-1h.png"
    assert f"Chart written to {chart}" in out
    with Image.open(chart) as image:
        assert image.size == (1200, 600)
    assert "Times on the chart are in Asia/Tokyo, this machine's time zone." in out
    assert "Drawn: this channel's 1 watch: #1 fewer than 5 online (resolves at 8 or more)." in out
    assert "Min*\n2" in out and "Checks*\n2" in out
    assert "No samples exist for `@TGS#big`" in nothing
    assert "`/online watch @TGS#big below <N>` starts them" in nothing
    assert f"The chart could not be written to {tmp_path / 'blocked'}" in unwritable
    assert "one character for each 1m 30s" in unwritable  # the text stands in for it


def test_history_needs_the_database(shell):
    out = shell.execute("/online history @TGS#small")
    assert "History needs the bot's database" in out


def test_digest_in_the_shell_set_shown_and_now_with_its_chart(sim, tmp_path):
    from zoneinfo import ZoneInfo

    from PIL import Image

    from bot.alerts.history import HistoryReader
    from bot.digest.service import Digests

    with _alerting(sim, tmp_path, ShellPoster()) as (client, alerting):
        history = HistoryReader(alerting.sessions, alerting.watches.names)
        zone = ZoneInfo("Asia/Tokyo")
        digests = Digests(
            alerting.sessions, history, alerting.watches, owner="shell", user_zone=lambda _: zone
        )
        handlers = OnlineHandlers(client, alerting.watches, history=history, digests=digests)
        shell = Shell(handlers, tmp_path / "files", zone=zone, digests=digests)
        try:
            shell.execute("/online watch @TGS#small below 5 recover 8")
            set_out = shell.execute("/online digest 09:00")
            shown = shell.execute("/online digest")
            listed = shell.execute("/online watches")
            now = shell.execute("digest now")
        finally:
            handlers.close()

    assert "daily digest goes out at *09:00* `Asia/Tokyo`" in set_out
    assert "your Slack time zone" in set_out
    assert "Daily digest at *09:00* `Asia/Tokyo`" in shown and "Usage:" in shown
    assert "Daily digest at *09:00* `Asia/Tokyo`" in listed
    assert "Daily digest: 1 watched group" in now
    assert "Peak *2* at" in now and "· low 2 · average 2 · now 2" in now
    (chart,) = (tmp_path / "files").glob("digest-*.png")
    assert f"Chart written to {chart}" in now
    with Image.open(chart) as image:
        assert image.size == (1200, 600)

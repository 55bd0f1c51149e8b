"""What an alert's chart covers and what it is called (bot/alerts/alert_charts.py): pure
rules, as tables."""

from __future__ import annotations

import pytest

from bot.alerts.alert_charts import ChartRequest, filename_of, margin, title_of, window
from bot.render.history import HistoryView

T = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
HOUR, DAY = 3600.0, 86400.0


def request(of="firing", alert_at=T, incident_start=None, mark=None, group="@TGS#live"):
    return ChartRequest(
        row_id=7,
        watch_id=3,
        channel_id="C1",
        group_id=group,
        mark=mark,
        of=of,
        alert_at=alert_at,
        incident_start=incident_start,
    )


@pytest.mark.parametrize(
    ("drawn_at", "expected"),
    [
        (T + 1, (T + 1 - HOUR, T + 1)),  # drawn at once: the hour up to now
        (T + 200, (T + 200 - HOUR, T + 200)),
        (T + 3 * HOUR, (T + 300 - HOUR, T + 300)),  # retried late: still the alert's hour
        (T - 5, (T - HOUR, T)),  # a replica whose clock is behind: never before the alert
    ],
)
@pytest.mark.parametrize("kind", ["firing", "repeat", "reminder"])
def test_an_alerts_chart_is_the_last_hour(kind, drawn_at, expected):
    assert window(request(kind), drawn_at) == expected


@pytest.mark.parametrize(
    ("fired_for", "drawn_after", "expected_margin", "expected_end"),
    [
        (120, 1, 300, 1),  # a short incident: 5 minutes either side (up to now)
        (6 * HOUR, 2, 2160, 2),  # a tenth of a long one
        (6 * HOUR, 3 * HOUR, 2160, 300),  # drawn late: ends 5 minutes after the resolve
    ],
)
def test_a_resolves_chart_is_the_whole_incident(
    fired_for, drawn_after, expected_margin, expected_end
):
    start, end = window(request("resolved", T, incident_start=T - fired_for), T + drawn_after)
    assert margin(fired_for) == expected_margin
    assert start == T - fired_for - expected_margin
    assert end == T + expected_end


def test_an_incident_longer_than_any_history_is_cut_to_31_days():
    start, end = window(request("resolved", T, incident_start=T - 60 * DAY), T + 1)
    assert end - start == 31 * DAY


def test_a_resolve_without_its_opening_is_the_last_hour():
    assert window(request("resolved", T, incident_start=None), T + 1) == (T + 1 - HOUR, T + 1)


def view(name="Friday <Live>"):
    return HistoryView("@TGS#live", None, name, T - HOUR, T, ())


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (request(), "Alert of watch #3: audience of Friday <Live>, last hour, UTC"),
        (
            request(mark=1000),
            "Alert of watch #3: audience of Friday <Live> (mark 1000), last hour, UTC",
        ),
        (request("repeat"), "Still firing, watch #3: audience of Friday <Live>, last hour, UTC"),
        (request("resolved"), "Resolved, watch #3: audience of Friday <Live>, last hour, UTC"),
        (
            request("resolved", incident_start=T - 3900),
            "Incident of watch #3: audience of Friday <Live>, fired 1h 5m from "
            "2023-11-14 21:08 UTC to 22:13 UTC",
        ),
        (
            request("resolved", incident_start=T - 2 * DAY),
            "Incident of watch #3: audience of Friday <Live>, fired 2d from "
            "2023-11-12 22:13 UTC to 2023-11-14 22:13 UTC",
        ),
    ],
)
def test_titles_say_what_the_chart_shows(req, expected):
    assert title_of(req, view()) == expected


def test_a_title_is_one_line_and_cut():
    title = title_of(request(), view("a\nname " + "x" * 400))
    assert "\n" not in title and len(title) <= 250 and title.endswith("…")


def test_a_title_without_a_name_shows_the_group_id():
    assert title_of(request(), view(None)).startswith("Alert of watch #3: audience of @TGS#live")


def test_the_file_name_carries_the_row_and_is_safe():
    assert filename_of(request(group="@TGS#a/../b")) == "alert-chart-7-TGS-a----b.png"
    assert filename_of(request("resolved")) == "incident-chart-7-TGS-live.png"

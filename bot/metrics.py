"""The bot's Prometheus metrics: one registry per bot, served on GET /metrics.

``Metrics()`` is made once, where the bot is assembled (``bot.wiring.build``), and handed
to the parts that count: the Tencent client (requests, their latency, rate-limiter
waits), the poller (cycles, targets checked), the Slack Web API clients and the answers
posted to response_url (calls), the callback endpoint (callbacks). What the database
holds (each watched group's audience, the watches by state, the outbox's backlog) is read
when Prometheus scrapes (``watch_database``, ``bot.store.figures``): every replica shares
it, and a series goes with its target. Those families are written by ``gauge_text`` (the
audiences' lines by the database itself) rather than through prometheus_client's
exposition, which takes 30 ms of CPU for 5,000 audiences.

The registry is the bot's own, not prometheus_client's global one, so that tests and
several bots in one process keep their figures apart; each replica serves its own.
The README's "Metrics" section documents every metric.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.utils import floatToGoString

# No ``_created`` series beside each counter and histogram: they double the series, and
# Prometheus reads resets from the counters themselves. (prometheus_client's one switch
# for the process.)
disable_created_metrics()

__all__ = ["METRICS_PATH", "PREFIX", "Metrics", "gauge_text", "metrics_app"]

#: Where Prometheus scrapes.
METRICS_PATH = "/metrics"
#: Every metric of the bot's own starts with this.
PREFIX = "online_bot_"

#: Seconds: a Tencent call takes tens of ms, Tencent gives up at 3 s, we at 6 s.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds a call waited for a place in the rate limit: none, or up to the 20 s deadline.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
#: Seconds a poll cycle took: a few targets, or 5,000 (26 s at 200 calls/s), up to hours.
CYCLE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0)


class Metrics:
    """The bot's figures, in a registry of its own (``registry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tencent_requests = Counter(
            PREFIX + "tencent_requests",
            "HTTP requests to Tencent's REST API (each attempt), by API and outcome: ok, "
            "api_error (an ErrorCode), busy (a rate or frequency limit's ErrorCode), "
            "http_error, no_answer (network, timeout), malformed; throttled: not sent, the "
            "bot's own rate limit had no place in time.",
            ["api", "outcome"],
            registry=registry,
        )
        self.tencent_request_seconds = Histogram(
            PREFIX + "tencent_request_duration_seconds",
            "Time from sending a request to Tencent to reading its answer, by API.",
            ["api"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.tencent_rate_limit_wait_seconds = Histogram(
            PREFIX + "tencent_rate_limit_wait_seconds",
            "Time a Tencent call waited for a place in the rate limit, by API and priority "
            "(interactive: /online queries; background: polling).",
            ["api", "priority"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.poll_cycle_seconds = Histogram(
            PREFIX + "poll_cycle_duration_seconds",
            "Duration of the poll cycles that checked at least one target.",
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.poll_targets_checked = Counter(
            PREFIX + "poll_targets_checked",
            "Targets (watched group and mark) checked by this replica, by outcome: ok (a "
            "count) or failed.",
            ["outcome"],
            registry=registry,
        )
        self.poll_cycle_failures = Counter(
            PREFIX + "poll_cycle_failures",
            "Poll cycles that stopped on an error (the database, most likely); see the log.",
            registry=registry,
        )
        self.poll_cycle_last_completed = Gauge(
            PREFIX + "poll_cycle_last_completed_timestamp_seconds",
            "When this replica's last poll cycle ended without an error (Unix time), whether "
            "or not a target was due.",
            registry=registry,
        )
        self.poll_interval = Gauge(
            PREFIX + "poll_interval_seconds",
            "POLL_INTERVAL: every watched target is checked once per interval.",
            registry=registry,
        )
        self.slack_calls = Counter(
            PREFIX + "slack_calls",
            "Slack Web API calls, and answers posted to a command's or button's response_url "
            "(method response_url), by method and outcome: ok, error (Slack answered an error "
            "code), ratelimited (HTTP 429), server_error (HTTP 5xx), unreadable, no_answer.",
            ["method", "outcome"],
            registry=registry,
        )
        self.tencent_callbacks = Counter(
            PREFIX + "tencent_callbacks",
            "Tencent's callbacks on POST /tencent/callback, by outcome (accepted, ignored: "
            "another command, refused, unavailable: the database did not take it) and the "
            "HTTP status answered.",
            ["outcome", "status"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.poll_targets_checked.labels(outcome)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._database: Callable[[], str] | None = None

    def watch_database(self, figures: Callable[[], str] | None) -> None:
        """Serve the figures read from the database at scrape time, as text
        (``bot.store.figures.DatabaseFigures``; None: no more, e.g. as it closes)."""
        self._database = figures

    def exposition(self) -> bytes:
        """What GET /metrics answers: the text format (0.0.4)."""
        figures = self._database
        text = generate_latest(self.registry)
        return text if figures is None else text + figures().encode()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's value of the registry's (the database's figures are not in it;
        scrape for those). None: no such series."""
        return self.registry.get_sample_value(name, labels or {})


def gauge_text(
    name: str,
    documentation: str,
    labels: tuple[str, ...],
    samples: Iterable[tuple[tuple[str, ...], float]],
) -> str:
    """A gauge family in the text format (0.0.4): its HELP and TYPE lines, then one line
    per sample, its label values escaped as the format says (backslash, quote, newline)."""
    pairs = ",".join(f'{label}="%s"' for label in labels)
    line = (f"{name}{{{pairs}}}" if labels else name) + " %s\n"  # name{a="%s",b="%s"} %s
    lines = [f"# HELP {name} {_escape_help(documentation)}\n# TYPE {name} gauge\n"]
    for values, value in samples:
        joined = "".join(values)
        if "\\" in joined or '"' in joined or "\n" in joined:
            values = tuple(_escape_label(v) for v in values)
        shown = value if type(value) is int else floatToGoString(value)
        lines.append(line % (*values, shown))
    return "".join(lines)


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


#: gzip's level for a scrape: 1 makes 5,000 audiences (420 KB) 13 times smaller in 3 ms;
#: the default 9 gains little more, in 10 ms.
GZIP_LEVEL = 1


def metrics_app(metrics: Metrics) -> Callable[[dict[str, Any], Callable[..., Any]], Any]:
    """GET /metrics (WSGI): the text format (0.0.4, which Prometheus reads whatever else
    it also accepts), gzipped when the scraper accepts it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET")])
            return [b"GET only\n"]
        body = metrics.exposition()
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    return app

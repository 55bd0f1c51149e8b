"""Prometheus's side of a benchmark: GET /metrics every few seconds while it runs.

Issue #13 asks that serving metrics moves bench_poll's and bench_slash's figures by at most
3 %: run a benchmark with ``--scrape-every 0`` (nobody scrapes) and with ``--scrape-every S``
(Prometheus's default is 15 s; 1 s is 15 times harsher) and compare.
"""

from __future__ import annotations

import statistics
import threading
import time
from types import TracebackType

import requests


class Scraper:
    """A thread scraping ``url`` every ``every`` seconds (none when ``every`` is 0), from
    ``with`` to its end; ``summary()`` says how many scrapes, how long and how big."""

    def __init__(self, url: str, every: float) -> None:
        self.url = url
        self.every = every
        self.seconds: list[float] = []
        self.sizes: list[int] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def __enter__(self) -> Scraper:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = session.get(self.url, timeout=10)
                    answer.raise_for_status()
                    self.sizes.append(len(answer.content))
                    self.seconds.append(time.monotonic() - started)
                except requests.RequestException:
                    self.failures += 1
                self._stop.wait(max(0.0, self.every - (time.monotonic() - started)))

    def summary(self) -> str:
        if self.every <= 0:
            return "metrics: not scraped (--scrape-every 0)"
        if not self.seconds:
            return f"metrics: scraped every {self.every:g} s, no answer ({self.failures} failed)"
        ordered = sorted(self.seconds)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return (
            f"metrics: scraped every {self.every:g} s: {len(ordered)} scrapes, "
            f"p50 {1000 * statistics.median(ordered):.1f} ms, p99 {1000 * p99:.1f} ms, "
            f"{max(self.sizes) / 1024:.0f} KB at most, {self.failures} failed"
        )

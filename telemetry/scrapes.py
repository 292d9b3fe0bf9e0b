"""Who scrapes a run's /metrics endpoint, and when: what the run's end waits for.

Production Prometheus is often an HA pair: two servers scrape the same targets on their own
schedules and each evaluates the alert rules (Alertmanager dedups the pages). Each knows only
what its own last scrape said, so the end of a run waits for a scrape of the final values by
every scraper seen during the run, each within two of its own intervals. A scraper silent
for more than :data:`GONE_AFTER_INTERVALS` of its intervals (a Prometheus replaced or stopped
mid-run) is gone and not waited for.

A scraper is its client address without the port, with the ``User-Agent`` header when one is
sent (Prometheus sends ``Prometheus/VERSION``), so a person's curl on the Prometheus host is
not taken for Prometheus. The limit: two scrapers on one host with the same agent (an HA
pair run as two processes of one version on one machine, or several servers behind one NAT
or proxy) count as one, and the first of them to scrape after the end ends the wait; nothing
Prometheus sends tells such replicas apart.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import deque

LAST_SCRAPE_MAX_S = 60.0
"""The longest a run's end waits for its last scrape."""

GONE_AFTER_INTERVALS = 3
"""A scraper not seen for more than this many of its intervals has gone (with its interval
unknown, one scrape so far: for more than :data:`LAST_SCRAPE_MAX_S`)."""

MAX_SCRAPERS = 16
"""Scrapers remembered at most; beyond it the one seen least recently is forgotten, so odd
clients cannot grow the bookkeeping without bound."""

MAX_AGENT_CHARS = 200
"""The longest ``User-Agent`` kept in a scraper's identity."""

ScraperId = tuple[str, str]
"""A scraper: its client address without the port, its ``User-Agent`` ("" when none)."""


class _Scraper:
    """When one scraper's latest scrapes started (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.starts: deque[float] = deque(maxlen=8)

    @property
    def last(self) -> float:
        return max(self.starts)

    def interval(self) -> float | None:
        """The median gap between the latest scrapes (None: fewer than two so far)."""
        starts = sorted(self.starts)
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        return statistics.median(gaps) if gaps else None

    def wait_bound(self) -> float:
        """How long to wait for its next scrape: two intervals, :data:`LAST_SCRAPE_MAX_S`
        at most (and when only one scrape has come, the interval unknown)."""
        interval = self.interval()
        return LAST_SCRAPE_MAX_S if interval is None else min(2 * interval, LAST_SCRAPE_MAX_S)

    def gone(self, now: float) -> bool:
        interval = self.interval()
        silence = LAST_SCRAPE_MAX_S if interval is None else GONE_AFTER_INTERVALS * interval
        return now - self.last > silence


class Scrapes:
    """The endpoint's scrapers and when their scrapes started, each counted once its response
    was sent. The server's threads write, the run's end reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scrapers: dict[ScraperId, _Scraper] = {}
        self.count = 0

    def served(self, started: float, scraper: ScraperId = ("", "")) -> None:
        """A scrape by ``scraper`` that started at ``started`` has been answered."""
        address, agent = scraper
        key = (address, agent[:MAX_AGENT_CHARS])
        with self._lock:
            self.count += 1
            if key not in self._scrapers and len(self._scrapers) >= MAX_SCRAPERS:
                quiet = min(self._scrapers, key=lambda known: self._scrapers[known].last)
                del self._scrapers[quiet]
            self._scrapers.setdefault(key, _Scraper()).starts.append(started)

    def awaited(self, mark: float) -> list[float]:
        """The wait bound of each scraper still to answer a scrape that started at ``mark``
        or later; a gone one is not awaited. Empty: every scraper around has."""
        now = time.monotonic()
        with self._lock:
            return [
                scraper.wait_bound()
                for scraper in self._scrapers.values()
                if scraper.last < mark and not scraper.gone(now)
            ]

"""Who the end of a run waits for: each scraper still around, by address and User-Agent.

Times are ``time.monotonic()`` values set in the past, so no test sleeps.
"""

from __future__ import annotations

import time

from telemetry.scrapes import LAST_SCRAPE_MAX_S, MAX_SCRAPERS, Scrapes

PROMETHEUS_A = ("10.0.0.1", "Prometheus/3.1.0")
PROMETHEUS_B = ("10.0.0.2", "Prometheus/3.1.0")


def scraped(scrapes: Scrapes, scraper: tuple[str, str], *ago: float) -> None:
    now = time.monotonic()
    for seconds in ago:
        scrapes.served(now - seconds, scraper)


def test_each_scraper_is_awaited_with_its_own_interval() -> None:
    scrapes = Scrapes()
    scraped(scrapes, PROMETHEUS_A, 30, 20, 10)  # every 10 s
    scraped(scrapes, PROMETHEUS_B, 12, 7, 2)  # every 5 s
    mark = time.monotonic() - 1
    assert sorted(scrapes.awaited(mark)) == [10.0, 20.0]  # two intervals each
    scraped(scrapes, PROMETHEUS_B, 0.5)  # B saw the end
    assert scrapes.awaited(mark) == [20.0]
    assert scrapes.count == 7


def test_one_agent_from_one_address_is_one_scraper_whatever_its_port() -> None:
    """The port is the client's ephemeral one, new on every connection."""
    scrapes = Scrapes()
    scraped(scrapes, PROMETHEUS_A, 30, 20, 10)
    scraped(scrapes, ("10.0.0.1", "curl/8.5.0"), 4)
    mark = time.monotonic() - 1
    assert sorted(scrapes.awaited(mark)) == [20.0, LAST_SCRAPE_MAX_S]


def test_a_scraper_silent_for_more_than_three_intervals_is_gone() -> None:
    scrapes = Scrapes()
    scraped(scrapes, PROMETHEUS_A, 45, 35, 25)  # every 10 s, then 25 s of silence: still due
    scraped(scrapes, PROMETHEUS_B, 60, 55, 50)  # every 5 s, then 50 s of silence: gone
    assert scrapes.awaited(time.monotonic()) == [20.0]


def test_a_scraper_seen_once_is_gone_after_the_longest_wait() -> None:
    """Its interval unknown (a person's curl, say), it is awaited up to the cap only while
    its next scrape could still come within it."""
    scrapes = Scrapes()
    scraped(scrapes, PROMETHEUS_A, LAST_SCRAPE_MAX_S - 5)
    assert scrapes.awaited(time.monotonic()) == [LAST_SCRAPE_MAX_S]
    scrapes = Scrapes()
    scraped(scrapes, PROMETHEUS_A, LAST_SCRAPE_MAX_S + 5)
    assert scrapes.awaited(time.monotonic()) == []


def test_the_scrapers_remembered_are_bounded_dropping_the_quietest() -> None:
    scrapes = Scrapes()
    for n in range(MAX_SCRAPERS + 1):  # every 2(n + 1) s; the first seen least recently
        last = (MAX_SCRAPERS - n) / 100
        scraped(scrapes, (f"10.0.1.{n}", "Prometheus/3.1.0"), last + 2 * (n + 1), last)
    awaited = scrapes.awaited(time.monotonic())
    assert len(awaited) == MAX_SCRAPERS
    assert min(awaited) > 6  # the first, awaited 4 s, was forgotten; the second stays
    assert scrapes.count == 2 * (MAX_SCRAPERS + 1)

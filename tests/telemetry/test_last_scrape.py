"""A run's /metrics endpoint stays up until Prometheus has seen the run end.

Prometheus knows only what its last scrape of a target said. The process exited as soon as
its run ended, so the last scrape nearly always said ``shopfloor_runs_active 1`` and
``ShopfloorFactoryDown`` (examples/prometheus/shopfloor-alerts.yml) paged for a run that had
shipped, unless it was started with ``--metrics-linger``. Now an endpoint that has been
scraped waits for one scrape of the final values, two observed scrape intervals at most; one
never scraped does not wait, and a stop signal cuts the wait. With an HA pair of Prometheus
servers it waits for a scrape by each. These tests scrape the real endpoint over HTTP from
threads, as Prometheus would.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
import time
import urllib.parse

import pytest
import telemetry_sample
from prometheus_client.parser import text_string_to_metric_families

from engine.bus import EventBus
from engine.events import Outcome, RunFinished, Stage, StageChanged
from engine.redaction import Redactor
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry


class Scraper:
    """Scrapes ``url`` every ``every`` seconds from a thread; keeps what each scrape said.

    ``agent`` is its User-Agent header (none by default), ``source`` the address it connects
    from (127.0.0.2 is another host on Linux's loopback)."""

    def __init__(self, url: str, every: float, agent: str | None = None, source: str = "") -> None:
        self.url = urllib.parse.urlsplit(url)
        self.every = every
        self.headers = {"User-Agent": agent} if agent is not None else {}
        self.source = source
        self.seen: list[dict[str, float]] = []
        self.asked: list[float] = []
        """When (time.monotonic) each answered scrape was asked, one for each of ``seen``."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            connection = http.client.HTTPConnection(
                self.url.hostname or "", self.url.port, timeout=2, source_address=(self.source, 0)
            )
            asked = time.monotonic()
            try:
                connection.request("GET", self.url.path, headers=self.headers)
                text = connection.getresponse().read().decode()
            except (OSError, http.client.HTTPException):
                pass  # the endpoint is gone: what it said last is in seen
            else:
                sums: dict[str, float] = {}
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
                self.asked.append(asked)
                self.seen.append(sums)
            finally:
                connection.close()
            self._stop.wait(self.every)

    async def scraped(self, times: int) -> None:
        """Wait (the event loop free) until ``times`` scrapes have been answered."""
        deadline = time.monotonic() + 10
        while len(self.seen) < times:
            assert time.monotonic() < deadline, "the scraper got no answer"
            await asyncio.sleep(0.02)


def served_run() -> tuple[RunTelemetry, EventBus]:
    telemetry = RunTelemetry(TelemetryOptions(metrics_port=0), redactor=Redactor(()))
    bus = EventBus(telemetry_sample.RUN_ID)
    telemetry.attach(bus)
    telemetry_sample.start(bus)
    return telemetry, bus


def url(telemetry: RunTelemetry) -> str:
    assert telemetry.server is not None
    return telemetry.server.url


def finish(bus: EventBus) -> None:
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    telemetry_sample.attempt(bus, "b", 1, passes=True)
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done"))


async def test_a_run_that_shipped_waits_for_a_scrape_that_sees_it_end() -> None:
    telemetry, bus = served_run()
    where = url(telemetry)
    said: list[str] = []
    with Scraper(where, every=1.0) as scraper:
        await scraper.scraped(3)
        assert scraper.seen[-1]["shopfloor_runs_active"] == 1
        finish(bus)
        await bus.close()
        began = time.monotonic()
        await telemetry.close(say=said.append)
        took = time.monotonic() - began
        scraped = len(scraper.seen)
    # The endpoint's last word to the scraper: the run ended (before: runs_active 1).
    assert scraper.seen[-1]["shopfloor_runs_active"] == 0, scraper.seen[-3:]
    assert scraper.seen[-1]["shopfloor_runs_total"] == 1
    assert scraped == len(scraper.seen)  # nothing answered once close() returned
    # Said in one line, bounded by two of the intervals seen; the next scrape ended it.
    assert said == [
        f"waiting up to 2 s for a last scrape of {where}, so Prometheus sees the run "
        "end (Ctrl-C skips)"
    ]
    assert took < 2.0 + 0.5


async def test_a_run_left_unfinished_by_a_stop_answer_is_not_active_at_the_last_scrape() -> None:
    """A person's "stop" (a budget or a branch question) ends the process with no
    RunFinished: the run stays resumable, and this process runs it no more."""
    telemetry, bus = served_run()
    with Scraper(url(telemetry), every=0.5) as scraper:
        await scraper.scraped(2)
        telemetry_sample.attempt(bus, "a", 1, passes=True)
        await bus.close()  # no RunFinished
        await telemetry.close()
    last = scraper.seen[-1]
    assert last["shopfloor_runs_active"] == 0, scraper.seen[-3:]
    assert last["shopfloor_stage"] == 0  # in no stage: nothing under way here
    assert last["shopfloor_runs_total"] == 0  # it did not end


async def test_an_endpoint_never_scraped_does_not_wait() -> None:
    telemetry, bus = served_run()
    finish(bus)
    await bus.close()
    said: list[str] = []
    began = time.monotonic()
    await telemetry.close(say=said.append)
    assert time.monotonic() - began < 1.0  # not the 60 s an unknown interval allows
    assert said == []


async def test_a_stop_signal_cuts_the_wait_short() -> None:
    """Ctrl-C or SIGTERM while it waits (``ShutdownSignals.stopping``): it exits now."""
    telemetry, bus = served_run()
    stop = asyncio.Event()
    said: list[str] = []
    with Scraper(url(telemetry), every=8) as scraper:  # one scrape: the interval unknown
        await scraper.scraped(1)
        finish(bus)
        await bus.close()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        began = time.monotonic()
        await telemetry.close(stop, said.append)
        took = time.monotonic() - began
    assert said and "waiting up to 60 s" in said[0]  # unknown interval: the cap
    assert 0.25 < took < 1.5


async def test_a_run_stopped_by_a_signal_does_not_wait() -> None:
    """The first Ctrl-C or SIGTERM stopped the run: the person (or systemd) wants it gone."""
    telemetry, bus = served_run()
    stop = asyncio.Event()
    stop.set()
    said: list[str] = []
    with Scraper(url(telemetry), every=0.3) as scraper:
        await scraper.scraped(2)
        await bus.close()
        began = time.monotonic()
        await telemetry.close(stop, said.append)
        assert time.monotonic() - began < 1.0
    assert said == []  # it did not wait


async def test_a_scrape_after_the_end_already_served_means_no_wait() -> None:
    """A TUI left open after its run ended: Prometheus has seen the end by the time it quits."""
    telemetry, bus = served_run()
    said: list[str] = []
    with Scraper(url(telemetry), every=0.2) as scraper:
        await scraper.scraped(2)
        finish(bus)
        await bus.drain()
        ended = len(scraper.seen)
        await scraper.scraped(ended + 2)
        await bus.close()
        began = time.monotonic()
        await telemetry.close(say=said.append)
        assert time.monotonic() - began < 1.0
    assert said == []  # it did not wait
    assert scraper.seen[-1]["shopfloor_runs_active"] == 0


def ends_seen(scraper: Scraper) -> int:
    """How many of ``scraper``'s answers said the run was no longer active, once one had
    said it was (a first scrape may come before the run's start is folded)."""
    active = [said["shopfloor_runs_active"] for said in scraper.seen]
    return active[active.index(1) :].count(0) if 1 in active else 0


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        pytest.param(
            ("127.0.0.1", "Prometheus/3.1.0"), ("127.0.0.2", "Prometheus/3.1.0"), id="two-hosts"
        ),
        pytest.param(
            ("127.0.0.1", "Prometheus/2.53.0"), ("127.0.0.1", "Prometheus/3.1.0"), id="one-host"
        ),
    ],
)
async def test_each_server_of_an_ha_pair_sees_the_run_end(
    fast: tuple[str, str], slow: tuple[str, str]
) -> None:
    """Two Prometheus servers scrape the run on their own schedules, and each evaluates
    ShopfloorFactoryDown: the end waits for a scrape by both, and stops once both did.
    Before, the fast one's scrape ended the wait, and the slow one's last word, runs_active
    1, paged for a run that had shipped."""
    telemetry, bus = served_run()
    where = url(telemetry)
    said: list[str] = []
    with (
        Scraper(where, 0.1, agent=fast[1], source=fast[0]) as quick,
        Scraper(where, 0.8, agent=slow[1], source=slow[0]) as sluggish,
    ):
        await sluggish.scraped(2)
        finish(bus)
        await bus.close()
        await telemetry.close(say=said.append)
        closed = time.monotonic()
    assert quick.seen[-1]["shopfloor_runs_active"] == 0, quick.seen[-3:]
    assert sluggish.seen[-1]["shopfloor_runs_active"] == 0, sluggish.seen[-3:]
    # It stopped at the slow one's first scrape after the end, not at its next one.
    assert ends_seen(sluggish) == 1, sluggish.seen[-3:]
    # None asked once close() returned was answered. (Counting answers at that moment raced
    # the scraper threads: under load one read an answer sent before the end only after it.)
    assert max(quick.asked + sluggish.asked) < closed
    assert len(said) == 1
    assert said[0].startswith("waiting up to "), said
    assert f"for a last scrape of {where} by each of 2 scrapers, so Prometheus" in said[0]


async def test_a_scraper_gone_silent_before_the_end_is_not_waited_for() -> None:
    """A Prometheus replaced or stopped mid-run scrapes no more: the end waits for the one
    still scraping, not two of the gone one's intervals, saying so as for a single one."""
    telemetry, bus = served_run()
    where = url(telemetry)
    said: list[str] = []
    with Scraper(where, 0.3, agent="Prometheus/3.1.0", source="127.0.0.1") as staying:
        with Scraper(where, 0.1, agent="Prometheus/3.1.0", source="127.0.0.2") as gone:
            await gone.scraped(3)
        # 0.9 s and more: far more than a few of the gone one's intervals.
        await staying.scraped(len(staying.seen) + 3)
        finish(bus)
        await bus.close()
        await telemetry.close(say=said.append)
    assert ends_seen(gone) == 0
    assert staying.seen[-1]["shopfloor_runs_active"] == 0, staying.seen[-3:]
    # It stopped at the first scrape after the end (the bound, two of its intervals, had
    # allowed a second one).
    assert ends_seen(staying) == 1, staying.seen[-3:]
    assert len(said) == 1
    assert re.fullmatch(
        rf"waiting up to \d+ s for a last scrape of {re.escape(where)}, so Prometheus sees "
        r"the run end \(Ctrl-C skips\)",
        said[0],
    ), said

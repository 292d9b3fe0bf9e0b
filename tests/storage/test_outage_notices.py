"""A person watching a headless run is told when storage is retrying and when it recovered.

The writer process rode out a database that did not answer for up to 30 s, warning at each
attempt into its own log, which nobody watching the console sees: the console said nothing
until the run stopped, 30 s later. Here the database goes away for real (a proxy in front of
PostgreSQL stops listening) under the real writer process and the headless console; the
same notices drive the /metrics series an operator's alert watches.
"""

from __future__ import annotations

import asyncio
import io
import urllib.request

import pytest
from pg_proxy import PgProxy
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from engine.bus import EventBus
from engine.events import AgentOutput, RunStarted
from engine.redaction import Redactor
from storage.run_writer import ProcessStorageWriter, start_writer
from storage.store import SqlEventStore
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry
from tui.headless import ConsoleReporter
from tui.storage_watch import storage_notices


def run_started() -> RunStarted:
    return RunStarted(
        request="Build a greeting CLI",
        repo="/repos/greet",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/integration",
    )


@pytest.mark.postgres
async def test_the_headless_console_says_once_that_storage_retries_and_once_that_it_recovered(
    empty_pg_url: str,
) -> None:
    proxy = await PgProxy(empty_pg_url).start()
    output = io.StringIO()
    try:
        store = await SqlEventStore.open(proxy.url)
        bus = EventBus("r-notice")
        reporter = ConsoleReporter(
            bus.subscribe("console"), Console(file=output, width=200), show_time=False
        )
        reading = asyncio.create_task(reporter.run())
        writer = await start_writer(
            store, bus.subscribe("storage", durable=True), on_notice=storage_notices(bus)
        )
        assert isinstance(writer, ProcessStorageWriter)
        writing = asyncio.create_task(writer.run())
        bus.emit(run_started())
        await asyncio.wait_for(bus.durable(), 10)
        await proxy.cut()
        for i in range(20):
            bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}"))
        await asyncio.sleep(2.5)  # several attempts meet the outage
        said = output.getvalue()
        assert said.count("storage: storing the run's events failed; retrying for up to 30s") == 1
        assert "recovered" not in said
        await proxy.restore()
        await asyncio.wait_for(bus.durable(), 15)
        await bus.close()
        await asyncio.wait_for(writing, 15)
        await asyncio.wait_for(reading, 5)
        await store.close()
    finally:
        await proxy.close()
    lines = [line for line in output.getvalue().splitlines() if "storage" in line]
    assert len(lines) == 2, lines
    assert "storage: recovered: 20 events stored after" in lines[1]
    async with await SqlEventStore.open(empty_pg_url) as kept:  # the notices are in the log
        notices = [
            e.text
            for e in await kept.read("r-notice")
            if isinstance(e, AgentOutput) and e.agent_id == "storage"
        ]
    assert len(notices) == 2


def scraped(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.mark.postgres
async def test_metrics_show_storage_retrying_and_count_the_batches_retried(
    empty_pg_url: str,
) -> None:
    proxy = await PgProxy(empty_pg_url).start()
    telemetry = RunTelemetry(TelemetryOptions(metrics_port=0), redactor=Redactor(()))
    assert telemetry.server is not None
    url = telemetry.server.url
    try:
        store = await SqlEventStore.open(proxy.url)
        bus = EventBus("r-notice-metrics")
        telemetry.attach(bus)
        writer = await start_writer(
            store, bus.subscribe("storage", durable=True), on_notice=storage_notices(bus)
        )
        writing = asyncio.create_task(writer.run())
        bus.emit(run_started())
        await asyncio.wait_for(bus.durable(), 10)
        before = await asyncio.to_thread(scraped, url)
        await proxy.cut()
        bus.emit(AgentOutput(agent_id="eng-1", text="a line"))
        await asyncio.sleep(2.5)  # several attempts meet the outage
        during = await asyncio.to_thread(scraped, url)
        await proxy.restore()
        await asyncio.wait_for(bus.durable(), 15)
        await asyncio.sleep(0.2)  # the recovery notice reaches the metrics' subscription
        after = await asyncio.to_thread(scraped, url)
        await bus.close()
        await asyncio.wait_for(writing, 15)
        await store.close()
    finally:
        await telemetry.close()
        await proxy.close()
    retrying, retried = "shopfloor_storage_retrying", "shopfloor_storage_write_retries_total"
    assert (before[retrying], before[retried]) == (0, 0)
    assert (during[retrying], during[retried]) == (1, 1)  # one batch, however many attempts
    assert (after[retrying], after[retried]) == (0, 1)

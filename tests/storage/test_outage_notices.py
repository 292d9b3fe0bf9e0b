"""A person watching a headless run is told when storage is retrying and when it recovered.

The writer process rode out a database that did not answer for up to 30 s, warning at each
attempt into its own log, which nobody watching the console sees: the console said nothing
until the run stopped, 30 s later. Here the database goes away for real (a proxy in front of
PostgreSQL stops listening) under the real writer process and the headless console.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from pg_proxy import PgProxy
from rich.console import Console

from engine.bus import EventBus
from engine.events import AgentOutput, RunStarted
from storage.run_writer import ProcessStorageWriter, start_writer
from storage.store import SqlEventStore
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

"""``shopfloor serve-metrics`` is the team's overnight endpoint: a database outage must not end it.

Before, the first poll that met an unreachable database raised out of the command: the
endpoint went away (Prometheus saw the target down) and stayed away after the database came
back. The outage here is real: the endpoint reads PostgreSQL through a loopback proxy that is
taken away and brought back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import urllib.request

import pytest
from pg_proxy import PgProxy
from rich.console import Console

from engine.bus import EventBus
from engine.events import Outcome, RunFinished, RunStarted
from storage.store import SqlEventStore
from tui.commands.metrics import cmd_serve_metrics

pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def scrape(port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    return await asyncio.to_thread(get)


def shipped_runs(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('shopfloor_runs_total{outcome="shipped"}'):
            return float(line.split()[-1])
    return 0.0


async def store_run(url: str, run_id: str) -> None:
    bus = EventBus(run_id)
    started = RunStarted(
        request="Build it",
        repo="/srv/repo",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/int",
        simulated=True,
    )
    async with await SqlEventStore.open(url) as store:
        await store.append([bus.emit(started), bus.emit(RunFinished(outcome=Outcome.SHIPPED))])


async def wait_for(port: int, shipped: float) -> str:
    for _ in range(100):
        with contextlib.suppress(OSError):
            text = await scrape(port)
            if shipped_runs(text) == shipped:
                return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"/metrics never showed {shipped} shipped run(s)")


async def test_serve_metrics_outlives_a_database_outage(empty_pg_url, tmp_path):
    await store_run(empty_pg_url, "r-before")
    proxy = await PgProxy(empty_pg_url).start()
    port = free_port()
    out = tmp_path / "out.txt"
    args = argparse.Namespace(db=proxy.url, host="127.0.0.1", port=port, runs=100, poll=0.1)
    with out.open("w") as sink:
        console = Console(file=sink, width=200)
        serving = asyncio.ensure_future(cmd_serve_metrics(args, console))
        try:
            await wait_for(port, 1)
            await proxy.cut()
            await asyncio.sleep(1.0)  # several polls meet the outage
            assert not serving.done(), "serve-metrics ended on a database outage"
            assert shipped_runs(await scrape(port)) == 1  # the last values, still served

            await store_run(empty_pg_url, "r-during")  # written while the endpoint is cut off
            await proxy.restore()
            await wait_for(port, 2)  # folded once the database answers again
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            await proxy.close()
    said = out.read_text()
    assert "still serving the last values" in said
    assert "the database answers again" in said
    assert "Traceback" not in said

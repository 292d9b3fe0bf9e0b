"""Benchmark: group commit against one commit per event, and how fast another process sees a
commit, on SQLite and PostgreSQL side by side in one run.

- ``append``: the same stream of AgentOutput events (the commonest, ~200 bytes of JSON) stored
  two ways. ``group_commit``: emitted on an EventBus and stored by the real StorageWriter,
  which commits whatever queued since its last commit, timed until ``bus.durable()`` returns
  (everything acknowledged). ``commit_per_event``: one ``store.append([event])`` — one
  transaction — per event. Both use the store's durable settings (SQLite WAL with
  ``synchronous=FULL``, PostgreSQL's defaults), so each commit really waits for the disk.
- ``tail_latency_ms``: a second process tails the run with ``store.tail`` (LISTEN/NOTIFY on
  PostgreSQL, polling every 50 ms on SQLite, as ``attach`` does); this process commits one
  event every 10 ms and the latency is the child's receipt time minus the parent's commit
  return time (CLOCK_MONOTONIC is shared by processes on Linux). p50 and p95.

PostgreSQL runs against $SHOPFLOOR_BENCH_PG_URL, or a scratch database created (and dropped)
on postgres@127.0.0.1:5432; without a server its rows say "skipped".

Usage: python bench/storage.py [--json] [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as `python bench/storage.py`, this file's folder comes first on sys.path and its name
# would shadow the `storage` package it measures.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import asyncpg  # noqa: E402

from engine.bus import EventBus  # noqa: E402
from engine.events import AgentOutput, Outcome, RunFinished, RunStarted  # noqa: E402
from storage.store import SqlEventStore  # noqa: E402
from storage.writer import StorageWriter  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TAIL_EVENTS = 200
TAIL_GAP_S = 0.01


def _started() -> RunStarted:
    return RunStarted(
        request="bench",
        repo="/bench",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/bench",
    )


def _line(i: int) -> AgentOutput:
    return AgentOutput(agent_id="eng-1", text=f"line {i}: " + "x" * 120)


async def group_commit(url: str, count: int) -> dict[str, Any]:
    async with await SqlEventStore.open(url) as store:
        bus = EventBus("bench-group-" + secrets.token_hex(3))
        writer = StorageWriter(store, bus.subscribe("storage", durable=True))
        writing = asyncio.create_task(writer.run())
        start = time.perf_counter()
        bus.emit(_started())
        for i in range(count - 1):
            bus.emit(_line(i))
            if i % 64 == 0:
                await asyncio.sleep(0)  # an engine yields now and then; the writer keeps up
        await bus.durable()
        elapsed = time.perf_counter() - start
        await bus.close()
        await writing
    return {
        "events": count,
        "seconds": round(elapsed, 4),
        "events_per_s": round(count / elapsed),
        "commits": writer.batches,
    }


async def commit_per_event(url: str, count: int) -> dict[str, Any]:
    async with await SqlEventStore.open(url) as store:
        bus = EventBus("bench-single-" + secrets.token_hex(3))
        events = [bus.emit(_started())] + [bus.emit(_line(i)) for i in range(count - 1)]
        start = time.perf_counter()
        for event in events:
            await store.append([event])
        elapsed = time.perf_counter() - start
    return {
        "events": count,
        "seconds": round(elapsed, 4),
        "events_per_s": round(count / elapsed),
        "commits": count,
    }


async def tail_child(url: str, run_id: str) -> None:
    """Second process: tail the run, print each event's seq and receipt time as JSON."""
    async with await SqlEventStore.open(url) as store:
        print("ready", flush=True)
        seen = [(event.seq, time.monotonic()) async for event in store.tail(run_id)]
    print(json.dumps(seen), flush=True)


async def tail_latency(url: str) -> dict[str, Any]:
    run_id = "bench-tail-" + secrets.token_hex(3)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--tail-child", url, run_id, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    ready = await child.stdout.readline()
    if ready.decode().strip() != "ready":
        raise RuntimeError("tail process did not start")
    await asyncio.sleep(0.3)  # let it settle into waiting
    committed: dict[int, float] = {}
    async with await SqlEventStore.open(url) as store:
        bus = EventBus(run_id)
        script = [_started()] + [_line(i) for i in range(TAIL_EVENTS - 2)]
        script.append(RunFinished(outcome=Outcome.SHIPPED))
        for event in script:
            stamped = bus.emit(event)
            await store.append([stamped])
            committed[stamped.seq] = time.monotonic()
            await asyncio.sleep(TAIL_GAP_S)
    out, _ = await asyncio.wait_for(child.communicate(), timeout=60)
    seen = json.loads(out.decode().strip().splitlines()[-1])
    lat = sorted((at - committed[seq]) * 1000 for seq, at in seen)
    return {
        "events": len(lat),
        "p50": round(statistics.median(lat), 2),
        "p95": round(lat[int(len(lat) * 0.95) - 1], 2),
        "max": round(lat[-1], 2),
        "mechanism": "LISTEN/NOTIFY" if url.startswith("postgresql") else "poll 50 ms",
    }


async def bench_backend(url: str, count: int) -> dict[str, Any]:
    group = await group_commit(url, count)
    single = await commit_per_event(url, max(count // 20, 100))
    return {
        "group_commit": group,
        "commit_per_event": single,
        "group_vs_single": round(group["events_per_s"] / single["events_per_s"], 1),
        "tail_latency_ms": await tail_latency(url),
    }


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_SERVER, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def run(count: int) -> dict[str, Any]:
    results: dict[str, Any] = {"events": count}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await bench_backend(f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}", count)
    explicit = os.environ.get("SHOPFLOOR_BENCH_PG_URL", "").strip()
    if explicit:
        results["postgresql"] = await bench_backend(explicit, count)
        return results
    name = f"shopfloor_bench_{secrets.token_hex(4)}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        results["postgresql"] = {"skipped": f"no server at {PG_SERVER}: {exc}"}
        return results
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        results["postgresql"] = await bench_backend(url, count)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def _print(results: dict[str, Any]) -> None:
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        if "skipped" in r:
            print(f"{backend:<11} skipped: {r['skipped']}")
            continue
        g, s, t = r["group_commit"], r["commit_per_event"], r["tail_latency_ms"]
        print(
            f"{backend:<11} group commit {g['events_per_s']:>8} ev/s ({g['commits']} commits)"
            f" | commit per event {s['events_per_s']:>6} ev/s | x{r['group_vs_single']}"
            f" | tail p50 {t['p50']} ms p95 {t['p95']} ms ({t['mechanism']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--events", type=int, default=20_000, help="events for group commit")
    parser.add_argument("--tail-child", nargs=2, metavar=("URL", "RUN_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tail_child:
        asyncio.run(tail_child(*args.tail_child))
        return
    if args.events < 100:
        parser.error("--events must be at least 100")
    results = asyncio.run(run(args.events))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)


if __name__ == "__main__":
    main()

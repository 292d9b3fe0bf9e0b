"""Benchmark of the control room under a flood of events, against a bare Textual Log.

Drives the real app headless (``run_test``) with 50 agents x 2,000 log lines plus 20,000
other events fed through the bridge (the same path ``attach`` uses: an async iterator of
events). In the same run, the same lines go to a bare Textual app holding one ``Log``
widget (the baseline). Measured: ingest rate of both, key-to-screen latency while the
flood runs (``]`` switches the agent; the time until the log shows the new agent and the
screen refreshed; p95), and the RSS growth of the real app.

One flood gives a dozen key presses, and the p95 of a dozen samples is the slowest one:
each app takes ``--rounds`` floods (default 3), each on a fresh app, the two apps taking
turns; latencies are pooled, ingest is the median round, and each round's ingest ratio is
printed too.

    python bench/tui.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Textual reads its repaint cap once, when it loads: tui goes first, as in the shopfloor CLI
# (tui/__init__.py sets TEXTUAL_FPS), so both apps run with the cap the control room uses.
import tui  # noqa: F401  # isort: skip

from textual import constants as textual_constants
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.widgets import Log

from engine.blueprint import Blueprint, Task
from engine.events import (
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetUpdated,
    EventBase,
    GateFinished,
    LLMCallFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from tui.app import ShopfloorApp
from tui.argtypes import non_negative_int, positive_int
from tui.messages import output_lines
from tui.widgets.agent_log import AgentLog

SIZE = (120, 40)
RUN_ID = "bench"
YIELD_EVERY = 256  # the feed lets the loop run this often, like a bus under load


def rss_mb() -> float:
    """Resident set size of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def build_events(agents: int, lines: int, others: int) -> list[EventBase]:
    """The flood, stamped: setup, then agent lines round-robin with other events mixed in."""
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    tasks = [
        Task(id=f"t{i}", title=f"task {i}", depends_on=[f"t{i - 1}"] if i else [])
        for i in range(agents)
    ]
    head: list[EventBase] = [
        RunStarted(
            request="bench",
            repo="/tmp/x",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="b",
            simulated=True,
        ),
        StageChanged(stage=Stage.BUILD),
        BlueprintProposed(blueprint=Blueprint(spec="bench", tasks=tasks)),
    ]
    head += [
        AgentStarted(
            agent_id=f"engineer:t{i}:a1",
            role="engineer",
            model="sim:",
            simulated=True,
            task_id=f"t{i}",
            attempt=1,
        )
        for i in range(agents)
    ]
    total_lines = agents * lines
    other_every = max(1, total_lines // max(1, others))
    body: list[EventBase] = []
    made_others = 0
    for n in range(total_lines):
        agent = n % agents
        body.append(
            AgentOutput(
                agent_id=f"engineer:t{agent}:a1",
                text=f"line {n // agents} of agent {agent}: compiling module_{n % 97}.py",
            )
        )
        if n % other_every == 0 and made_others < others:
            kind = made_others % 4
            task = f"t{made_others % agents}"
            if kind == 0:
                body.append(TaskStateChanged(task_id=task, state=TaskState.RUNNING, attempt=1))
            elif kind == 1:
                body.append(
                    LLMCallFinished(
                        agent_id=f"engineer:{task}:a1",
                        role="engineer",
                        provider="sim",
                        model="sim:",
                        simulated=True,
                        input_tokens=900,
                        output_tokens=200,
                    )
                )
            elif kind == 2:
                body.append(
                    GateFinished(
                        gate="tests",
                        scope="task",
                        task_id=task,
                        attempt=1,
                        passed=True,
                        summary="ok",
                    )
                )
            else:
                body.append(BudgetUpdated(tokens=made_others * 1100, cost_usd=0.0))
            made_others += 1
    return [
        e.model_copy(update={"run_id": RUN_ID, "seq": i + 1, "ts": ts})
        for i, e in enumerate(head + body)
    ]


async def feed(events: Sequence[EventBase], go: asyncio.Event) -> AsyncIterator[EventBase]:
    """The events as an async iterator that yields to the loop now and then.

    Nothing flows before ``go`` is set: the clock starts then, so no event is consumed
    while the app is still starting up (that work would be free for whichever app is
    faster to start).
    """
    await go.wait()
    for i, event in enumerate(events):
        yield event
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)


KEY_GIVE_UP_S = 10.0
"""A key press not on screen after this long stops the bench with what the app showed (a
bench that waits forever tells nothing; twice in many hundred floods one did)."""


async def timed_press(app: App[None], moved: Callable[[], bool], stuck: Callable[[], str]) -> float:
    """Press ``]``; seconds until ``moved()`` holds and the screen refreshed after it.

    ``stuck()`` says what the app shows, should the press not move it in time."""
    start = time.perf_counter()
    app.simulate_key("right_square_bracket")
    while not moved():
        if time.perf_counter() - start > KEY_GIVE_UP_S:
            raise RuntimeError(f"] did nothing in {KEY_GIVE_UP_S:.0f} s: {stuck()}")
        await asyncio.sleep(0.0005)
    shown = asyncio.Event()
    app.screen.call_after_refresh(shown.set)
    try:
        await asyncio.wait_for(shown.wait(), KEY_GIVE_UP_S)
    except TimeoutError:
        raise RuntimeError("] took effect, but the screen never refreshed") from None
    return time.perf_counter() - start


async def key_latency(app: ShopfloorApp) -> float:
    """Press ``]``; seconds until the log shows the next agent and the screen refreshed."""
    screen = app.main
    log = screen.query_one(AgentLog)
    before = log.agent_id
    return await timed_press(
        app,
        lambda: log.agent_id != before,
        lambda: (
            f"the log still shows {before} (focus {app.focused}, selected "
            f"{screen.selected_agent}, folded {app.state.last_seq} events)"
        ),
    )


@dataclass
class Result:
    seconds: float
    latencies: list[float]
    rss_growth_mb: float


async def run_app(events: list[EventBase]) -> Result:
    rss0 = rss_mb()
    go = asyncio.Event()
    app = ShopfloorApp(feed(events, go), max_lines=2000)
    latencies: list[float] = []
    peak = rss0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        go.set()
        last = events[-1].seq
        agents_seen = False
        while app.state.last_seq < last:
            if not agents_seen:
                agents_seen = len(app.state.agents) > 1
            else:
                latencies.append(await key_latency(app))
            await asyncio.sleep(0.02)
            peak = max(peak, rss_mb())
        seconds = time.perf_counter() - start
        await pilot.pause()
        peak = max(peak, rss_mb())
    return Result(seconds, latencies, peak - rss0)


@dataclass
class Lines(Message):
    lines: list[str]
    events: int


class BareLogApp(App[None]):
    """The baseline: one Log widget fed by a worker, as simple as Textual gets.

    Its key (``]``) shows another 2,000 lines the plain way, clearing the Log and writing
    the last 2,000 lines again, so both apps' key-to-screen latency is measured side by side.
    """

    BINDINGS: ClassVar[list[BindingType]] = [("right_square_bracket", "switch", "switch")]

    def __init__(self, events: Sequence[EventBase], go: asyncio.Event) -> None:
        super().__init__()
        self.events_in = events
        self.go = go
        self.handled = 0
        self.recent: deque[str] = deque(maxlen=2000)
        self.switches = 0

    def action_switch(self) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines(list(self.recent))
        self.switches += 1

    def compose(self) -> ComposeResult:
        yield Log(max_lines=2000)

    def on_mount(self) -> None:
        self.run_worker(self.pump())

    async def pump(self) -> None:
        batch: list[str] = []
        count = 0
        async for event in feed(self.events_in, self.go):
            count += 1
            if isinstance(event, AgentOutput):
                batch.extend(output_lines(event))
            if count == 512:
                self.post_message(Lines(batch, count))
                batch, count = [], 0
        self.post_message(Lines(batch, count))

    def on_lines(self, message: Lines) -> None:
        self.query_one(Log).write_lines(message.lines)
        self.recent.extend(message.lines)
        self.handled += message.events


async def baseline_key_latency(app: BareLogApp) -> float:
    """Press ``]`` in the bare app; seconds until the refilled Log is on screen."""
    before = app.switches
    return await timed_press(
        app, lambda: app.switches != before, lambda: "the bare Log was not refilled"
    )


async def run_baseline(events: list[EventBase]) -> tuple[float, list[float]]:
    """Ingest seconds of the bare app, and its key latencies while the flood ran."""
    go = asyncio.Event()
    app = BareLogApp(events, go)
    latencies: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        go.set()
        while app.handled < len(events):
            if app.recent:
                latencies.append(await baseline_key_latency(app))
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - start
        await pilot.pause()
    return seconds, latencies


def median(values: list[float]) -> float:
    """The median, or NaN when a flood too short to press a key during left no samples."""
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20)[-1]


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--agents", type=positive_int, default=50)
    parser.add_argument("--lines", type=positive_int, default=2000, help="log lines per agent")
    parser.add_argument("--others", type=non_negative_int, default=20000, help="other events")
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="floods per app, each on a fresh app (latencies are pooled, ingest is the median)",
    )
    args = parser.parse_args(argv)
    events = build_events(args.agents, args.lines, args.others)
    # The events are the bench's fixture, not either app's state. Unfrozen, the collector's
    # full passes over their ~350,000 objects (up to 160 ms each here) stall whichever app
    # runs at that moment, and one stall is the p95 of a dozen samples.
    gc.collect()
    gc.freeze()
    ours_s: list[float] = []
    ours_latencies: list[float] = []
    growth: list[float] = []
    baseline_runs: list[float] = []
    baseline_latencies: list[float] = []
    for _ in range(args.rounds):
        ours = await run_app(events)
        ours_s.append(ours.seconds)
        ours_latencies += ours.latencies
        growth.append(ours.rss_growth_mb)
        # The app just run stays reachable (the context still holds Textual's active app):
        # its ~40,000 objects are not the next app's to walk through either.
        gc.collect()
        gc.freeze()
        baseline_s, latencies = await run_baseline(events)
        baseline_runs.append(baseline_s)
        baseline_latencies += latencies
        gc.collect()
        gc.freeze()
    result = {
        "events": len(events),
        "rounds": args.rounds,
        "events_per_s": round(len(events) / statistics.median(ours_s)),
        "baseline_events_per_s": round(len(events) / statistics.median(baseline_runs)),
        "ingest_ratio_per_round": [
            round(b / o, 2) for o, b in zip(ours_s, baseline_runs, strict=True)
        ],
        "key_latency_p95_ms": round(p95(ours_latencies) * 1000, 1),
        "key_latency_median_ms": round(median(ours_latencies) * 1000, 1),
        "key_latency_samples": len(ours_latencies),
        "baseline_key_latency_p95_ms": round(p95(baseline_latencies) * 1000, 1),
        "baseline_key_latency_median_ms": round(median(baseline_latencies) * 1000, 1),
        "baseline_key_latency_samples": len(baseline_latencies),
        "rss_growth_mb": round(max(growth), 1),
        "textual_fps": textual_constants.MAX_FPS,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

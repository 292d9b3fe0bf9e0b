"""The bridge's batching and the messages' coalescing, without running an app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import sample_run
from textual.message import Message

from engine.bus import EventBus
from engine.events import AgentOutput, EventBase, Stage, StageChanged
from tui.bridge import pump_events
from tui.messages import EventsArrived, EventStreamEnded, output_lines


def test_output_lines_mark_tool_result_and_error_output() -> None:
    outputs = [
        AgentOutput(agent_id="a", kind="tool", text="pytest -q"),
        AgentOutput(agent_id="a", kind="result", text="4 passed"),
        AgentOutput(agent_id="a", kind="error", text="timeout"),
        AgentOutput(agent_id="a", text="two\nlines"),
        AgentOutput(agent_id="a", text=""),
    ]
    lines = [line for output in outputs for line in output_lines(output)]
    assert lines == ["$ pytest -q", "> 4 passed", "! timeout", "two", "lines", ""]


def test_events_arrived_coalesce_forward_in_order() -> None:
    earlier = EventsArrived([StageChanged(stage=Stage.BUILD, seq=1)])
    later = EventsArrived([StageChanged(stage=Stage.VERIFY, seq=2)])
    assert earlier.can_replace(later)
    assert [event.seq for event in later.events] == [1, 2]
    assert not later.can_replace(EventStreamEnded(0))


class Collector:
    """Stands in for the screen: records what the bridge posts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True

    def seqs(self) -> list[int]:
        return [
            event.seq
            for message in self.messages
            if isinstance(message, EventsArrived)
            for event in message.events
        ]


async def test_pump_delivers_everything_in_order_then_ends_with_the_bus() -> None:
    bus = EventBus(sample_run.RUN_ID)
    target = Collector()
    pump = asyncio.create_task(pump_events(bus.subscribe("tui"), target))  # type: ignore[arg-type]
    sample_run.whole_run(bus)
    await asyncio.wait_for(bus.close(), timeout=5)
    delivered = await asyncio.wait_for(pump, timeout=5)

    assert delivered == bus.state.last_seq
    assert isinstance(target.messages[-1], EventStreamEnded)
    assert target.messages[-1].delivered == delivered
    assert target.seqs() == list(range(1, delivered + 1))
    # One message per batch, not one per event: the whole run went in one go.
    assert len(target.messages) == 2


async def test_pump_reads_any_async_iterator_in_batches() -> None:
    events = sample_run.recorded()

    async def stored() -> AsyncIterator[EventBase]:
        for event in events:
            yield event

    target = Collector()
    delivered = await asyncio.wait_for(pump_events(stored(), target), timeout=5)  # type: ignore[arg-type]
    assert delivered == len(events)
    assert target.seqs() == [event.seq for event in events]
    ended = target.messages[-1]
    assert isinstance(ended, EventStreamEnded) and ended.error == ""


async def test_a_failing_source_ends_the_stream_with_the_reason() -> None:
    async def broken() -> AsyncIterator[EventBase]:
        yield StageChanged(stage=Stage.BUILD, seq=1)
        raise ConnectionError("database went away")

    target = Collector()
    delivered = await asyncio.wait_for(pump_events(broken(), target), timeout=5)  # type: ignore[arg-type]
    assert delivered == 1
    ended = target.messages[-1]
    assert isinstance(ended, EventStreamEnded)
    assert ended.error == "ConnectionError: database went away"


async def test_a_stopped_pump_does_not_hold_up_the_bus() -> None:
    bus = EventBus(sample_run.RUN_ID)
    pump = asyncio.create_task(pump_events(bus.subscribe("tui"), Collector()))  # type: ignore[arg-type]
    sample_run.start(bus)
    await asyncio.sleep(0)
    pump.cancel()
    await asyncio.gather(pump, return_exceptions=True)
    sample_run.build(bus)  # nobody reads these any more
    await asyncio.wait_for(bus.close(), timeout=2)


async def test_logged_history_goes_first_then_the_live_subscription() -> None:
    before = EventBus(sample_run.RUN_ID)
    logged: list[EventBase] = []
    before.listen(logged.append)
    sample_run.start(before)
    bus = EventBus(sample_run.RUN_ID, state=before.state)
    target = Collector()
    pump = asyncio.create_task(
        pump_events(bus.subscribe("tui"), target, batch_limit=3, history=logged)  # type: ignore[arg-type]
    )
    sample_run.build(bus)
    sample_run.finish(bus)
    await asyncio.wait_for(bus.close(), timeout=2)
    assert await asyncio.wait_for(pump, timeout=2) == bus.state.last_seq
    assert target.seqs() == list(range(1, bus.state.last_seq + 1))
    ended = target.messages[-1]
    assert isinstance(ended, EventStreamEnded) and ended.delivered == bus.state.last_seq


async def test_a_pump_stopped_while_posting_history_does_not_hold_up_the_bus() -> None:
    before = EventBus(sample_run.RUN_ID)
    logged: list[EventBase] = []
    before.listen(logged.append)
    sample_run.whole_run(before)
    bus = EventBus(sample_run.RUN_ID)
    target = Collector()
    # The screen never folds a batch: the pump waits in the history, the app quits.
    pump = asyncio.create_task(
        pump_events(bus.subscribe("tui"), target, batch_limit=2, in_flight=1, history=logged)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.01)
    assert len(target.messages) == 1
    pump.cancel()
    await asyncio.gather(pump, return_exceptions=True)
    sample_run.whole_run(bus)  # nobody reads these
    await asyncio.wait_for(bus.close(), timeout=2)


async def test_the_window_holds_batches_back_until_the_screen_folded_one() -> None:
    bus = EventBus(sample_run.RUN_ID)
    target = Collector()
    sub = bus.subscribe("tui")
    pump = asyncio.create_task(pump_events(sub, target, in_flight=1))  # type: ignore[arg-type]
    sample_run.start(bus)
    await asyncio.sleep(0.01)
    first = target.messages[0]
    assert isinstance(first, EventsArrived)
    sample_run.build(bus)  # arrives while the screen still folds the first batch
    await asyncio.sleep(0.01)
    assert target.messages == [first]  # nothing more posted: the window is full

    first.acknowledge()
    await asyncio.sleep(0.01)
    assert len(target.messages) == 2  # everything that came meanwhile, in one batch
    second = target.messages[1]
    assert isinstance(second, EventsArrived)
    assert second.events[-1].seq == bus.state.last_seq

    second.acknowledge()
    await asyncio.wait_for(bus.close(), timeout=2)
    assert await asyncio.wait_for(pump, timeout=2) == bus.state.last_seq
    assert target.seqs() == list(range(1, bus.state.last_seq + 1))


async def test_batches_merged_in_the_queue_free_their_place_in_the_window() -> None:
    earlier = EventsArrived([StageChanged(stage=Stage.BUILD, seq=1)], asyncio.Event())
    later = EventsArrived([StageChanged(stage=Stage.VERIFY, seq=2)], asyncio.Event())
    assert earlier.handled is not None and later.handled is not None
    assert earlier.can_replace(later)
    assert earlier.handled.is_set()  # its events travel in the later message now
    assert not later.handled.is_set()

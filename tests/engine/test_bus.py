"""EventBus: stamping, folding, fan-out, back-pressure-free delivery, drain and close."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from pydantic import ValidationError

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    EventBase,
    Merged,
    Outcome,
    RunFinished,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.protocols import emit_new_via
from engine.state import RunState


def lines(n: int) -> list[AgentOutput]:
    return [AgentOutput(agent_id="a", text=f"line {i}") for i in range(n)]


async def test_emit_stamps_run_id_and_gap_free_sequence_numbers_from_one():
    bus = EventBus("run-42")
    stamped = [bus.emit(e) for e in lines(5)]
    assert [e.seq for e in stamped] == [1, 2, 3, 4, 5]
    assert {e.run_id for e in stamped} == {"run-42"}
    assert all(a.ts <= b.ts for a, b in pairwise(stamped))
    assert [e.text for e in stamped] == [f"line {i}" for i in range(5)]


async def test_emit_does_not_mutate_the_event_it_was_given():
    bus = EventBus("run-1")
    original = StageChanged(stage=Stage.BUILD)
    stamped = bus.emit(original)
    assert (original.run_id, original.seq) == ("", 0)
    assert (stamped.run_id, stamped.seq) == ("run-1", 1)


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (TaskStateChanged, {"task_id": "t1", "state": TaskState.RUNNING, "attempt": 2}),
        (Merged, {"task_id": "t1", "attempt": 1, "commit": "abc"}),
        (StageChanged, {"stage": Stage.BUILD}),
    ],
)
async def test_emit_new_gives_what_emit_gives_for_the_event_built_from_the_same_fields(
    cls: type[EventBase], fields: dict[str, object]
) -> None:
    by_emit, by_new = EventBus("run-1"), EventBus("run-1")
    heard: list[EventBase] = []
    by_new.listen(heard.append)
    sub = by_new.subscribe("s")
    expected = by_emit.emit(cls(**fields))
    got = by_new.emit_new(cls, **fields)
    assert type(got) is cls
    assert got.model_dump(exclude={"ts"}) == expected.model_dump(exclude={"ts"})
    assert got.model_fields_set == expected.model_fields_set  # what dumps with exclude_unset
    assert got.model_dump_json(exclude_unset=True).startswith('{"run_id":"run-1","seq":1,')
    assert got.ts.tzinfo is not None
    assert heard == [got] and await sub.get_batch() == [got]
    assert by_new.state.last_seq == 1


async def test_emit_new_with_a_bad_field_emits_nothing_and_keeps_the_sequence() -> None:
    bus = EventBus("run-1")
    heard: list[EventBase] = []
    bus.listen(heard.append)
    with pytest.raises(ValidationError):
        bus.emit_new(TaskStateChanged, task_id="t1", state="no such state")
    assert heard == [] and bus.state.last_seq == 0
    assert bus.emit_new(StageChanged, stage=Stage.BUILD).seq == 1


async def test_emit_new_after_close_is_refused() -> None:
    bus = EventBus("run-1")
    await bus.close()
    with pytest.raises(RuntimeError, match="closed"):
        bus.emit_new(StageChanged, stage=Stage.BUILD)


async def test_emit_new_via_a_bare_emit_builds_the_event_and_emits_it() -> None:
    emitted: list[EventBase] = []
    event = emit_new_via(emitted.append)(StageChanged, stage=Stage.QC)
    assert emitted == [event] and event.stage is Stage.QC


async def test_a_bus_resumed_from_state_continues_the_sequence():
    first = EventBus("run-1")
    logged = [first.emit(event) for event in lines(3)]
    resumed = EventBus("run-1", state=RunState.fold(logged))  # as `resume` rebuilds it
    assert resumed.emit(StageChanged(stage=Stage.VERIFY)).seq == 4


async def test_emit_folds_into_the_run_state_before_returning():
    bus = EventBus("run-1")
    bus.emit(StageChanged(stage=Stage.BUILD))
    assert bus.state.stage is Stage.BUILD
    bus.emit(RunFinished(outcome=Outcome.FAILED, reason="nope"))
    assert (bus.state.outcome, bus.state.reason, bus.state.last_seq) == (Outcome.FAILED, "nope", 2)


async def test_listeners_are_called_synchronously_with_the_stamped_event():
    bus = EventBus("run-1")
    heard: list[tuple[int, Stage]] = []
    bus.listen(lambda e: heard.append((e.seq, bus.state.stage)))
    bus.emit(StageChanged(stage=Stage.BUILD))
    assert heard == [(1, Stage.BUILD)]  # called after the fold, before emit returns


async def test_every_subscriber_sees_every_event_in_order():
    bus = EventBus("run-1")
    subs = [bus.subscribe("store"), bus.subscribe("tui"), bus.subscribe("telemetry")]
    seen: dict[str, list[int]] = {s.name: [] for s in subs}

    async def consume(sub):
        async for event in sub:
            seen[sub.name].append(event.seq)
            await asyncio.sleep(0)  # a subscriber that yields between events

    consumers = [asyncio.create_task(consume(s)) for s in subs]
    for i, event in enumerate(lines(50)):
        bus.emit(event)
        if i % 7 == 0:
            await asyncio.sleep(0)
    await bus.close()
    await asyncio.wait_for(asyncio.gather(*consumers), 5)
    assert seen == {name: list(range(1, 51)) for name in seen}


async def test_a_late_subscriber_only_sees_what_was_emitted_after_it_subscribed():
    bus = EventBus("run-1")
    bus.emit(StageChanged(stage=Stage.BUILD))
    sub = bus.subscribe("late")
    bus.emit(StageChanged(stage=Stage.VERIFY))
    batch = await sub.get_batch()
    assert [e.seq for e in batch] == [2]


async def test_drain_waits_until_every_subscriber_handled_everything():
    bus = EventBus("run-1")
    sub = bus.subscribe("slow")
    for event in lines(3):
        bus.emit(event)
    drain = asyncio.create_task(bus.drain())
    await asyncio.sleep(0.01)
    assert not drain.done()

    batch = await sub.get_batch()
    assert len(batch) == 3
    await asyncio.sleep(0.01)
    assert not drain.done(), "drain returned before the subscriber marked its batch done"

    sub.task_done(len(batch))
    await asyncio.wait_for(drain, 1)


async def test_drain_returns_at_once_when_nothing_is_pending():
    bus = EventBus("run-1")
    bus.subscribe("idle")
    await asyncio.wait_for(bus.drain(), 1)


async def test_close_ends_async_iteration_after_the_last_event():
    bus = EventBus("run-1")
    sub = bus.subscribe("tui")
    received: list[EventBase] = []

    async def consume():
        received.extend([event async for event in sub])

    consumer = asyncio.create_task(consume())
    for event in lines(4):
        bus.emit(event)
    await asyncio.wait_for(bus.close(), 2)
    await asyncio.wait_for(consumer, 2)
    assert [e.seq for e in received] == [1, 2, 3, 4]
    assert bus.closed


async def test_emit_after_close_is_refused():
    bus = EventBus("run-1")
    await bus.close()
    with pytest.raises(RuntimeError, match="closed"):
        bus.emit(StageChanged(stage=Stage.BUILD))
    await bus.close()  # closing twice is harmless


async def test_get_batch_takes_what_is_queued_up_to_the_limit():
    bus = EventBus("run-1")
    sub = bus.subscribe("store")
    for event in lines(7):
        bus.emit(event)
    first = await sub.get_batch(limit=3)
    second = await sub.get_batch(limit=3)
    third = await sub.get_batch(limit=3)
    assert [[e.seq for e in b] for b in (first, second, third)] == [[1, 2, 3], [4, 5, 6], [7]]


async def test_get_batch_waits_for_the_first_event():
    bus = EventBus("run-1")
    sub = bus.subscribe("store")
    waiting = asyncio.create_task(sub.get_batch())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    bus.emit(StageChanged(stage=Stage.BUILD))
    batch = await asyncio.wait_for(waiting, 1)
    assert [e.seq for e in batch] == [1]


async def test_get_batch_delivers_the_tail_then_none_after_close():
    bus = EventBus("run-1")
    sub = bus.subscribe("store")
    for event in lines(3):
        bus.emit(event)
    closing = asyncio.create_task(bus.close())
    batch = await sub.get_batch()
    assert [e.seq for e in batch] == [1, 2, 3]
    sub.task_done(len(batch))
    assert await sub.get_batch() is None
    await asyncio.wait_for(closing, 1)


async def test_a_reader_that_fails_does_not_hold_up_close() -> None:
    bus = EventBus("r")
    sub = bus.subscribe("fragile")

    async def fragile() -> None:
        with sub.reading():
            while (batch := await sub.get_batch()) is not None:
                raise ValueError(f"cannot show {batch[0].type}")  # type: ignore[attr-defined]

    reader = asyncio.create_task(fragile())
    bus.emit(StageChanged(stage=Stage.BUILD))
    bus.emit(StageChanged(stage=Stage.VERIFY))
    with pytest.raises(ValueError, match="cannot show StageChanged"):
        await reader
    await asyncio.wait_for(bus.close(), timeout=2)  # it would wait forever on "fragile"


async def test_a_cancelled_reader_does_not_hold_up_close() -> None:
    bus = EventBus("r")
    sub = bus.subscribe("leaving")

    async def leaving() -> None:
        with sub.reading():
            async for _event in sub:
                await asyncio.sleep(30)

    reader = asyncio.create_task(leaving())
    bus.emit(StageChanged(stage=Stage.BUILD))
    await asyncio.sleep(0.01)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    bus.emit(StageChanged(stage=Stage.VERIFY))
    await asyncio.wait_for(bus.close(), timeout=2)

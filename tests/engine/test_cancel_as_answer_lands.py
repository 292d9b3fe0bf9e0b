"""A stop that lands in the same step as an answer still stops the work that waited.

On Python 3.11 ``asyncio.wait_for`` returns the awaited result and drops a cancellation
that arrives once that result is in: an escalation with a timeout answered as the run was
stopped (Ctrl-C, a budget stop of the task) carried on with the answer, and a model call with
an attempt timeout that answered as its task was cancelled went on to the next step, the stop
waiting for it. ``asyncio.timeout`` keeps the cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agents.provider import Completion, CompletionRequest, Message, Usage
from agents.providers.retrying import RetryingProvider
from engine.bus import EventBus
from engine.escalations import EscalationBroker


async def test_an_escalation_answered_as_its_asker_is_cancelled_is_cancelled() -> None:
    bus = EventBus("r1")
    broker = EscalationBroker(bus, policy="wait")
    asker = asyncio.create_task(
        broker.ask("twin", "Go on?", ["accept", "reject"], default="reject", timeout_s=60)
    )
    for _ in range(100):
        if bus.state.open_escalations:
            break
        await asyncio.sleep(0.01)
    assert broker.decide("esc-1", "accept", "human:ann")
    asker.cancel()  # the stop, in the same step as the answer
    with pytest.raises(asyncio.CancelledError):
        await asker


class Answering:
    """A provider whose one call answers when the test says so."""

    family = "openai"
    model = "m"
    simulated = False
    spec = "openai:m@http://x"

    def __init__(self) -> None:
        self.answer: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self.called = asyncio.Event()

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.called.set()
        return await self.answer


async def test_a_model_call_answered_as_it_is_cancelled_is_cancelled() -> None:
    inner = Answering()
    provider = RetryingProvider(inner, attempt_timeout_s=60)
    ask = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=10)
    call = asyncio.create_task(provider.complete(ask))
    await inner.called.wait()
    inner.answer.set_result(Completion("ok", usage=Usage(input_tokens=1), model=inner.spec))
    call.cancel()  # the stop, in the same step as the reply
    with pytest.raises(asyncio.CancelledError):
        await call

"""Per-provider concurrency and tokens-per-minute limits.

Several agents share one endpoint (eight engineers on one local vLLM, a review panel on one
Gemini key). A :class:`Limiter` caps how many calls are in flight and how many tokens per
minute go out; every provider built for the same endpoint shares the same limiter through a
:class:`LimiterPool`, so the cap holds for the endpoint, not per agent.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.provider import Completion, CompletionRequest, Provider
from agents.providers.context_overflow import ContextOverflow
from agents.providers.wrapper import ProviderWrapper

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """``max_concurrency`` calls at once (0 = unbounded); ``tokens_per_minute`` (0 = none);
    ``context_tokens``: the model's context window, prompt and answer (0 = learnt from the
    server's refusal; :mod:`agents.providers.context_fit`)."""

    max_concurrency: int = 0
    tokens_per_minute: int = 0
    context_tokens: int = 0

    def __post_init__(self) -> None:
        if self.max_concurrency < 0 or self.tokens_per_minute < 0 or self.context_tokens < 0:
            raise ValueError("limits must be >= 0")

    @property
    def unlimited(self) -> bool:
        """No limit a :class:`Limiter` keeps (the context window is kept elsewhere)."""
        return self.max_concurrency == 0 and self.tokens_per_minute == 0


def estimate_request_tokens(request: CompletionRequest) -> int:
    """A cheap upper-ish estimate of a request's tokens (4 characters a token) plus output."""
    chars = len(request.system) + sum(len(m.content) for m in request.messages)
    chars += sum(len(t.description) + len(str(t.parameters)) for t in request.tools)
    return math.ceil(chars / 4) + request.max_tokens


class Limiter:
    """A semaphore and a token bucket refilled continuously at ``tokens_per_minute``.

    A request larger than the whole bucket is let through when the bucket is full (it could
    never fit otherwise), so a limit slows calls down but never deadlocks them.
    """

    def __init__(
        self, limits: Limits, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._semaphore = (
            asyncio.Semaphore(limits.max_concurrency) if limits.max_concurrency else None
        )
        self._capacity = float(limits.tokens_per_minute)
        self._tokens = self._capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._clock()
        rate = self._capacity / 60.0
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * rate)
        self._stamp = now

    async def _take(self, tokens: int) -> None:
        if not self._capacity:
            return
        async with self._lock:
            want = min(float(tokens), self._capacity)
            while True:
                self._refill()
                if self._tokens >= want:
                    self._tokens -= tokens
                    return
                wait = (want - self._tokens) / (self._capacity / 60.0)
                self.waited_s += wait
                await self._sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the bucket once the real token count of a call is known."""
        if self._capacity:
            self._tokens = min(self._capacity, self._tokens + estimated - actual)

    async def run(
        self, call: Callable[[], Awaitable[Completion]], estimated_tokens: int
    ) -> Completion:
        """Run ``call`` within the limits and settle the bucket with its real usage."""
        if self._semaphore is not None:
            await self._semaphore.acquire()
        try:
            await self._take(estimated_tokens)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                completion = await call()
            except ContextOverflow:  # refused before any work: the compacted retry counts
                self.settle(estimated_tokens, 0)
                raise
            finally:
                self.in_flight -= 1
            usage = completion.usage
            self.settle(estimated_tokens, usage.input_tokens + usage.output_tokens)
            return completion
        finally:
            if self._semaphore is not None:
                self._semaphore.release()


class LimiterPool:
    """One limiter per endpoint key (family plus base URL), created on first use."""

    def __init__(self) -> None:
        self._limiters: dict[str, Limiter] = {}

    def get(self, key: str, limits: Limits) -> Limiter:
        """The shared limiter for ``key``; the first caller's limits win."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = Limiter(limits)
        return limiter


class LimitedProvider(ProviderWrapper):
    """A provider whose calls pass through a shared :class:`Limiter`."""

    def __init__(self, inner: Provider, limiter: Limiter) -> None:
        super().__init__(inner)
        self.limiter = limiter

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """Wait for room under the limits, then call the inner provider."""
        estimated = estimate_request_tokens(request)
        return await self.limiter.run(lambda: self.inner.complete(request, on_text), estimated)

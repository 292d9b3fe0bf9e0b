"""Retries and timeouts around any provider.

Only this module retries: the SDKs' own retry loops are switched off so the attempts, delays
and the final one-line error are ours. A transient failure
(:class:`~agents.providers.provider_errors.TransientProviderError`) is tried again within a
:class:`RetryPolicy`; each wait is told in the asking agent's log (:func:`retry_notices`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from agents.provider import Completion, CompletionRequest, Provider, ProviderError, with_paid
from agents.providers.provider_errors import RetriesExhausted, TransientProviderError
from agents.providers.wrapper import ProviderWrapper

OnText = Callable[[str], None] | None
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_retries`` extra attempts, full-jitter exponential backoff.

    The delay before retry ``n`` (0-based) is uniform in ``[0, min(max_delay_s, base_delay_s
    * 2**n)]``; when the server sent ``retry-after`` we wait at least that long, and give up
    at once when it asks for more than ``max_retry_after_s``.
    """

    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**retry))
        jittered = rng.uniform(0.0, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered


_retry_notices: ContextVar[Callable[[str], None] | None] = ContextVar("retry_notices", default=None)


def notify(line: str) -> None:
    """Tell ``line`` to the agent whose call this is (:func:`retry_notices`), if anyone
    listens."""
    told = _retry_notices.get()
    if told is not None:
        told(line)


class Streamed:
    """Passes an attempt's streamed text on, noting whether any came (so a failure after it
    can say that text is cut off, not an answer)."""

    def __init__(self, on_text: OnText) -> None:
        self._on_text = on_text
        self.any = False

    def __call__(self, text: str) -> None:
        if text:
            self.any = True
        if self._on_text is not None:
            self._on_text(text)

    def wrapped(self) -> OnText:
        """The callable to give the provider: None when nobody listens (no streaming)."""
        return None if self._on_text is None else self


def cut_off(streamed: Streamed, spec: str) -> str:
    return f"; the text {spec} streamed above is cut off, not an answer" if streamed.any else ""


@contextmanager
def retry_notices(notify: Callable[[str], None]) -> Iterator[None]:
    """Within this block, every retry a :class:`RetryingProvider` is about to wait for is told
    to ``notify`` in one line (what failed, how long the wait, which attempt comes), and so is
    every step a :class:`FallbackProvider` takes down its chain (what failed, who takes over,
    how long the failed link is skipped). When the failed attempt had streamed text, the line
    says that text is cut off, so nobody reads it as part of the answer that follows.

    An agent's session sets it around its model calls, so a rate limit's 45 s wait shows in
    that agent's log instead of looking like a hang. A context variable rather than an
    argument: the retries happen inside the provider, below the ``Provider`` interface.
    """
    token = _retry_notices.set(notify)
    try:
        yield
    finally:
        _retry_notices.reset(token)


class RetryingProvider(ProviderWrapper):
    """Wraps a provider: bounded retries of transient failures, a per-attempt timeout.

    The last failure becomes one :class:`ProviderError` line saying how many attempts were
    made and what the last one said.
    """

    def __init__(
        self,
        inner: Provider,
        policy: RetryPolicy | None = None,
        *,
        attempt_timeout_s: float | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(inner)
        self.policy = policy or RetryPolicy()
        self.attempt_timeout_s = attempt_timeout_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.attempts = 0
        self.delays: list[float] = []

    async def _attempt(self, request: CompletionRequest, on_text: OnText) -> Completion:
        if self.attempt_timeout_s is None:
            return await self.inner.complete(request, on_text)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns a reply that
            # lands in the step a stop cancels the call, dropping the cancellation.
            async with asyncio.timeout(self.attempt_timeout_s):
                return await self.inner.complete(request, on_text)
        except TimeoutError:
            raise TransientProviderError(
                f"{self.spec}: no answer within {self.attempt_timeout_s:g}s"
            ) from None

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Call the inner provider, retrying transient failures within the policy.

        What failed attempts still cost (``ProviderError.spent``) travels on with the answer
        or the final error, so it is accounted.
        """
        started = time.monotonic()
        retries = self.policy.max_retries
        paid: list[Completion] = []
        for retry in range(retries + 1):
            self.attempts += 1
            streamed = Streamed(on_text)
            try:
                completion = await self._attempt(request, streamed.wrapped())
            except TransientProviderError as exc:
                if exc.spent is not None:
                    paid.append(exc.spent)
                hint = exc.retry_after
                if hint is not None and hint > self.policy.max_retry_after_s:
                    raise RetriesExhausted(
                        f"{exc} (server asks to wait {hint:g}s, over the "
                        f"{self.policy.max_retry_after_s:g}s limit; not retrying)",
                        retry_after=hint,
                        spent=with_paid(paid[:-1], paid[-1]) if paid else None,
                        status=exc.status,
                    ) from None
                if retry == retries:
                    raise RetriesExhausted(
                        f"{exc} (gave up after {retries + 1} attempt"
                        f"{'s' if retries else ''} in {time.monotonic() - started:.1f}s)",
                        spent=with_paid(paid[:-1], paid[-1]) if paid else None,
                        status=exc.status,
                    ) from None
                wait = self.policy.delay(retry, hint, self._rng)
                self.delays.append(wait)
                notify(
                    f"{exc}{cut_off(streamed, self.spec)}; retrying in {wait:.1f}s "
                    f"(attempt {retry + 2} of {retries + 1})"
                )
                await self._sleep(wait)
                continue
            except ProviderError as exc:
                exc.add_paid(paid)
                raise
            return with_paid(paid, completion)
        raise AssertionError("unreachable")  # pragma: no cover

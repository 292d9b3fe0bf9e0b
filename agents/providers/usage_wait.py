"""Waits out a provider's usage or rate limit, rather than fail the call.

A Claude Max subscriber's engineer (``cli:claude``, no fallback chain) reached its usage limit
at 2 a.m., to reset at 7. Each attempt after it failed at once, the tasks ran out of attempts,
the circuit breaker tripped and the night's run ended failed, over a limit that lifts in the
morning; an API's long rate limit did the same. A lone provider is now wrapped in
:class:`UsageLimitWait`: a limit (a 429,
:data:`~agents.providers.provider_errors.LIMITED`) pauses the provider's calls until it
resets, and the call goes on from there, so no attempt is
spent and no failure is recorded. Other providers' calls go on meanwhile. A limit that resets
later than the wait allowed (``[providers] usage_limit_wait_s``) fails the call as before.

A fallback chain is not wrapped: it goes on with its next link, and skips the limited one
until its reset (:class:`~agents.providers.fallback_chain.Cooldown`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from agents.provider import Completion, CompletionRequest, Provider, ProviderError, with_paid
from agents.providers.provider_errors import (
    AFTER_LIMIT,
    LIMITED,
    RetriesExhausted,
    TransientProviderError,
)
from agents.providers.retrying import OnText, Sleep, notify
from agents.providers.wrapper import ProviderWrapper

DEFAULT_MAX_WAIT_S = 6 * 3600.0
"""How long a call waits out limits by default: Claude's subscriptions reset every 5 hours."""
FIRST_BACKOFF_S = 300.0
"""The first wait on a limit that gave no reset time; each next one is twice as long."""
MIN_WAIT_S = 60.0
"""The least wait on a limit, even one said to reset now."""
STOPS = "Ctrl-C stops the run resumable"


def limit_of(exc: ProviderError) -> bool:
    """Whether ``exc`` is a rate or usage limit (a 429, retried or not)."""
    return exc.status == LIMITED and isinstance(exc, TransientProviderError | RetriesExhausted)


def duration(seconds: float) -> str:
    """``seconds`` as a person says them: "4 h 58 min", "5 min", "40 s"."""
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        return f"{max(0, math.ceil(seconds))} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


class UsageLimitWait(ProviderWrapper):
    """Wraps a provider: a limit pauses its calls until the limit resets, within ``max_wait_s``
    of waiting per call (a limit without a reset time: :data:`FIRST_BACKOFF_S`, doubling).

    The pause is the provider's: a call made while it lasts waits for its end before it
    starts, rather than start a coding agent only to hear the limit again. Each call that
    waits says so once in its agent's log (:func:`~agents.providers.retrying.retry_notices`),
    with when it goes on. ``sleep`` and ``clock`` (seconds) are the test's to give; ``wall``
    tells the time of day the wait ends.
    """

    def __init__(
        self,
        inner: Provider,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        *,
        first_backoff_s: float = FIRST_BACKOFF_S,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(inner)
        self.max_wait_s = max_wait_s
        self.first_backoff_s = first_backoff_s
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._until = -math.inf
        """When the pause ends (``clock`` seconds)."""
        self._backoffs = 0
        """Limits without a reset time in a row: the next backoff doubles."""

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Call the inner provider, waiting out its limits; what each limited call still cost
        (``ProviderError.spent``) travels on with the answer or the final error."""
        waited = 0.0
        paid: list[Completion] = []
        said = False
        asked = request
        while True:
            pause = self._until - self._clock()
            if pause > 0:
                if not said:
                    notify(f"{self.spec}: paused by its usage limit: {self._waiting(pause)}")
                waited += pause
                await self._sleep(pause)
            try:
                completion = await self.inner.complete(asked, on_text)
            except ProviderError as exc:
                if not limit_of(exc):
                    exc.add_paid(paid)
                    raise
                wait = self._wait(exc, self.max_wait_s - waited)
                if wait is None:
                    exc.add_paid(paid)
                    raise
                if exc.spent is not None:
                    paid.append(exc.spent)
                self._until = max(self._until, self._clock() + wait)
                notify(f"{exc}; usage limit: {self._waiting(wait)}")
                said = True
                waited += wait
                await self._sleep(wait)
                again = int(asked.labels.get(AFTER_LIMIT, "0")) + 1
                asked = replace(asked, labels={**asked.labels, AFTER_LIMIT: str(again)})
                continue
            self._backoffs = 0
            return with_paid(paid, completion)

    def _wait(self, exc: ProviderError, left: float) -> float | None:
        """Seconds to wait out the limit ``exc`` says, within ``left`` seconds of waiting;
        None: fail the call, said why."""
        bound = f"[providers] usage_limit_wait_s ({duration(self.max_wait_s)})"
        if left <= 0:
            notify(f"{exc}; usage limit: still on after the {bound} of waiting")
            return None
        resets = getattr(exc, "retry_after", None)
        if resets is None:
            backoff = self.first_backoff_s * 2.0 ** min(self._backoffs, 30)
            self._backoffs += 1
            return min(backoff, left)
        if resets > left:
            notify(f"{exc}; usage limit: it lifts in {duration(resets)}, later than {bound}")
            return None
        # A reset just past (the clocks differ) is waited for a while, not asked at once.
        return max(float(resets), min(MIN_WAIT_S, left))

    def _waiting(self, seconds: float) -> str:
        """The notice's end: until when, how long, how to stop."""
        try:
            at = datetime.fromtimestamp(self._wall() + seconds)
            shown = at.strftime("%H:%M" if seconds < 86400 else "%Y-%m-%d %H:%M")
        except (OverflowError, ValueError, OSError):
            shown = "later"
        return f"waiting until {shown} ({duration(seconds)}); {STOPS}"

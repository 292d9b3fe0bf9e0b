"""Retries, timeouts and fallback chains around any provider.

Providers translate their SDK's failures into two kinds: :class:`TransientProviderError`
(429, 529/503 overload, other 5xx, timeouts, dropped connections — worth another try, maybe
after the server's ``retry-after``) and plain :class:`~agents.provider.ProviderError` (a bad
key, a bad request, a malformed body — retrying would fail the same way). Only this module
retries: the SDKs' own retry loops are switched off so the attempts, delays and the final
one-line error are ours.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from agents.provider import Completion, CompletionRequest, Provider, ProviderError
from agents.providers.wrapper import ProviderWrapper

OnText = Callable[[str], None] | None
Sleep = Callable[[float], Awaitable[None]]

MAX_MESSAGE = 300


class TransientProviderError(ProviderError):
    """A failure another attempt may fix; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def one_line(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` on one line, at most MAX_MESSAGE characters, with every secret masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 3] + "..."


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` (or ``retry-after-ms``-style float) header value."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def transient_status(status: int) -> bool:
    """True for the HTTP statuses worth retrying: 408, 409, 429, 5xx (529 = overloaded)."""
    return status in (408, 409, 429) or status >= 500


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


@contextmanager
def retry_notices(notify: Callable[[str], None]) -> Iterator[None]:
    """Within this block, every retry a :class:`RetryingProvider` is about to wait for is told
    to ``notify`` in one line (what failed, how long the wait, which attempt comes), and so is
    every step a :class:`FallbackProvider` takes down its chain (what failed, who takes over).

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
            return await asyncio.wait_for(
                self.inner.complete(request, on_text), self.attempt_timeout_s
            )
        except TimeoutError:
            raise TransientProviderError(
                f"{self.spec}: no answer within {self.attempt_timeout_s:g}s"
            ) from None

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Call the inner provider, retrying transient failures within the policy."""
        started = time.monotonic()
        retries = self.policy.max_retries
        for retry in range(retries + 1):
            self.attempts += 1
            try:
                completion = await self._attempt(request, on_text)
            except TransientProviderError as exc:
                hint = exc.retry_after
                if hint is not None and hint > self.policy.max_retry_after_s:
                    raise ProviderError(
                        f"{exc} (server asks to wait {hint:g}s, over the "
                        f"{self.policy.max_retry_after_s:g}s limit; not retrying)"
                    ) from None
                if retry == retries:
                    raise ProviderError(
                        f"{exc} (gave up after {retries + 1} attempt"
                        f"{'s' if retries else ''} in {time.monotonic() - started:.1f}s)"
                    ) from None
                wait = self.policy.delay(retry, hint, self._rng)
                self.delays.append(wait)
                notify = _retry_notices.get()
                if notify is not None:
                    notify(f"{exc}; retrying in {wait:.1f}s (attempt {retry + 2} of {retries + 1})")
                await self._sleep(wait)
                continue
            return completion
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class FallbackProvider:
    """A chain of providers for one role: the next one answers when the previous fails.

    The chain presents itself as its first provider (family, model, spec) so routing rules
    about families judge the primary; :attr:`last_used` and the completion's ``model`` tell
    who actually answered.
    """

    providers: Sequence[Provider]
    failures: list[str] = field(default_factory=list)
    last_used: Provider | None = None

    def __post_init__(self) -> None:
        if not self.providers:
            raise ProviderError("a fallback chain needs at least one provider")

    @property
    def family(self) -> str:
        return self.providers[0].family

    @property
    def model(self) -> str:
        return self.providers[0].model

    @property
    def simulated(self) -> bool:
        return all(p.simulated for p in self.providers)

    @property
    def spec(self) -> str:
        return " | ".join(p.spec for p in self.providers)

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Ask each provider in turn; raise the chain's failures as one line if all fail.

        Each step down the chain is told in the asking agent's log (:func:`retry_notices`),
        and a completion from a later link names that link's family, so the call is
        accounted and priced as the model that answered it.
        """
        errors: list[str] = []
        for index, provider in enumerate(self.providers):
            try:
                completion = await provider.complete(request, on_text)
            except ProviderError as exc:
                errors.append(f"{provider.spec}: {exc}")
                self.failures.append(errors[-1])
                notify = _retry_notices.get()
                if notify is not None and index + 1 < len(self.providers):
                    notify(f"{exc}; falling back to {self.providers[index + 1].spec}")
                continue
            self.last_used = provider
            if index and not completion.family:
                completion = replace(completion, family=provider.family)
            return completion
        raise ProviderError("every model in the chain failed — " + "; ".join(errors))

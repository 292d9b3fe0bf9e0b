"""Retries, timeouts and fallback chains around any provider.

Providers translate their SDK's failures into two kinds: :class:`TransientProviderError`
(429, 529/503 overload, other 5xx, timeouts, dropped connections — worth another try, maybe
after the server's ``retry-after``) and plain :class:`~agents.provider.ProviderError` (a bad
key, a bad request, a malformed body — retrying would fail the same way). Only this module
retries: the SDKs' own retry loops are switched off so the attempts, delays and the final
one-line error are ours.

A fallback chain remembers, for the rest of the process, which of its links are down: a link
that answered 401/403/404 (a bad key, no access, an unknown model) or that kept failing
through all its retries is skipped for a while (:class:`Cooldown`), so an overnight run does
not pay a dead primary's round trip and retry waits on every call.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from agents.provider import Completion, CompletionRequest, Provider, ProviderError, with_paid
from agents.providers.wrapper import ProviderWrapper

OnText = Callable[[str], None] | None
Sleep = Callable[[float], Awaitable[None]]

MAX_MESSAGE = 300


class TransientProviderError(ProviderError):
    """A failure another attempt may fix; ``retry_after`` is the server's hint in seconds.
    ``status`` 429 (:data:`LIMITED`) is a rate or usage limit, which a lone provider waits out
    (:mod:`agents.providers.usage_wait`)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spent: Completion | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, spent=spent, status=status)
        self.retry_after = retry_after


def one_line(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` on one line, at most MAX_MESSAGE characters, with every secret masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 3] + "..."


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` header value: a number of seconds (a float too, as
    ``retry-after-ms``-style hints), or an HTTP date (RFC 9110; a gateway's), a past one
    being now. None for no value, or one that says nothing usable (negative, inf, nan)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, as the RFC's dates are
            when = when.replace(tzinfo=UTC)
        return float(max(0, math.ceil(when.timestamp() - time.time())))
    return seconds if 0 <= seconds < math.inf else None


def transient_status(status: int) -> bool:
    """True for the HTTP statuses worth retrying: 408, 409, 429, 5xx (529 = overloaded)."""
    return status in (408, 409, 429) or status >= 500


DEAD_STATUSES = frozenset({401, 403, 404})
"""The HTTP statuses that say a model cannot answer any request: a bad key, no access, an
unknown model (or a base URL without the API). A fallback chain stops asking such a link."""


LIMITED = 429
"""The status of a rate or usage limit ("Too Many Requests"): an API's 429, and a coding
agent's "usage limit reached" said as one."""

AFTER_LIMIT = "after_limit"
"""The label of a call asked again once a limit has lifted (how many times): a coding agent
that failed the attempt at its limit is started again for it (:mod:`agents.providers.cli`
starts it once per attempt otherwise)."""


class RetriesExhausted(ProviderError):
    """A provider kept failing in a way worth another try (429, 5xx, timeouts, dropped
    connections) until the retries ran out, or asked to wait longer than we would
    (``retry_after``: what it asked, in seconds); ``status``: the last failure's."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spent: Completion | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, spent=spent, status=status)
        self.retry_after = retry_after


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


class _Streamed:
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


@dataclass(frozen=True)
class StreamFrom:
    """A streaming callback meant for the providers of some ``families`` only, decided by the
    provider that answers — in a fallback chain, link by link (:func:`stream_to`).

    The engineer follows a coding agent (``cli``), whose stream is the lines of what it does
    over many minutes, but says a model's reply whole once it is in: a model's stream is
    deltas, which would each become a line of the log.
    """

    on_text: Callable[[str], None]
    families: frozenset[str]

    def __call__(self, text: str) -> None:
        self.on_text(text)


def stream_to(provider: Provider, on_text: OnText) -> OnText:
    """What ``provider`` is to stream to: ``on_text`` — or nothing, where ``on_text`` is a
    :class:`StreamFrom` for other families. A chain is given it as it is and applies this to
    each link it asks."""
    if isinstance(on_text, StreamFrom) and not isinstance(provider, FallbackProvider):
        return on_text if provider.family in on_text.families else None
    return on_text


def _cut_off(streamed: _Streamed, spec: str) -> str:
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
            return await asyncio.wait_for(
                self.inner.complete(request, on_text), self.attempt_timeout_s
            )
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
            streamed = _Streamed(on_text)
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
                    f"{exc}{_cut_off(streamed, self.spec)}; retrying in {wait:.1f}s "
                    f"(attempt {retry + 2} of {retries + 1})"
                )
                await self._sleep(wait)
                continue
            except ProviderError as exc:
                exc.add_paid(paid)
                raise
            return with_paid(paid, completion)
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Cooldown:
    """How long a fallback chain skips a link that is down.

    A link whose retries ran out on a transient failure (overload, 5xx, timeouts, refused
    connections) is skipped for ``down_s`` seconds, doubled each time it fails again right
    after a cooldown, up to ``max_down_s`` (or as long as the server's ``retry-after`` asked,
    if longer); a success ends its cooldowns. ``down_s = 0`` never skips such a link.

    A link that answered 401, 403 or 404 (:data:`DEAD_STATUSES`), or whose program is not
    installed (``ProviderError.missing``), is skipped for ``dead_s``
    seconds, and by default (None) for the rest of the process: the key is read once when
    the run starts and the model's name does not change, so asking again all night would
    only add a failed round trip to every call. After fixing the key or the model,
    ``shopfloor resume`` builds fresh chains that try every link again. Someone whose
    gateway answers 403 for passing reasons sets ``dead_s``.
    """

    down_s: float = 60.0
    max_down_s: float = 1800.0
    dead_s: float | None = None

    def __post_init__(self) -> None:
        if self.down_s < 0 or self.max_down_s < 0 or (self.dead_s is not None and self.dead_s < 0):
            raise ValueError("cooldowns must be >= 0")

    def after(self, exc: ProviderError, strikes: int) -> float | None:
        """Seconds to skip a link that failed with ``exc`` for the ``strikes``-th time in a
        row (math.inf: for good); None: not a failure that puts a link down."""
        if exc.status in DEAD_STATUSES or exc.missing:
            return math.inf if self.dead_s is None else self.dead_s
        if not isinstance(exc, RetriesExhausted | TransientProviderError) or not self.down_s:
            return None
        grown = min(self.down_s * 2.0 ** min(strikes - 1, 30), max(self.max_down_s, self.down_s))
        return max(grown, exc.retry_after or 0.0)


@dataclass
class _LinkDown:
    """A link being skipped: until when (monotonic seconds), how many cooldowns in a row."""

    until: float
    strikes: int


def _until(seconds: float) -> str:
    try:
        at = datetime.fromtimestamp(time.time() + seconds)
        shown = at.strftime("%H:%M:%S" if seconds < 86400 else "%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):  # for good, or past any date (year 9999)
        return "for the rest of the run"
    return f"for {seconds:.0f}s (until {shown})"


@dataclass
class FallbackProvider:
    """A chain of providers for one role: the next one answers when the previous fails.

    The chain presents itself as its first provider (family, model, spec) so routing rules
    about families judge the primary; :attr:`last_used` and the completion's ``model`` tell
    who actually answered.

    A link that is down is skipped for a while (:class:`Cooldown`). The registry builds one
    chain per distinct spec and the crew gives it to every role on that spec, so what one
    agent learnt about a dead link spares every other agent on the chain for the rest of the
    process. When every link is down, the one whose cooldown ends first is asked all the same:
    a chain never refuses a call without having tried.
    """

    providers: Sequence[Provider]
    failures: list[str] = field(default_factory=list)
    last_used: Provider | None = None
    cooldown: Cooldown = field(default_factory=Cooldown)
    clock: Callable[[], float] = time.monotonic
    _down: dict[int, _LinkDown] = field(default_factory=dict, init=False, repr=False)

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

    def skipped(self) -> dict[str, float]:
        """The links being skipped now: spec -> seconds of cooldown left (math.inf: for
        good)."""
        now = self.clock()
        return {
            self.providers[i].spec: down.until - now
            for i, down in self._down.items()
            if down.until > now
        }

    def _plan(self) -> tuple[list[int], dict[int, str]]:
        """The links to ask, in order, and why each other one is skipped."""
        now = self.clock()
        up = [i for i in range(len(self.providers)) if self._up(i, now)]
        if not up:  # every link is down: the one back first is the best bet
            up = [min(self._down, key=lambda i: self._down[i].until)]
        skipped = {
            i: f"{self.providers[i].spec}: skipped {_until(self._down[i].until - now)}"
            for i in range(len(self.providers))
            if i not in up
        }
        return up, skipped

    def _up(self, index: int, now: float) -> bool:
        down = self._down.get(index)
        return down is None or down.until <= now

    def _failed(self, index: int, exc: ProviderError, before: _LinkDown | None) -> str:
        """Put link ``index`` down if ``exc`` says it is (``before``: its state when it was
        asked); what to add to the notice (or '')."""
        down = self._down.get(index)
        if down is not before:
            return ""  # a call made at the same time already put it down and said so
        strikes = down.strikes + 1 if down is not None else 1
        seconds = self.cooldown.after(exc, strikes)
        if seconds is None or not seconds > 0:  # a cooldown of 0: asked again next time
            return ""
        self._down[index] = _LinkDown(self.clock() + seconds, strikes)
        return f"; {self.providers[index].spec} is skipped {_until(seconds)}"

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Ask each link that is up in turn; raise the chain's failures as one line if all
        fail.

        Each step down the chain is told in the asking agent's log (:func:`retry_notices`),
        with how long a failed link is skipped, and a completion from a later link names that
        link's family, so the call is accounted and priced as the model that answered it.
        What a failed link still cost (``ProviderError.spent``) travels on with the answer or
        the chain's error, so it is accounted too.
        """
        plan, errors = self._plan()
        paid: list[Completion] = []
        for step, index in enumerate(plan):
            provider = self.providers[index]
            streamed = _Streamed(stream_to(provider, on_text))
            before = self._down.get(index)
            try:
                completion = await provider.complete(request, streamed.wrapped())
            except ProviderError as exc:
                errors[index] = f"{provider.spec}: {exc}"
                self.failures.append(errors[index])
                if exc.spent is not None:
                    paid.append(self._made_by(exc.spent, index))
                said = str(exc) + _cut_off(streamed, provider.spec)
                said += self._failed(index, exc, before)
                if step + 1 < len(plan):
                    said += f"; falling back to {self.providers[plan[step + 1]].spec}"
                    notify(said)
                elif said != str(exc):  # the chain's error says the rest
                    notify(said)
                continue
            if self._down.pop(index, None) is not None:
                notify(f"{provider.spec} answers again after its cooldown")
            self.last_used = provider
            return with_paid(paid, self._made_by(completion, index))
        said = "; ".join(errors[i] for i in sorted(errors))
        failure = ProviderError(f"every model in the chain failed — {said}")
        failure.add_paid(paid)
        raise failure

    def _made_by(self, completion: Completion, index: int) -> Completion:
        """``completion`` naming the family of the later link that made it, so it is
        accounted and priced as that link's model, not the chain's first."""
        if not index or completion.family:
            return completion
        return replace(completion, family=self.providers[index].family)

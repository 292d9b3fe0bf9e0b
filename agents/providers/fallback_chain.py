"""Fallback chains: the next provider answers when the previous one fails.

A fallback chain remembers, for the rest of the process, which of its links are down: a link
that answered 401/403/404 (a bad key, no access, an unknown model) or that kept failing
through all its retries is skipped for a while (:class:`Cooldown`), so an overnight run does
not pay a dead primary's round trip and retry waits on every call. What each link is given
to stream to is decided link by link (:func:`stream_to`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from agents.provider import Completion, CompletionRequest, Provider, ProviderError, with_paid
from agents.providers.provider_errors import (
    DEAD_STATUSES,
    RetriesExhausted,
    TransientProviderError,
)
from agents.providers.retrying import OnText, Streamed, cut_off, notify


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
            streamed = Streamed(stream_to(provider, on_text))
            before = self._down.get(index)
            try:
                completion = await provider.complete(request, streamed.wrapped())
            except ProviderError as exc:
                errors[index] = f"{provider.spec}: {exc}"
                self.failures.append(errors[index])
                if exc.spent is not None:
                    paid.append(self._made_by(exc.spent, index))
                said = str(exc) + cut_off(streamed, provider.spec)
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

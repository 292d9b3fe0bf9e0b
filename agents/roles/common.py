"""What every role does around a model call: announce the agent, account the call.

Each call is priced from the session's :class:`~agents.pricing.PriceTable` into
``LLMCallFinished.cost_usd``; the sim's calls cost 0 and carry ``simulated=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.provider import Completion, CompletionRequest, Provider, ProviderError, paid_calls
from agents.providers.fallback_chain import stream_to
from agents.providers.retrying import retry_notices
from engine.events import AgentFinished, AgentOutput, AgentStarted, LLMCallFinished
from engine.protocols import EmitFn

OutputKind = Literal["text", "tool", "result", "error", "notice"]


class AgentSession:
    """One agent's identity on the event bus, and its model calls."""

    def __init__(
        self,
        provider: Provider,
        emit: EmitFn,
        *,
        agent_id: str,
        role: str,
        task_id: str | None = None,
        attempt: int = 0,
        prices: PriceTable = DEFAULT_PRICES,
    ) -> None:
        self.provider = provider
        self.prices = prices
        self.emit = emit
        self.agent_id = agent_id
        self.role = role
        emit(
            AgentStarted(
                agent_id=agent_id,
                role=role,
                model=provider.spec,
                simulated=provider.simulated,
                task_id=task_id,
                attempt=attempt,
            )
        )

    def say(self, text: str, kind: OutputKind = "text") -> None:
        """Report a line of what the agent said or did."""
        if text.strip():
            self.emit(AgentOutput(agent_id=self.agent_id, kind=kind, text=text))

    def finish(self, ok: bool, summary: str = "") -> None:
        """Report that the agent is done."""
        self.emit(AgentFinished(agent_id=self.agent_id, ok=ok, summary=summary))

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """Call the model and emit the call's accounting (tokens, latency): one
        LLMCallFinished per call made, a failed one that was paid for included (a fallback
        chain's coding agent that billed, then failed before the next link answered).

        What the provider layer did on the way (a retry's wait, a step down a fallback chain,
        a link skipped while it is down) reaches this agent's log as a ``notice``.

        ``on_text`` may be a :class:`~agents.providers.fallback_chain.StreamFrom`: it is then
        streamed to only by a provider of its families (in a chain, by the link answering).
        """
        with retry_notices(lambda line: self.say(line, kind="notice")):
            try:
                completion = await self.provider.complete(
                    request, stream_to(self.provider, on_text)
                )
            except ProviderError as exc:
                if exc.spent is not None:  # failed calls that were paid for all the same
                    for call in paid_calls(exc.spent):
                        self._account(call)
                raise
        for call in paid_calls(completion):
            self._account(call)
        return replace(completion, paid_failures=()) if completion.paid_failures else completion

    def _account(self, completion: Completion) -> None:
        usage = completion.usage
        model = completion.model or self.provider.model
        # A fallback chain's later link may have answered: account the call as that model.
        family = completion.family or self.provider.family
        simulated = self.provider.simulated or family == "sim"
        from_table = self.prices.cost(family, model, usage, simulated=simulated)
        cost = from_table.usd
        billed = completion.cost_usd is not None and not simulated
        if completion.cost_usd is not None and billed:
            cost = completion.cost_usd  # what the provider itself billed
        self.emit(
            LLMCallFinished(
                agent_id=self.agent_id,
                role=self.role,
                provider=family,
                model=model,
                simulated=simulated,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                latency_s=completion.latency_s,
                cost_usd=cost,
                priced=from_table.priced or billed,
                tokens_estimated=usage.estimated,
            )
        )


class ModelRole:
    """A role played by one model: its provider, how often a bad reply is re-asked, prices."""

    def __init__(
        self, provider: Provider, *, max_repairs: int = 2, prices: PriceTable = DEFAULT_PRICES
    ) -> None:
        self.provider = provider
        self.max_repairs = max_repairs
        self.prices = prices

    @property
    def model(self) -> str:
        """The spec of the model this role runs on (named in its score events)."""
        return self.provider.spec

    def session(
        self,
        emit: EmitFn,
        *,
        agent_id: str,
        role: str,
        task_id: str | None = None,
        attempt: int = 0,
    ) -> AgentSession:
        """A new agent on this role's provider, its calls priced from this role's prices."""
        return AgentSession(
            self.provider,
            emit,
            agent_id=agent_id,
            role=role,
            task_id=task_id,
            attempt=attempt,
            prices=self.prices,
        )

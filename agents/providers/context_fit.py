"""Conversations kept within the model's context window.

A :class:`ContextFit` wraps one model (outside its retries: an overflow is not retried). When
the server refuses a request as longer than its window
(:class:`~agents.providers.context_overflow.ContextOverflow`), it learns the window and how the
server's tokens compare with the estimate (:mod:`agents.compaction` counts about four
characters a token; a code tokenizer makes more of them), compacts the conversation to fit
and asks again — a bounded number of times, tighter each time. What it learnt holds for the
model's later calls, so a long tool loop does not pay a refused round trip on every turn.
With ``context_tokens`` configured (a local server whose window is known, above all Ollama,
which cuts an over-long prompt from the front without a word, system prompt and task first),
it compacts before the first request is sent. A conversation that does not fit even so fails
in one line naming the model, its window and the sizes.

Where the server says the window it runs the model with (Ollama:
:mod:`agents.providers.ollama_window`), it is asked once, before the first request, and used
unless ``context_tokens`` is configured; one line says where the window came from.

A server that cut the prompt instead of refusing it (Ollama's OpenAI-compatible endpoint keeps
the end of an over-long prompt and answers from that: ollama#4967, ollama#17427) is caught by
its usage: it counts far fewer prompt tokens than were sent. That answer was made without the
system prompt and the task, so it is not returned: it is an overflow like a refusal, the
count it gave taken as the window, and the conversation is compacted and asked again — or
fails in one line naming the server setting that gives the model its window.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace

from agents.compaction import Compacted, compact, fixed_chars, request_tokens, tokens_of
from agents.provider import Completion, CompletionRequest, Provider, with_paid
from agents.providers.context_overflow import ContextOverflow, Overflow
from agents.providers.ollama_window import (
    WINDOW_SETTINGS,
    ServerWindow,
    WindowSource,
    window_line,
)
from agents.providers.retrying import notify
from agents.providers.wrapper import ProviderWrapper

OnText = Callable[[str], None] | None

CODE_RATIO = 1.25
"""The server's tokens per estimated token assumed until a server says: a code tokenizer
makes a token of about 3.2 characters, not the estimate's 4."""
MAX_REFITS = 3
"""How many times a refused conversation is compacted and asked again."""
MARGIN = 0.95
"""The share of the room left for the prompt that a compacted prompt is aimed at."""
TIGHTER = 0.85
"""How much tighter each further try aims, when the last compacted one was refused too."""
UNSAID = 0.75
"""How much of a refused request's estimate the next try aims at, when the server said no
window."""
CUT_SHARE = 0.5
"""A server that counts fewer than this share of the estimated prompt has cut it (the
estimate's four characters a token count fewer tokens than any tokenizer makes)."""
CUT_MIN_TOKENS = 1024
"""Below this estimate, a server's count is not judged (a short prompt's template tokens)."""
CUT_FAMILIES = frozenset({"openai"})
"""The families whose servers cut a prompt without a word: OpenAI-compatible local servers
(Ollama; llama.cpp with context shift) and the proxies before them. Anthropic and Gemini
refuse an over-long prompt."""
RAISE_WINDOW = (
    f"raise the server's context window (Ollama: {WINDOW_SETTINGS}) and set context_tokens "
    'in [providers.limits."{spec}"] to it'
)
"""The fix for a server that keeps too little of a prompt, as the lines say it."""
ANSWER_SHARE = 4
"""When ``max_tokens`` would leave the prompt less than a 1/ANSWER_SHARE of the window, the
answer is given that share instead (a 4096-token answer on a 4096-token llama.cpp)."""


class ContextFit(ProviderWrapper):
    """Compacts a conversation the model refused as too long, and asks again.

    ``context_tokens``: the model's window as configured (the server's tokens, answer
    included), to compact before sending; None: learnt from the server (``server_window``,
    asked before the first request), else from the first refusal.
    """

    def __init__(
        self,
        inner: Provider,
        *,
        context_tokens: int | None = None,
        max_refits: int = MAX_REFITS,
        server_window: WindowSource | None = None,
    ) -> None:
        super().__init__(inner)
        self.window = context_tokens
        self.configured = context_tokens is not None
        """Whether the window was configured, not learnt."""
        self._server_window = server_window
        """Where the window the server runs the model with is asked, until it was."""
        self._ask_loaded: WindowSource | None = None
        """Asked again after the first answer: the model was not loaded before it."""
        self._looking = asyncio.Lock()
        self.ratio = CODE_RATIO
        """The server's tokens per estimated token: :data:`CODE_RATIO` until a refusal
        says more."""
        self.max_refits = max_refits
        self.refits = 0
        """Requests asked again after a refusal, over the provider's life."""
        self.kept: int | None = None
        """The fewest prompt tokens a server kept of a prompt it cut without a word; None:
        it has cut none."""

    def _room(self, request: CompletionRequest) -> tuple[CompletionRequest, int | None]:
        """``request`` with an answer that leaves the prompt room in the window, and the
        room for the prompt (the server's tokens): no more than a server that cut a prompt
        kept of it. None: no window known."""
        window, room = self.window, self.kept
        if window is not None:
            answer = request.max_tokens
            if window - answer < window // ANSWER_SHARE:
                answer = max(1, window // ANSWER_SHARE)
                request = replace(request, max_tokens=answer)
            room = window - answer if room is None else min(room, window - answer)
        return request, room

    def message_room(self, request: CompletionRequest) -> int | None:
        """The estimated tokens ``request``'s messages may take and still be sent whole to
        the window known so far (configured, or learnt from a refusal or a cut); None when
        no window is known. The system prompt, tools and schema are taken off."""
        request, room = self._room(request)
        if room is None:
            return None
        budget = math.floor(room * MARGIN / self.ratio)
        return max(0, budget - tokens_of(fixed_chars(request)))

    def _fit(self, request: CompletionRequest, tighter: float) -> tuple[Compacted, int] | None:
        """``request`` compacted to fit the room known; and the estimate it had to reach.
        None: no room known."""
        request, room = self._room(request)
        if room is None:
            return None
        budget = max(1, math.floor(room * MARGIN * tighter / self.ratio))
        return compact(request, budget), budget

    def _learn(self, overflow: Overflow, sent: CompletionRequest) -> int | None:
        """Learn the window and the server's count from ``overflow`` (of ``sent``); the
        server's count of the prompt, where it said."""
        if overflow.kept is not None:  # what a prompt may take, whatever the window
            self.kept = min(self.kept or overflow.kept, overflow.kept)
            return None
        if overflow.window is not None:
            self.window = overflow.window
        prompt = overflow.prompt
        if prompt is None and overflow.total is not None:
            prompt = overflow.total - sent.max_tokens
        if prompt is not None and prompt > 0:
            self.ratio = max(self.ratio, prompt / max(1, request_tokens(sent)))
        return prompt

    async def complete(self, request: CompletionRequest, on_text: OnText = None) -> Completion:
        """Ask with ``request`` compacted to the window known so far; on a refusal as too
        long, or an answer to a prompt the server cut, compact tighter and ask again, up to
        :attr:`max_refits` times."""
        if self._server_window is not None:
            await self._look_up()
        sent, tighter, refused, cuts = request, 1.0, 0, 0
        paid: list[Completion] = []  # spent on the way (answers to a cut prompt): not returned
        known = self._fit(request, tighter)
        if known is not None:
            fitted, budget = known
            if fitted.tokens > budget:
                raise self._does_not_fit(request, fitted, None, 0, None)
            sent = fitted.request
        while True:
            try:
                answer = with_paid(paid, await self._ask(sent, on_text))
                if self._ask_loaded is not None:
                    source, self._ask_loaded = self._ask_loaded, None
                    self._use(await source.look(loaded_only=True))
                return answer
            except ContextOverflow as exc:
                if exc.spent is not None:
                    paid.append(exc.spent)
                refused += 1
                cuts += exc.overflow.kept is not None
                said = self._learn(exc.overflow, sent)
                if refused > self.max_refits:
                    raise self._does_not_fit(
                        request, None, exc, refused, said, cuts, paid
                    ) from None
                if sent is not request:  # a fitted request was refused: aim tighter
                    tighter *= TIGHTER
                known = self._fit(request, tighter)
                if known is not None:
                    fitted, budget = known
                else:  # no window said: a quarter shorter than what was refused
                    budget = max(1, math.floor(request_tokens(sent) * UNSAID))
                    fitted = compact(sent, budget)
                if fitted.tokens > budget or fitted.request == sent:
                    raise self._does_not_fit(
                        request, fitted, exc, refused, said, cuts, paid
                    ) from None
                self.refits += 1
                changes = [f"{fitted.cut} older message(s) shortened"] if fitted.cut else []
                if fitted.request.max_tokens < request.max_tokens:
                    changes.append(f"the answer limited to {fitted.request.max_tokens} tokens")
                again = (
                    f"asking again with {' and '.join(changes)} "
                    f"(about {self._server(fitted.tokens)} tokens)"
                )
                kept = exc.overflow.kept
                if kept is None:
                    notify(
                        f"{self.spec}: the conversation ({_said(said)}) is over the model's "
                        f"context window{_of(self.window)}; {again}"
                    )
                else:
                    notify(
                        f"{self.spec}: {_cut(kept, request_tokens(sent))}; its answer is set "
                        f"aside, {again}; to give the model its window, "
                        + RAISE_WINDOW.format(spec=self.spec)
                    )
                sent = fitted.request

    async def _look_up(self) -> None:
        """Ask the server the window it runs the model with, once (the calls that come
        meanwhile wait for the answer); where the model is not loaded yet and nothing else
        says it, once more after the first answer."""
        async with self._looking:
            source, self._server_window = self._server_window, None
            if source is None:
                return
            found = await source.look()
            if found is not None and found.tokens is None:
                self._ask_loaded = source
            self._use(found)

    def _use(self, found: ServerWindow | None) -> None:
        """Take the window the server said, unless one is configured; say where the window
        comes from in one line."""
        if found is None:
            return
        if found.tokens is not None and not self.configured:
            self.window = min(found.tokens, self.window or found.tokens)
        notify(window_line(self.spec, found, self.window if self.configured else None))

    async def _ask(self, sent: CompletionRequest, on_text: OnText) -> Completion:
        """The inner provider's answer to ``sent``; a :class:`ContextOverflow` carrying it
        when the server counted far fewer prompt tokens than were sent: it cut the prompt to
        its window without a word (Ollama, from the front: the system prompt and the task
        first), so the model answered something else than was asked."""
        completion = await self.inner.complete(sent, on_text)
        usage = completion.usage
        if usage.estimated or self.family not in CUT_FAMILIES:
            return completion
        counted = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        sent_tokens = request_tokens(sent)
        if counted <= 0 or sent_tokens < CUT_MIN_TOKENS or counted >= sent_tokens * CUT_SHARE:
            return completion
        line = f"{self.spec}: {_cut(counted, sent_tokens)}"
        raise ContextOverflow(line, Overflow(kept=counted), spent=completion)

    def _server(self, estimate: int) -> int:
        """An estimate of tokens as the server would count them."""
        return math.ceil(estimate * self.ratio)

    def _does_not_fit(
        self,
        request: CompletionRequest,
        fitted: Compacted | None,
        refusal: ContextOverflow | None,
        refused: int,
        said: int | None,
        cuts: int = 0,
        paid: list[Completion] | None = None,
    ) -> ContextOverflow:
        """The one line saying the conversation cannot be made to fit; ``cuts``: how many of
        the ``refused`` were cut without a word instead; ``paid``: what was spent on the way
        (the answers made from a cut prompt), accounted with the failure."""
        answer = fitted.request.max_tokens if fitted is not None else request.max_tokens
        if self.kept is not None and (self.window is None or self.kept < self.window - answer):
            where = f"the {self.kept} tokens of a prompt the server keeps"
        elif refusal is None and self.configured:
            where = f"the context_tokens = {self.window} configured for it"
        else:
            where = f"the model's context window{_of(self.window)}"
        prompt = (
            _said(said)
            if said is not None
            else f"about {self._server(request_tokens(request))} tokens"
        )
        short = ""
        if fitted is not None:
            short = f", about {self._server(fitted.tokens)} with every older message shortened"
        how = "refused" if not cuts else "refused or cut" if cuts < refused else "cut"
        asked = f" ({how} {refused} time{'s' if refused > 1 else ''})" if refused else ""
        overflow = refusal.overflow if refusal is not None else Overflow(self.window)
        line = (
            f"{self.spec}: the conversation does not fit {where}: a prompt of {prompt}{short}, "
            f"and up to {answer} tokens of answer{asked}"
        )
        if self.kept is not None:
            line += "; " + RAISE_WINDOW.format(spec=self.spec)
        failed = ContextOverflow(line, overflow, status=refusal.status if refusal else None)
        failed.add_paid(paid or [])
        return failed


def _cut(kept: int, sent: int) -> str:
    """What a server that cut a prompt without a word did, said for a line."""
    return (
        f"the server counted {kept} prompt tokens of about {sent} sent: it cut the prompt "
        "to its context window without a word (Ollama keeps the end: the system prompt and "
        "the task are cut first)"
    )


def _said(count: int | None) -> str:
    return f"{count} tokens" if count is not None else "size not said"


def _of(window: int | None) -> str:
    return f" of {window} tokens" if window is not None else ""

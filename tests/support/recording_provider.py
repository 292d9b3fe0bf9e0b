"""A provider wrapper that records what each call sent: for tests that check what reached a
model (a key in the request, a secret file's values in a gate's output)."""

from __future__ import annotations

from collections.abc import Callable

from agents.provider import Completion, CompletionRequest, Provider


class Recording:
    """A provider that keeps what each call sent, and lets ``inner`` answer it."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.sent: list[str] = []
        self.family, self.model = inner.family, inner.model
        self.simulated, self.spec = inner.simulated, inner.spec

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.sent.append(request.system + "\n".join(m.content for m in request.messages))
        return await self.inner.complete(request, on_text)

"""A provider that adds behaviour around another one (retries, limits) and is otherwise it."""

from __future__ import annotations

from agents.provider import Provider


class ProviderWrapper:
    """Delegates identity to ``inner``: a wrapped model is still that model, family and spec."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner

    @property
    def family(self) -> str:
        return self.inner.family

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def simulated(self) -> bool:
        return self.inner.simulated

    @property
    def spec(self) -> str:
        return self.inner.spec

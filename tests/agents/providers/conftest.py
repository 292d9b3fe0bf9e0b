"""Fixtures shared by the provider tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from provider_loopback import LoopbackServer
from provider_wires import WIRES

from agents.provider import Provider
from agents.providers.retrying import retry_notices
from agents.registry import ProviderOptions, close_provider, make_provider


@pytest.fixture
def notices() -> Iterator[list[str]]:
    """The lines the providers' retries and refits said, in order."""
    said: list[str] = []
    with retry_notices(said.append):
        yield said


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A loopback server answering with the replies a test queues."""
    with LoopbackServer() as running:
        yield running


@pytest.fixture
async def provider(wire_name: str, server: LoopbackServer) -> AsyncIterator[Provider]:
    """The provider of the wire ``wire_name`` (a test module parametrizes it over
    :data:`provider_wires.WIRES`), built through the registry as a run builds it, against
    ``server``."""
    wire = WIRES[wire_name]
    options = ProviderOptions(
        max_retries=2,
        timeout_s=0.5,
        retry_base_delay_s=0.01,
        env=wire.env(server.url),
        usage_limit_wait_s=0,  # the wire and its retries; a limit's wait is tested apart
    )
    built = make_provider(wire.spec(server.url), options=options)
    yield built
    await close_provider(built)

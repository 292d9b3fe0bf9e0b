"""Fixtures shared by the provider tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.providers.retrying import retry_notices


@pytest.fixture
def notices() -> Iterator[list[str]]:
    """The lines the providers' retries and refits said, in order."""
    said: list[str] = []
    with retry_notices(said.append):
        yield said

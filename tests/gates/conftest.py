"""Fixtures for the gate tests: sandboxes of each kind and tiny real repositories."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gates.bwrap import probe_bwrap
from gates.sandbox import ProcessSandbox

BWRAP_USABLE = probe_bwrap().usable
needs_bwrap = pytest.mark.skipif(
    not BWRAP_USABLE, reason=f"bubblewrap unusable: {probe_bwrap().reason}"
)


@pytest.fixture
def process_sandbox() -> Iterator[ProcessSandbox]:
    sandbox = ProcessSandbox(use_bwrap=False)
    yield sandbox
    sandbox.close()


@pytest.fixture
def bwrap_sandbox() -> Iterator[ProcessSandbox]:
    if not BWRAP_USABLE:
        pytest.skip(f"bubblewrap unusable: {probe_bwrap().reason}")
    sandbox = ProcessSandbox(use_bwrap=True)
    assert sandbox.kind == "bwrap"
    yield sandbox
    sandbox.close()


@pytest.fixture(params=["process", "bwrap"])
def any_sandbox(request: pytest.FixtureRequest) -> ProcessSandbox:
    """Each test using this runs once per sandbox kind (bwrap skipped when unusable)."""
    name = "process_sandbox" if request.param == "process" else "bwrap_sandbox"
    sandbox: ProcessSandbox = request.getfixturevalue(name)
    return sandbox


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write files (dedented) into a fresh directory and return it."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "repo"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return make

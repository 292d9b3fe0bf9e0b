"""The engineer's ``run_tests`` on a project that sets its own pytest verbosity.

The tool ran pytest with ``-q``, which adds to the project's addopts: ``addopts = "-qq"``
made ``-qqq``, and pytest printed the progress dots and the failures but no last line, so
the model never read how many tests passed or failed. The tool sets the level with
``--verbosity=-1``, as the tests gate does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from gates.sandbox import ProcessSandbox

SUITE = "def test_passes():\n    assert True\n\n\ndef test_fails():\n    assert 1 == 2\n"


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    made = ProcessSandbox(use_bwrap=False)
    yield made
    made.close()


@pytest.mark.parametrize("addopts", ["-qq", "-q -q"])
async def test_the_model_reads_the_counts_whatever_verbosity_the_project_sets(
    tmp_path: Path, sandbox: ProcessSandbox, addopts: str
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text(SUITE)
    (tmp_path / "pyproject.toml").write_text(f'[tool.pytest.ini_options]\naddopts = "{addopts}"\n')
    belt = Toolbelt(tmp_path, sandbox, python=sys.executable, test_timeout_s=60)
    said = await belt.execute(ToolCall("c1", "run_tests", {}))
    assert "1 failed, 1 passed" in said.text, said.text
    assert "assert 1 == 2" in said.text, said.text  # the failure itself, as before
    assert said.text.endswith("[exit code 1]"), said.text

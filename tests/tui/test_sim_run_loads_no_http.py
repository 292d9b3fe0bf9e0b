"""A SIM run's wiring loads no HTTP client: httpx is for the providers that talk to a
server, and for opening a pull request.

The composition root loaded httpx (with its command line's click and pygments, ~75 ms of CPU
on the 2-core machine) before every demo's RunStarted, and before that of every test that
starts a factory on the SIM: the OpenAI-compatible provider and Ollama's window lookup were
imported with the provider registry, the GitHub publisher with the pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from pathlib import Path
import tui.commands.run, tui.compose
from agents.registry import make_provider
from engine.github import GitHubPublisher

provider = make_provider({spec!r}, playbook=Path({playbook!r}))
publisher = GitHubPublisher.from_environment(Path({repo!r}), {{}})
print(json.dumps([type(provider).__name__, publisher is None, "httpx" in sys.modules]))
"""


@pytest.mark.parametrize(
    ("spec", "http"),
    [("sim:", False), ("openai:qwen@http://127.0.0.1:9/v1", True)],
    ids=["sim", "openai"],
)
def test_only_a_provider_that_talks_to_a_server_loads_httpx(
    tmp_path: Path, spec: str, http: bool
) -> None:
    probe = PROBE.format(
        spec=spec, playbook=str(ROOT / "examples/inventory/playbook.yaml"), repo=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    made, no_publisher, loaded = json.loads(result.stdout.splitlines()[-1])
    assert made and no_publisher  # no GITHUB_TOKEN: no pull request to open
    assert loaded is http

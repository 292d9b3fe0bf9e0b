"""What commands print is cleaned of the values of the repository's secret files.

``read_file`` showed ``.env`` masked, but ``run ["cat", ".env"]``, ``grep -r PASSWORD .`` or a
test printing its settings went to the model as printed: only key *shapes* were masked
there, and ``DB_PASSWORD=hunter2-prod`` has none (engine/secret_values.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine.secret_values import cut_value_start, file_secret_values
from gates.sandbox import ProcessSandbox

ENV = (
    "# local settings\n"
    "export DB_PASSWORD=hunter2-prod\n"
    "DB_HOST=localhost\n"
    "DB_USER=postgres\n"
    "DATABASE_URL=postgres://app:pw-9f8e7d@localhost:5432/app\n"
    "STRIPE_WEBHOOK=whsec_plain7\n"
    "DEBUG=true\nPORT=8000\nREF=${OTHER}\nSHORT=ab12\n"
)
SECRETS = ("hunter2-prod", "pw-9f8e7d", "whsec_plain7")
TEST = (
    "from pathlib import Path\n\n"
    "def test_settings():\n"
    "    print(Path('.env').read_text())\n"
    "    assert 'hunter2-prod' == 'the config'\n"
)


def test_the_values_masking_hides_are_taken_and_ordinary_ones_left() -> None:
    values = file_secret_values(ENV)
    assert {"hunter2-prod", "pw-9f8e7d", "whsec_plain7"} <= set(values)
    # Plain words under keys no secret is named by, trivial and short values: left, so the
    # model still reads "localhost" and "postgres" in a test's output.
    for kept in ("localhost", "postgres", "true", "8000", "${OTHER}", "ab12"):
        assert kept not in values
    json_file = '{\n  "client_secret": "gsa-0f1e2d3c",\n  "project_id": "my-project"\n}\n'
    assert file_secret_values(json_file) == ["gsa-0f1e2d3c"]
    assert file_secret_values("machine h login bob password s3cr3t-pw\n") == ["s3cr3t-pw"]
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----\n"
    assert file_secret_values(key) == ["MIIEvQIBADANBgkqhkiG9w0B"]
    # A value under a secret-named key is taken even as a plain word.
    assert file_secret_values("DB_PASSWORD=sunshine\n") == ["sunshine"]


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "tests").mkdir(parents=True)
    (root / ".env").write_text(ENV)
    (root / "tests" / "test_settings.py").write_text(TEST)
    (root / "app.py").write_text("DB_PASSWORD_NAME = 'DB_PASSWORD'\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "seed")
    return root


@pytest.fixture
def belt(worktree: Path) -> Iterator[Toolbelt]:
    sandbox = ProcessSandbox(use_bwrap=False)
    yield Toolbelt(worktree, sandbox, python=sys.executable)
    sandbox.close()


async def _run(belt: Toolbelt, name: str, **args: object) -> str:
    return (await belt.execute(ToolCall("c1", name, dict(args)))).text


async def test_commands_printing_a_secret_file_show_its_values_masked(belt: Toolbelt) -> None:
    cat = await _run(belt, "run", argv=["cat", ".env"])
    grep = await _run(belt, "run", argv=["grep", "-r", "PASSWORD", "."])
    tests = await _run(belt, "run_tests", args=["tests/test_settings.py"])
    for text in (cat, grep, tests):
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    assert "DB_PASSWORD=[REDACTED]" in cat and "DB_HOST=localhost" in cat
    assert "./.env:export DB_PASSWORD=[REDACTED]" in grep
    assert "app.py:DB_PASSWORD_NAME" in grep  # the rest of the output as printed
    assert "assert '[REDACTED]' == 'the config'" in tests and "1 failed" in tests


async def test_a_value_replaced_in_the_file_stays_masked(belt: Toolbelt, worktree: Path) -> None:
    await _run(belt, "run", argv=["true"])  # the values are read on first use
    text = ENV.replace("hunter2-prod", "rotated-pw-2")
    (worktree / ".env").write_text(text + "# rotated\n")
    out = await _run(belt, "run", argv=["sh", "-c", "cat .env; git show HEAD:.env"])
    assert "hunter2-prod" not in out and "rotated-pw-2" not in out
    assert out.count("DB_PASSWORD=[REDACTED]") == 2


async def test_a_secret_file_written_after_first_use_is_masked_in_later_output(
    belt: Toolbelt, worktree: Path
) -> None:
    (worktree / ".gitignore").write_text(".env.local\n")
    assert "exit code 0" in await _run(belt, "run", argv=["true"])  # listed on first use
    # An ignored one at the top, an untracked one a folder down: neither tracked by git.
    (worktree / ".env.local").write_text("API_SECRET=local-s3cret-1\n")
    (worktree / "tests" / "prod.env").write_text("DB_PW=nested-pw-2\n")
    top = await _run(belt, "run", argv=["cat", ".env.local"])
    nested = await _run(belt, "run", argv=["cat", "tests/prod.env"])
    assert "local-s3cret-1" not in top and "API_SECRET=[REDACTED]" in top
    assert "nested-pw-2" not in nested and "DB_PW=[REDACTED]" in nested


async def test_the_sandbox_masks_a_secret_file_the_command_itself_wrote(worktree: Path) -> None:
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        await sandbox.run(["true"], worktree)  # the worktree's secret files listed
        script = "echo 'DB_PASSWORD=fresh-pw-77' > prod.env; cat prod.env"
        wrote = await sandbox.run(["sh", "-c", script], worktree)
        later = await sandbox.run(["cat", "prod.env"], worktree)
    finally:
        sandbox.close()
    for result in (wrote, later):
        assert "fresh-pw-77" not in result.output
        assert "DB_PASSWORD=[REDACTED]" in result.output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("line: hunter2-pr", "line: [REDACTED]"),  # the value's start at the cut's end
        ("line: p\ufffd", "line: [REDACTED]"),  # and a character the cut split
        ("line: hunter2-prod and", "line: hunter2-prod and"),  # whole ones: the mask's job
        ("line: plain", "line: plain"),
    ],
)
def test_a_cut_through_a_secret_value_leaves_none_of_it(text: str, shown: str) -> None:
    assert cut_value_start(text, ["hunter2-prod", "pässword-42"]) == shown

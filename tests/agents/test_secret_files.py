"""Files holding secrets reach a third-party model only masked (engine/secret_files.py).

Before, a tracked ``.env``, a private key, ``credentials.json``, an ``.npmrc`` with an auth
token or a ``secrets.toml`` went as it was into the engineer's selected context, the repo map
and ``read_file``'s answer, and a model could write ``[REDACTED]`` it had been shown back into
the user's file. Every secret value below is checked to be absent from what a model is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.context import repo_map, select_context
from agents.provider import ToolCall
from agents.tool_specs import ToolResult
from agents.toolbelt import Toolbelt
from engine.audit_checkout import numbered_sources
from engine.secret_files import MASK_NOTE, is_secret_file
from gates.sandbox import ProcessSandbox

SECRETS = {
    "hunter2hunter2",
    "npm_Q2x9rT7uV4wY1zA3bC5dE7fG9h",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "gsa-private-0f1e2d3c4b5a",
    "st-pw-abcdef0123",
    "wJalrXUtnFEMI-K7MDENG-bPxRfiCY",
    "sk-ant-api03-settingskey0123456789",
}

FILES = {
    ".env": "# local settings\nDB_PASSWORD=hunter2hunter2\nDEBUG=true\nPORT=8000\n",
    ".env.example": "DB_PASSWORD=changeme\nDEBUG=true\n",
    ".npmrc": (
        "registry=https://registry.npmjs.org/\n"
        "//registry.npmjs.org/:_authToken=npm_Q2x9rT7uV4wY1zA3bC5dE7fG9h\n"
    ),
    "deploy/server.pem": (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    ),
    "deploy/id_rsa": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    ),
    "credentials.json": (
        '{\n  "type": "service_account",\n  "client_secret": "gsa-private-0f1e2d3c4b5a",\n'
        '  "port": 443\n}\n'
    ),
    ".streamlit/secrets.toml": '[db]\npassword = "st-pw-abcdef0123"\nport = 5432\n',
    ".aws/credentials": (
        "[default]\naws_secret_access_key = wJalrXUtnFEMI-K7MDENG-bPxRfiCY\nregion = eu-west-1\n"
    ),
    "app/settings.py": (
        'import os\n\nDB_PASSWORD = os.environ["DB_PASSWORD"]\n'
        'FALLBACK_KEY = "sk-ant-api03-settingskey0123456789"\n\n'
        "def database_password() -> str:\n    return DB_PASSWORD\n"
    ),
    "app/db.py": "from app.settings import database_password\n\nPASSWORD_HINT = 'see .env'\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def belt(repo: Path) -> Iterator[Toolbelt]:
    sandbox = ProcessSandbox(use_bwrap=False)
    yield Toolbelt(repo, sandbox, python=sys.executable)
    sandbox.close()


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, leaked


async def call(belt: Toolbelt, name: str, **args: object) -> ToolResult:
    return await belt.execute(ToolCall("c1", name, dict(args)))


def test_secret_files_are_told_by_name_and_examples_are_not() -> None:
    secret = [".env", ".env.production", "config/prod.env", "deploy/server.pem", "keys/a.key"]
    secret += ["deploy/id_rsa", "credentials.json", ".npmrc", ".streamlit/secrets.toml"]
    secret += [".aws/credentials", ".docker/config.json", "client_secret_42.json", ".netrc"]
    plain = [".env.example", ".env.sample", "secrets.toml.example", "deploy/id_rsa.pub"]
    plain += ["app/secrets.py", "config.json", "README.md", "keyring.py", "monkey.env.md"]
    assert [p for p in secret if not is_secret_file(p)] == []
    assert [p for p in plain if is_secret_file(p)] == []


def test_context_never_ranks_a_secret_file_in_and_masks_a_named_one(repo: Path) -> None:
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
    pack = select_context(
        repo,
        "read the database password from DB_PASSWORD in .env and the npm auth token",
        budget_tokens=20_000,
        min_relevance=0.0,  # every match would be taken: none of the secret files may be
    )
    assert_no_secret(pack.text)
    assert [f for f in [*pack.files, *pack.ranked] if is_secret_file(f)] == []
    assert ".env (holds secrets: values not shown)" in repo_map(repo, files)
    assert 'FALLBACK_KEY = "[REDACTED]"' in pack.text  # a key shape in an ordinary file

    named = select_context(repo, "add a variable", named_files=[".env"], budget_tokens=20_000)
    assert named.files[0] == ".env"
    assert "DB_PASSWORD=[REDACTED]\nDEBUG=true\nPORT=8000" in named.text
    assert MASK_NOTE in named.text
    assert_no_secret(named.text)


async def test_read_file_masks_secret_values_with_a_note_and_keeps_examples(
    belt: Toolbelt,
) -> None:
    for rel in FILES:
        result = await call(belt, "read_file", path=rel)
        assert not result.is_error, result.text
        assert_no_secret(result.text)
        if is_secret_file(rel):
            assert result.text.startswith(MASK_NOTE), rel
    env = (await call(belt, "read_file", path=".env")).text
    assert env.endswith("# local settings\nDB_PASSWORD=[REDACTED]\nDEBUG=true\nPORT=8000\n")
    npmrc = (await call(belt, "read_file", path=".npmrc")).text
    assert "//registry.npmjs.org/:_authToken=[REDACTED]" in npmrc
    example = await call(belt, "read_file", path=".env.example")
    assert example.text == FILES[".env.example"]  # placeholders: as it is, no note


async def test_an_edit_writing_the_mask_into_a_file_is_refused(belt: Toolbelt, repo: Path) -> None:
    masked = (await call(belt, "read_file", path=".env")).text.removeprefix(MASK_NOTE + "\n")
    rewrite = await call(belt, "write_file", path=".env", content=masked + "NEW=1\n")
    assert rewrite.is_error and "refused: this would write [REDACTED] into .env" in rewrite.text
    edit = await call(
        belt, "edit_file", path=".env", search="DEBUG=true", replace="TOKEN=[REDACTED]"
    )
    assert edit.is_error and "refused" in edit.text
    copied = await call(belt, "write_file", path="app/keys.py", content='KEY = "[REDACTED]"\n')
    assert copied.is_error and not (repo / "app" / "keys.py").exists()
    stale = await call(
        belt, "edit_file", path=".env", search="DB_PASSWORD=[REDACTED]", replace="DB_PASSWORD=x"
    )
    assert stale.is_error and "stands for a secret value hidden from you" in stale.text
    assert (repo / ".env").read_text() == FILES[".env"]
    # Around the masked value, the file is edited and keeps the real one.
    added = await call(belt, "edit_file", path=".env", search="PORT=8000\n", replace="PORT=9000\n")
    assert not added.is_error, added.text
    assert (repo / ".env").read_text() == FILES[".env"].replace("8000", "9000")
    # A file that holds the text [REDACTED] already (a redactor's code) may keep it.
    (repo / "app" / "redact.py").write_text('MASK = "[REDACTED]"\n')
    kept = await call(belt, "edit_file", path="app/redact.py", search="MASK", replace="SHOWN")
    assert not kept.is_error, kept.text


async def test_a_key_a_failing_test_prints_is_masked_in_what_the_model_is_told(
    belt: Toolbelt, repo: Path
) -> None:
    """The verifier's and the engineer's run_tests answer goes to their model: a test
    printing a configured key put it there as it was."""
    (repo / "tests").mkdir()
    (repo / "tests" / "test_keys.py").write_text(
        "FALLBACK_KEY = 'sk-ant-api03-' + 'settingskey0123456789'\n\n"
        "def test_key_is_rotated():\n    assert FALLBACK_KEY == 'new', FALLBACK_KEY\n"
    )
    result = await call(belt, "run_tests", args=["tests/test_keys.py"])
    assert "test_key_is_rotated" in result.text and "[REDACTED]" in result.text
    assert_no_secret(result.text)


def test_the_audit_reviewers_sources_mask_key_shaped_values(repo: Path) -> None:
    sources = numbered_sources(repo, ["app/settings.py", "app/db.py"])
    assert '   4 FALLBACK_KEY = "[REDACTED]"' in sources
    assert_no_secret(sources)

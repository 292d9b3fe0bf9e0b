"""``shopfloor init`` writes a commented shopfloor.toml that the run's own loader accepts."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from tui.commands.exit_codes import EXIT_OK, UsageError
from tui.commands.init import cmd_init, render_config
from tui.config import ConfigError, Settings, load_settings
from tui.crew_setup import route_models
from tui.run_plan import SetupError

SEED = Path(__file__).resolve().parents[2] / "examples" / "inventory" / "seed"


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SEED, root)
    return root


def args(root: Path, *, force: bool = False) -> argparse.Namespace:
    return argparse.Namespace(repo=root, output=None, force=force)


async def test_init_writes_a_file_load_settings_accepts(tmp_path: Path, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = repo(tmp_path)
    console = Console(record=True, width=200)
    assert await cmd_init(args(root), console) == EXIT_OK
    written = root / "shopfloor.toml"
    settings = load_settings(written)
    assert settings.models["planner"] == "sim:"
    assert settings.reviewers == ("sim:", "sim:", "sim:")
    assert settings.context_budget == 6000
    assert "escalation_policy" not in settings.engine_keys  # headless: the twin answers
    text = written.read_text()
    assert "No API key found" in text and "Detected a Python project" in text
    assert "# WARNING: only one model family (sim)" in text
    assert f"wrote {written}" in console.export_text()
    assert not list(root.glob("*.tmp"))
    with pytest.raises(UsageError, match="exists; use --force"):
        await cmd_init(args(root), console)
    written.write_text("# mine\n")
    assert await cmd_init(args(root, force=True), console) == EXIT_OK
    assert written.read_text().startswith("# shopfloor.toml for repo")


def test_keys_route_roles_to_real_models_and_never_write_the_key(tmp_path: Path):
    root = repo(tmp_path)
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret-value", "GEMINI_API_KEY": "gm-secret-value"}
    text = render_config(root, env)
    assert "secret-value" not in text
    assert 'planner = "anthropic:claude-sonnet-5-5"' in text
    assert 'reviewers = ["gemini:gemini-3.8-flash", "gemini:gemini-3.5-flash-lite"' in text
    path = tmp_path / "shopfloor.toml"
    path.write_text(text)
    settings = load_settings(path)
    routing = route_models(settings, {})
    assert routing.warnings == ()
    assert routing.spec("task_reviewer").startswith("gemini:")


async def test_init_refuses_a_missing_repository(tmp_path: Path):
    with pytest.raises(UsageError, match="repository not found"):
        await cmd_init(args(tmp_path / "nope"), Console())


def test_config_sections_for_roles_pricing_twin_and_context(tmp_path: Path):
    path = tmp_path / "shopfloor.toml"
    path.write_text(
        '[models]\ncritic = "gemini:gemini-2.5-pro"\nreviewers = ["gemini:gemini-2.5-flash"]\n'
        '[pricing]\n"openai:qwen" = { input = 0.1, output = 0.2 }\n'
        '[twin]\ndna = "owner.toml"\n[context]\nbudget_tokens = 3000\n'
    )
    settings = load_settings(path)
    assert settings.models == {"critic": "gemini:gemini-2.5-pro"}
    assert settings.reviewers == ("gemini:gemini-2.5-flash",)
    assert settings.pricing["openai:qwen"].output == 0.2
    assert settings.twin_dna == (tmp_path / "owner.toml").resolve()
    assert settings.context_budget == 3000
    for bad, message in [
        ("[models]\nreviewers = []\n", "reviewers must be a non-empty list"),
        ("[models]\ndesigner = 'sim:'\n", "unknown role [models] designer"),
        ("[pricing]\nqwen = { input = 1, output = 1 }\n", "must be a model spec"),
        ("[context]\nbudget_tokens = -1\n", "must not be negative"),
        ("[twin]\nowner = 'x'\n", "unknown key(s) in [twin]"),
    ]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_settings(path)


def test_a_reviewer_on_the_planners_family_is_a_setup_error():
    settings = Settings(
        models={"planner": "anthropic:claude-sonnet-4-5", "engineer": "gemini:gemini-2.5-pro"},
        reviewers=("anthropic:claude-haiku-4-5",),
    )
    with pytest.raises(SetupError, match="must use another family"):
        route_models(settings, {})


def test_every_key_init_writes_loads_commented_or_not_and_its_values_are_the_defaults(
    tmp_path: Path,
):
    """The file as written is the defaults (a run with it is a run without it); and each
    commented example, uncommented, is a key the loader takes."""
    from agents.registry import ProviderOptions
    from engine.config import EngineConfig
    from gates.config import GatesConfig
    from tui.config import CONFIG_KEYS

    text = render_config(repo(tmp_path), {})
    written = tmp_path / "as-written.toml"
    written.write_text(text)
    settings, defaults = load_settings(written), Settings()
    assert settings.engine == EngineConfig() and settings.providers == ProviderOptions()
    assert settings.gates == GatesConfig() and settings.test_timeout_s == defaults.test_timeout_s
    assert settings.context_budget == defaults.context_budget
    assert settings.engine_keys <= CONFIG_KEYS["engine"] - {"escalation_policy"}
    budgets = text[text.index("# -- Budgets") : text.index("# Who answers")]
    for key in re.findall(r"^# ([a-z_]+) = ", budgets, re.MULTILINE):  # "none by default"
        assert getattr(EngineConfig(), key) is None, f"{key} has a default; it is no budget"

    example = re.compile(r'^# (\[|"|[a-z_]+ = )')
    lines = [line[2:] if example.match(line) else line for line in text.splitlines()]
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text("\n".join(lines) + "\n")
    everything = load_settings(uncommented)
    assert "escalation_policy" in everything.engine_keys and everything.twin_dna is not None
    assert everything.providers.limits and everything.providers.cli_agents
    assert everything.gates.custom and everything.pricing and everything.playbook is not None
    for table in CONFIG_KEYS:
        head = table.split(".")[0]
        assert f"[{head}" in text or f"[[{head}" in text, f"init writes no [{table}]"


def test_init_suggests_the_interpreter_poetry_keeps_outside_the_repository(tmp_path: Path):
    """The example ``python`` was the found interpreter made relative to the repository: one
    Poetry keeps in its cache folder raised ValueError there."""
    from tests.gates.test_env_tools import answers, tool
    from tests.gates.test_project_python import make_venv

    project = repo(tmp_path)
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "app"\n')
    cache = tmp_path / "cache" / "virtualenvs" / "app-Zk1-py3.11"
    venv_python = make_venv(cache, with_pytest=False)
    tool(tmp_path / "bin", "poetry", answers("env info --path", f"echo {cache}"))
    text = render_config(project, {"PATH": str(tmp_path / "bin")})
    assert f'# python = "{venv_python}"' in text.splitlines()


def test_init_on_a_rust_crate_writes_its_cargo_gates_commented(tmp_path: Path):
    """A crate got "No Python project or Node package detected" and a `make docs` example:
    its user had to find out the cargo gates (and that run_tests runs the test one)."""
    from gates.config import GatesConfig

    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "c"\nversion = "0.1.0"\n')
    (crate / "src" / "lib.rs").write_text("")
    text = render_config(crate, {})
    assert "Detected a Rust crate" in text and "No Python project" not in text
    written = tmp_path / "as-written.toml"
    written.write_text(text)
    assert load_settings(written).gates == GatesConfig()  # commented: the defaults
    example = re.compile(r'^# (\[|"|[a-z_]+ = )')
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text(
        "\n".join(line[2:] if example.match(line) else line for line in text.splitlines())
    )
    custom = load_settings(uncommented).gates.custom
    assert [spec.argv[:2] for spec in custom] == [
        ("cargo", "test"),
        ("cargo", "clippy"),
        ("cargo", "fmt"),
    ]
    assert [spec.runs_tests for spec in custom] == [True, False, False]


async def test_init_says_lint_checks_formatting_where_the_repository_formats_with_ruff(
    tmp_path: Path,
):
    """python-dotenv's tox lint env runs `ruff format --check`: the file init writes says the
    lint gate holds it to that; a repository that does not format with ruff is not told so."""
    root = repo(tmp_path)
    assert await cmd_init(args(root), Console(record=True)) == EXIT_OK
    said = "# It formats with ruff, so lint runs `ruff format --check` too."
    assert said not in (root / "shopfloor.toml").read_text()
    (root / "tox.ini").write_text("[testenv:lint]\ncommands = ruff format --check src tests\n")
    assert await cmd_init(args(root, force=True), Console(record=True)) == EXIT_OK
    assert said in (root / "shopfloor.toml").read_text()

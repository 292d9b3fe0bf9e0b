"""The run's crew: which model plays each role, and every role over its provider.

Routes roles to model specs, builds the crew over the providers the registry makes, warns
of the models a cost budget cannot see, and refuses in one line what would only fail later (a
bad spec or DNA file, a coding agent whose command is not installed). Kept out of the
composition root (tui/compose.py), which hands the crew to the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agents.crew import Crew, build_crew
from agents.dna import DnaError
from agents.pricing import DEFAULT_PRICES
from agents.project_tests import ProjectTests
from agents.provider import ProviderError
from agents.providers.cli import CliProvider
from agents.providers.usage_wait import UsageLimitWait
from agents.registry import make_provider
from agents.routing import Routing, RoutingError, route
from engine.config import EngineConfig
from engine.spend import BudgetLimits
from gates.config import GatesConfig
from gates.node_packages import node_packages
from gates.repo_shape import is_python_repo, python_projects, wants_pytest
from gates.sandbox import ProcessSandbox
from tui.config import Settings
from tui.memory import load_dna
from tui.run_plan import SetupError


def route_models(settings: Settings, env: Mapping[str, str]) -> Routing:
    """Role -> model spec: [models] over the defaults (the SIM when a playbook is given or no
    key is set; current models for the keys present). Raises SetupError on a bad routing."""
    configured: dict[str, str | list[str]] = dict(settings.models)
    if settings.reviewers:
        configured["reviewers"] = list(settings.reviewers)
    try:
        return route(configured, {} if settings.playbook else env)
    except RoutingError as exc:
        where = f"{settings.source}: " if settings.source is not None else ""
        raise SetupError(f"{where}{exc}") from exc


def make_crew(
    settings: Settings,
    routing: Routing,
    sandbox: ProcessSandbox,
    test_env: dict[str, str],
    tests: ProjectTests,
    test_python: str,
) -> Crew:
    """Every role over its provider; SetupError for a bad spec or a bad owner DNA file."""
    try:
        dna = load_dna(settings)
        return build_crew(
            routing,
            lambda spec: make_provider(
                spec, playbook=settings.playbook, speed=settings.speed, options=settings.providers
            ),
            sandbox=sandbox,
            test_env=test_env,
            tests=tests,
            test_python=test_python,
            prices=DEFAULT_PRICES.with_overrides(settings.pricing),
            dna=dna,
            context_budget=settings.context_budget,
        )
    except (ProviderError, DnaError) as exc:
        raise SetupError(str(exc)) from exc


def project_tests(repo: Path, config: GatesConfig) -> ProjectTests:
    """Where the gates run ``repo``'s tests, for the agents' ``run_tests``: pytest in each
    Python project (none in a Node package whose Python is a few scripts, where pytest only
    says "no tests ran"), each Node package's test script, their dependencies borrowed from
    ``repo``, and the test commands of ``[[gates.custom]]`` (a Rust crate's ``cargo test``,
    run where there is neither)."""
    packages = node_packages(repo)
    commands = tuple(
        spec.argv for spec in config.custom if spec.runs_tests and spec.name not in config.disable
    )
    python = is_python_repo(repo)
    pytest = (not packages and (python or not commands)) or (
        python and (wants_pytest(repo) or "tests" in config.enable)
    )
    return ProjectTests(
        pytest_projects=python_projects(repo) if pytest else (),
        node_packages=packages,
        checkout=repo,
        commands=commands,
    )


def agent_installed(crew: Crew) -> None:
    """SetupError when the engineer is a coding agent (``cli:``, not in a fallback chain)
    whose command is not installed: the run paid for its critic, plan and reviews, then
    failed every attempt of its first task, its reason "task(s) failed after all attempts".
    """
    provider = crew.engineer.provider
    if isinstance(provider, UsageLimitWait):
        provider = provider.inner
    if isinstance(provider, CliProvider) and provider.executable() is None:
        raise SetupError(
            f"{provider.spec}: command not found: {provider.agent.argv[0]} (the engineer's "
            f"coding agent): install it, or give its path in [providers.cli.{provider.name}] "
            "argv"
        )


def agents_jailed(sandbox_kind: str, engineer_spec: str) -> bool:
    """Whether every command an attempt's agent runs is jailed with the repository's git
    directory read-only: the built-in engineer's toolbelt under bubblewrap. An external
    coding agent (``cli:``, maybe in a fallback chain) runs outside the toolbelt, with its
    own fence that leaves refs and objects writable, so the repository is guarded."""
    links = [link.strip() for link in engineer_spec.split("|")]
    return sandbox_kind == "bwrap" and not any(link.startswith("cli:") for link in links)


def unpriced_warnings(crew: Crew, engine: EngineConfig, budget: BudgetLimits | None) -> list[str]:
    """One warning per model with no price, when a cost budget is set (in the config or on
    the command line): the budget does not see that model's calls."""
    return (
        [
            f"{spec} has no price: a cost budget does not see its calls "
            f'([pricing] "{spec.partition("@")[0]}" = {{input = ..., output = ...}} gives it one)'
            for spec in crew.unpriced()
        ]
        if engine.max_cost_usd
        or engine.task_max_cost_usd
        or (budget is not None and (budget.max_cost_usd or budget.task_max_cost_usd))
        else []
    )

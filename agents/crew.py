"""The crew of a run: every role built over its routed provider, ready for the engine.

The composition root routes roles to model specs (agents/routing.py), hands in a way to make a
provider from a spec (agents/registry.py) and the sandbox, and gets back the planner, the
engineer and every judging role. A spec used by several roles gets one provider, so the SIM's
playbook is loaded once and a real provider's limits are shared.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from agents.dna import OwnerDNA
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.project_tests import ProjectTests
from agents.provider import Provider
from agents.providers.cli import CliProvider
from agents.roles.critic import CriticRole
from agents.roles.engineer import EngineerRole
from agents.roles.judge import JudgeRole
from agents.roles.planner import PlannerRole
from agents.roles.qc import CodeQCRole
from agents.roles.reviewer import ReviewerRole
from agents.roles.task_reviewer import TaskReviewerRole
from agents.roles.twin import TwinRole
from agents.roles.verifier import VerifierRole
from agents.routing import Routing
from agents.sim import SimProvider
from engine.protocols import Sandbox


@dataclass(frozen=True)
class Crew:
    """Every role of a run, and the providers they run on."""

    planner: PlannerRole
    engineer: EngineerRole
    critic: CriticRole
    reviewers: tuple[ReviewerRole, ...]
    twin: TwinRole
    task_reviewer: TaskReviewerRole
    qc: CodeQCRole
    verifier: VerifierRole
    judge: JudgeRole
    routing: Routing
    providers: Mapping[str, Provider]
    """Provider by spec."""

    @property
    def simulated(self) -> bool:
        """True when any role is played by the SIM."""
        return any(p.simulated for p in self.providers.values())

    def deprecations(self) -> list[str]:
        """Warnings for the configured models their SDKs list as deprecated."""
        return deprecations(self.providers.values())

    def unpriced(self) -> list[str]:
        """The configured models the price table does not know, behind retries, limits and
        fallback chains too: their calls cost nothing on the run's bill, which a cost budget
        cannot see. A coding agent that bills its runs itself (Claude Code) is left out; one
        that says only tokens (Codex, Gemini CLI, Aider) is not: with no ``cli:NAME`` price,
        a cost budget did not see the engineer, the run's largest spender."""
        prices = self.planner.prices
        found = {
            str(provider.spec)
            for provider in _leaves(self.providers.values())
            if not provider.simulated
            and provider.family != "sim"
            and (provider.family != "cli" or _says_no_cost(provider))
            and prices.lookup(provider.family, provider.model) is None
        }
        return sorted(found)

    def unscripted_planner(self) -> str | None:
        """The name of the SIM playbook the planner plays when it scripts no blueprint (an
        audit's, which plans nothing): a run that plans would fail at its planner, after
        its whole baseline. None when the planner has a blueprint or is a real model."""
        provider: object = self.planner.provider
        while getattr(provider, "inner", None) is not None:  # retries, limits; not a chain
            provider = provider.inner  # type: ignore[attr-defined]
        if isinstance(provider, SimProvider) and provider.playbook.blueprint is None:
            return provider.playbook.name
        return None

    def models(self) -> dict[str, str]:
        """Role -> the spec its provider reports (reviewers as ``reviewer-N``)."""
        return {role: self.providers[spec].spec for role, spec in self.routing.as_dict().items()}


def _says_no_cost(provider: Provider) -> bool:
    return isinstance(provider, CliProvider) and not provider.bills


def _leaves(providers: Iterable[Provider]) -> Iterator[Provider]:
    """Each provider that calls a model, behind wrappers (retries, limits, an ``inner``) and
    fallback chains (their ``providers``)."""
    stack: list[Provider] = list(providers)
    while stack:
        provider = stack.pop()
        links = list(getattr(provider, "providers", ()))
        inner = getattr(provider, "inner", None)
        stack += links + ([inner] if inner is not None else [])
        if not links and inner is None:
            yield provider


def deprecations(providers: Iterable[Provider]) -> list[str]:
    """One warning per model among ``providers`` that its SDK lists as deprecated (an
    Anthropic model near or past its end of life), behind retries, limits and fallback
    chains too; empty when there is none."""
    found: dict[str, str] = {}
    for provider in _leaves(providers):
        when = getattr(provider, "deprecation", None)
        if isinstance(when, str):
            spec = str(getattr(provider, "spec", "?"))
            found[spec] = f"{spec} is deprecated: it reaches its end of life on {when}"
    return [found[spec] for spec in sorted(found)]


def build_crew(
    routing: Routing,
    make_provider: Callable[[str], Provider],
    *,
    sandbox: Sandbox,
    test_env: Mapping[str, str] | None = None,
    tests: ProjectTests | None = None,
    test_python: str = sys.executable,
    prices: PriceTable = DEFAULT_PRICES,
    dna: OwnerDNA | None = None,
    context_budget: int = 6000,
) -> Crew:
    """Build every role; ``make_provider`` is called once per distinct spec.
    ``tests``: where the gates run the project's tests (pytest's projects, the Node
    packages); the agents' ``run_tests`` runs there too, pytest on ``test_python`` (the
    project's interpreter, as the gate)."""
    providers: dict[str, Provider] = {}

    def provider(spec: str) -> Provider:
        if spec not in providers:
            providers[spec] = make_provider(spec)
        return providers[spec]

    spec = routing.spec
    return Crew(
        planner=PlannerRole(provider(spec("planner")), prices=prices),
        engineer=EngineerRole(
            provider(spec("engineer")),
            sandbox,
            test_env=test_env,
            tests=tests,
            python=test_python,
            context_budget=context_budget,
            prices=prices,
        ),
        critic=CriticRole(provider(spec("critic")), prices=prices),
        reviewers=tuple(
            ReviewerRole(provider(s), f"reviewer-{n}", prices=prices)
            for n, s in enumerate(routing.reviewers, start=1)
        ),
        twin=TwinRole(provider(spec("twin")), dna, prices=prices),
        task_reviewer=TaskReviewerRole(provider(spec("task_reviewer")), prices=prices),
        qc=CodeQCRole(provider(spec("qc")), prices=prices),
        verifier=VerifierRole(
            provider(spec("verifier")),
            sandbox,
            test_env=test_env,
            tests=tests,
            python=test_python,
            prices=prices,
        ),
        judge=JudgeRole(provider(spec("judge")), prices=prices),
        routing=routing,
        providers=providers,
    )

"""EngineConfig refuses, when it is built, what would otherwise fail a run at its end."""

from __future__ import annotations

import subprocess

import pytest

from engine.config import EngineConfig, branch_prefix_problem

PREFIXES = [
    "shopfloor/",
    "",
    "team/bot-",
    "x.",
    "x.lock",
    "ü/",
    "bad..name",
    "a b/",
    "x@{y",
    "a//b",
    "a/.b",
    "foo.lock/",
    "/x",
    ".x",
    "-x",
    "a\\b",
    "a[b",
    "what?",
    "a*",
    "tab\t/",
    "a~1/",
    "c:/",
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_branch_prefix_is_refused_exactly_when_git_would_refuse_the_branch(prefix: str) -> None:
    # The shipped branch is <prefix><slug>-<run id>: git decides whether that name is valid.
    name = f"{prefix}build-a-small-library-1234abcd"
    git_accepts = (
        subprocess.run(
            ["git", "check-ref-format", "--branch", name], capture_output=True
        ).returncode
        == 0
    )
    assert (branch_prefix_problem(prefix) is None) == git_accepts
    if not git_accepts:
        with pytest.raises(ValueError, match="branch_prefix"):
            EngineConfig(branch_prefix=prefix)


@pytest.mark.parametrize(
    "name", ["escalation_timeout_s", "checkout_wait_s", "max_cost_usd", "task_max_cost_usd"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_float_limit_must_be_finite(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        EngineConfig(**{name: value})  # type: ignore[arg-type]

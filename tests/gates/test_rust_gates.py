"""A Rust crate's cargo gates under the sandbox: rustup installs cargo in the user's home,
which the sandbox hides (bwrap) or replaces (a private ``HOME``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from gates.command_gate import CommandGate
from gates.config import GatesConfig
from gates.sandbox import ProcessSandbox
from tui.crew_setup import project_tests

CARGO = shutil.which("cargo")
pytestmark = pytest.mark.skipif(CARGO is None, reason="cargo is not installed")

LIB = """\
pub fn double(x: i32) -> i32 {
    x * 3
}

#[cfg(test)]
mod tests {
    #[test]
    fn doubles_two() {
        assert_eq!(super::double(2), 4);
    }
}
"""


def crate(root: Path, body: str = LIB) -> Path:
    """A dependency-free crate in a git repository (the gates run in its worktree)."""
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "twice"\nversion = "0.1.0"\nedition = "2021"\n', encoding="utf-8"
    )
    (root / "src" / "lib.rs").write_text(body, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


async def test_cargo_test_gate_runs_the_crates_tests(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The gate's verdict is the crate's: its failing test, not "cargo: No such file"
    (exit 127, which at the baseline made the gate red there and never blocking)."""
    repo = crate(tmp_path / "twice")
    gate = CommandGate(any_sandbox, name="cargo-test", argv=["cargo", "test", "--quiet"])
    result = await gate.check(repo)
    assert not result.passed
    assert result.counts["exit"] == 101, result.output_tail
    assert "doubles_two" in result.output_tail

    (repo / "src" / "lib.rs").write_text(LIB.replace("x * 3", "x * 2"), encoding="utf-8")
    assert (await gate.check(repo)).passed


CONFIG = GatesConfig.from_mapping(
    {
        "custom": [
            {"name": "cargo-test", "argv": ["cargo", "test", "--quiet"]},
            {"name": "rustfmt", "argv": ["cargo", "fmt", "--check"]},
        ]
    }
)


async def test_the_engineers_run_tests_runs_cargo_test(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """In a crate ``run_tests`` ran pytest, which said ``no tests ran``: now the configured
    test gate's command, with the agent's arguments (a test's name) appended."""
    repo = crate(tmp_path / "twice")
    tests = project_tests(repo, CONFIG)
    assert tests.pytest_projects == ()
    assert tests.commands == (("cargo", "test", "--quiet"),)
    belt = Toolbelt(repo, any_sandbox, test_timeout_s=120, tests=tests)
    said = await belt.execute(ToolCall(id="1", name="run_tests", arguments={}))
    assert "$ cargo test --quiet\n" in said.text
    assert "doubles_two" in said.text and "[exit code 101]" in said.text
    assert "no tests ran" not in said.text

    named = ToolCall(id="2", name="run_tests", arguments={"args": ["no_such_test"]})
    filtered = (await belt.execute(named)).text
    assert "$ cargo test --quiet no_such_test" in filtered
    assert "[exit code 0]" in filtered  # cargo's filter matched nothing, so nothing failed


async def test_a_cargo_gates_headline_says_what_failed(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The headline heads the retry's context: it was cargo's last line, ``error: test
    failed, to rerun pass `--lib``` or, for rustfmt, the last line of its diff (``}``)."""
    repo = crate(tmp_path / "twice")
    tested = await CommandGate(any_sandbox, name="t", argv=["cargo", "test", "--quiet"]).check(repo)
    assert tested.findings[0].message == (
        "cargo test --quiet exited 101: tests::doubles_two failed — panicked at src/lib.rs:9:9:"
        " assertion `left == right` failed — 0 passed; 1 failed"
    )
    formatted = await CommandGate(any_sandbox, name="f", argv=["cargo", "fmt", "--check"]).check(
        crate(tmp_path / "messy", LIB.replace("    x * 3", "x*3"))
    )
    assert formatted.findings[0].message == (
        "cargo fmt --check exited 1: rustfmt would reformat 1 place(s): src/lib.rs:1"
    )
    broken = await CommandGate(any_sandbox, name="b", argv=["cargo", "build", "--quiet"]).check(
        crate(tmp_path / "broken", LIB.replace("x * 3", "y * 3"))
    )
    assert broken.findings[0].message == (
        "cargo build --quiet exited 101: error[E0425]: cannot find value `y` in this scope"
        " at src/lib.rs:2:5"
    )


async def test_a_dependency_the_jail_cannot_fetch_fails_at_once(
    bwrap_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The jail has no network: cargo retried the registry for 10.9 s before failing."""
    repo = crate(tmp_path / "needy")
    with (repo / "Cargo.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[dependencies]\nitoa = "1"\n')
    gate = CommandGate(bwrap_sandbox, name="cargo-test", argv=["cargo", "test", "--quiet"])
    result = await gate.check(repo)
    assert not result.passed
    assert result.duration_s < 5, result.output_tail
    assert "offline" in result.output_tail
    assert "no matching package named `itoa` found" in result.findings[0].message

"""Validation gates: each checks a workspace and returns a GateResult; and their sandbox."""

from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox

__all__ = ["ProcessSandbox", "PytestGate"]

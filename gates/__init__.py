"""Validation gates: each checks a workspace and returns a GateResult; and their sandbox.

Import each from its module (``gates.pytest_gate``, ``gates.sandbox``): the package itself
loads nothing, so ``shopfloor status``, which reads one key from :mod:`gates.interpreter`,
does not load every gate and its parsers."""

"""A ``Sandbox`` that runs nothing (on pytest's ``pythonpath``, so every test folder imports
it): for tests of what a tool, a role or a gate asks to run (argv, folder, time limit) and of
what it makes of the answer, with no process started."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from engine.protocols import CommandResult


class SandboxCall(NamedTuple):
    """One command the sandbox was asked to run."""

    argv: tuple[str, ...]
    cwd: Path
    timeout_s: float


@dataclass
class RecordingSandbox:
    """Records each call and answers it with the next of ``answers`` (exit code, output),
    then with ``returncode`` and ``output`` (timed out when ``timed_out``)."""

    output: str = "3 passed in 0.01s"
    returncode: int = 0
    timed_out: bool = False
    answers: list[tuple[int, str]] = field(default_factory=list)
    calls: list[SandboxCall] = field(default_factory=list)

    @property
    def argvs(self) -> list[tuple[str, ...]]:
        return [call.argv for call in self.calls]

    @property
    def cwds(self) -> list[Path]:
        return [call.cwd for call in self.calls]

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        self.calls.append(SandboxCall(tuple(argv), cwd, timeout_s))
        if self.answers:
            code, output = self.answers.pop(0)
            return CommandResult(tuple(argv), code, output, 0.01)
        return CommandResult(
            tuple(argv), self.returncode, self.output, 0.01, timed_out=self.timed_out
        )

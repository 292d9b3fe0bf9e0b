"""The dead-code gate on a clean project of filelock's shape: parameters a protocol dictates
and imports a string ``cast()`` uses are no dead code (vulture reported eleven and two of
them on filelock's clean tree, red at baseline); real dead code beside them still is."""

from __future__ import annotations

from pathlib import Path

from gates.python_tools import VultureGate
from gates.sandbox import ProcessSandbox

LOCK = """
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType


class RegisterAtFork(Protocol):
    def __call__(
        self,
        *,
        before: object | None = None,
        after_in_child: object | None = None,
    ) -> None: ...


class Lock:
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        print(exc_value)


def coverage_init(reg: list[object], options: dict[str, str]) -> None:
    reg.append(Lock())


def merged(value: object) -> set[str]:
    return set(cast("Iterable[str]", value))


print(RegisterAtFork, coverage_init, merged)
"""

DEAD = """
from typing import TextIO


def f() -> int:
    return 1
    print("never")


print(f)
"""


async def test_protocol_parameters_and_cast_imports_are_not_dead_code(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    (tmp_path / "src" / "lock").mkdir(parents=True)
    (tmp_path / "src" / "lock" / "__init__.py").write_text("")
    (tmp_path / "src" / "lock" / "_api.py").write_text(LOCK)
    result = await VultureGate(process_sandbox).check(tmp_path)
    assert result.passed, result.failure_context()

    (tmp_path / "src" / "lock" / "dead.py").write_text(DEAD)
    found = await VultureGate(process_sandbox).check(tmp_path)
    assert not found.passed
    assert sorted((f.file, f.line, f.message.split(" (")[0]) for f in found.findings) == [
        ("src/lock/dead.py", 2, "unused import 'TextIO'"),
        ("src/lock/dead.py", 7, "unreachable code after 'return'"),
    ]

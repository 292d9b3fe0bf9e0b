"""The ``[gates]`` section of shopfloor.toml: which gates to add, drop or define, and how.

Also the names of the built-in gates and the steps each runs at (``gates.profiles`` chooses
them for a repository); every key is checked on reading, so a misspelt one is a clear error
naming it rather than a gate that silently runs, or does not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gates.cache_upkeep import CacheLimits

Scope = Literal["task", "merge", "verify"]
SCOPES: tuple[Scope, ...] = ("task", "merge", "verify")

BUILTIN_SCOPES: dict[str, tuple[Scope, ...]] = {
    "lint": ("task", "merge"),
    "types": ("task", "merge"),
    "tests": ("task", "merge", "verify"),
    "security": ("task", "verify"),
    "secrets": ("task", "verify"),
    "dead-code": ("task",),
    "shrinkage": ("task", "merge"),
    "node-test": ("task", "merge", "verify"),
    "node-lint": ("task", "merge"),
}
"""Every built-in gate's name and the steps it runs at."""

GATES_KEYS = frozenset(
    {
        "test_timeout_s",
        "pytest_autoload_plugins",
        "enable",
        "disable",
        "cache",
        "cache_max_age_days",
        "cache_max_mb",
        "shrinkage_max_share",
        "shrinkage_min_deleted",
        "custom",
        "python",
    }
)
"""The keys of ``[gates]``."""
CUSTOM_GATE_KEYS = frozenset({"name", "argv", "timeout_s", "scopes"})
"""The keys of a ``[[gates.custom]]`` entry."""


@dataclass(frozen=True)
class CustomGateSpec:
    """One ``[[gates.custom]]`` entry: a command that passes when it exits 0."""

    name: str
    argv: tuple[str, ...]
    timeout_s: float = 600.0
    scopes: tuple[Scope, ...] = ("task", "merge")

    @property
    def runs_tests(self) -> bool:
        """Whether the command runs the project's tests (``cargo test``, ``go test ./...``,
        ``make test``, a gate named ``tests``): the agents' ``run_tests`` runs it where
        there is no Python project or Node package to run."""
        words = {*re.split(r"[-_ .]", self.name.lower()), Path(self.argv[0]).name}
        words.update(arg.lower() for arg in self.argv[1:])
        return bool(words & {"test", "tests", "ctest"})


@dataclass(frozen=True)
class GatesConfig:
    """The ``[gates]`` section of shopfloor.toml."""

    enable: tuple[str, ...] = ()
    """Built-in gates to run even when the profile would not pick them (e.g. ``types``)."""
    disable: tuple[str, ...] = ()
    """Gates (built-in or custom) never to run."""
    cache: bool = True
    cache_limits: CacheLimits = field(default_factory=CacheLimits)
    """``cache_max_age_days`` and ``cache_max_mb``: what the cache's folder keeps
    (``gates.cache_upkeep``)."""
    shrinkage_max_share: float = 0.5
    shrinkage_min_deleted: int = 20
    test_timeout_s: float = 600.0
    pytest_autoload_plugins: bool = True
    custom: tuple[CustomGateSpec, ...] = ()
    python: str | None = None
    """The interpreter the tests, the agents' run_tests and mypy use (absolute, or relative to
    the repository); ``None``: the repository's own virtualenv (``gates.interpreter``)."""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> GatesConfig:
        """Read the section; raise ValueError naming the key when something is wrong."""
        unknown = sorted(set(raw) - GATES_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; known: {sorted(GATES_KEYS)}")
        names = {*BUILTIN_SCOPES}
        enable = _names(raw, "enable")
        disable = _names(raw, "disable")
        for name in enable:
            if name not in names:
                raise ValueError(f"enable: unknown gate {name!r}; built-in: {sorted(names)}")
        custom = tuple(_custom(i, item) for i, item in enumerate(_list(raw, "custom")))
        seen: set[str] = set()
        for spec in custom:
            if spec.name in names or spec.name in seen:
                raise ValueError(f"custom: gate name {spec.name!r} is already taken")
            seen.add(spec.name)
        for name in disable:  # a misspelt name would leave its gate running, unsaid
            if name not in names and name not in seen:
                raise ValueError(
                    f"disable: unknown gate {name!r}; built-in: {sorted(names)}"
                    + (f", custom: {sorted(seen)}" if seen else "")
                )
        return cls(
            enable=enable,
            disable=disable,
            cache=_typed(raw, "cache", bool, True),
            cache_limits=CacheLimits(
                max_age_days=_number(raw, "cache_max_age_days", CacheLimits.max_age_days),
                max_mb=_number(raw, "cache_max_mb", CacheLimits.max_mb),
            ),
            shrinkage_max_share=_share(raw, "shrinkage_max_share", 0.5),
            shrinkage_min_deleted=_count(raw, "shrinkage_min_deleted", 20),
            test_timeout_s=_number(raw, "test_timeout_s", 600.0),
            pytest_autoload_plugins=_typed(raw, "pytest_autoload_plugins", bool, True),
            custom=custom,
            python=_python(raw),
        )


def _typed(raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} must be {kind.__name__}, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)  # nan passed "<= 0"; a gate then had no time limit
        or value <= 0
    ):
        raise ValueError(f"{key} must be a positive number, got {value!r}")
    return float(value)


def _share(raw: Mapping[str, Any], key: str, default: float) -> float:
    """A share within (0, 1]: checked here, not where the gate is built mid-run (a
    ValueError's traceback after the setup)."""
    value = _number(raw, key, default)
    if value > 1:
        raise ValueError(f"{key} must be a share within (0, 1] (0.5 = half), got {value!r}")
    return value


def _count(raw: Mapping[str, Any], key: str, default: int) -> int:
    value: int = _typed(raw, key, int, default)
    if value < 0:
        raise ValueError(f"{key} must not be negative, got {value!r}")
    return value


def _python(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("python")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"python must be the path of an interpreter, got {value!r}")
    return value.strip()


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list, got {value!r}")
    return value


def _names(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = _list(raw, key)
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a list of gate names, got {value!r}")
    return tuple(value)


def _custom(index: int, item: Any) -> CustomGateSpec:
    where = f"custom[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be a table with name and argv")
    unknown = sorted(set(item) - CUSTOM_GATE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: name must be a non-empty string")
    argv = item.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise ValueError(f"{where} ({name}): argv must be a non-empty list of strings")
    scopes = item.get("scopes", ["task", "merge"])
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise ValueError(f"{where} ({name}): scopes must list some of {list(SCOPES)}")
    try:
        timeout = _number(item, "timeout_s", 600.0)
    except ValueError as exc:
        raise ValueError(f"{where} ({name}): {exc}") from None
    return CustomGateSpec(name, tuple(argv), timeout, tuple(scopes))

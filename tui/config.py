"""Loading shopfloor.toml into the settings a run needs.

Precedence: command-line flags > environment > the config file > defaults. A broken file is
one clear line (which file, which key, what is wrong), never a traceback.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.pricing import PRICE_KEYS, Price, parse_price_overrides
from agents.registry import CLI_AGENT_KEYS, LIMIT_KEYS, PROVIDER_KEYS, ProviderOptions
from agents.routing import SINGLE_ROLES
from engine.config import EngineConfig
from gates.config import CUSTOM_GATE_KEYS, GATES_KEYS, GatesConfig

OUTAGE_S = 30.0
"""The default of ``[storage] outage_wait_s``: storage.writer.OUTAGE_S, which is not imported
here, since the storage package loads SQLAlchemy (0.4 s) into ``init`` and ``dna``."""
OUTAGE_ENV = "SHOPFLOOR_OUTAGE_WAIT_S"
"""Overrides ``[storage] outage_wait_s`` (the environment beats the file)."""


class ConfigError(ValueError):
    """The configuration is unusable. One line, naming the file and the key."""


@dataclass(frozen=True)
class Settings:
    """Everything a run is configured with, after precedence was applied."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    models: dict[str, str] = field(default_factory=dict)
    reviewers: tuple[str, ...] = ()
    """[models] reviewers: the review panel's specs (empty = the routing defaults)."""
    pricing: dict[str, Price] = field(default_factory=dict)
    """[pricing] overrides of the price table, by ``family:model``."""
    twin_dna: Path | None = None
    """[twin] dna: the owner's DNA file the twin decides from."""
    context_budget: int = 6000
    """[context] budget_tokens: the engineer's selected context per attempt (0 = off)."""
    playbook: Path | None = None
    speed: float = 1.0
    test_timeout_s: float = 600.0
    pytest_autoload_plugins: bool = True
    gates: GatesConfig = field(default_factory=GatesConfig)
    """[gates]: which gates run (profile detected from the repo), custom ones, the cache."""
    providers: ProviderOptions = field(default_factory=ProviderOptions)
    """[providers]: retries, timeouts, per-provider limits, cli agent command templates."""
    outage_wait_s: float = OUTAGE_S
    """[storage] outage_wait_s (or ``$SHOPFLOOR_OUTAGE_WAIT_S``): how long the storage writer
    waits out a database it cannot reach before the run stops, resumable (exit 75)."""
    source: Path | None = None
    engine_keys: frozenset[str] = frozenset()
    """The [engine] keys the file sets. One it leaves out takes the front's default where the
    front has its own: ``escalation_policy`` is ``twin`` headless, ``wait`` in the TUI."""


_ENGINE_KEYS = {"workers": int, "max_attempts": int, "branch_prefix": str, "keep_worktrees": bool}
_ENGINE_KEYS.update(  # the pipeline's thresholds, budgets and escalation policy (engine/config.py)
    provider_limits=dict,
    min_critic_score=float,
    max_compliance_risk=str,
    kill_on_cannibalization=bool,
    review_threshold=int,
    review_quorum=int,
    review_rounds=int,
    twin_min_confidence=float,
    twin_change_rounds=int,
    qc_threshold=int,
    judge_threshold=int,
    max_tokens=int,
    max_cost_usd=float,
    task_max_tokens=int,
    task_max_cost_usd=float,
    max_duration_s=float,
    escalation_policy=str,
    escalation_timeout_s=float,
    checkout_wait_s=float,
)
_ROLES = SINGLE_ROLES

CONFIG_KEYS: dict[str, frozenset[str]] = {
    "engine": frozenset(_ENGINE_KEYS),
    "models": frozenset({*SINGLE_ROLES, "reviewers"}),
    "providers": PROVIDER_KEYS,
    "providers.limits.TARGET": LIMIT_KEYS,
    "providers.cli.NAME": CLI_AGENT_KEYS,
    "gates": GATES_KEYS,
    "gates.custom": CUSTOM_GATE_KEYS,
    "pricing.SPEC": PRICE_KEYS,
    "twin": frozenset({"dna"}),
    "context": frozenset({"budget_tokens"}),
    "sim": frozenset({"playbook", "speed"}),
    "storage": frozenset({"outage_wait_s"}),
}
"""Every key shopfloor.toml may hold, by table (``TARGET``, ``NAME``, ``SPEC``: a name the
user picks); ``pricing`` itself is keyed by model specs. The README's configuration section
names each of them (tests/test_readme.py)."""
_SECTIONS = frozenset(name.partition(".")[0] for name in CONFIG_KEYS)


def _typed(path: Path, section: str, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: [{section}] {key} must be {kind.__name__}, got {value!r}")
    return value


def _outage_wait_s(where: str, value: object) -> float:
    """A positive, finite number of seconds, or a one-line ConfigError naming ``where``."""
    seconds = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    if seconds is None or not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{where} must be a positive number of seconds, got {value!r}")
    return seconds


def _environment_outage(environ: Mapping[str, str]) -> float | None:
    """``$SHOPFLOOR_OUTAGE_WAIT_S`` as seconds; None when unset or empty."""
    text = environ.get(OUTAGE_ENV, "").strip()
    if not text:
        return None
    try:
        value: object = float(text)
    except ValueError:
        value = text
    return _outage_wait_s(f"${OUTAGE_ENV}", value)


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read a config file (or defaults when ``path`` is None), with the environment's
    overrides on top (``environ``, default ``os.environ``; ``{}`` reads the file alone)."""
    environ = os.environ if environ is None else environ
    outage = _environment_outage(environ)
    if path is None:
        return Settings() if outage is None else Settings(outage_wait_s=outage)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc

    unknown = sorted(set(raw) - _SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; known: {sorted(_SECTIONS)}")
    for section, value in raw.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{section}] must be a table, got {value!r}")

    engine_raw = raw.get("engine", {})
    engine_kwargs: dict[str, Any] = {}
    for key, value in engine_raw.items():
        if key not in _ENGINE_KEYS:
            raise ConfigError(f"{path}: unknown key [engine] {key}")
        engine_kwargs[key] = _typed(path, "engine", key, value, _ENGINE_KEYS[key])
    try:
        engine = EngineConfig(**engine_kwargs)
    except ValueError as exc:
        raise ConfigError(f"{path}: [engine] {exc}") from exc

    models: dict[str, str] = {}
    reviewers: tuple[str, ...] = ()
    for role, spec in raw.get("models", {}).items():
        if role == "reviewers":
            specs = [spec] if isinstance(spec, str) else spec
            if (
                not isinstance(specs, list)
                or not specs
                or not all(isinstance(s, str) for s in specs)
            ):
                raise ConfigError(f"{path}: [models] reviewers must be a non-empty list of specs")
            reviewers = tuple(specs)
            continue
        if role not in _ROLES:
            known_roles = [*_ROLES, "reviewers"]
            raise ConfigError(f"{path}: unknown role [models] {role}; known: {known_roles}")
        models[role] = _typed(path, "models", role, spec, str)
    try:
        pricing = parse_price_overrides(raw.get("pricing", {}), str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    twin = raw.get("twin", {})
    if sorted(set(twin) - CONFIG_KEYS["twin"]):
        raise ConfigError(f"{path}: unknown key(s) in [twin]: {sorted(set(twin) - {'dna'})}")
    dna = twin.get("dna")
    twin_dna = (path.parent / _typed(path, "twin", "dna", dna, str)).resolve() if dna else None
    context = raw.get("context", {})
    if sorted(set(context) - CONFIG_KEYS["context"]):
        unknown_context = sorted(set(context) - CONFIG_KEYS["context"])
        raise ConfigError(f"{path}: unknown key(s) in [context]: {unknown_context}")
    budget = _typed(path, "context", "budget_tokens", context.get("budget_tokens", 6000), int)
    if budget < 0:
        raise ConfigError(f"{path}: [context] budget_tokens must not be negative, got {budget}")

    sim = raw.get("sim", {})
    unknown_sim = sorted(set(sim) - CONFIG_KEYS["sim"])
    if unknown_sim:
        raise ConfigError(f"{path}: unknown key(s) in [sim]: {unknown_sim}")
    playbook = sim.get("playbook")
    playbook_path = None
    if playbook is not None:
        playbook_path = (path.parent / _typed(path, "sim", "playbook", playbook, str)).resolve()
    speed = _typed(path, "sim", "speed", sim.get("speed", 1.0), float)
    if not (math.isfinite(speed) and speed > 0):
        raise ConfigError(f"{path}: [sim] speed must be a positive number, got {speed}")
    storage = raw.get("storage", {})
    unknown_storage = sorted(set(storage) - CONFIG_KEYS["storage"])
    if unknown_storage:
        raise ConfigError(f"{path}: unknown key(s) in [storage]: {unknown_storage}")
    if outage is None:
        outage = _outage_wait_s(
            f"{path}: [storage] outage_wait_s", storage.get("outage_wait_s", OUTAGE_S)
        )
    try:
        providers = ProviderOptions.from_mapping(raw.get("providers", {}))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    gates = raw.get("gates", {})
    try:
        gates_config = GatesConfig.from_mapping(gates)
    except ValueError as exc:
        raise ConfigError(f"{path}: [gates] {exc}") from exc
    timeout = _typed(path, "gates", "test_timeout_s", gates.get("test_timeout_s", 600.0), float)
    autoload = _typed(
        path, "gates", "pytest_autoload_plugins", gates.get("pytest_autoload_plugins", True), bool
    )
    return Settings(
        providers=providers,
        engine=engine,
        models=models,
        reviewers=reviewers,
        pricing=pricing,
        twin_dna=twin_dna,
        context_budget=budget,
        playbook=playbook_path,
        speed=speed,
        test_timeout_s=timeout,
        pytest_autoload_plugins=autoload,
        gates=gates_config,
        outage_wait_s=outage,
        source=path,
        engine_keys=frozenset(engine_kwargs),
    )

"""Model specs to providers: ``sim:``, ``anthropic:MODEL``, ``gemini:MODEL``,
``openai:MODEL@URL``, ``cli:NAME``, and fallback chains ``SPEC | SPEC``.

A spec is ``family:rest``. Network providers are wrapped for resilience (bounded retries with
backoff, a per-attempt time limit) and, when configured, for limits shared by every provider
on the same endpoint; one outside a fallback chain (a coding agent too) waits out its usage
limit. Keys come from the environment; a missing key is one line naming the variable to set,
and no key ever appears in an error message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.playbook import Playbook
from agents.provider import Provider, ProviderError
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import DEFAULT_AGENTS, CliAgent, argv_key_warning
from agents.providers.context_fit import ContextFit
from agents.providers.fallback_chain import Cooldown, FallbackProvider
from agents.providers.limits import LimitedProvider, LimiterPool, Limits
from agents.providers.retrying import RetryingProvider, RetryPolicy
from agents.providers.usage_wait import DEFAULT_MAX_WAIT_S, UsageLimitWait
from agents.routing import FAMILIES, KEY_VARIABLES, chain_parts
from agents.sim import SimProvider

if TYPE_CHECKING:
    from agents.providers.ollama_window import OllamaWindow
    from agents.providers.openai_wire import ToolsMode

AVAILABLE_FAMILIES = FAMILIES
"""Every family routing knows has a provider built here."""

_TOOLS_MODES = ("auto", "native", "text")
_CLI_OUTPUTS = ("claude-stream-json", "codex-json", "gemini-stream-json", "text")

PROVIDER_KEYS = frozenset(
    {
        "max_retries",
        "timeout_s",
        "attempt_timeout_s",
        "retry_base_delay_s",
        "openai_tools",
        "fallback_cooldown_s",
        "fallback_dead_cooldown_s",
        "usage_limit_wait_s",
        "limits",
        "cli",
    }
)
"""The keys of ``[providers]``."""
LIMIT_KEYS = frozenset({"max_concurrency", "tokens_per_minute", "context_tokens"})
"""The keys of a ``[providers.limits.TARGET]`` table."""
CLI_AGENT_KEYS = frozenset({"argv", "output", "timeout_s", "keys", "fence"})
"""The keys of a ``[providers.cli.NAME]`` table."""


@dataclass(frozen=True)
class ModelSpec:
    family: str
    model: str
    base_url: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        family, sep, rest = spec.strip().partition(":")
        if not sep or family not in FAMILIES:
            raise ProviderError(
                f"bad model spec {spec!r}: expected FAMILY:MODEL with FAMILY one of "
                f"{', '.join(FAMILIES)}"
            )
        model, at, url = rest.partition("@")
        return cls(family, model, url if at else None)

    def __str__(self) -> str:
        """The spec as written: ``FAMILY:MODEL`` or ``FAMILY:MODEL@URL``."""
        at = f"@{self.base_url}" if self.base_url else ""
        return f"{self.family}:{self.model}{at}"


@dataclass(frozen=True)
class ProviderOptions:
    """How providers are built: retries, timeouts, limits, cli agents, openai tool mode,
    how long a fallback chain skips a link that is down.

    ``limits`` is keyed by a spec (``openai:qwen@http://...``) or a family (``gemini``); the
    spec wins. ``env`` replaces ``os.environ`` as the source of keys and base URLs.
    ``fallback_cooldown_s`` and ``fallback_dead_cooldown_s`` (None: the rest of the run) are
    :class:`~agents.providers.fallback_chain.Cooldown`'s ``down_s`` and ``dead_s``.
    ``usage_limit_wait_s``: how long a call of a provider outside a chain waits out its usage
    or rate limit (:class:`~agents.providers.usage_wait.UsageLimitWait`); 0 fails it at once.
    """

    max_retries: int = 3
    timeout_s: float = 120.0
    attempt_timeout_s: float | None = 900.0
    retry_base_delay_s: float = 0.5
    limits: Mapping[str, Limits] = field(default_factory=dict)
    cli_agents: Mapping[str, CliAgent] = field(default_factory=dict)
    openai_tools: ToolsMode = "auto"
    fallback_cooldown_s: float = 60.0
    fallback_dead_cooldown_s: float | None = None
    usage_limit_wait_s: float = DEFAULT_MAX_WAIT_S
    env: Mapping[str, str] | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ProviderOptions:
        """Options from a ``[providers]`` config table; ValueError (one line) when wrong."""
        unknown = sorted(set(raw) - PROVIDER_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) in [providers]: {unknown}")
        kwargs: dict[str, Any] = {}
        for key in ("max_retries",):
            if key in raw:
                kwargs[key] = _number(raw[key], f"[providers] {key}", integer=True)
        for key in (
            "timeout_s",
            "attempt_timeout_s",
            "retry_base_delay_s",
            "fallback_cooldown_s",
            "fallback_dead_cooldown_s",
            "usage_limit_wait_s",
        ):
            if key in raw:
                positive = key in TIME_LIMIT_KEYS
                kwargs[key] = float(_number(raw[key], f"[providers] {key}", positive=positive))
        for key in ("usage_limit_wait_s", "retry_base_delay_s"):  # an inf waits for ever
            if not kwargs.get(key, 0) < math.inf:
                raise ValueError(f"[providers] {key} must be a number of seconds, not inf")
        if "openai_tools" in raw:
            if raw["openai_tools"] not in _TOOLS_MODES:
                raise ValueError(f"[providers] openai_tools must be one of {list(_TOOLS_MODES)}")
            kwargs["openai_tools"] = raw["openai_tools"]
        limits: dict[str, Limits] = {}
        for target, table in _table(raw, "limits").items():
            expected = "expected max_concurrency, tokens_per_minute, context_tokens"
            if not isinstance(table, Mapping):
                raise ValueError(f"[providers.limits] {target!r}: {expected}")
            unknown_limits = sorted(set(table) - LIMIT_KEYS)
            if unknown_limits:
                raise ValueError(
                    f"[providers.limits] {target!r}: unknown key(s) {unknown_limits}; {expected}"
                )
            counts = {
                key: int(_number(table.get(key, 0), f"[providers.limits] {key}", integer=True))
                for key in sorted(LIMIT_KEYS)
            }
            limits[str(target)] = Limits(**counts)
        agents: dict[str, CliAgent] = {}
        for name, table in _table(raw, "cli").items():
            agents[str(name)] = _cli_agent(str(name), table)
        return cls(limits=limits, cli_agents=agents, **kwargs)

    def warnings(self) -> list[str]:
        """One line per configured coding agent whose argv holds a key
        (:func:`~agents.providers.cli_agents.argv_key_warning`): said when a run or ``doctor``
        sets up, since a command line is every local user's to read."""
        return [
            warning
            for name, agent in sorted(self.cli_agents.items())
            if (warning := argv_key_warning(name, agent)) is not None
        ]


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``[providers.KEY]``, a table of tables (by target or agent name); ValueError when the
    file gives it another value (``limits = 4``: dict() raised a TypeError, a traceback)."""
    table = raw.get(key, {})
    if not isinstance(table, Mapping):
        example = (
            "[providers.limits.anthropic] max_concurrency = 4"
            if key == "limits"
            else ('[providers.cli.claude] argv = ["claude", "-p"]')
        )
        raise ValueError(
            f"[providers] {key} must be a table of tables, got {table!r}; e.g. {example}"
        )
    return table


def _cli_agent(name: str, table: object) -> CliAgent:
    """A ``[providers.cli.NAME]`` table as an agent. For a bundled agent (claude, codex, gemini,
    aider) what the table leaves out is the bundled agent's — above all the keys it may see:
    changing Claude Code's time limit or adding ``--model`` must not hand it every model key.
    """
    where = f"[providers.cli.{name}]"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(table) - CLI_AGENT_KEYS)
    if unknown:  # a misspelt key would be dropped unsaid: `timeout = 7200` kept the default
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(CLI_AGENT_KEYS)}")
    bundled = DEFAULT_AGENTS.get(name, CliAgent(()))
    argv = table.get("argv", list(bundled.argv) or None)
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"{where} argv must be a non-empty list of strings")
    output = table.get("output", bundled.output)
    if output not in _CLI_OUTPUTS:
        raise ValueError(f"{where} output must be one of {list(_CLI_OUTPUTS)}")
    timeout = float(
        _number(table.get("timeout_s", bundled.timeout_s), f"{where} timeout_s", positive=True)
    )
    keys = table.get("keys", list(bundled.keys) if bundled.keys is not None else None)
    if keys is not None and (
        not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
    ):
        raise ValueError(f"{where} keys must be a list of variable names")
    chosen = tuple(keys) if keys is not None else None
    fence = table.get("fence", bundled.fence)
    if not isinstance(fence, bool):
        raise ValueError(f"{where} fence must be true or false")
    model_args = bundled.model_args if "argv" not in table else ()  # its own argv says where
    return CliAgent(
        tuple(argv),
        output,
        timeout,
        chosen,
        stdin_prompt=bundled.stdin_prompt,
        prompt_file=bundled.prompt_file,
        fence=fence,
        model_args=model_args,
    )


TIME_LIMIT_KEYS = frozenset({"timeout_s", "attempt_timeout_s"})
"""Keys whose value is a time limit: zero would fail every call at once, so it is refused."""


def _number(value: object, where: str, *, integer: bool = False, positive: bool = False) -> float:
    """``value`` if it is a number >= 0 (> 0 and finite when ``positive``: a time limit)."""
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    # NaN (TOML has it) compares false with everything, so `value < 0` lets it through.
    if not ok or isinstance(value, bool) or not value >= 0:  # type: ignore[operator]
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{where} must be {kind} >= 0, got {value!r}")
    if positive and not 0 < value < math.inf:  # type: ignore[operator]
        raise ValueError(f"{where} is a time limit: a number of seconds > 0, got {value!r}")
    return value  # type: ignore[return-value]


DEFAULT_LIMITERS = LimiterPool()
"""Limiters shared by every provider this process builds for the same endpoint."""


def api_key(family: str, env: Mapping[str, str], *, required: bool = True) -> str | None:
    """The key for ``family`` from ``env``; a one-line ProviderError naming the variable."""
    names = KEY_VARIABLES[family]
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    if not required:
        return None
    raise ProviderError(
        f"the {family} provider needs an API key: set {' or '.join(names)} in the environment"
    )


def _base(spec: ModelSpec, env: Mapping[str, str], timeout_s: float) -> Provider:
    # The SDKs are imported here, when a run asks for them: loading both took ~2.5 s of
    # every command's start on a slow machine, `shopfloor status` and `approve` included.
    if spec.family == "anthropic":
        from agents.providers.anthropic import AnthropicProvider

        key = api_key("anthropic", env)
        assert key is not None
        base_url = spec.base_url or env.get("ANTHROPIC_BASE_URL") or None
        return AnthropicProvider(spec.model, api_key=key, base_url=base_url, timeout_s=timeout_s)
    if spec.family == "gemini":
        from agents.providers.gemini import GeminiProvider

        key = api_key("gemini", env)
        assert key is not None
        base_url = spec.base_url or env.get("GOOGLE_GEMINI_BASE_URL") or None
        return GeminiProvider(spec.model, api_key=key, base_url=base_url, timeout_s=timeout_s)
    raise AssertionError(spec.family)  # pragma: no cover


def _build_one(
    text: str,
    *,
    playbook: Path | None,
    speed: float,
    options: ProviderOptions,
    limiters: LimiterPool,
) -> Provider:
    spec = ModelSpec.parse(text)
    env = options.env if options.env is not None else os.environ
    if spec.family == "sim":
        path = Path(spec.model) if spec.model else playbook
        if path is None:
            raise ProviderError("the sim provider needs a playbook (sim:PATH or --playbook FILE)")
        return SimProvider(Playbook.load(path), speed=speed)
    if spec.family == "cli":
        if not spec.model:
            raise ProviderError(
                "cli spec needs an agent name: cli:NAME (claude, codex, gemini, aider)"
            )
        model = (spec.base_url or "").strip()  # cli:NAME@MODEL: the model the agent uses
        return CliProvider(spec.model, options.cli_agents.get(spec.model), model=model)
    inner: Provider
    lookup: OllamaWindow | None = None
    if spec.family == "openai":
        # Loaded here, as the SDKs are (_base): a SIM run never loads httpx (~75 ms of CPU).
        from agents.providers.openai_compat import OpenAICompatProvider

        base_url = spec.base_url or env.get("OPENAI_BASE_URL")
        if not base_url:
            raise ProviderError(
                f"openai spec needs a base URL: openai:MODEL@URL (got {text.strip()!r})"
            )
        inner = OpenAICompatProvider(
            spec.model,
            base_url=base_url,
            api_key=api_key("openai", env, required=False),
            timeout_s=options.timeout_s,
            tools_mode=options.openai_tools,
        )
        lookup = inner.window_lookup()
    else:
        inner = _base(spec, env, options.timeout_s)
    # The spec as written (anthropic: and gemini: name no URL in their own), then the
    # provider's, then the family.
    key = next((k for k in (str(spec), inner.spec, spec.family) if k in options.limits), None)
    limits = options.limits.get(key) if key is not None else None
    if key is not None and limits is not None and not limits.unlimited:
        inner = LimitedProvider(inner, limiters.get(key, limits))
    policy = RetryPolicy(max_retries=options.max_retries, base_delay_s=options.retry_base_delay_s)
    retrying = RetryingProvider(inner, policy, attempt_timeout_s=options.attempt_timeout_s)
    window = limits.context_tokens if limits is not None else 0
    return ContextFit(retrying, context_tokens=window or None, server_window=lookup)


def make_provider(
    spec: str,
    *,
    playbook: Path | None = None,
    speed: float = 1.0,
    options: ProviderOptions | None = None,
    limiters: LimiterPool | None = None,
) -> Provider:
    """Build the provider for ``spec`` (``A | B`` is a fallback chain); the sim needs a
    playbook."""
    options = options or ProviderOptions()
    pool = limiters or DEFAULT_LIMITERS
    parts = chain_parts(spec)
    built = [
        _build_one(p, playbook=playbook, speed=speed, options=options, limiters=pool) for p in parts
    ]
    if len(built) == 1:
        lone = built[0]
        if lone.family == "sim" or not options.usage_limit_wait_s:
            return lone
        return UsageLimitWait(lone, options.usage_limit_wait_s)
    cooldown = Cooldown(down_s=options.fallback_cooldown_s, dead_s=options.fallback_dead_cooldown_s)
    return FallbackProvider(built, cooldown=cooldown)


async def close_provider(provider: Provider) -> None:
    """Close the HTTP clients under ``provider`` (through retry, limit and chain wrappers)."""
    if isinstance(provider, FallbackProvider):
        for inner in provider.providers:
            await close_provider(inner)
        return
    inner_provider = getattr(provider, "inner", None)
    if inner_provider is not None:
        await close_provider(inner_provider)
        return
    close = getattr(provider, "aclose", None)
    if close is not None:
        await close()

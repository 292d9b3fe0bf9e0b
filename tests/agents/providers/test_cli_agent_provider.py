"""The cli provider runs an external coding agent in the worktree and folds its stream into
text, usage and a finish call. Fake agents (tests/agents/providers/fake_agents) print the
real Claude Code stream-json and Codex exec --json shapes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from factory_process import factory_process
from live_processes import alive_with, left_after
from repo_helpers import git, make_repo

from agents.provider import CompletionRequest, Message, Provider, ProviderError, ToolCall
from agents.providers import cli_process
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import DEFAULT_AGENTS, CliAgent
from agents.providers.cli_fence import fence_argv
from agents.providers.provider_errors import TransientProviderError
from agents.providers.usage_wait import UsageLimitWait
from agents.registry import ProviderOptions, make_provider

FAKES = Path(__file__).parent / "fake_agents"


def claude_agent(timeout_s: float = 30.0) -> CliAgent:
    argv = (sys.executable, str(FAKES / "fake_claude.py"), "-p", "{prompt}", "--verbose")
    return CliAgent(argv, "claude-stream-json", timeout_s)


def unwaited(provider: Provider) -> Provider:
    """The provider behind the wait on its usage limit that a lone provider is given."""
    assert isinstance(provider, UsageLimitWait)
    return provider.inner


def ask(workspace: Path) -> CompletionRequest:
    return CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "Task t1: add hello.py"),),
        labels={"role": "engineer", "task": "t1", "workspace": str(workspace)},
    )


async def test_claude_stream_json_becomes_text_usage_and_a_finish_call(tmp_path: Path):
    provider = CliProvider("claude", claude_agent())
    said: list[str] = []
    completion = await provider.complete(ask(tmp_path), said.append)
    assert (tmp_path / "hello.py").read_text().startswith("# Task t1: add hello.py")
    assert completion.tool_calls == (
        ToolCall("claude-finish", "finish", {"summary": "Wrote hello.py printing hi."}),
    )
    assert completion.stop_reason == "tool_use"
    assert completion.model == "claude-sonnet-4-6"
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens) == (120, 45)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (900, 30)
    assert completion.cost_usd == pytest.approx(0.0123)
    assert said[0] == "I will write hello.py."
    assert said[1].startswith("[Write] ")
    assert "[result] File created" in said
    assert "a stray log line that is not JSON" in said
    assert provider.spec == "cli:claude" and provider.family == "cli"


async def test_an_agent_reporting_an_error_result_is_a_provider_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    with pytest.raises(ProviderError, match=r"^cli:claude: the agent failed: error_max_turns"):
        await CliProvider("claude", claude_agent()).complete(ask(tmp_path))


async def test_a_hung_agent_is_killed_at_its_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "hang")
    with pytest.raises(ProviderError, match=r"^cli:claude: timed out after 0.5s$"):
        await CliProvider("claude", claude_agent(timeout_s=0.5)).complete(ask(tmp_path))


KILLED_FACTORY = """
import asyncio, os, sys
from pathlib import Path
from agents.provider import CompletionRequest, Message
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent

async def main():
    argv = (sys.executable, sys.argv[1], "-p", "{prompt}", "--verbose")
    agent = CliProvider("claude", CliAgent(argv, "claude-stream-json", 60))
    await agent.complete(CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", os.environ["AGENT_TOKEN"]),),
        labels={"role": "engineer", "task": "t1", "workspace": str(Path.cwd())},
    ))

asyncio.run(main())
"""


def test_a_coding_agent_dies_with_a_factory_killed_by_sigkill(tmp_path: Path):
    """The agent runs in a session of its own; a run SIGKILLed (``kill -9``, the OOM killer)
    without bubblewrap's fence around the agent left it working alone — calling its model,
    billing, editing a worktree the next ``resume`` removes. It dies with the factory now."""
    token = f"agent-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "AGENT_TOKEN": token, "FAKE_AGENT_MODE": "hang"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_FACTORY, str(FAKES / "fake_claude.py")], cwd=tmp_path, env=env
    ) as factory:
        try:
            deadline = time.monotonic() + 10
            while not alive_with(token):
                assert time.monotonic() < deadline and factory.poll() is None, "no agent ran"
                time.sleep(0.05)
            factory.kill()
            factory.wait(10)
            deadline = time.monotonic() + 3
            while alive_with(token) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = alive_with(token)
        finally:
            factory.kill()
            for pid in alive_with(token):
                os.kill(pid, 9)
    assert left == []


async def test_an_agent_that_leaves_a_process_running_is_done_when_it_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The agent started a dev server in the background and finished: the server held its
    output open, so the attempt waited to the time limit and failed as timed out, its work
    lost. It is done when it exits; what it left running is killed."""
    monkeypatch.setenv("FAKE_AGENT_MODE", "background")
    started = time.monotonic()
    completion = await CliProvider("claude", claude_agent(timeout_s=20)).complete(ask(tmp_path))
    assert completion.text == "Wrote hello.py printing hi."
    assert time.monotonic() - started < 10
    assert not still_running(int((tmp_path / "server.pid").read_text()))


def still_running(pid: int, wait_s: float = 2.0) -> bool:
    """Whether process ``pid`` runs ``wait_s`` on (killed: gone, or a zombie until reaped)."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if stat.read_text().split(") ")[1][0] in "ZX":
                return False
        except FileNotFoundError:
            return False
        time.sleep(0.02)
    return True


REFUSALS = [
    # Codex: its turn fails after the API refused the key, or its retries ran out on a 429.
    (
        "codex-json",
        {
            "type": "turn.failed",
            "error": {"message": "unexpected status 401 Unauthorized: Incorrect API key provided"},
        },
        "login",
    ),
    (
        "codex-json",
        {"type": "error", "message": "exceeded retry limit, last status: 429 Too Many Requests"},
        "limit",
    ),
    # Aider (text): litellm's error is its last line, and it exits 1.
    (
        "text",
        "litellm.AuthenticationError: AnthropicException - invalid x-api-key",
        "login",
    ),
    # A crash whose stack trace has a 401 and a 429 in its line numbers is neither.
    ("text", "    at Q (file:///usr/lib/node_modules/cli.js:401:429)", "other"),
]


@pytest.mark.parametrize(("output", "line", "kind"), REFUSALS)
async def test_a_refused_login_or_a_rate_limit_is_said_as_such(
    tmp_path: Path, output: str, line: object, kind: str
):
    """A refused key was an ordinary failure, so a fallback chain started the agent again for
    every attempt; a rate limit did not cool it down."""
    text = line if isinstance(line, str) else json.dumps(line)
    agent = CliAgent((sys.executable, "-c", f"print({text!r}); raise SystemExit(1)"), output)
    with pytest.raises(ProviderError) as failed:
        await CliProvider("agent", agent).complete(ask(tmp_path))
    error = failed.value
    assert (error.status == 401) == (kind == "login")
    assert isinstance(error, TransientProviderError) == (kind == "limit")
    assert "\n" not in str(error) and str(error).startswith("cli:agent: ")


async def test_an_overloaded_service_is_said_as_such_not_as_a_rate_limit(tmp_path: Path):
    """Claude Code's "API Error: 529 ... overloaded_error" was told as "the agent is rate
    limited": a user read it as their own quota running out."""
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "result": 'API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}',
    }
    script = f"print({json.dumps(result)!r}); raise SystemExit(1)"
    agent = CliAgent((sys.executable, "-c", script), "claude-stream-json")
    with pytest.raises(TransientProviderError) as failed:
        await CliProvider("agent", agent).complete(ask(tmp_path))
    said = str(failed.value)
    assert said.startswith("cli:agent: the agent found its service overloaded (")
    assert "rate limited" not in said and failed.value.status is None


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ("import os; os.kill(os.getpid(), 9)", "killed by SIGKILL (out of memory?)"),
        ("import os; os.kill(os.getpid(), 11)", "killed by SIGSEGV"),
        ("raise SystemExit(139)", "exit code 139 (killed by SIGSEGV?)"),
        ("raise SystemExit(3)", "exit code 3"),
    ],
)
async def test_an_agent_killed_by_a_signal_is_said_so(tmp_path: Path, script: str, said: str):
    """The kernel's out-of-memory killer ended the agent: its log said "exit code -9"."""
    agent = CliAgent((sys.executable, "-c", f"print('working', flush=True); {script}"), "text")
    with pytest.raises(ProviderError) as failed:
        await CliProvider("agent", agent).complete(ask(tmp_path))
    assert str(failed.value) == f"cli:agent: {said}: working"


async def test_codex_json_events_are_parsed(tmp_path: Path):
    agent = CliAgent((sys.executable, str(FAKES / "fake_codex.py"), "{prompt}"), "codex-json")
    said: list[str] = []
    completion = await CliProvider("codex", agent).complete(ask(tmp_path), said.append)
    assert completion.text.startswith("Added hello.py")
    assert completion.tool_calls[0].name == "finish"
    assert (completion.usage.input_tokens, completion.usage.cache_read_tokens) == (200, 300)
    assert completion.usage.output_tokens == 60
    assert said[:2] == ["[command] bash -lc ls", "[edit] hello.py"]


async def test_gemini_cli_is_a_bundled_agent_with_its_stream_and_tokens_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``cli:gemini`` was refused ("unknown cli agent"); run as a text agent, Gemini CLI's
    tokens counted for nothing, so no budget saw them. Its ``stream-json`` is read: the reply
    streamed in pieces is said whole, tools and warnings are lines of the log, and the
    result's stats are the usage (``cached`` is a part of ``input_tokens``)."""
    bundled = unwaited(make_provider("cli:gemini@gemini-2.5-flash"))
    assert isinstance(bundled, CliProvider)
    argv, via = bundled._argv("do it")
    assert argv == [
        "gemini", "-p", "do it", "--output-format", "stream-json", "--yolo",
        "--model", "gemini-2.5-flash",
    ]  # fmt: skip
    assert via == "argument" and bundled.agent.keys == ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    fake = (sys.executable, str(FAKES / "fake_gemini.py"), *DEFAULT_AGENTS["gemini"].argv[1:])
    agent = dataclasses.replace(DEFAULT_AGENTS["gemini"], argv=fake, fence=False)
    said: list[str] = []
    completion = await CliProvider("gemini", agent).complete(ask(tmp_path), said.append)
    assert (tmp_path / "hello.py").read_text().startswith("# Task t1: add hello.py")
    assert completion.text == "Wrote hello.py printing hi."
    assert completion.model == "gemini-2.5-pro"
    usage = completion.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (1000, 9000, 450)
    assert said[0] == "I will write hello.py first."
    assert said[1].startswith("[write_file] ") and "[result] Wrote hello.py" in said
    assert "[error] exit 5" in said and "[warning] Loop detected, stopping execution" in said

    big = CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "context line\n" * 20_000 + "Task t2: big"),),
        labels={"workspace": str(tmp_path)},
    )
    assert (await CliProvider("gemini", agent).complete(big)).text.startswith("Wrote hello.py")
    assert (tmp_path / "hello.py").read_text().startswith("# Task t2: big")

    monkeypatch.setenv("FAKE_AGENT_MODE", "login")
    with pytest.raises(ProviderError, match=r"login was refused.*API key not valid") as refused:
        await CliProvider("gemini", agent).complete(ask(tmp_path))
    assert refused.value.status == 401


RECONNECTED = [
    {"type": "thread.started", "thread_id": "t1"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "error",
                                        "message": "model rerouted: gpt-5 -> gpt-5-mini"}},
    {"type": "error", "message": "Reconnecting... 1/5 (stream disconnected before completion)"},
    {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message",
                                        "text": "Wrote hello.py."}},
    {"type": "turn.completed",
     "usage": {"input_tokens": 900, "cached_input_tokens": 600, "output_tokens": 40}},
]  # fmt: skip


async def test_codex_that_reconnected_and_finished_its_turn_is_not_a_failure(tmp_path: Path):
    """Codex prints an ``error`` event for a stream it will retry, then completes its turn:
    the attempt was failed ("the agent failed: Reconnecting... 1/5") with its work done.
    The error and Codex's warnings are lines of the log; the turn's end decides."""
    lines = [json.dumps(event) for event in RECONNECTED]
    agent = CliAgent((sys.executable, "-c", f"print(*{lines!r}, sep='\\n')"), "codex-json")
    said: list[str] = []
    completion = await CliProvider("codex", agent).complete(ask(tmp_path), said.append)
    assert completion.text == "Wrote hello.py."
    assert completion.usage.input_tokens == 300 and completion.usage.cache_read_tokens == 600
    assert said[:2] == [
        "[warning] model rerouted: gpt-5 -> gpt-5-mini",
        "[error] Reconnecting... 1/5 (stream disconnected before completion)",
    ]


async def test_a_text_agent_gets_its_prompt_on_stdin_and_its_token_line_counted(tmp_path: Path):
    script = tmp_path.parent / "fake_aider.py"
    script.write_text(
        "import sys\nprompt = sys.stdin.read()\nprint('Applied edit to hello.py')\n"
        "print('Tokens: 2.5k sent, 310 received. Cost: $0.01 message')\n"
        "print('got', len(prompt.splitlines()), 'prompt lines')\n"
    )
    agent = CliAgent((sys.executable, str(script)), "text")
    completion = await CliProvider("aider", agent).complete(ask(tmp_path))
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (2500, 310)
    assert "got 3 prompt lines" in completion.text


async def test_an_aider_token_line_with_cache_parts_or_millions_is_counted(tmp_path: Path):
    script = tmp_path.parent / "fake_aider_cached.py"
    script.write_text(
        "print('Tokens: 12k sent, 1.1k cache write, 9.8k cache hit, 310 received. Cost: $0.02 "
        "message, $0.05 session.')\n"
        "print('Tokens: 1.2M sent, 2.5k received. Cost: $3.70 message, $3.75 session.')\n"
    )
    agent = CliAgent((sys.executable, str(script)), "text")
    completion = await CliProvider("aider", agent).complete(ask(tmp_path))
    assert completion.usage.input_tokens == 12_000 + 1_200_000
    assert completion.usage.output_tokens == 310 + 2500


COLOURED = [
    "\x1b[32mAdded hello.py to the chat\x1b[0m",
    "Scanning repo:  10%\rScanning repo:  60%\rScanning repo: 100%",
    "\x1b]0;aider\x07Tokens: \x1b[1m12k\x1b[0m sent, 1.1k cache write, 310 received.",
]


async def test_a_text_agent_printing_colours_and_progress_bars_is_read_as_shown(
    tmp_path: Path,
):
    """An agent that colours its output (FORCE_COLOR in the user's environment): its token
    line went uncounted, and its escape codes went into the summary, the commit's body,
    which ``git log`` then played on the user's terminal."""
    agent = CliAgent((sys.executable, "-c", f"print(*{COLOURED!r}, sep='\\n')"), "text")
    said: list[str] = []
    completion = await CliProvider("aider", agent).complete(ask(tmp_path), said.append)
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12000, 310)
    assert said == [
        "Added hello.py to the chat",
        "Scanning repo: 100%",
        "Tokens: 12k sent, 1.1k cache write, 310 received.",
    ]
    assert "\x1b" not in completion.text and "\r" not in completion.text


async def test_missing_worktree_program_or_agent_is_one_line(tmp_path: Path):
    no_label = CompletionRequest(system="", messages=(Message("user", "x"),))
    with pytest.raises(ProviderError, match="no worktree to run in"):
        await CliProvider("claude", claude_agent()).complete(no_label)
    missing = CliAgent(("definitely-not-a-real-agent-xyz", "{prompt}"))
    with pytest.raises(ProviderError, match="command not found: definitely-not-a-real-agent"):
        await CliProvider("x", missing).complete(ask(tmp_path))
    with pytest.raises(ProviderError, match=r"^unknown cli agent 'nope'"):
        make_provider("cli:nope")
    failing = CliAgent((sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"))
    with pytest.raises(ProviderError, match=r"exit code 3: boom"):
        await CliProvider("x", failing).complete(ask(tmp_path))


def test_default_agents_and_configured_commands():
    assert DEFAULT_AGENTS["claude"].argv[:2] == ("claude", "-p")
    assert "stream-json" in DEFAULT_AGENTS["claude"].argv
    # Claude Code's acceptEdits denies every shell command in print mode unless allowed:
    # without this the engineer could not run its tests (each pytest an [error] line).
    claude = DEFAULT_AGENTS["claude"].argv
    assert claude[claude.index("--allowedTools") + 1] == "Bash"
    assert DEFAULT_AGENTS["codex"].argv[:3] == ("codex", "exec", "--json")
    assert DEFAULT_AGENTS["aider"].argv[:2] == ("aider", "--message")
    options = ProviderOptions.from_mapping(
        {"cli": {"mine": {"argv": ["my-agent", "--do", "{prompt}"], "output": "text"}}}
    )
    provider = unwaited(make_provider("cli:mine", options=options))
    assert isinstance(provider, CliProvider)
    assert provider.agent.argv == ("my-agent", "--do", "{prompt}")
    with pytest.raises(ValueError, match=r"\[providers.cli.bad\] argv must be"):
        ProviderOptions.from_mapping({"cli": {"bad": {"argv": "claude -p"}}})


async def test_the_engineer_loop_ends_cleanly_on_a_cli_agents_finish(tmp_path: Path):
    from agents.roles.engineer import EngineerRole
    from engine.blueprint import Blueprint, Task
    from engine.protocols import EngineerJob
    from gates.sandbox import ProcessSandbox

    blueprint = Blueprint(
        spec="Say hi",
        acceptance_criteria=["hello.py prints hi"],
        tasks=[Task(id="hi", title="Write hello.py", files=["hello.py"])],
    )
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, tmp_path, attempt=1, max_attempts=2)
    events: list[object] = []
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        role = EngineerRole(CliProvider("claude", claude_agent()), sandbox, context_budget=0)
        report = await role.work(job, events.append)
    finally:
        sandbox.close()
    assert report.finished and report.summary == "Wrote hello.py printing hi."
    assert (tmp_path / "hello.py").exists()
    calls = [e for e in events if type(e).__name__ == "LLMCallFinished"]
    assert len(calls) == 1 and calls[0].provider == "cli" and calls[0].cache_read_tokens == 900


SHOW_SECRETS = (
    "import os; print('keys:', *sorted(k for k in os.environ"
    " if k.endswith(('_KEY', '_TOKEN')) or k == 'SHOPFLOOR_DB'))"
)
HOST = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/owner",
    "ANTHROPIC_API_KEY": "a",
    "GEMINI_API_KEY": "g",
    "GOOGLE_API_KEY": "g2",
    "OPENAI_API_KEY": "o",
    "GITHUB_TOKEN": "gh",
    "GH_TOKEN": "gh2",
    "SHOPFLOOR_DB": "postgresql+asyncpg://u:secret@db/x",
}


@pytest.mark.parametrize(
    ("keys", "seen"),
    [
        (("ANTHROPIC_API_KEY",), "ANTHROPIC_API_KEY"),  # Claude Code's
        (("OPENAI_API_KEY",), "OPENAI_API_KEY"),  # Codex's
        (None, "ANTHROPIC_API_KEY GEMINI_API_KEY GOOGLE_API_KEY OPENAI_API_KEY"),  # Aider's
        ((), ""),
    ],
)
async def test_an_agent_sees_only_its_own_model_key_and_no_factory_secret(
    tmp_path: Path, keys: tuple[str, ...] | None, seen: str
):
    agent = CliAgent((sys.executable, "-c", SHOW_SECRETS), "text", 30.0, keys)
    said: list[str] = []
    await CliProvider("probe", agent, env=HOST).complete(ask(tmp_path), said.append)
    assert said[0].removeprefix("keys:").strip() == seen


def test_the_default_agents_declare_their_keys():
    assert DEFAULT_AGENTS["claude"].keys == ("ANTHROPIC_API_KEY",)
    assert DEFAULT_AGENTS["codex"].keys == ("OPENAI_API_KEY",)
    assert DEFAULT_AGENTS["aider"].keys is None
    options = ProviderOptions.from_mapping(
        {"cli": {"mine": {"argv": ["mine", "{prompt}"], "keys": ["GEMINI_API_KEY"]}}}
    )
    assert options.cli_agents["mine"].keys == ("GEMINI_API_KEY",)
    with pytest.raises(ValueError, match=r"\[providers.cli.bad\] keys must be a list"):
        ProviderOptions.from_mapping({"cli": {"bad": {"argv": ["x"], "keys": "GEMINI_API_KEY"}}})


async def test_the_engineers_log_follows_the_agent_as_it_works_and_its_bill_is_the_cost(
    tmp_path: Path,
):
    """What the agent does reaches the log while it works (before its call is accounted), its
    summary once; the call costs what the agent billed, not a price-table guess (0)."""
    from agents.roles.engineer import EngineerRole
    from engine.blueprint import Blueprint, Task
    from engine.protocols import EngineerJob
    from gates.sandbox import ProcessSandbox

    blueprint = Blueprint(
        spec="Say hi",
        acceptance_criteria=["hello.py prints hi"],
        tasks=[Task(id="hi", title="Write hello.py", files=["hello.py"])],
    )
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, tmp_path, attempt=1, max_attempts=2)
    events: list[Any] = []
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        role = EngineerRole(CliProvider("claude", claude_agent()), sandbox, context_budget=0)
        await role.work(job, events.append)
    finally:
        sandbox.close()
    kinds = [type(e).__name__ for e in events]
    said = [e.text for e in events if type(e).__name__ == "AgentOutput"]
    call = kinds.index("LLMCallFinished")
    assert kinds.index("AgentOutput") < call
    assert said[: said.index("[result] File created") + 1] == [
        "I will write hello.py.",
        said[1],
        "[result] File created",
    ]
    assert said[1].startswith("[Write] ")
    assert events[call].cost_usd == pytest.approx(0.0123)


async def test_a_failed_agent_run_is_still_accounted_with_what_it_billed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An agent that stops at its turn limit has paid for every turn: the budget sees it."""
    from agents.roles.common import AgentSession

    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    events: list[Any] = []
    session = AgentSession(
        CliProvider("claude", claude_agent()), events.append, agent_id="e", role="engineer"
    )
    with pytest.raises(ProviderError, match="error_max_turns"):
        await session.complete(ask(tmp_path))
    (call,) = [e for e in events if type(e).__name__ == "LLMCallFinished"]
    assert call.cost_usd == pytest.approx(0.02) and call.provider == "cli"
    assert (call.input_tokens, call.output_tokens) == (1, 1)


KILLED_MIDWAY = """
import json, time
def turn(mid, block, usage):
    message = {"id": mid, "model": "claude-sonnet-4-6", "content": [block], "usage": usage}
    print(json.dumps({"type": "assistant", "message": message}), flush=True)
usage = {"input_tokens": 100, "output_tokens": 7, "cache_read_input_tokens": 50}
turn("msg_1", {"type": "text", "text": "Looking."}, usage)
turn("msg_1", {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}}, usage)
turn("msg_2", {"type": "text", "text": "Still looking."}, usage)
time.sleep(30)
"""


async def test_an_agent_killed_at_its_time_limit_is_accounted_with_the_turns_it_took(
    tmp_path: Path,
):
    """No final tally comes from a killed agent: its turns' usage is what it used (each turn
    once, though Claude Code repeats a turn's usage on each of its content blocks)."""
    agent = CliAgent((sys.executable, "-c", KILLED_MIDWAY), "claude-stream-json", 1.0)
    with pytest.raises(ProviderError, match="timed out after 1s") as failed:
        await CliProvider("claude", agent).complete(ask(tmp_path))
    spent = failed.value.spent
    assert spent is not None and spent.cost_usd is None
    assert (spent.usage.input_tokens, spent.usage.output_tokens) == (200, 14)
    assert spent.usage.cache_read_tokens == 100


ECHO_KEY = (
    "import json, os; key = os.environ['ANTHROPIC_API_KEY'];"
    "print(json.dumps({'type': 'user', 'message': {'content': [{'type': 'tool_result',"
    " 'content': 'ANTHROPIC_API_KEY=' + key}]}}));"
    "print('error: 401 for key', key);"
    "print(json.dumps({'type': 'result', 'subtype': 'success', 'result': 'used ' + key}))"
)


async def test_an_agent_echoing_its_own_key_does_not_put_it_in_the_log(tmp_path: Path):
    """The agent sees its key and may print it (``printenv``, an error): what reaches the
    log, the summary and the commit message carries it redacted."""
    key = "sk-ant-api03-the-agents-own-key-0001"
    agent = CliAgent((sys.executable, "-c", ECHO_KEY), "claude-stream-json", 30.0)
    said: list[str] = []
    provider = CliProvider("claude", agent, env={**HOST, "ANTHROPIC_API_KEY": key})
    completion = await provider.complete(ask(tmp_path), said.append)
    assert said == [
        "[result] ANTHROPIC_API_KEY=[REDACTED]",
        "error: 401 for key [REDACTED]",
    ]
    assert completion.text == "used [REDACTED]"


async def test_a_key_withheld_from_the_agent_is_redacted_when_it_prints_it(tmp_path: Path):
    """The GitHub token is withheld from a coding agent, but where no fence stands it reads
    the factory's ``/proc/<pid>/environ`` (or a token file): cleaned of its own keys only,
    its output put the token in the log and the commit message."""
    token = "ghp_" + "T0ken" * 8
    (tmp_path / "found.txt").write_text(f"GITHUB_TOKEN={token}\n")
    show = "print(open('found.txt').read().strip()); print('done with ' + open('found.txt').read())"
    agent = CliAgent((sys.executable, "-c", show), "text", 30.0)
    said: list[str] = []
    provider = CliProvider("aider", agent, env={**HOST, "GITHUB_TOKEN": token})
    completion = await provider.complete(ask(tmp_path), said.append)
    assert said == ["GITHUB_TOKEN=[REDACTED]", "done with GITHUB_TOKEN=[REDACTED]"]
    assert token not in completion.text


async def test_a_password_echoed_inside_a_json_event_is_redacted(tmp_path: Path):
    """A quote or a backslash in a secret comes escaped in a stream-json line, where the
    plain value is not found; decoded, the line said it whole."""
    password = 'pa"ss\\word-0042'
    echo = (
        "import json, os; pw = os.environ['DB_PASSWORD'];"
        "print(json.dumps({'type': 'user', 'message': {'content': [{'type': 'tool_result',"
        " 'content': 'DB_PASSWORD=' + pw}]}}));"
        "print(json.dumps({'type': 'result', 'subtype': 'success', 'result': 'used ' + pw}))"
    )
    agent = CliAgent((sys.executable, "-c", echo), "claude-stream-json", 30.0)
    said: list[str] = []
    provider = CliProvider("claude", agent, env={**HOST, "DB_PASSWORD": password})
    completion = await provider.complete(ask(tmp_path), said.append)
    assert said == ["[result] DB_PASSWORD=[REDACTED]"]
    assert completion.text == "used [REDACTED]"


@pytest.mark.parametrize("output", ["text", "claude-stream-json"])
async def test_a_key_across_the_cut_of_an_overlong_line_is_redacted_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
):
    """A line over MAX_LINE was cut before it was cleaned: a key across the cut kept its
    first characters, which no longer matched the key, so they reached the log."""
    monkeypatch.setattr(cli_process, "MAX_LINE", 100)
    key = "sk-ant-api03-" + "k3y" * 10
    show = "import os; print('x' * 90 + os.environ['ANTHROPIC_API_KEY'] + ' and more')"
    agent = CliAgent((sys.executable, "-c", show), output, 30.0)  # not JSON: a line of text
    said: list[str] = []
    provider = CliProvider("claude", agent, env={**HOST, "ANTHROPIC_API_KEY": key})
    completion = await provider.complete(ask(tmp_path), said.append)
    assert said == ["x" * 90 + "[REDACTED]"]
    assert key[:5] not in completion.text


def test_configuring_a_bundled_agent_keeps_what_the_table_leaves_out():
    """A longer time limit or another model for Claude Code keeps its command, its output
    format and above all its one key; a new agent still needs a command."""
    options = ProviderOptions.from_mapping(
        {
            "cli": {
                "claude": {"timeout_s": 7200},
                "codex": {"argv": ["codex", "exec", "--json", "-m", "o4", "{prompt}"]},
            }
        }
    )
    claude, codex = options.cli_agents["claude"], options.cli_agents["codex"]
    assert claude.argv == DEFAULT_AGENTS["claude"].argv and claude.timeout_s == 7200
    assert claude.output == "claude-stream-json" and claude.keys == ("ANTHROPIC_API_KEY",)
    assert codex.output == "codex-json" and codex.keys == ("OPENAI_API_KEY",)
    with pytest.raises(ValueError, match=r"\[providers.cli.mine\] argv must be"):
        ProviderOptions.from_mapping({"cli": {"mine": {"timeout_s": 60}}})
    with pytest.raises(
        ValueError, match=r"\[providers.cli.claude\]: unknown key\(s\) \['timeout'\]"
    ):
        ProviderOptions.from_mapping({"cli": {"claude": {"timeout": 7200}}})


async def test_the_fence_is_on_by_default_configurable_and_off_outside_a_git_worktree(
    tmp_path: Path,
):
    """The checkout is fenced off (read-only) for every agent unless its table says
    ``fence = false``; a folder that is no git worktree has nothing to fence."""
    assert all(agent.fence for agent in DEFAULT_AGENTS.values())
    options = ProviderOptions.from_mapping({"cli": {"claude": {"fence": False}}})
    assert options.cli_agents["claude"].fence is False
    with pytest.raises(ValueError, match=r"\[providers.cli.claude\] fence must be true or false"):
        ProviderOptions.from_mapping({"cli": {"claude": {"fence": "no"}}})
    assert await fence_argv(["claude", "-p", "x"], tmp_path) == ["claude", "-p", "x"]


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
def test_a_fenced_agent_cannot_read_the_factorys_environment(tmp_path: Path):
    """The factory withholds the model keys from a coding agent's environment, but with the
    same user and the host's /proc the agent read them from ``/proc/<factory>/environ``."""
    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    secret = "sk-ant-" + "s3cr3t" * 5
    factory = subprocess.Popen(["sleep", "60"], env={**os.environ, "ANTHROPIC_API_KEY": secret})
    try:
        environ = Path(f"/proc/{factory.pid}/environ")
        for _ in range(500):  # readable once the process has its memory from exec
            if secret.encode() in environ.read_bytes():
                break
            time.sleep(0.01)
        assert secret.encode() in environ.read_bytes()
        snoop = f"cat /proc/{factory.pid}/environ; cat /proc/*/environ"
        argv = asyncio.run(fence_argv(["sh", "-c", snoop], worktree))
        assert Path(argv[0]).name == "bwrap"
        done = subprocess.run(argv, capture_output=True, timeout=30)
    finally:
        factory.kill()
        factory.wait()
    assert secret.encode() not in done.stdout + done.stderr


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
def test_a_fenced_agent_cannot_forge_the_checkouts_reflog(tmp_path: Path):
    """The repo guard keeps a move of the user's branch that the user's checkout logged in
    ``logs/HEAD`` (their own commit meanwhile); an agent that could append to that log could
    pass its own move of the branch off as the user's."""
    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    reflog = repo / ".git" / "logs" / "HEAD"
    before = reflog.read_bytes()
    forge = f"echo 'x y forged 1 +0000\tcommit: mine' >> {reflog}"
    argv = asyncio.run(fence_argv(["sh", "-c", forge], worktree))
    done = subprocess.run(argv, capture_output=True, timeout=30)
    assert done.returncode != 0
    assert reflog.read_bytes() == before


FLOOD = """
import json, sys
sys.stdout.write("x" * 5_000_000 + "\\n")  # past the longest line kept, no JSON event
text = {"type": "text", "text": "y" * 100_000}
print(json.dumps({"type": "assistant", "message": {"id": "m", "content": [text]}}))
print(json.dumps({"type": "result", "subtype": "success", "result": "z" * 50_000}))
"""


async def test_an_agent_flooding_one_line_costs_neither_the_attempt_nor_the_log(tmp_path: Path):
    """A line longer than any kept (Node prints a crash's minified source line) is cut, not
    a failed attempt; every line of the log and the summary stay a readable size."""
    agent = CliAgent((sys.executable, "-c", FLOOD), "claude-stream-json", 30.0)
    said: list[str] = []
    completion = await CliProvider("claude", agent).complete(ask(tmp_path), said.append)
    assert len(said) == 2 and all(len(line) < 4100 for line in said)
    assert said[0].startswith("xxxx") and said[0].endswith("… [3996000 more characters]")
    assert said[1].startswith("yyyy") and said[1].endswith("… [96000 more characters]")
    assert completion.text.startswith("zzz") and len(completion.text) < 4100


CHATTY = """
import json, sys
print(json.dumps({"type": "system", "subtype": "init", "model": "claude-sonnet-4-6"}))
sys.stdout.writelines(f"[DEBUG] fetched chunk {n}\\n" for n in range(100_000))
block = {"type": "text", "text": "All done."}
print(json.dumps({"type": "assistant", "message": {"id": "m", "content": [block]}}))
print(json.dumps({"type": "result", "subtype": "success", "result": "done"}))
"""


async def test_an_agent_printing_a_hundred_thousand_lines_fills_neither_log_nor_disk(
    tmp_path: Path,
):
    """Each line became an event: a hundred thousand of them grew the run's database by
    30 MB and its run by a minute. The log keeps the first lines, says how many more there
    were, and ends with the last ones (where a failure says why)."""
    agent = CliAgent((sys.executable, "-c", CHATTY), "claude-stream-json", 30.0)
    said: list[str] = []
    completion = await CliProvider("claude", agent).complete(ask(tmp_path), said.append)
    assert completion.text == "done"
    assert len(said) < 5100
    assert said[0] == "[DEBUG] fetched chunk 0"
    assert said[-1] == "All done." and said[-2] == "[DEBUG] fetched chunk 99999"
    assert "[94981 lines of the agent's output not shown]" in said


async def test_a_prompt_too_long_for_the_command_line_goes_to_stdin(tmp_path: Path):
    """A large context budget makes a prompt over Linux's 128 KiB limit for one argument:
    Claude Code then gets it on stdin rather than failing every attempt to start; an agent
    with no such way is told so in one line."""
    big = CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "Task t1: add hello.py\n" + "context line\n" * 20_000),),
        labels={"workspace": str(tmp_path)},
    )
    claude = dataclasses.replace(claude_agent(), stdin_prompt=())
    completion = await CliProvider("claude", claude).complete(big)
    assert completion.text == "Wrote hello.py printing hi."
    assert (tmp_path / "hello.py").read_text().startswith("# context line")
    assert DEFAULT_AGENTS["claude"].stdin_prompt == () and DEFAULT_AGENTS["codex"].stdin_prompt
    aider = CliAgent((sys.executable, "-c", "pass", "--message", "{prompt}"), "text")
    with pytest.raises(ProviderError, match=r"too long for a command-line argument"):
        await CliProvider("aider", aider).complete(big)


async def test_the_prompt_reaches_the_agent_as_written_placeholders_in_it_included(
    tmp_path: Path,
):
    """The task and its context are code: ``f"{model}: {prompt}"`` in a file shown to the
    agent must not have the argv template's placeholders filled in inside it."""
    code = 'label = f"{model}: {prompt}"'
    request = CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", f"Fix this line:\n{code}"),),
        labels={"workspace": str(tmp_path)},
    )
    echo = "import sys; print(sys.argv[1]); print(sys.argv[2])"
    agent = CliAgent((sys.executable, "-c", echo, "{prompt}", "{model}"), "text")
    said: list[str] = []
    await CliProvider("echo", agent, model="gpt-x").complete(request, said.append)
    assert said == ["You are an engineer.", "Fix this line:", code, "gpt-x"]


ODD_EVENTS = {
    "claude-stream-json": [
        '{"type": "assistant", "message": "rate limited, retrying"}',
        '{"type": "assistant", "message": {"content": ["plain text block"]}}',
        '{"type": "user", "message": {"content": [{"type": "tool_result", "content": 7}]}}',
        '{"type": "result", "subtype": "success", "result": "done",'
        ' "usage": {"input_tokens": "12k"}}',
    ],
    "codex-json": [
        '{"type": "item.completed", "item": ["not", "an", "object"]}',
        '{"type": "item.completed", "item": {"type": "file_change", "changes": "a.py"}}',
        '{"type": "turn.completed", "usage": {"input_tokens": "many", "output_tokens": 3}}',
        '{"type": "item.completed", "item": {"type": "agent_message", "text": "done"}}',
    ],
}


@pytest.mark.parametrize("output", sorted(ODD_EVENTS))
async def test_an_event_of_an_unexpected_shape_is_a_line_of_the_log_not_a_crashed_run(
    tmp_path: Path, output: str
):
    """Another version of the agent, or a wrapper around it, prints a JSON line of a shape we
    do not know: it is shown as it is; the run goes on (it was an AttributeError that failed
    the whole run as an internal error)."""
    lines = ODD_EVENTS[output]
    script = f"print(*{lines!r}, sep='\\n')"
    agent = CliAgent((sys.executable, "-c", script), output)
    said: list[str] = []
    completion = await CliProvider("odd", agent).complete(ask(tmp_path), said.append)
    assert completion.text == "done"
    assert lines[0] in said
    # A count that is not a number counts as none; the others still count.
    assert completion.usage.input_tokens == 0
    assert completion.usage.output_tokens == (3 if output == "codex-json" else 0)


async def test_an_agent_that_never_reads_its_prompt_on_stdin_is_still_stopped_at_its_limit(
    tmp_path: Path,
):
    """A prompt larger than a pipe holds, to an agent that does not read stdin (stuck on a
    login prompt of its own): writing it must not wait past the agent's time limit."""
    big = CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "context line\n" * 20_000),),
        labels={"workspace": str(tmp_path)},
    )
    stuck = CliAgent((sys.executable, "-c", "import time; time.sleep(20)"), "text", 0.5)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0.5s"):
        await asyncio.wait_for(CliProvider("stuck", stuck).complete(big), 10)
    assert time.monotonic() - started < 5


async def test_cli_name_at_model_runs_the_agent_on_that_model(tmp_path: Path):
    """``{model}`` was documented but nothing could set it: ``cli:claude@X`` passed X nowhere.
    A bundled agent gets its own ``--model`` option; a configured argv says where with
    ``{model}``; one that cannot take a model is refused in one line, not run on another."""
    bundled = unwaited(make_provider("cli:claude@claude-opus-4-1"))
    assert isinstance(bundled, CliProvider)
    argv, _ = bundled._argv("do it")
    assert argv[-2:] == ["--model", "claude-opus-4-1"] and argv[:3] == ["claude", "-p", "do it"]
    assert bundled.spec == "cli:claude@claude-opus-4-1"
    plain = unwaited(make_provider("cli:claude"))
    assert isinstance(plain, CliProvider) and "--model" not in plain._argv("x")[0]

    echo = "import sys; print(' '.join(sys.argv[1:]))"
    options = ProviderOptions.from_mapping(
        {"cli": {"mine": {"argv": [sys.executable, "-c", echo, "-m", "{model}", "{prompt}"]}}}
    )
    mine = make_provider("cli:mine@qwen3-coder", options=options)
    said: list[str] = []
    await mine.complete(ask(tmp_path), said.append)
    assert said[0].startswith("-m qwen3-coder You are an engineer.")

    bare = ProviderOptions.from_mapping({"cli": {"bare": {"argv": ["bare", "{prompt}"]}}})
    with pytest.raises(ProviderError, match=r"^cli:bare@m1: the agent's command takes no model"):
        make_provider("cli:bare@m1", options=bare)


def test_the_agents_log_says_when_the_fence_is_less_than_promised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without bubblewrap the agent could write into the checkout, without a PID namespace
    read the factory's environment: its log says so. A whole fence, or a folder that is no
    git worktree (nothing to fence), says nothing."""
    from agents.providers import cli_fence

    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    argv = ["claude", "-p", "x"]
    fenced = ["/usr/bin/bwrap", "--dev-bind", "/", "/", *cli_fence.PID_FENCE, "--", *argv]
    assert cli_fence.fence_said(fenced, fenced=True, worktree=worktree) == ""
    without_pid = ["/usr/bin/bwrap", "--dev-bind", "/", "/", "--", *argv]
    assert cli_fence.fence_said(without_pid, fenced=True, worktree=worktree) == (
        "[fence] bubblewrap cannot make a PID namespace here: the agent can see the "
        "factory's processes"
    )
    assert cli_fence.fence_said(argv, fenced=False, worktree=tmp_path) == ""
    monkeypatch.setattr(cli_fence.shutil, "which", lambda _name: None)
    assert cli_fence.fence_said(argv, fenced=False, worktree=worktree) == (
        "[fence] none: bubblewrap is not installed; the agent runs with your rights"
    )
    monkeypatch.setattr(cli_fence.shutil, "which", lambda _name: "/usr/bin/bwrap")
    assert cli_fence.fence_said(argv, fenced=False, worktree=worktree) == (
        "[fence] none: bubblewrap cannot make a namespace here; the agent runs with your rights"
    )


async def test_an_agent_run_without_bubblewrap_says_so_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.providers import cli_fence

    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    monkeypatch.setattr(cli_fence.shutil, "which", lambda name: None if name == "bwrap" else name)
    agent = CliAgent((sys.executable, "-c", "print('done')"), "text")
    said: list[str] = []
    await CliProvider("echo", agent).complete(ask(repo), said.append)
    assert said == [
        "[fence] none: bubblewrap is not installed; the agent runs with your rights",
        "done",
    ]


GATEWAY_TOKEN = "gw-local-7f3a9c2e5b1d4f60"
"""A local gateway's token: no known key shape, and in no variable of the environment."""


async def test_a_key_in_the_agents_argv_is_redacted_from_what_it_prints(tmp_path: Path):
    """``argv = ["aider", "--api-key", TOKEN]``: the agent printing its own command line
    (a banner, a usage error) put the token in the log and the summary, since only the
    environment's secrets and known key shapes were redacted from its output."""
    show = "import sys; print('started with', *sys.argv[1:]); print('done, key was', sys.argv[2])"
    agent = CliAgent((sys.executable, "-c", show, "--api-key", GATEWAY_TOKEN), "text", 30.0)
    said: list[str] = []
    completion = await CliProvider("mine", agent, env=HOST).complete(ask(tmp_path), said.append)
    assert said == ["started with --api-key [REDACTED]", "done, key was [REDACTED]"]
    assert GATEWAY_TOKEN not in completion.text


def test_an_argv_holding_a_key_is_warned_about_in_one_line_naming_the_agent():
    """Every local user reads a command line with ``ps``: a key configured in an agent's
    argv is said at set-up, by agent and option, never the key itself; an option that
    only says where a key is (``--api-key-file``), or a placeholder, is no key."""
    options = ProviderOptions.from_mapping(
        {
            "cli": {
                "aider": {"argv": ["aider", "--api-key", GATEWAY_TOKEN, "--message", "{prompt}"]},
                "gate": {"argv": ["gw", "--openai-api-key=sk-" + "a1" * 12, "{prompt}"]},
                "bare": {"argv": ["tool", "sk-ant-api03-" + "k3y" * 6, "{prompt}"]},
                "filed": {"argv": ["tool", "--api-key-file", "/run/keys/k", "{prompt}"]},
                "plain": {"argv": ["tool", "--model", "{model}", "--token-env", "GW_TOKEN"]},
                "monkey": {"argv": ["tool", "--monkey", "business-as-usual", "{prompt}"]},
            }
        }
    )
    warnings = options.warnings()
    assert [w.split(" argv ")[0] for w in warnings] == [
        "[providers.cli.aider]",
        "[providers.cli.bare]",
        "[providers.cli.gate]",
    ]
    assert "(--api-key)" in warnings[0] and "(a key-shaped argument)" in warnings[1]
    assert "(--openai-api-key)" in warnings[2]
    for warning in warnings:
        assert "\n" not in warning and "ps" in warning and "keys setting" in warning
        assert GATEWAY_TOKEN not in warning and "sk-" not in warning


STOPPED_FACTORY = """
import asyncio, sys
from pathlib import Path
from agents.provider import CompletionRequest, Message, ProviderError
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent

async def main():
    agent = CliAgent(("sh", "-c", "sleep 1; echo done"), "text", 1.5, fence=False)
    request = CompletionRequest(
        system="", messages=(Message("user", "go"),), labels={"workspace": str(Path.cwd())}
    )
    print("started", flush=True)
    try:
        completion = await CliProvider("mine", agent).complete(request)
    except ProviderError as exc:
        print(exc, flush=True)
    else:
        print(completion.text, flush=True)

asyncio.run(main())
"""


def test_an_agent_is_not_timed_out_for_the_time_its_factory_was_stopped(tmp_path: Path):
    """The agent's limit counted the time the factory was stopped (Ctrl-Z, then ``fg``): a
    1 s agent with 1.5 s, its factory stopped for 2.5 s, was 'timed out after 1.5s'."""
    with factory_process(STOPPED_FACTORY, cwd=tmp_path) as factory:
        try:
            assert factory.stdout is not None
            assert factory.stdout.readline().strip() == "started"
            time.sleep(0.3)  # the agent has started
            factory.send_signal(signal.SIGSTOP)
            time.sleep(2.5)
            factory.send_signal(signal.SIGCONT)
            said = factory.stdout.readline().strip()
        finally:
            factory.kill()
    assert said == "done"


async def test_what_an_agent_started_in_a_session_of_its_own_ends_with_it(tmp_path: Path):
    """A coding agent's process group was killed when it finished; a server it had started
    with ``setsid`` (or a daemon's double fork) left the group, and lived on after the
    attempt and the run, unfenced."""
    token = f"shopfloor-agent-stray-{time.monotonic_ns()}"
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\nopen('up', 'w').close()\ntime.sleep(60)\n")
    script = (
        f"setsid {sys.executable} {sleeper} {token} > /dev/null 2>&1 & "
        "while [ ! -e up ]; do sleep 0.01; done; echo done"
    )
    agent = CliAgent(("sh", "-c", script), "text", 30, fence=False)
    completion = await CliProvider("mine", agent).complete(ask(tmp_path))
    assert completion.text == "done"
    assert await left_after(token) == []

"""A tool loop whose conversation outgrows the model's context window, on every wire.

The engineer's conversation grows by each tool result (a test run's output, a file read back,
the files it wrote); a local model behind vLLM or llama.cpp has a context of 32k tokens or
less. The loopback servers of tests/e2e refuse a request over their window as each provider
says so — vLLM's and OpenAI's 400, llama.cpp's ``exceed_context_size_error`` (sent under HTTP
500 by its builds of 2025), Anthropic's "prompt is too long", Gemini's "input token count" —
and the engineer's attempt must still finish: the overflow is told apart from a failure worth
retrying, the conversation is compacted and asked again; one that cannot fit fails in one
line. Before, each of these failed the attempt (llama.cpp's after retrying it).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from anthropic_model import LoopbackModel as AnthropicModel
from anthropic_model import ModelServer as AnthropicServer
from gemini_model import MODEL as GEMINI_MODEL
from gemini_model import GeminiModel, GeminiServer
from openai_model import MODEL as OPENAI_MODEL
from openai_model import LoopbackModel as OpenAIModel
from openai_model import ModelServer as OpenAIServer
from scripted_factory import BLUEPRINT, FILES
from wire_run import git, make_repo

from agents.compaction import elision
from agents.registry import ProviderOptions, close_provider, make_provider
from agents.roles.engineer import SYSTEM, EngineerRole
from engine.blueprint import Blueprint
from engine.events import AgentOutput, EventBase, LLMCallFinished
from engine.protocols import EngineerJob, EngineerReport
from gates.sandbox import ProcessSandbox

KEY = "test-key-123"
ENV = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY}
WIRES = ["vllm", "openai", "llama.cpp", "anthropic", "gemini"]
ANSWER = 4096
"""The engineer's max_tokens, which vLLM and OpenAI count in the window."""
HEADER = """\
def pytest_terminal_summary(terminalreporter):
    for n in range(60):
        terminalreporter.write_line(f"fixture {n:03}: " + "a long line of a run's summary, " * 3)
"""
"""Every test run ends with 60 long lines (a plugin's report, a project's summary): each
run's output is long, as real ones are."""
MARKER = elision(0).split(" 0 ")[1].split(";")[0]  # "characters elided to fit ..."
NO_PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
"""The engineer's test runs load none of the pytest plugins installed beside shopfloor (the
project needs none; they cost most of a second a run), as the demo's settings have it."""


def server_for(wire: str, window: int | None) -> Any:
    if wire == "anthropic":
        return AnthropicServer(AnthropicModel(context_tokens=window))
    if wire == "gemini":
        return GeminiServer(GeminiModel(KEY, context_tokens=window))
    return OpenAIServer(OpenAIModel(context_tokens=window, overflow_style=wire))


def spec_for(wire: str, server: Any) -> str:
    if wire == "anthropic":
        return f"anthropic:{server.model.model}@{server.base_url}"
    if wire == "gemini":
        return f"gemini:{GEMINI_MODEL}@{server.base_url}"
    return f"openai:{OPENAI_MODEL}@{server.base_url}"


def window_for(wire: str, prompt: int) -> int:
    """A window one token short of ``prompt`` (and the answer, where the server counts it)."""
    return prompt - 1 + (ANSWER if wire in ("vllm", "openai") else 0)


def project(path: Path) -> Path:
    repo = make_repo(path)
    (repo / "conftest.py").write_text(HEADER)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "A test summary")
    return repo


def options(limits: dict[str, dict[str, int]] | None = None) -> ProviderOptions:
    """Options as a config's ``[providers]`` table gives them, with the test's keys."""
    raw = {"max_retries": 2, "retry_base_delay_s": 0.01, "limits": limits or {}}
    return replace(ProviderOptions.from_mapping(raw), env=ENV)


async def engineer(
    spec: str, repo: Path, opts: ProviderOptions | None = None
) -> tuple[EngineerReport, list[EventBase]]:
    blueprint = Blueprint.model_validate(BLUEPRINT)
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, repo, attempt=1, max_attempts=2)
    provider = make_provider(spec, options=opts or options())
    sandbox = ProcessSandbox(use_bwrap=False)
    events: list[EventBase] = []
    try:
        report = await EngineerRole(provider, sandbox, context_budget=0, test_env=NO_PLUGINS).work(
            job, events.append
        )
    finally:
        sandbox.close()
        await close_provider(provider)
    return report, events


async def sizes_of(wire: str, tmp_path: Path) -> list[int]:
    """The prompt of each of the engineer's three requests, in the server's tokens, with no
    window."""
    with server_for(wire, None) as server:
        report, _ = await engineer(spec_for(wire, server), project(tmp_path / "a"))
        assert report.finished, report.summary
        return list(server.model.prompts)


def notices(events: list[EventBase]) -> list[str]:
    return [e.text for e in events if isinstance(e, AgentOutput) and e.kind == "notice"]


def text_of(body: dict[str, Any]) -> str:
    return json.dumps(body)


@pytest.mark.parametrize("wire", WIRES)
async def test_an_engineer_whose_conversation_outgrows_the_window_still_finishes(
    tmp_path: Path, wire: str
):
    sizes = await sizes_of(wire, tmp_path)
    assert len(sizes) == 3 and sizes[2] > sizes[1] + 1500  # each test run adds its output
    window = window_for(wire, sizes[2])  # the last turn's request is one token too many
    with server_for(wire, window) as server:
        spec = spec_for(wire, server)
        report, events = await engineer(spec, project(tmp_path / "b"))
        model = server.model
    assert report.finished, report.summary
    # Refused once, then asked again compacted: not retried as a server fault (llama.cpp's
    # 500), not failed as a bad request.
    assert model.overflows == [sizes[2]]
    assert len(model.prompts) == 4 and model.prompts[3] < sizes[2] - 1000
    assert model.problems == []
    [said] = notices(events)
    assert (
        said.startswith(spec.split("@")[0])
        and (
            f": the conversation ({sizes[2]} tokens) is over the model's context window of "
            f"{window} tokens; asking again with 1 older message(s) shortened"
        )
        in said
    ), said
    # What was asked again kept the system prompt, the task and the latest turn, and cut
    # the older test run's output.
    last = text_of(model.seen[-1].body)
    assert SYSTEM[:60] in last and "Your task (core, attempt 1 of 2)" in last
    assert MARKER in last
    code_path = list(FILES["core"])[1]
    assert f"wrote {code_path}" in last and last.count("fixture 059") == 1
    # The refused request cost nothing: three calls accounted, the last at its compacted size.
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert len(calls) == 3


async def test_a_window_learnt_from_one_refusal_compacts_the_later_turns_before_sending(
    tmp_path: Path,
):
    """Refused at its second turn, the loop is not refused again at its third: what the
    refusal said (the window, the server's count) is kept for the model's later calls."""
    sizes = await sizes_of("vllm", tmp_path)
    with server_for("vllm", window_for("vllm", sizes[1])) as server:
        report, events = await engineer(spec_for("vllm", server), project(tmp_path / "b"))
        model = server.model
    assert report.finished, report.summary
    assert model.overflows == [sizes[1]]
    assert len(model.prompts) == 4 and max(model.prompts[2:]) < sizes[1]
    assert len(notices(events)) == 1


@pytest.mark.parametrize("wire", ["vllm", "llama.cpp", "anthropic", "gemini"])
async def test_a_conversation_that_cannot_fit_fails_in_one_line_naming_the_model_and_sizes(
    tmp_path: Path, wire: str
):
    """The task alone is over the window: nothing older to cut, so one refusal, no retry,
    no re-ask, and the line says the model, its window and the sizes."""
    sizes = await sizes_of(wire, tmp_path)
    window = sizes[0] - 1
    with server_for(wire, window) as server:
        spec = spec_for(wire, server)
        report, events = await engineer(spec, project(tmp_path / "b"))
        model = server.model
    assert not report.finished
    assert model.prompts == [sizes[0]]
    line = report.summary
    assert "\n" not in line and line.startswith(f"model call failed: {spec.split('@')[0]}")
    assert (
        f": the conversation does not fit the model's context window of {window} tokens: a "
        f"prompt of {sizes[0]} tokens, about "
    ) in line, line
    answer = window // 4  # what is left for the prompt when the answer takes 4096
    assert line.endswith(
        f" with every older message shortened, and up to {answer} tokens of answer (refused 1 time)"
    ), line
    assert [e for e in events if isinstance(e, LLMCallFinished)] == []


async def test_a_configured_context_window_compacts_before_the_first_refusal(tmp_path: Path):
    """``[providers.limits."SPEC"] context_tokens``: what a server that cuts a long prompt
    from the front without a word (Ollama) needs — the conversation is compacted before it
    is sent, and the server refuses nothing."""
    sizes = await sizes_of("vllm", tmp_path)
    window = window_for("vllm", sizes[2])
    with server_for("vllm", window) as server:
        spec = spec_for("vllm", server)
        opts = options({spec: {"context_tokens": window}})
        report, events = await engineer(spec, project(tmp_path / "b"), opts)
        model = server.model
    assert report.finished, report.summary
    assert model.overflows == [] and len(model.prompts) == 3
    assert MARKER in text_of(model.seen[-1].body) and notices(events) == []


async def test_a_fallback_chain_compacts_within_a_link_and_never_puts_it_down(tmp_path: Path):
    """The primary refuses even the compacted conversation: the backup, with a larger
    window, answers — and the primary is not skipped afterwards as a link that is down."""
    sizes = await sizes_of("llama.cpp", tmp_path)
    with (
        server_for("llama.cpp", window_for("llama.cpp", sizes[0])) as small,
        server_for("vllm", None) as large,
    ):
        chain = make_provider(
            f"{spec_for('llama.cpp', small)} | {spec_for('vllm', large)}", options=options()
        )
        blueprint = Blueprint.model_validate(BLUEPRINT)
        job = EngineerJob("run-1", blueprint.tasks[0], blueprint, project(tmp_path / "b"), 1, 2)
        sandbox = ProcessSandbox(use_bwrap=False)
        try:
            role = EngineerRole(chain, sandbox, context_budget=0, test_env=NO_PLUGINS)
            report = await role.work(job, [].append)
        finally:
            sandbox.close()
            await close_provider(chain)
        assert report.finished, report.summary
        # Refused once; the later turns, known not to fit it, were not sent to it at all.
        assert small.model.prompts == [sizes[0]] and len(large.model.seen) == 3
        assert chain.skipped() == {}  # type: ignore[attr-defined]


async def test_a_server_that_gives_no_sizes_is_asked_again_shorter_until_it_fits(tmp_path: Path):
    """llama.cpp before its error gave the counts: the window unknown, each try aims a
    quarter below what was refused, at most three times."""
    wire = "llama.cpp-counts-unsaid"
    sizes = await sizes_of(wire, tmp_path)
    with server_for(wire, sizes[2] - 1) as server:
        spec = spec_for(wire, server)
        report, events = await engineer(spec, project(tmp_path / "b"))
        model = server.model
    assert report.finished, report.summary
    assert model.overflows == [sizes[2]] and model.prompts[3] < sizes[2] * 0.75
    [said] = notices(events)
    assert ": the conversation (size not said) is over the model's context window; asking " in said


async def test_an_answer_to_a_prompt_the_server_cut_is_set_aside_and_asked_again(
    tmp_path: Path,
):
    """Ollama refuses nothing: over its window it keeps the end of the prompt (half the window
    since 0.32) and bills that. The count billed, far below what was sent, marks the answer as
    one made without the system prompt and the task: it is set aside, the conversation
    compacted to what the server keeps and asked again, with the setting that stops it said."""
    sizes = await sizes_of("ollama", tmp_path)
    # The last turn is cut to less than half of what was sent (just over the window, half of
    # it is more than the 4-characters-a-token estimate's half: not told from a tokenizer's
    # difference).
    window = sizes[2] * 85 // 100
    kept = window // 2 + 2
    with server_for("ollama", window) as server:
        spec = spec_for("ollama", server)
        report, events = await engineer(spec, project(tmp_path / "b"))
        model = server.model
    assert report.finished, report.summary
    assert len(model.prompts) == 4 and model.prompts[:3] == sizes and model.prompts[3] <= kept
    [said] = notices(events)
    assert said.startswith(f"{spec}: the server counted {kept} prompt tokens of about "), said
    assert (
        "without a word (Ollama keeps the end: the system prompt and the task are cut first); "
        "its answer is set aside, asking again with 2 older message(s) shortened"
    ) in said, said
    assert "OLLAMA_CONTEXT_LENGTH" in said and f'[providers.limits."{spec}"]' in said
    # The answer set aside was made all the same: four calls accounted, one of them cut.
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert len(calls) == 4 and sorted(c.prompt_tokens for c in calls)[0] <= kept
    # Configured, the conversation is compacted to the window before it is sent.
    with server_for("ollama", sizes[2] - 1) as server:
        spec = spec_for("ollama", server)
        opts = options({spec: {"context_tokens": sizes[2] - 1}})
        report, events = await engineer(spec, project(tmp_path / "c"), opts)
        model = server.model
    assert report.finished, report.summary
    assert model.overflows == [] and notices(events) == []
    assert MARKER in text_of(model.seen[-1].body)

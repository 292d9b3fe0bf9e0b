"""The sim provider, the playbook, the registry, and the planner and engineer roles on top."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from functools import partial
from pathlib import Path

import pytest
import yaml
from recording_sandbox import RecordingSandbox
from role_fakes import ScriptedProvider, collector, of

from agents.playbook import (
    AttemptScript,
    Playbook,
    PlaybookError,
    SimTiming,
    TaskScript,
    ToolCallScript,
    Turn,
)
from agents.provider import CompletionRequest, Message, ProviderError
from agents.registry import ModelSpec, make_provider
from agents.roles.engineer import EngineerRole, build_prompt
from agents.roles.planner import PlannerRole
from agents.sim import SimProvider
from engine.blueprint import Blueprint, Task
from engine.budget import BudgetStop, BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.dag import PlanError
from engine.escalations import EscalationBroker
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    EventBase,
    LLMCallFinished,
)
from engine.protocols import EngineerJob, PlanRequest

FAST = SimTiming(median_s=0.001, sigma=0.1, seed=3)

BLUEPRINT = Blueprint(
    spec="A greeting library",
    acceptance_criteria=["greet('x') == 'hello x'"],
    tasks=[
        Task(id="greet", title="Write greet()", files=["greet.py", "tests/test_greet.py"]),
        Task(id="cli", title="Add a CLI", depends_on=["greet"], files=["cli.py"]),
    ],
)

TEST_FILE = "from greet import greet\n\ndef test_greet():\n    assert greet('x') == 'hello x'\n"
CODE_FILE = "def greet(name):\n    return f'hello {name}'\n"


def write(path: str, content: str) -> ToolCallScript:
    return ToolCallScript(tool="write_file", args={"path": path, "content": content})


def greet_script() -> TaskScript:
    return TaskScript(
        attempts=[
            AttemptScript(
                turns=[
                    Turn(
                        say="Tests first.",
                        calls=[
                            write("tests/test_greet.py", TEST_FILE),
                            ToolCallScript(tool="run_tests"),
                        ],
                    ),
                    Turn(
                        say="Now the code.",
                        calls=[
                            write("greet.py", CODE_FILE),
                            ToolCallScript(tool="run_tests", args={"args": ["-x"]}),
                        ],
                    ),
                    Turn(
                        say="Green.",
                        calls=[
                            ToolCallScript(tool="finish", args={"summary": "greet() with a test"})
                        ],
                    ),
                ]
            ),
            AttemptScript(
                expect_in_prompt=["AssertionError: 'hi x' != 'hello x'"],
                turns=[
                    Turn(say="Fixing the greeting.", calls=[write("greet.py", CODE_FILE)]),
                    Turn(
                        calls=[
                            ToolCallScript(tool="finish", args={"summary": "fixed the greeting"})
                        ]
                    ),
                ],
            ),
        ]
    )


def playbook(timing: SimTiming = FAST) -> Playbook:
    return Playbook(
        name="greet",
        timing=timing,
        blueprint=BLUEPRINT,
        engineer={
            "greet": greet_script(),
            "cli": TaskScript(attempts=[AttemptScript(turns=[Turn(say="I will just talk.")])]),
        },
    )


PLAN_REQUEST = PlanRequest(
    request="Build a greeting library", repo_files=["README.md", "setup.cfg"]
)


# -- planner ---------------------------------------------------------------------------------------


async def test_the_planner_on_the_sim_returns_the_playbook_blueprint_and_reports_itself():
    events, emit = collector()
    blueprint = await PlannerRole(SimProvider(playbook(), speed=1000)).plan(PLAN_REQUEST, emit)
    assert blueprint == BLUEPRINT
    assert [type(e) for e in events] == [AgentStarted, LLMCallFinished, AgentOutput, AgentFinished]
    started, call, said, finished = events
    assert (started.agent_id, started.role, started.model, started.simulated) == (
        "planner",
        "planner",
        "sim:greet",
        True,
    )
    assert (call.provider, call.model, call.simulated) == ("sim", "sim-greet", True)
    assert call.input_tokens > 100 and call.output_tokens > 50  # the prompt and the JSON reply
    assert said.text == "blueprint: 2 tasks, critical path 2 deep"
    assert (finished.ok, finished.summary) == (True, "2 tasks")


CYCLIC = json.dumps(
    {
        "spec": "s",
        "tasks": [
            {"id": "a", "title": "A", "depends_on": ["b"]},
            {"id": "b", "title": "B", "depends_on": ["a"]},
        ],
    }
)


async def test_the_planner_re_asks_quoting_the_error_until_the_blueprint_is_valid():
    provider = ScriptedProvider(
        [
            "Sure! I think we should start with the core module.",
            f"Here you go:\n```json\n{CYCLIC}\n```",
            BLUEPRINT.model_dump_json(),
        ]
    )
    events, emit = collector()
    blueprint = await PlannerRole(provider, max_repairs=2).plan(PLAN_REQUEST, emit)

    assert blueprint == BLUEPRINT
    assert len(provider.requests) == 3
    first = provider.requests[0]
    assert "Build a greeting library" in first.messages[0].content
    assert "setup.cfg" in first.messages[0].content
    assert first.response_schema is not None and first.labels == {"role": "planner"}

    second = provider.requests[1].messages
    assert [m.role for m in second] == ["user", "assistant", "user"]
    assert second[1].content == "Sure! I think we should start with the core module."
    assert second[2].content.startswith(
        "That reply is not a valid blueprint: the reply has no JSON object\n"
    )
    third = provider.requests[2].messages
    assert "the plan has a dependency cycle: a -> b -> a" in third[-1].content
    assert len(of(events, LLMCallFinished)) == 3
    errors = [e.text for e in of(events, AgentOutput) if e.kind == "error"]
    assert len(errors) == 2 and "dependency cycle" in errors[1]
    assert of(events, AgentFinished)[0].ok


async def test_the_planner_quotes_schema_errors_too():
    provider = ScriptedProvider(['{"spec": "s", "tasks": []}', BLUEPRINT.model_dump_json()])
    await PlannerRole(provider).plan(PLAN_REQUEST, lambda _e: None)
    quoted = provider.requests[1].messages[-1].content
    assert "tasks: List should have at least 1 item" in quoted


async def test_the_planner_gives_up_after_max_repairs_with_a_clear_plan_error():
    provider = ScriptedProvider(["no idea", "still no idea", "[1, 2, 3]"])
    events, emit = collector()
    with pytest.raises(PlanError) as caught:
        await PlannerRole(provider, max_repairs=2).plan(PLAN_REQUEST, emit)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the planner gave no valid blueprint after 3 tries: ")
    assert "Input should be a valid dictionary" in message  # the last reply's error
    assert len(provider.requests) == 3
    finished = of(events, AgentFinished)
    assert len(finished) == 1 and not finished[0].ok


async def test_the_planner_with_no_repairs_asks_once():
    provider = ScriptedProvider(["garbage"])
    with pytest.raises(PlanError, match="after 1 tries"):
        await PlannerRole(provider, max_repairs=0).plan(PLAN_REQUEST, lambda _e: None)
    assert len(provider.requests) == 1


# -- engineer --------------------------------------------------------------------------------------


def role_root(path: Path) -> Path:
    """The worktree as the toolbelt sees it (resolved)."""
    return path.resolve()


def job(
    workspace: Path, *, task_id: str = "greet", attempt: int = 1, failure: str = ""
) -> EngineerJob:
    return EngineerJob(
        run_id="run-1",
        task=BLUEPRINT.task(task_id),
        blueprint=BLUEPRINT,
        workspace=workspace,
        attempt=attempt,
        max_attempts=3,
        failure_context=failure,
    )


async def test_an_engineer_attempt_pauses_at_its_next_call_once_a_budget_is_crossed(
    tmp_path: Path,
):
    """Budgets gate each model call of a many-turn attempt, not only its start: a crossed
    budget pauses the attempt at its next call on one escalation, raise goes on, stop ends it."""
    bus = EventBus("run-1")
    events: list[EventBase] = []
    bus.listen(events.append)
    broker = EscalationBroker(bus, policy="wait")
    tracker = BudgetTracker(bus, EngineConfig(max_tokens=1), broker)
    role = EngineerRole(SimProvider(playbook(), speed=1000), RecordingSandbox(), python="py")
    attempt = dataclasses.replace(job(tmp_path), admit=partial(tracker.admit, "greet"))
    work = asyncio.create_task(role.work(attempt, bus.emit))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if bus.state.open_escalations:
            break
    assert len(of(events, LLMCallFinished)) == 1  # the first call crossed it; no second one
    (question,) = bus.state.open_escalations
    assert question.kind == "budget" and not work.done()
    assert broker.decide(question.escalation_id, "stop", "human:ann")
    with pytest.raises(BudgetStop, match="budget exceeded: the run"):
        await asyncio.wait_for(work, 2)
    assert len(of(events, LLMCallFinished)) == 1
    assert [e.ok for e in of(events, AgentFinished)] == [False]  # the agent ended, not left open


async def test_the_engineer_plays_the_script_writes_real_files_and_finishes(tmp_path: Path):
    sandbox = RecordingSandbox()
    events, emit = collector()
    role = EngineerRole(SimProvider(playbook(), speed=1000), sandbox, python="py")
    report = await role.work(job(tmp_path), emit)

    assert report.finished
    assert report.summary == "greet() with a test"
    assert report.files_written == ("tests/test_greet.py", "greet.py")
    assert (tmp_path / "tests" / "test_greet.py").read_text() == TEST_FILE
    assert (tmp_path / "greet.py").read_text() == CODE_FILE
    assert [argv[5:] for argv in sandbox.argvs] == [
        ("no:cacheprovider", "--color=no"),
        ("no:cacheprovider", "--color=no", "-x"),
    ]
    assert set(sandbox.cwds) == {role_root(tmp_path)}

    started = of(events, AgentStarted)[0]
    assert (started.agent_id, started.task_id, started.attempt, started.simulated) == (
        "engineer:greet:a1",
        "greet",
        1,
        True,
    )
    calls = of(events, LLMCallFinished)
    assert len(calls) == 3 and all(c.simulated for c in calls)
    assert calls[2].input_tokens > calls[0].input_tokens  # the conversation grows with tool results
    tools = [e.text for e in of(events, AgentOutput) if e.kind == "tool"]
    assert (
        tools[0]
        == f'write_file {{"path": "tests/test_greet.py", "content": "<{len(TEST_FILE)} chars>"}}'
    )
    assert tools[1] == "run_tests"
    assert "wrote greet.py (2 lines)" in [
        e.text for e in of(events, AgentOutput) if e.kind == "result"
    ]
    finished = of(events, AgentFinished)[0]
    assert (finished.ok, finished.summary) == (True, "greet() with a test")
    assert events[-1] is finished


async def test_a_retry_script_plays_only_when_the_failure_reached_the_prompt(tmp_path: Path):
    role = EngineerRole(SimProvider(playbook(), speed=1000), RecordingSandbox())
    failure = "Gate 'tests' failed: 1 failed\nE   AssertionError: 'hi x' != 'hello x'"
    assert failure in build_prompt(job(tmp_path, attempt=2, failure=failure))
    report = await role.work(job(tmp_path, attempt=2, failure=failure), lambda _e: None)
    assert report.finished
    assert report.summary == "fixed the greeting"


def test_a_retry_prompt_names_the_tests_kept_from_the_previous_attempt(tmp_path: Path):
    failure = "Gate 'tests' failed: 1 failed\ntests/test_greet.py:3: AssertionError"
    kept = dataclasses.replace(
        job(tmp_path, attempt=2, failure=failure), kept_tests=("tests/test_greet.py",)
    )
    prompt = build_prompt(kept)
    assert "kept in it: tests/test_greet.py; fix them if they are wrong, never delete" in prompt
    assert "(moving one to another test file's name keeps it)" in prompt
    assert "kept in it" not in build_prompt(job(tmp_path, attempt=2, failure=failure))


async def test_a_retry_script_whose_expected_text_is_missing_stops_without_finishing(
    tmp_path: Path,
):
    events, emit = collector()
    role = EngineerRole(SimProvider(playbook(), speed=1000), RecordingSandbox())
    report = await role.work(job(tmp_path, attempt=2, failure="Gate 'lint' failed: E501"), emit)

    assert not report.finished
    assert "SIM" in report.summary
    assert "AssertionError: 'hi x' != 'hello x'" in report.summary
    assert report.files_written == ()
    assert report.files_written == () and not (tmp_path / "greet.py").exists()
    finished = of(events, AgentFinished)[0]
    assert not finished.ok and finished.summary.startswith("stopped without calling finish: SIM")


async def test_later_attempts_replay_the_last_script(tmp_path: Path):
    role = EngineerRole(SimProvider(playbook(), speed=1000), RecordingSandbox())
    report = await role.work(
        job(tmp_path, attempt=3, failure="AssertionError: 'hi x' != 'hello x'"), lambda _e: None
    )
    assert report.summary == "fixed the greeting"


async def test_a_script_that_never_calls_finish_is_reported_unfinished(tmp_path: Path):
    events, emit = collector()
    role = EngineerRole(SimProvider(playbook(), speed=1000), RecordingSandbox())
    report = await role.work(job(tmp_path, task_id="cli"), emit)
    assert not report.finished
    assert report.summary == "stopped without calling finish: I will just talk."
    assert not of(events, AgentFinished)[0].ok


async def test_the_engineer_stops_at_max_turns(tmp_path: Path):
    looping = Playbook(
        name="loop",
        timing=FAST,
        blueprint=BLUEPRINT,
        engineer={
            "greet": TaskScript(
                attempts=[
                    AttemptScript(turns=[Turn(calls=[ToolCallScript(tool="list_files")])] * 10)
                ]
            ),
            "cli": greet_script(),
        },
    )
    events, emit = collector()
    report = await EngineerRole(
        SimProvider(looping, speed=1000), RecordingSandbox(), max_turns=4
    ).work(job(tmp_path), emit)
    assert not report.finished
    assert len(of(events, LLMCallFinished)) == 4


async def test_a_provider_error_ends_the_attempt_with_the_reason(tmp_path: Path):
    book = playbook()
    book.engineer.pop("greet")
    events, emit = collector()
    report = await EngineerRole(SimProvider(book, speed=1000), RecordingSandbox()).work(
        job(tmp_path), emit
    )
    assert not report.finished
    assert (
        report.summary == "model call failed: SIM playbook 'greet' has no script for task 'greet'"
    )
    assert not of(events, AgentFinished)[0].ok


# -- the sim provider ------------------------------------------------------------------------------


def planner_request() -> CompletionRequest:
    return CompletionRequest(
        system="plan", messages=(Message("user", "go"),), labels={"role": "planner"}
    )


async def test_sim_speed_divides_the_scripted_latency(monkeypatch: pytest.MonkeyPatch):
    book = playbook(SimTiming(median_s=0.2, sigma=0.0))
    slow = await SimProvider(book, speed=4).complete(planner_request())
    assert slow.latency_s >= 0.045, "the SIM really waits its scripted 50 ms"
    # What it waits, read off the pause itself: a wall clock on a loaded machine would
    # measure the machine.
    paused: list[float] = []
    sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        paused.append(seconds)
        await sleep(0)

    monkeypatch.setattr("agents.sim.asyncio.sleep", record)
    await SimProvider(book, speed=1000).complete(planner_request())
    await SimProvider(book, speed=4).complete(planner_request())
    assert paused == pytest.approx([0.2 / 1000, 0.2 / 4])
    with pytest.raises(ValueError, match="speed must be positive"):
        SimProvider(book, speed=0)


async def test_sim_streams_its_text_and_is_labelled_simulated():
    provider = SimProvider(playbook(), speed=1000)
    pieces: list[str] = []
    completion = await provider.complete(planner_request(), pieces.append)
    assert "".join(pieces).strip() == completion.text.strip()
    assert Blueprint.model_validate_json(completion.text) == BLUEPRINT
    assert (provider.family, provider.simulated, provider.spec, completion.model) == (
        "sim",
        True,
        "sim:greet",
        "sim-greet",
    )
    assert completion.stop_reason == "end_turn"


async def test_sim_refuses_a_role_it_has_no_script_for():
    request = CompletionRequest(
        system="", messages=(Message("user", "x"),), labels={"role": "astrologer"}
    )
    with pytest.raises(
        ProviderError, match=r"^SIM playbook 'greet' has no script for role 'astrologer'$"
    ):
        await SimProvider(playbook(), speed=1000).complete(request)


# -- playbook files --------------------------------------------------------------------------------


def dump(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_playbook_file_loads_into_the_same_model(tmp_path: Path):
    book = playbook()
    loaded = Playbook.load(dump(tmp_path / "greet.yaml", book.model_dump(mode="json")))
    assert loaded == book


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_a_playbook_is_parsed_by_libyaml_not_the_pure_python_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's playbook took 40 ms of CPU to parse in pure Python, twice a run."""

    def pure(*_: object, **__: object) -> object:
        raise AssertionError("parsed by the pure-Python parser")

    monkeypatch.setattr(yaml, "safe_load", pure)
    book = Playbook.load(Path(__file__).resolve().parents[2] / "examples/inventory/playbook.yaml")
    assert book.blueprint is not None and len(book.blueprint.tasks) == 6


def one_line_error(path: Path) -> str:
    with pytest.raises(PlaybookError) as caught:
        Playbook.load(path)
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert str(path) in message
    return message


def test_a_missing_playbook_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    assert one_line_error(path) == f"cannot read playbook {path}: No such file or directory"


def test_a_playbook_that_is_not_yaml_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: greet\nblueprint: {spec: [unclosed\n  engineer:\n\t- x\n")
    message = one_line_error(path)
    assert message == (
        f"playbook {path} is not valid YAML: expected ',' or ']', but got ':' (line 3, column 11)"
    )


def test_a_playbook_missing_a_task_script_names_the_task(tmp_path: Path):
    data = playbook().model_dump(mode="json")
    del data["engineer"]["cli"]
    path = dump(tmp_path / "partial.yaml", data)
    assert one_line_error(path) == f"playbook {path}: no engineer script for task(s) ['cli']"


def test_a_playbook_with_a_bad_field_names_where(tmp_path: Path):
    data = playbook().model_dump(mode="json")
    data["engineer"]["greet"]["attempts"][0]["turns"] = []
    path = dump(tmp_path / "empty-turns.yaml", data)
    message = one_line_error(path)
    assert message.startswith(f"playbook {path}: engineer.greet.attempts.0.turns: ")


def test_a_playbook_calling_a_tool_that_does_not_exist_is_refused_at_load(tmp_path: Path):
    """A typo in a scripted call (``write_fil``) was played as the model calling a missing
    tool: the test file was never written and the task merged without it."""
    data = playbook().model_dump(mode="json")
    data["engineer"]["greet"]["attempts"][0]["turns"][0]["calls"][0]["tool"] = "write_fil"
    path = dump(tmp_path / "typo.yaml", data)
    message = one_line_error(path)
    assert message.startswith(f"playbook {path}: engineer.greet.attempts.0.turns.0.calls.0.tool: ")
    assert "unknown tool 'write_fil'; the tools: list_files, read_file, write_file" in message


def test_an_empty_playbook_file_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert "valid dictionary" in one_line_error(path)


# -- registry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["claude-sonnet", "mistral:large", ":model", ""])
def test_a_bad_model_spec_is_a_one_line_provider_error(spec: str):
    with pytest.raises(ProviderError) as caught:
        make_provider(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"bad model spec {spec!r}: expected FAMILY:MODEL with FAMILY one of "
        "anthropic, gemini, openai, cli, sim"
    )


@pytest.mark.parametrize(
    ("spec", "variable"),
    [
        ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY"),
        ("gemini:gemini-2.5-pro", "GEMINI_API_KEY"),
    ],
)
def test_a_real_family_without_its_key_is_a_one_line_provider_error(
    spec: str, variable: str, monkeypatch: pytest.MonkeyPatch
):
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderError, match=rf"^the \w+ provider needs an API key: set {variable}"):
        make_provider(spec)


def test_model_specs_parse_family_model_and_base_url():
    assert ModelSpec.parse("openai:qwen2.5-coder@http://127.0.0.1:8000/v1") == ModelSpec(
        "openai", "qwen2.5-coder", "http://127.0.0.1:8000/v1"
    )
    assert ModelSpec.parse(" gemini:gemini-2.5-pro ") == ModelSpec("gemini", "gemini-2.5-pro", None)


def test_the_sim_needs_a_playbook(tmp_path: Path):
    with pytest.raises(ProviderError, match=r"^the sim provider needs a playbook"):
        make_provider("sim:")
    path = dump(tmp_path / "greet.yaml", playbook().model_dump(mode="json"))
    for provider in (
        make_provider("sim:", playbook=path, speed=1000),
        make_provider(f"sim:{path}", speed=1000),
    ):
        assert isinstance(provider, SimProvider)
        assert provider.simulated and provider.playbook == playbook()
        assert provider.speed == 1000


async def test_a_reply_cut_at_the_output_limit_runs_none_of_its_calls_and_says_why(
    tmp_path: Path,
):
    from role_fakes import Reply

    from agents.provider import ToolCall
    from agents.tool_specs import CUT_NOTICE

    half = ToolCall("c1", "write_file", {"path": "greet.py"})  # its content never arrived
    whole = ToolCall("c2", "write_file", {"path": "greet.py", "content": CODE_FILE})
    done = ToolCall("c3", "finish", {"summary": "greet() in two goes"})
    provider = ScriptedProvider(
        [Reply("Writing it all.", (half,), cut=True), Reply("", cut=True), Reply("", (whole, done))]
    )
    events, emit = collector()
    report = await EngineerRole(provider, RecordingSandbox()).work(job(tmp_path), emit)
    assert report.finished and report.summary == "greet() in two goes"
    assert report.files_written == ("greet.py",)  # once, by the whole call
    assert provider.requests[1].messages[-1] == Message(
        "tool", CUT_NOTICE, tool_call_id="c1", is_error=True
    )
    assert provider.requests[2].messages[-1] == Message("user", CUT_NOTICE)
    errors = [e.text for e in of(events, AgentOutput) if e.kind == "error"]
    assert errors == [CUT_NOTICE, CUT_NOTICE]


async def test_a_sim_playbook_declares_what_a_task_removes_and_the_engineer_is_told(
    tmp_path: Path,
):
    data = playbook().model_dump(mode="json")
    data["blueprint"]["tasks"][0]["removes"] = ["greet/legacy.py"]
    book = Playbook.load(dump(tmp_path / "greet.yaml", data))
    blueprint = await PlannerRole(SimProvider(book, speed=1000)).plan(PLAN_REQUEST, lambda _: None)
    task = blueprint.tasks[0]
    assert task.removes == ["greet/legacy.py"]
    declared = EngineerJob(
        run_id="run-1",
        task=task,
        blueprint=blueprint,
        workspace=tmp_path,
        attempt=1,
        max_attempts=3,
    )
    assert "Files or folders to delete (the request asks for it): greet/legacy.py" in (
        build_prompt(declared)
    )
    assert "to delete" not in build_prompt(job(tmp_path))

"""An overnight factory on real provider clients meets crashes, dead models and budgets.

Each test runs the real ``shopfloor`` CLI in a subprocess with every role on a loopback model
(tests/e2e/openai_model.py, tests/e2e/anthropic_model.py) playing the scripted factory of
tests/e2e/scripted_factory.py, and then checks what a user would look at the next morning:
``status --json``, the exported events, the shipped branch, the key nowhere.

- A run SIGKILLed while an engineer's request is in flight (the server holds it open) resumes
  to shipped: each task merged once, the branch holding the engineers' files, every token the
  server billed counted once.
- Ctrl-C while a request is in flight stops the run at once (the request is not waited for)
  with exit code 130, and ``resume`` ships it.
- A fallback chain whose primary is down (connection refused, 500s, a bad key, an unknown
  model) ships on the second model, says which model answered and prices it as that model;
  the dead primary is asked once for the whole run, not once per call.
- Token and cost budgets crossed by the wire's real usage pause the run on an escalation that
  ``shopfloor approve`` from another process answers (never the twin), or ``reject`` stops
  (resumable with a higher budget).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from anthropic_model import MODEL as ANTHROPIC_MODEL
from anthropic_model import ModelServer as AnthropicServer
from openai_model import MODEL, LoopbackModel, ModelServer, first_user_text, role_of
from scripted_factory import FILES, REFUSALS, Answer, WireServer
from stored_log import open_escalation_ids
from wire_run import (
    REQUEST,
    Project,
    assert_nowhere,
    check_shipped,
    git,
    new_project,
    shopfloor,
    shopfloor_argv,
    write_config,
)

from engine.blueprint import Blueprint, Task
from engine.budget import BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import BlueprintProposed, BudgetUpdated
from engine.state import RunState

pytestmark = pytest.mark.e2e

KEY = "sk-test-secret-wire-resume-42"

Hold = Callable[[str, dict[str, Any]], bool]
"""Whether to hold a request open: the role asking and the request's body."""


class HoldingServer(ModelServer):
    """The loopback OpenAI-compatible model, which can hold one request open until released
    (as a slow model does while the process that asked it is killed), and which adds up the
    usage it billed for the requests it answered."""

    def __init__(self, model: LoopbackModel | None = None, *, hold: Hold | None = None) -> None:
        super().__init__(model)
        self._hold = hold
        self.holding = threading.Event()
        """Set once the held request arrived."""
        self.release = threading.Event()
        self.billed = {"input": 0, "output": 0, "calls": 0}
        self._lock = threading.Lock()

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        if self._hold is not None and not self.holding.is_set():
            try:
                body = json.loads(raw)
                role = role_of(body)
            except (*REFUSALS, json.JSONDecodeError):
                body, role = {}, ""
            if role and self._hold(role, body):
                self.holding.set()
                self.release.wait(60)
                # Nobody is listening any more; this answer is never billed.
                return Answer.json(503, {"error": {"message": "held", "type": "server_error"}})
        status, reply = self.model.handle(path, headers, raw)
        if status == 200:
            with self._lock:
                self.billed["input"] += reply["usage"]["prompt_tokens"]
                self.billed["output"] += reply["usage"]["completion_tokens"]
                self.billed["calls"] += 1
        return Answer.json(status, reply)


def engineer_turn_of(task_id: str, turn: int) -> Hold:
    """Hold the request of ``task_id``'s engineer at its tool-loop turn ``turn``."""

    def hold(role: str, body: dict[str, Any]) -> bool:
        if role != "engineer":
            return False
        prompt = first_user_text(body["messages"])
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return f"Your task ({task_id}, attempt" in prompt and turns == turn

    return hold


def start_run(project: Project, config: Path, *extra: str) -> subprocess.Popen[str]:
    """``shopfloor run`` in the background, headless and verbose."""
    argv = shopfloor_argv(
        "run", REQUEST, "--repo", str(project.repo), "--config", str(config), "--headless", "-v"
    )
    return subprocess.Popen(
        [*argv, *extra],
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for(event: threading.Event, proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait for ``event`` while ``proc`` lives; fail with its output when it ends first."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=30) if proc.poll() is not None else ("", "")
            proc.kill()
            pytest.fail(f"never reached the held request (exit {proc.poll()}):\n{out}\n{err}")


def status_of(project: Project, run: str) -> dict[str, Any]:
    status = shopfloor("status", "--json", run, env=project.env)
    assert status.returncode == 0, status.stderr
    loaded: dict[str, Any] = json.loads(status.stdout)
    return loaded


def only_run_id(project: Project) -> str:
    runs = shopfloor("runs", "--json", env=project.env)
    assert runs.returncode == 0, runs.stderr
    listed = json.loads(runs.stdout)
    assert len(listed) == 1, listed
    return str(listed[0]["run_id"])


def events_of(project: Project, run: str) -> list[dict[str, Any]]:
    exported = shopfloor("export", run, env=project.env)
    assert exported.returncode == 0, exported.stderr
    return [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]


def branch_files(project: Project, branch: str) -> set[str]:
    changed = git(project.repo, "diff", "--name-only", f"{project.base}..{branch}")
    return set(changed.split())


ENGINEER_FILES = {path for files in FILES.values() for path in files}


def stored_files(project: Project) -> list[Path]:
    """Every file of the project's data folder, the session's gate cache it links to included
    (``rglob`` does not follow the link)."""
    return [*project.home.rglob("*"), *(project.home / "gate-cache").rglob("*")]


# -- 1. SIGKILL while an engineer's request is in flight ---------------------------------------


def test_a_run_killed_mid_request_on_the_openai_wire_resumes_to_shipped_counting_tokens_once(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    share_gate_cache(tmp_path / "home")  # the point is the wire, not the gates
    with HoldingServer(hold=engineer_turn_of("shout", 1)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        config = write_config(
            project.folder / "shopfloor.toml",
            spec,
            extra=f'[pricing]\n"openai:{MODEL}" = {{ input = 2.0, output = 8.0 }}\n',
        )
        proc = start_run(project, config)
        wait_for(server.holding, proc, 60)
        time.sleep(0.5)  # the calls before the held one reach the log
        proc.send_signal(signal.SIGKILL)
        first_out, first_err = proc.communicate(timeout=30)
        server.release.set()
        run = only_run_id(project)
        before = status_of(project, run)
        assert before["outcome"] == "running", before
        assert before["merged"] == ["core"], before

        resumed = shopfloor("resume", run, "--headless", "-v", env=project.env)
        output = resumed.stdout + resumed.stderr
        assert resumed.returncode == 0, output
        assert "Traceback (most recent call last)" not in output
        assert server.model.problems == []

    both = subprocess.CompletedProcess(
        resumed.args, 0, first_out + resumed.stdout, first_err + resumed.stderr
    )
    shipped = check_shipped(both, project, KEY)
    status = shipped.status
    assert status["merged"] == ["core", "shout"]  # each task merged once
    assert branch_files(project, status["branch"]) == ENGINEER_FILES
    # Every token the server billed is counted once; the held request was never billed.
    calls = shipped.of_type("LLMCallFinished")
    assert len(calls) == server.billed["calls"]
    assert status["tokens"]["input"] == server.billed["input"]
    assert status["tokens"]["output"] == server.billed["output"]
    expected_cost = (server.billed["input"] * 2.0 + server.billed["output"] * 8.0) / 1e6
    assert status["cost_usd"] == pytest.approx(expected_cost, rel=1e-3)
    assert_nowhere(KEY, [*stored_files(project)])


# -- 4. Ctrl-C while a request is in flight ----------------------------------------------------


def test_ctrl_c_during_a_wire_request_stops_at_once_and_the_run_resumes_to_shipped(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    share_gate_cache(tmp_path / "home")  # the point is the wire, not the gates
    with HoldingServer(hold=engineer_turn_of("core", 2)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        config = write_config(project.folder / "shopfloor.toml", spec)
        proc = start_run(project, config)
        wait_for(server.holding, proc, 60)
        proc.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        try:
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
        # The held request was cancelled, not waited for: the server still holds it.
        assert not server.release.is_set()
        assert time.monotonic() - stopped < 15
        assert proc.returncode == 130, out + err
        assert "Traceback (most recent call last)" not in out + err
        server.release.set()
        run = only_run_id(project)
        events = events_of(project, run)
        assert not any(e["type"] == "RunFinished" for e in events)
        engineers = [e for e in events if e["type"] == "AgentStarted" and e["role"] == "engineer"]
        assert len(engineers) == 1

        resumed = shopfloor("resume", run, "--headless", env=project.env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert server.model.problems == []
    status = status_of(project, run)
    assert status["outcome"] == "shipped", status
    assert status["merged"] == ["core", "shout"]
    assert branch_files(project, status["branch"]) == ENGINEER_FILES
    assert status["tokens"]["input"] == server.billed["input"]
    assert status["tokens"]["output"] == server.billed["output"]
    assert KEY not in out + err + resumed.stdout + resumed.stderr
    assert_nowhere(KEY, [*stored_files(project), *(project.repo / ".git").rglob("*")])


# -- 2. Fallback chains ------------------------------------------------------------------------

ANTHROPIC_KEY = "sk-ant-test-secret-wire-fallback-7"
FAST_RETRIES = "[providers]\nmax_retries = 2\nretry_base_delay_s = 0.01\n"
"""Two retries of a transient failure, with next to no wait between them."""

Failure = tuple[int, dict[str, Any]]


class FailingServer(WireServer):
    """A primary that is down: every request answered with one HTTP error, and counted."""

    FAILURES: dict[str, Failure] = {
        # An OpenAI-style 401 that echoes the key it was given, as some gateways do.
        "bad-key": (401, {"error": {"message": "Incorrect API key provided: {key}"}}),
        "unknown-model": (  # OpenAI, vLLM and Ollama all answer an unknown model with 404
            404,
            {"error": {"message": "The model `{model}` does not exist", "type": "invalid"}},
        ),
        "overloaded": (500, {"error": {"message": "internal error", "type": "server_error"}}),
    }

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.requests: list[str] = []
        """The role of each request received."""
        self._lock = threading.Lock()
        super().__init__(self._respond)

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        body = json.loads(raw)
        with self._lock:
            self.requests.append(role_of(body))
        status, payload = self.FAILURES[self.kind]
        key = headers.get("authorization", "").removeprefix("Bearer ")
        text = json.dumps(payload).replace("{key}", key).replace("{model}", str(body["model"]))
        return Answer(status, text.encode())

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"


def dead_url() -> str:
    """An OpenAI-compatible base URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


AUTHORS = ("planner", "engineer", "twin", "verifier")
"""Roles on ``openai:MODEL@primary | openai:MODEL@good``: a fallback in the same family."""
JUDGES = ("critic", "qc", "judge")
"""Roles on ``openai:MODEL@primary | anthropic:...``: a fallback to another family."""


@pytest.mark.parametrize(
    ("authors_primary", "judges_primary"),
    [("bad-key", "refused"), ("overloaded", "unknown-model")],
)
def test_a_fallback_chain_ships_when_its_primary_is_down_and_says_who_answered(
    tmp_path: Path,
    authors_primary: str,
    judges_primary: str,
    share_gate_cache: Callable[[Path], None],
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY})
    share_gate_cache(tmp_path / "home")  # the point is the chain, not the gates
    primaries = {
        kind: FailingServer(kind) for kind in (authors_primary, judges_primary) if kind != "refused"
    }
    with ModelServer() as good, AnthropicServer() as claude:
        for server in primaries.values():
            server.__enter__()
        try:
            url = {k: s.base_url for k, s in primaries.items()} | {"refused": dead_url()}
            authors = f"openai:{MODEL}@{url[authors_primary]} | openai:{MODEL}@{good.base_url}"
            claude_spec = f"anthropic:{ANTHROPIC_MODEL}@{claude.base_url}"
            judges = f"openai:{MODEL}@{url[judges_primary]} | {claude_spec}"
            models: dict[str, str | list[str]] = dict.fromkeys(AUTHORS, authors)
            models |= dict.fromkeys(JUDGES, judges)
            models |= {"task_reviewer": claude_spec, "reviewers": [claude_spec, claude_spec]}
            config = write_config(project.folder / "shopfloor.toml", authors, models=models)
            config.write_text(config.read_text() + FAST_RETRIES)
            argv = ["run", REQUEST, "--repo", str(project.repo), "--config", str(config)]
            run = shopfloor(*argv, "--headless", "-v", env=project.env)
            output = run.stdout + run.stderr
            assert run.returncode == 0, output
            assert "Traceback (most recent call last)" not in output
            assert good.model.problems == [] and claude.model.problems == []
        finally:
            for server in primaries.values():
                server.__exit__(None, None, None)

    shipped = check_shipped(run, project, KEY)
    assert ANTHROPIC_KEY not in shipped.output
    assert_nowhere(ANTHROPIC_KEY, [*stored_files(project), *(project.repo / ".git").rglob("*")])
    calls = shipped.of_type("LLMCallFinished")
    answered = {(e["role"], e["provider"], e["model"]) for e in calls}
    # Each call names the model that answered it, and is priced as that model.
    assert answered == {
        *((role, "openai", MODEL) for role in AUTHORS),
        *((role, "anthropic", ANTHROPIC_MODEL) for role in (*JUDGES, "task_reviewer")),
        ("reviewer", "anthropic", ANTHROPIC_MODEL),
    }
    for event in calls:
        assert (event["cost_usd"] > 0) == (event["provider"] == "anthropic"), event
    assert shipped.status["cost_usd"] == pytest.approx(sum(e["cost_usd"] for e in calls), abs=1e-5)
    # A reviewer never ran on its author's family, fallback or not.
    assert not {e["provider"] for e in calls if e["role"] in ("planner", "engineer")} & {
        e["provider"] for e in calls if e["role"] in ("reviewer", "task_reviewer")
    }
    # The agent's log says that its primary failed and which model took over.
    chains = {"authors": (authors_primary, AUTHORS), "judges": (judges_primary, JUDGES)}
    for primary, roles in chains.values():
        said = [
            e["text"]
            for e in shipped.of_type("AgentOutput")
            if "falling back to" in e["text"] and e["agent_id"].split(":")[0] in roles
        ]
        assert said, (primary, roles)
    # A permanent failure (a bad key, an unknown model) falls back at once; a transient one
    # (500) is retried within the policy (two retries) first; none of it reaches the models.
    # Either way the primary is then skipped: a bad key or an unknown model for the rest of
    # the run, an overloaded model for a minute (longer than this run), so its first call
    # is the only one that pays for it — all roles on the chain share what it learnt.
    for kind, server in primaries.items():
        roles = AUTHORS if kind == authors_primary else JUDGES
        assert len({e["agent_id"] for e in calls if e["role"] in roles}) >= 3
        tries = 3 if kind == "overloaded" else 1
        assert len(server.requests) == tries, (kind, server.requests)
        skipped = "for 60s (until" if kind == "overloaded" else "for the rest of the run"
        notices = [e for e in shipped.of_type("AgentOutput") if e["kind"] == "notice"]
        assert sum(skipped in e["text"] and "falling back to" in e["text"] for e in notices) == 1
    # The console says so too, each on one line of its own.
    said_on_console = [line for line in run.stdout.splitlines() if "falling back to" in line]
    assert said_on_console and all("» " in line for line in said_on_console)


def test_a_reviewer_whose_chain_shares_a_family_with_its_authors_chain_is_refused(
    tmp_path: Path,
) -> None:
    """The planner falls back to Anthropic; reviewers on Anthropic would then review
    Anthropic's plan. Refused before anything runs, in one line (exit 2)."""
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY})
    with FailingServer("bad-key") as primary:
        claude = f"anthropic:{ANTHROPIC_MODEL}@{dead_url().removesuffix('/v1')}"
        author = f"openai:{MODEL}@{primary.base_url} | {claude}"
        models: dict[str, str | list[str]] = {
            "planner": author,
            "reviewers": [claude, claude],
            "task_reviewer": claude,
        }
        config = write_config(project.folder / "shopfloor.toml", author, models=models)
        config.write_text(config.read_text() + FAST_RETRIES)
        argv = ["run", REQUEST, "--repo", str(project.repo), "--config", str(config)]
        run = shopfloor(*argv, "--headless", env=project.env)
        assert primary.requests == []  # nothing was asked
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert "a family of the planner's fallback chain (anthropic)" in run.stderr
    assert "Traceback" not in run.stderr


# -- 3. Budgets crossed by the wire's usage ----------------------------------------------------


class Answerer(threading.Thread):
    """Another shell answering a run's escalations as they open: ``shopfloor approve`` or
    ``reject`` by the escalation's kind (``verbs``); records each ``(kind, question)``."""

    def __init__(self, project: Project, verbs: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.project = project
        self.verbs = verbs
        self.answered: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self._posted: set[tuple[str, str]] = set()
        self._done = threading.Event()

    def run(self) -> None:
        db = Path(self.project.env["SHOPFLOOR_HOME"]) / "shopfloor.db"
        while not self._done.wait(0.05):
            # The log says when one is open; the command then lists it. Polling the command
            # itself cost a process every half second, the CPU of the run being answered.
            posted = {escalation for _, escalation in self._posted}
            if not set(open_escalation_ids(db)) - posted:
                continue
            listed = shopfloor("escalations", "--json", env=self.project.env)
            if listed.returncode != 0:
                continue  # no database yet
            for record in json.loads(listed.stdout):
                key = (record["run_id"], record["id"])
                if key in self._posted:
                    continue
                verb = self.verbs[record["kind"]]
                posted = shopfloor(
                    verb, record["id"], "--run", record["run_id"], env=self.project.env
                )
                if posted.returncode != 0:
                    self.errors.append(posted.stderr)
                    continue
                self._posted.add(key)
                self.answered.append((record["kind"], record["question"]))

    def stop(self) -> None:
        self._done.set()
        self.join(30)


def budget_questions(status: dict[str, Any]) -> list[str]:
    return [e["question"] for e in status["escalations"] if e["kind"] == "budget"]


def test_a_token_budget_crossed_on_the_wire_waits_for_an_approval_and_stays_raised_after_a_kill(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    share_gate_cache(tmp_path / "home")  # the point is the wire, not the gates
    answerer = Answerer(project, {"twin": "approve", "budget": "approve"})
    with HoldingServer(hold=engineer_turn_of("shout", 1)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        config = write_config(project.folder / "shopfloor.toml", spec, engine={"max_tokens": 9000})
        proc = start_run(project, config, "--escalations", "wait")
        answerer.start()
        try:
            # The first task's calls cross 9,000 tokens: the second waits for a human, who
            # raises the budget from another shell; it then starts, and the run is killed.
            wait_for(server.holding, proc, 60)
            time.sleep(0.5)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            server.release.set()
            run = only_run_id(project)
            before = status_of(project, run)
            assert before["merged"] == ["core"]
            assert [kind for kind, _ in answerer.answered] == ["twin", "budget"]
            assert "crossed its tokens budget" in answerer.answered[1][1]
            assert "of 9000" in answerer.answered[1][1]
        finally:
            answerer.stop()
        assert answerer.errors == []
        # Carried on headless under the twin policy: the twin never raises a budget, so the
        # budget question of the resumed run waits for a person, who approves it again.
        again = Answerer(project, {"twin": "approve", "budget": "approve"})
        again.start()
        try:
            resumed = shopfloor(
                "resume", run, "--headless", "--escalations", "twin", env=project.env
            )
        finally:
            again.stop()
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert server.model.problems == []
        assert [kind for kind, _ in again.answered] == ["budget"]

    status = status_of(project, run)
    assert status["outcome"] == "shipped", status
    assert status["merged"] == ["core", "shout"]
    # The raised budget outlived the kill: the resumed run asked again only when its spend
    # crossed the raised limit (at verification), not as soon as it restarted.
    questions = budget_questions(status)
    assert len(questions) == 2, questions
    assert "of 18000" in questions[1], questions
    deciders = [e["decided_by"].split(":")[0] for e in status["escalations"]]
    assert deciders == ["human", "human", "human"]
    spent = status["tokens"]["input"] + status["tokens"]["output"]
    assert spent == server.billed["input"] + server.billed["output"]


async def test_budgets_raised_before_a_restart_stay_raised_for_the_run_and_each_task() -> None:
    """The tracker a resumed run builds keeps the limits its log says were raised (the run's,
    as the kill test above shows over the wire, and a task's), over the config's."""
    blueprint = Blueprint(spec="s", tasks=[Task(id="core", title="Core")])
    state = RunState.fold(
        [
            BlueprintProposed(run_id="r", seq=1, blueprint=blueprint),
            BudgetUpdated(
                run_id="r", seq=2, scope="run", tokens=1500, cost_usd=0.0, max_tokens=2000
            ),
            BudgetUpdated(
                run_id="r",
                seq=3,
                scope="task",
                task_id="core",
                tokens=700,
                cost_usd=0.0,
                max_tokens=1000,
            ),
        ]
    )
    bus = EventBus("r", state)
    config = EngineConfig(max_tokens=1000, task_max_tokens=500)
    tracker = BudgetTracker(bus, config, EscalationBroker(bus, policy="wait"))
    assert (tracker.run.tokens, tracker.run.max_tokens) == (0, 2000)
    assert (tracker.tasks["core"].tokens, tracker.tasks["core"].max_tokens) == (700, 1000)
    await asyncio.wait_for(tracker.admit("core"), 1)  # within the raised limits: no question
    assert bus.state.open_escalations == []
    unset = BudgetTracker(bus, EngineConfig(), EscalationBroker(bus, policy="wait"))
    assert unset.run.max_tokens is None  # a budget the config no longer sets stays off


def test_a_cost_budget_crossed_on_the_wire_and_rejected_from_another_shell_stops_the_run_cleanly(
    tmp_path: Path,
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    answerer = Answerer(project, {"budget": "reject"})
    with HoldingServer() as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        config = write_config(
            project.folder / "shopfloor.toml",
            spec,
            engine={"max_cost_usd": 1.0, "twin_min_confidence": 0.5},
            extra=f'[pricing]\n"openai:{MODEL}" = {{ input = 100.0, output = 400.0 }}\n',
        )
        proc = start_run(project, config, "--escalations", "wait")
        answerer.start()
        try:
            out, err = proc.communicate(timeout=90)
        finally:
            proc.kill()
            answerer.stop()
    assert answerer.errors == []
    assert [kind for kind, _ in answerer.answered] == ["budget"]
    assert "crossed its cost budget" in answerer.answered[0][1]
    # Stopped as Ctrl-C stops it (exit code 130): resumable with a higher budget.
    assert proc.returncode == 130, out + err
    assert "Traceback (most recent call last)" not in out + err
    run = only_run_id(project)
    assert f"`shopfloor resume {run} --max-cost " in out
    status = status_of(project, run)
    assert (status["outcome"], status["live"]) == ("running", False), status
    assert status["budget"]["exceeded"] == "cost", status["budget"]
    # The first task's calls crossed the budget: its attempt paused at its next call, and the
    # stop ended it there, rather than letting it run to its last turn (it restarts on resume).
    assert status["merged"] == []
    assert [(t["id"], t["state"]) for t in status["tasks"]] == [
        ("core", "running"),
        ("shout", "pending"),
    ]
    [decision] = status["escalations"]
    assert (decision["decision"], decision["decided_by"].split(":")[0]) == ("stop", "human")
    # Money spent is money counted: every call the server billed, priced.
    assert status["cost_usd"] == pytest.approx(
        (server.billed["input"] * 100.0 + server.billed["output"] * 400.0) / 1e6, rel=1e-3
    )
    assert status["cost_usd"] > 1.0
    # Nothing started after the stop, and nothing is left behind.
    events = events_of(project, run)
    assert not any(e["type"] == "AgentStarted" and e.get("task_id") == "shout" for e in events)
    worktrees = git(project.repo, "worktree", "list", "--porcelain").count("worktree ")
    assert worktrees == 1
    assert git(project.repo, "rev-parse", "HEAD").strip() == project.base
    assert git(project.repo, "status", "--porcelain") == ""
    # Resumed without a higher budget, it would only stop again: refused in one line.
    again = shopfloor("resume", run, "--headless", env=project.env)
    assert again.returncode == 2
    assert f"shopfloor: run {run} is over its cost budget" in again.stderr

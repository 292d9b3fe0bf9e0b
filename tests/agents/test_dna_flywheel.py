"""The owner's DNA learns from people: a human's decision on an escalation becomes a proposed
DNA entry; once accepted (``shopfloor dna accept``) the twin decides the same question itself,
from the DNA, with high confidence — and nobody is asked again."""

from __future__ import annotations

import asyncio
import io
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from repo_helpers import GIT_ENV, git
from rich.console import Console

from agents.dna import DnaDecision, OwnerDNA
from agents.dna_proposals import ProposalBook, save_dna
from agents.playbook import Playbook, TwinScript
from agents.roles.twin import TwinRole
from agents.sim import SimProvider
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import EscalationRaised, EventBase, Outcome, TwinDecided
from engine.pipeline import Factory
from engine.protocols import (
    EmitFn,
    EngineerJob,
    EngineerReport,
    ExternalDecision,
    PlanRequest,
)
from engine.roles import TwinVerdict
from engine.workspace import GitWorkspaces
from tui.cli import build_parser, main
from tui.config import Settings
from tui.memory import proposals_line, propose_decisions

REQUEST = "Add a farewell command to the greeter"
PLAN = Blueprint(
    spec="A farewell command",
    acceptance_criteria=["says goodbye"],
    tasks=[Task(id="bye", title="Farewell", files=["bye.txt"])],
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# greeter\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@dataclass
class Planner:
    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        return PLAN


@dataclass
class Engineer:
    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        (job.workspace / "bye.txt").write_text("goodbye\n")
        return EngineerReport(True, "wrote bye.txt", ("bye.txt",))


@dataclass
class Human:
    """A person at another terminal: answers every escalation once it is raised."""

    bus: EventBus
    decision: str
    asked: list[str] = field(default_factory=list)

    async def decisions(
        self, run_id: str, *, until_asked: object = None
    ) -> AsyncIterator[ExternalDecision]:
        answered: set[str] = set()
        while True:
            for view in self.bus.state.open_escalations:
                if view.escalation_id not in answered:
                    answered.add(view.escalation_id)
                    self.asked.append(view.question)
                    yield ExternalDecision(view.escalation_id, self.decision, "human:ada", "ok")
            await asyncio.sleep(0.01)


async def cli(*argv: str) -> tuple[int, str]:
    """Run one shopfloor command inside the test's event loop; (exit code, output)."""
    args = build_parser().parse_args(argv)
    out = Console(record=True, width=200, file=io.StringIO())
    code = await args.handler(args, out)
    return code, out.export_text()


def unsure_twin(dna: OwnerDNA) -> TwinRole:
    """The SIM twin scripted to be unsure about the plan (confidence below the threshold)."""
    book = Playbook(
        name="dna",
        blueprint=PLAN,
        twin=TwinScript(decision=TwinVerdict(decision="ACCEPT", confidence=0.4, notes="unsure")),
    )
    return TwinRole(SimProvider(book, speed=1000), dna)


async def run(repo: Path, run_id: str, dna: OwnerDNA, human: str | None) -> tuple:
    bus = EventBus(run_id)
    events: list[EventBase] = []
    bus.listen(events.append)
    person = Human(bus, human) if human else None
    factory = Factory(
        bus=bus,
        workspaces=GitWorkspaces(repo, run_id, repo.parent / "worktrees"),
        planner=Planner(),
        engineer=Engineer(),
        request=REQUEST,
        config=EngineConfig(workers=1, escalation_policy="wait"),
        twin=unsure_twin(dna),
        decisions=person,
        simulated=True,
    )
    state = await asyncio.wait_for(factory.run(), 30)
    return state, events, person


async def test_a_human_decision_becomes_dna_and_the_twin_then_decides_alone(
    repo: Path, tmp_path: Path
) -> None:
    dna_file = tmp_path / "owner.toml"
    save_dna(dna_file, OwnerDNA(owner={"name": "Ada"}, heuristics=["Small modules"]))
    config = tmp_path / "shopfloor.toml"
    config.write_text('[twin]\ndna = "owner.toml"\n')

    first, events, person = await run(repo, "run1aaaaaaaa", OwnerDNA.load(dna_file), "accept")
    assert first.outcome is Outcome.SHIPPED, first.reason
    raised = [e for e in events if isinstance(e, EscalationRaised)]
    assert [e.kind for e in raised] == ["twin"] and person is not None and person.asked

    added, where = propose_decisions(first, Settings(twin_dna=dna_file))
    assert added == 1 and where == dna_file.with_name("owner.proposals.json")
    (proposal,) = ProposalBook(dna_file).load()
    assert (proposal.kind, proposal.question, proposal.decision) == ("twin", REQUEST, "accept")
    assert propose_decisions(first, Settings(twin_dna=dna_file))[0] == 0  # not twice

    code, shown = await cli("dna", "show", "--config", str(config))
    assert code == 0 and proposal.proposal_id in shown and "1 proposed entry" in shown
    code, output = await cli("dna", "accept", "--all", "--config", str(config))
    assert code == 0 and f"accepted {proposal.proposal_id}" in output
    assert ProposalBook(dna_file).load() == []
    dna = OwnerDNA.load(dna_file)
    assert dna.heuristics == ["Small modules"] and dna.name == "Ada"
    assert dna.precedent(REQUEST, "twin") is not None

    second, events, _ = await run(repo, "run2bbbbbbbb", dna, None)
    assert second.outcome is Outcome.SHIPPED, second.reason
    assert not [e for e in events if isinstance(e, EscalationRaised)]
    (verdict,) = [e for e in events if isinstance(e, TwinDecided)]
    assert verdict.decision == "ACCEPT" and verdict.confidence >= 0.9 and not verdict.escalated


async def test_the_twin_answers_an_escalation_it_has_a_ruling_for_from_the_dna() -> None:
    question = "Task bye failed the same way twice (x). Retry, skip it, or abort?"
    ruling = DnaDecision(question=question, decision="retry", kind="circuit_breaker")
    twin = unsure_twin(OwnerDNA(decisions=["Prefer SQLite", ruling]))
    seen: list[EventBase] = []
    assert await twin.answer(question, ["retry", "skip", "abort"], "", seen.append) == "retry"
    assert "DNA precedent" in " ".join(getattr(e, "text", "") for e in seen)
    assert "owner decided: retry" in twin.dna.render()


def test_dna_accept_by_id_path_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = tmp_path / "shopfloor.toml"
    config.write_text('[twin]\ndna = "dna/owner.toml"\n')
    assert main(["dna", "path", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "dna" / "owner.toml")
    assert main(["dna", "accept", "--config", str(config)]) == 2  # neither ids nor --all
    assert "--all" in capsys.readouterr().err
    assert main(["dna", "accept", "nope", "--config", str(config)]) == 2
    assert "no proposal matching 'nope'" in capsys.readouterr().err


def test_dna_edit_runs_the_editor_and_checks_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shopfloor.toml"
    config.write_text('[twin]\ndna = "owner.toml"\n')
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "true")
    assert main(["dna", "edit", "--config", str(config)]) == 0
    assert "DNA ok" in capsys.readouterr().out
    assert (tmp_path / "owner.toml").is_file()  # the template was written first
    (tmp_path / "owner.toml").write_text("decisions = 3\n")
    assert main(["dna", "edit", "--config", str(config)]) == 1
    assert "does not load" in capsys.readouterr().out


async def test_the_accept_command_a_run_ends_with_accepts_its_proposals(
    repo: Path, tmp_path: Path
) -> None:
    """A run that proposed DNA entries ended with 'accept with `shopfloor dna accept --dna
    F`', which refused in one line: 'name the proposals to accept, or give --all'."""
    dna_file = tmp_path / "my dna" / "owner.toml"  # a space: the path is quoted
    dna_file.parent.mkdir()
    save_dna(dna_file, OwnerDNA(owner={"name": "Ada"}))
    state, _events, _person = await run(repo, "run3cccccccc", OwnerDNA.load(dna_file), "accept")
    settings = Settings(twin_dna=dna_file)
    added, where = propose_decisions(state, settings)
    line = proposals_line(added, where, settings)
    show, accept = [part for i, part in enumerate(line.split("`")) if i % 2][:2]
    code, shown = await cli(*shlex.split(show)[1:])
    assert code == 0 and "1 proposed entry" in shown
    code, output = await cli(*shlex.split(accept)[1:])
    assert code == 0 and "accepted " in output, output
    assert ProposalBook(dna_file).load() == []
    assert OwnerDNA.load(dna_file).precedent(REQUEST, "twin") is not None

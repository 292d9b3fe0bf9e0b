"""The whole pipeline with fake judging roles on a real git repository: kill gates, review
quorum and patches, the twin's CHANGE loop, the task reviewer, the circuit breaker, QC and the
judge, and resuming a run whose process died."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repo_helpers import git
from test_pipeline import (
    REQUEST,
    RUN_ID,
    ContentGate,
    FakeEngineer,
    FakePlanner,
    blueprint,
    writes,
)

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    CircuitBreakerTripped,
    EventBase,
    KillGateTripped,
    LearningRecorded,
    Merged,
    Outcome,
    ReviewRoundFinished,
    RunResumed,
    TaskReviewed,
    VerificationFinished,
)
from engine.pipeline import Factory
from engine.protocols import EmitFn, GateResult
from engine.roles import (
    BlueprintPatch,
    CriticReport,
    JudgeReport,
    QCReport,
    ReviewReport,
    TaskReview,
    TwinVerdict,
    VerifierReport,
)
from engine.state import RunState
from engine.workspace import GitWorkspaces

PLAN = blueprint(
    Task(id="core", title="Core", files=["core.txt"]),
    Task(id="cli", title="CLI", depends_on=["core"], files=["cli.txt"]),
)
SCRIPTS = {"core": writes({"core.txt": "hello\n"}), "cli": writes({"cli.txt": "cli\n"})}


@dataclass
class FakeCritic:
    score: float = 8.0
    risk: str = "low"
    model: str = "fake:critic"

    async def critique(self, request: str, repo_files: Sequence[str], emit: EmitFn) -> CriticReport:
        names = ("value", "feasibility", "clarity", "scope", "testability")
        return CriticReport(scores=dict.fromkeys(names, self.score), compliance_risk=self.risk)


@dataclass
class FakeReviewer:
    reviewer_id: str
    scores: list[int]
    patches: list[BlueprintPatch] = field(default_factory=list)
    family: str = "other"

    async def review(self, request: str, bp: Blueprint, round: int, emit: EmitFn) -> ReviewReport:
        score = self.scores[min(round, len(self.scores)) - 1]
        patches, self.patches = self.patches, []
        return ReviewReport(score=score, findings=[f"{self.reviewer_id} r{round}"], patches=patches)


@dataclass
class FakeTwin:
    verdicts: list[TwinVerdict]

    async def decide(self, request: str, bp: Blueprint, emit: EmitFn) -> TwinVerdict:
        return self.verdicts.pop(0)

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        return options[0]


@dataclass
class FakeTaskReviewer:
    reject_first: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)

    async def review_task(
        self, task: Task, diff: str, gates: Sequence[GateResult], emit: EmitFn, *, attempt: int
    ) -> TaskReview:
        self.seen.append(task.id)
        if task.id in self.reject_first:
            self.reject_first.discard(task.id)
            return TaskReview(approved=False, score=40, notes="name the constant")
        return TaskReview(approved=True, score=97)


class FakeQC:
    def __init__(self, score: int) -> None:
        self.score = score

    async def assess(self, bp: Blueprint, diff: str, emit: EmitFn) -> QCReport:
        assert "core.txt" in diff
        return QCReport(score=self.score)


class FakeVerifier:
    async def attack(self, bp: Blueprint, workspace: Path, emit: EmitFn) -> VerifierReport:
        assert (workspace / "cli.txt").exists()
        return VerifierReport(tried=["empty input"])


@dataclass
class FakeJudge:
    checklist: dict[str, bool] = field(default_factory=lambda: {"tests pass": True})
    score: int = 93

    async def judge(
        self, bp: Blueprint, v: VerifierReport, gates: Sequence[GateResult], emit: EmitFn
    ) -> JudgeReport:
        return JudgeReport(checklist=self.checklist, score=self.score)


@dataclass
class Run:
    state: RunState
    events: list[EventBase]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def make_factory(
    repo: Path, root: Path, bus: EventBus, request: str = REQUEST, **kw: object
) -> Factory:
    kw.setdefault("planner", FakePlanner(PLAN))
    kw.setdefault("engineer", FakeEngineer(dict(SCRIPTS)))
    kw.setdefault("config", EngineConfig(workers=2, max_attempts=3))
    workspaces = GitWorkspaces(repo, RUN_ID, root)
    return Factory(bus=bus, workspaces=workspaces, request=request, **kw)  # type: ignore[arg-type]


async def run(repo: Path, root: Path, **kw: object) -> Run:
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(repo, root, bus, **kw)
    state = await asyncio.wait_for(factory.run(), 60)
    return Run(state, events)


async def test_a_low_critic_score_kills_the_run_before_any_blueprint(user_repo, worktree_root):
    planner = FakePlanner(PLAN)
    result = await run(user_repo, worktree_root, critic=FakeCritic(score=3), planner=planner)
    assert result.state.outcome is Outcome.KILLED
    assert result.state.kill_gate == "min_critic_score"
    assert result.state.reason.startswith("kill gate min_critic_score: critic score 3.0/10")
    assert [e.gate for e in result.of(KillGateTripped)] == ["min_critic_score"]
    assert result.of(BlueprintProposed) == [] and planner.requests == []


async def test_review_patches_apply_and_a_missed_quorum_escalates_then_a_human_approves(
    user_repo, worktree_root
):
    rename = BlueprintPatch(search='"title": "CLI"', replace='"title": "Command line"')
    reviewers = [FakeReviewer("r1", [96], [rename]), FakeReviewer("r2", [80, 90])]
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(
        user_repo,
        worktree_root,
        bus,
        reviewers=reviewers,
        config=EngineConfig(workers=2, review_rounds=2),
    )
    task = asyncio.create_task(factory.run())
    while not bus.state.open_escalations:  # noqa: ASYNC110 - polling the folded state
        await asyncio.sleep(0.01)
    (esc,) = bus.state.open_escalations
    assert esc.kind == "review" and esc.options == ["approve", "revise", "reject"]
    assert factory.broker.decide(esc.escalation_id, "approve", "human:ann", "ship it")
    state = await asyncio.wait_for(task, 60)
    assert state.outcome is Outcome.SHIPPED, state.reason
    rounds = [(e.round, e.passed, e.quorum) for e in events if isinstance(e, ReviewRoundFinished)]
    assert rounds == [(1, False, 2), (2, False, 2)]
    assert state.blueprint is not None and state.blueprint.task("cli").title == "Command line"
    proposals = [(e.revision, e.source) for e in events if isinstance(e, BlueprintProposed)]
    assert proposals == [(1, "planner"), (2, "review")]
    assert "Command line" in git(user_repo, "log", "--format=%s", state.branch or "")
    learned = [e for e in events if isinstance(e, LearningRecorded)]
    decisions = [(lr.kind, lr.source) for lr in learned if lr.kind == "decision"]
    assert decisions == [("decision", "human:esc-1")]
    assert any(lr.kind == "rule" and lr.source.startswith("review:") for lr in learned)


async def test_a_missed_quorum_under_the_reject_policy_kills_the_run(user_repo, worktree_root):
    result = await run(
        user_repo,
        worktree_root,
        reviewers=[FakeReviewer("r1", [50])],
        config=EngineConfig(review_rounds=1, escalation_policy="reject"),
    )
    assert result.state.outcome is Outcome.KILLED
    assert result.state.reason == "the plan was rejected after review (policy:reject)"


async def test_the_twin_sends_the_plan_back_with_notes_then_accepts(user_repo, worktree_root):
    planner = FakePlanner(PLAN)
    twin = FakeTwin(
        [
            TwinVerdict(decision="CHANGE", confidence=0.9, notes="split the CLI"),
            TwinVerdict(decision="ACCEPT", confidence=0.95),
        ]
    )
    result = await run(user_repo, worktree_root, planner=planner, twin=twin)
    assert result.state.outcome is Outcome.SHIPPED, result.state.reason
    assert [r.notes for r in planner.requests] == ["", "split the CLI"]
    assert [e.source for e in result.of(BlueprintProposed)] == ["planner", "twin"]
    assert result.state.scores.twin_decision == "ACCEPT"


async def test_a_twin_reject_kills_and_low_confidence_escalates(user_repo, worktree_root):
    reject = FakeTwin([TwinVerdict(decision="REJECT", confidence=0.9, notes="not ours")])
    result = await run(user_repo, worktree_root, twin=reject)
    assert result.state.outcome is Outcome.KILLED
    assert result.state.reason == "the twin rejected the plan: not ours"
    unsure = FakeTwin([TwinVerdict(decision="ACCEPT", confidence=0.3)])
    result = await run(
        user_repo,
        worktree_root,
        twin=unsure,
        config=EngineConfig(escalation_policy="wait", escalation_timeout_s=0.05),
    )
    assert result.state.outcome is Outcome.KILLED
    (esc,) = result.state.escalations.values()
    assert (esc.kind, esc.decision, esc.decided_by) == ("twin", "reject", "timeout")


async def test_task_review_rejection_retries_and_qc_and_judge_pass(user_repo, worktree_root):
    reviewer = FakeTaskReviewer(reject_first={"core"})
    engineer = FakeEngineer(dict(SCRIPTS))
    result = await run(
        user_repo,
        worktree_root,
        engineer=engineer,
        task_reviewer=reviewer,
        qc=FakeQC(90),
        verifier=FakeVerifier(),
        judge=FakeJudge(),
    )
    assert result.state.outcome is Outcome.SHIPPED, result.state.reason
    assert [(e.task_id, e.approved) for e in result.of(TaskReviewed)] == [
        ("core", False),
        ("core", True),
        ("cli", True),
    ]
    retry = engineer.attempts("core")[1]
    assert "The task reviewer requested changes (score 40/100):\nname the constant" in (
        retry.failure_context
    )
    (verified,) = result.of(VerificationFinished)
    assert (verified.score, verified.passed) == (93, True)
    assert result.state.scores.qc == 90
    assert any(lr.source == "retry:core" for lr in result.of(LearningRecorded))


async def test_a_judge_whose_checklist_fails_does_not_ship_on_a_high_score(
    user_repo, worktree_root
):
    checklist = {"greets": True, "refuses blank names": False, "tests cover it": False}
    result = await run(user_repo, worktree_root, judge=FakeJudge(checklist, score=95))
    assert result.state.outcome is Outcome.FAILED
    assert result.state.branch is None
    assert result.state.reason == (
        "the judge scored 95/100 but its checklist passes 1 of 3 items (33/100), below 90; "
        "failed: refuses blank names, tests cover it"
    )
    (verified,) = result.of(VerificationFinished)
    assert (verified.score, verified.passed) == (95, False)


async def test_code_qc_below_its_threshold_fails_the_run(user_repo, worktree_root):
    result = await run(user_repo, worktree_root, qc=FakeQC(60))
    assert result.state.outcome is Outcome.FAILED
    assert result.state.reason == "code QC scored 60/100, below 85"
    assert result.state.branch is None


async def test_the_same_failure_twice_trips_the_breaker_and_escalates(user_repo, worktree_root):
    engineer = FakeEngineer({"core": writes({"core.txt": "bye\n"}), "cli": SCRIPTS["cli"]})
    result = await run(
        user_repo,
        worktree_root,
        engineer=engineer,
        task_gates=(ContentGate("tests", "core.txt", "hello"),),
        config=EngineConfig(max_attempts=5, escalation_policy="reject"),
    )
    assert result.state.outcome is Outcome.FAILED
    assert len(engineer.attempts("core")) == 2  # not 5: the breaker stopped the retries
    (tripped,) = result.of(CircuitBreakerTripped)
    assert tripped.task_id == "core" and tripped.attempt == 2
    (esc,) = result.state.escalations.values()
    assert (esc.kind, esc.options, esc.decision) == (
        "circuit_breaker",
        ["retry", "skip", "abort"],
        "skip",
    )
    assert result.state.tasks["core"].reason == "circuit breaker: skipped by policy:reject"
    assert result.state.tasks["cli"].state.value == "blocked"


async def test_a_resumed_run_finds_lost_merges_in_the_repo_and_never_merges_twice(
    user_repo, worktree_root
):
    engineer = FakeEngineer(dict(SCRIPTS), delays={"cli": 30})  # the crash hits during cli
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    task = asyncio.create_task(make_factory(user_repo, worktree_root, bus, engineer=engineer).run())
    while "core" not in bus.state.merged or bus.state.tasks["cli"].state.value != "running":  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    task.cancel()  # like a crash: no RunFinished
    await asyncio.gather(task, return_exceptions=True)
    assert bus.state.outcome is Outcome.RUNNING
    # The Merged event of core died with the process; the integration branch has the commit.
    log = [e for e in events if not isinstance(e, Merged)]
    folded = RunState.fold(log)
    assert folded.merged == [] and folded.tasks["cli"].state.value == "running"

    engineer2 = FakeEngineer(dict(SCRIPTS))
    seq_before = folded.last_seq
    bus2 = EventBus(RUN_ID, state=folded)
    later: list[EventBase] = []
    bus2.listen(later.append)
    state = await asyncio.wait_for(
        make_factory(user_repo, worktree_root, bus2, engineer=engineer2).run(), 60
    )
    assert state.outcome is Outcome.SHIPPED, state.reason
    assert later[0].seq == seq_before + 1  # the sequence goes on
    (resumed,) = [e for e in later if isinstance(e, RunResumed)]
    assert resumed.merged_from_repo == ["core"] and resumed.restarted == ["cli"]
    assert state.merged == ["core", "cli"]
    assert [j.task.id for j in engineer2.jobs] == ["cli"]  # core was not built again
    assert engineer2.jobs[0].attempt == 1
    assert git(user_repo, "log", "--format=%s", state.branch or "").splitlines() == [
        "CLI",
        "Core",
        *git(user_repo, "log", "--format=%s", "main").splitlines(),
    ]


GAVE_UP = "anthropic:claude: connection failed (gave up after 4 attempts)"


@dataclass
class FakeCodeReviewer:
    """A code reviewer that answers ``answer``, or raises it (its provider gave up)."""

    reviewer_id: str
    answer: ReviewReport | Exception
    model: str = "gemini:pro"

    async def review(self, request: str, bp: Blueprint, round: int, emit: EmitFn) -> ReviewReport:
        raise AssertionError("an audit reviews the code, not a blueprint")

    async def review_code(
        self, request: str, repo_map: str, sources: str, emit: EmitFn
    ) -> ReviewReport:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def giving_up() -> FakeCodeReviewer:
    return FakeCodeReviewer("r1", RuntimeError(f"{GAVE_UP}\nmore"))


async def audit(repo: Path, root: Path, reviewers: list[FakeCodeReviewer]) -> tuple[Run, Path]:
    """An audit run of ``repo`` by ``reviewers``, and the folder of its report."""
    report_dir = root.parent / "report"
    result = await run(repo, root, mode="audit", report_dir=report_dir, reviewers=reviewers)
    return result, report_dir


async def test_an_audit_whose_every_reviewer_gives_up_fails_in_one_line_and_keeps_the_report(
    user_repo, worktree_root
):
    result, report_dir = await audit(user_repo, worktree_root, [giving_up()])
    assert result.state.outcome is Outcome.FAILED
    assert result.state.reason == (
        "audit failed: every code reviewer failed (r1: anthropic:claude: connection failed "
        f"(gave up after 4 attempts)); the gates' report is at {report_dir / 'audit.md'}"
    )
    report = json.loads((report_dir / "audit.json").read_text())
    assert report["reviews"] == [] and "gates" in report
    assert report["review_failures"] == [
        "r1: anthropic:claude: connection failed (gave up after 4 attempts)"
    ]


async def test_an_audit_keeps_the_reviews_it_got_when_one_reviewer_gives_up(
    user_repo, worktree_root
):
    scoring = FakeCodeReviewer(
        "r2", ReviewReport(score=70, findings=["README.md:1: says too little"])
    )
    result, report_dir = await audit(user_repo, worktree_root, [giving_up(), scoring])
    assert result.state.outcome is Outcome.REPORTED
    assert result.state.reason == (
        f"audit report: {report_dir / 'audit.md'} (1 code reviewer(s) failed)"
    )
    markdown = (report_dir / "audit.md").read_text()
    assert "### NOT REVIEWED r1: anthropic:claude: connection failed" in markdown
    assert "### r2 (gemini:pro): 70/100" in markdown
    assert "- `README.md:1` says too little" in markdown
    said = [e.text for e in result.of(AgentOutput) if e.agent_id == "audit"]
    assert (
        said[0]
        == "not reviewed: r1: anthropic:claude: connection failed (gave up after 4 attempts)"
    )
    assert said[-1].endswith("; 1 of 2 code reviewer(s) failed")


async def test_an_audit_that_cannot_write_its_report_says_where(user_repo, worktree_root):
    report_dir = worktree_root.parent / "report"
    report_dir.write_text("a file where the report folder goes\n")
    result = await run(user_repo, worktree_root, mode="audit", report_dir=report_dir)
    assert result.state.outcome is Outcome.FAILED
    assert result.state.reason.startswith(f"cannot write the audit report to {report_dir}: ")


class RecordingPublisher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def publish(self, branch: str, base: str, title: str, body: str) -> str:
        self.calls.append((branch, title))
        return "https://example.invalid/pull/1"


async def test_a_key_pasted_into_the_request_names_no_branch_and_titles_no_pull_request(
    user_repo, worktree_root
):
    """The log kept the request cleaned, but the shipped branch was named from it as typed
    (``shopfloor/add-sk-proj-...``) and the pull request titled with it: a key in git for good,
    and on GitHub."""
    key = "sk-proj-" + "Zx9Q" * 6
    publisher = RecordingPublisher()
    bus = EventBus(RUN_ID)
    factory = Factory(
        bus=bus,
        workspaces=GitWorkspaces(user_repo, RUN_ID, worktree_root),
        request=f"Call with {key} the greeting",
        planner=FakePlanner(PLAN),
        engineer=FakeEngineer(dict(SCRIPTS)),
        config=EngineConfig(workers=2, max_attempts=3),
        publisher=publisher,
    )
    state = await asyncio.wait_for(factory.run(), 60)
    assert state.outcome is Outcome.SHIPPED, state.reason
    assert state.branch is not None and key.lower()[:12] not in state.branch.lower()
    assert "redacted" in state.branch
    [(branch, title)] = publisher.calls
    assert branch == state.branch and key not in title and "[REDACTED]" in title
    assert key not in git(user_repo, "for-each-ref", "--format=%(refname)")


@dataclass
class KeyQuotingEngineer(FakeEngineer):
    """Says in its summary the key it used, as a model's ``finish`` may."""

    key: str = ""

    async def work(self, job, emit):
        report = await super().work(job, emit)
        return dataclasses.replace(report, summary=f"{report.summary}; called it with {self.key}")


async def test_a_key_in_the_engineers_summary_stays_out_of_the_commit_message(
    user_repo, worktree_root
):
    """The summary is the commit message's body: a key an engineer quoted went into git, in
    every task commit of the shipped branch (the events were cleaned, the message not)."""
    key = "sk-proj-" + "Qw3E" * 6
    engineer = KeyQuotingEngineer(dict(SCRIPTS), key=key)
    result = await run(user_repo, worktree_root, engineer=engineer)
    assert result.state.outcome is Outcome.SHIPPED, result.state.reason
    messages = git(user_repo, "log", "--format=%B", f"main..{result.state.branch}")
    assert key not in messages and "called it with [REDACTED]" in messages


@dataclass
class DiffReader:
    """A task reviewer and a code QC that keep the diffs they were sent."""

    diffs: list[str] = field(default_factory=list)

    async def review_task(
        self, task: Task, diff: str, gates: Sequence[GateResult], emit: EmitFn, *, attempt: int
    ) -> TaskReview:
        self.diffs.append(diff)
        return TaskReview(approved=True, score=95)

    async def assess(self, bp: Blueprint, diff: str, emit: EmitFn) -> QCReport:
        self.diffs.append(diff)
        return QCReport(score=95)


async def test_the_diffs_models_judge_have_secret_values_masked(user_repo, worktree_root):
    """A task's diff went to the task reviewer and to code QC, third-party models, as it
    was: a key-shaped value it added, and the values of a ``.env`` it wrote. Now both are
    masked in what they are sent (the names and the rest of the change stay)."""
    key = "sk-ant-api03-addedbythetask0123456789"
    scripts = {
        "core": writes({"core.txt": f"hello\nKEY={key}\n", ".env": "DB_PASSWORD=hunter2hunter2\n"}),
        "cli": writes({"cli.txt": "cli\n"}),
    }
    reader = DiffReader()
    result = await run(
        user_repo,
        worktree_root,
        engineer=FakeEngineer(scripts),
        task_reviewer=reader,
        qc=reader,
    )
    assert result.state.outcome is Outcome.SHIPPED, result.state.reason
    assert len(reader.diffs) == 3  # two tasks reviewed, one change judged by QC
    for diff in (reader.diffs[0], reader.diffs[-1]):
        assert "+KEY=[REDACTED]" in diff and "+DB_PASSWORD=[REDACTED]" in diff
    for diff in reader.diffs:
        assert key not in diff and "hunter2hunter2" not in diff

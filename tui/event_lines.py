"""What each event of a run says on the headless console: one concise line per meaningful
event (the stages' decisions with their scores: tui/decision_lines.py).

:class:`EventLines` turns an event into rich :class:`~rich.text.Text` lines (none for the
events that are noise), reading the run folded so far for task titles, attempt counts and
the escalation policy. :class:`~tui.headless.ConsoleReporter` folds the run, then prints
these lines. It never imports Textual.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetLimitsSet,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    KillGateTripped,
    LLMCallFinished,
    MergeConflict,
    Merged,
    Outcome,
    QCScored,
    ReviewRoundFinished,
    RunFinished,
    RunResumed,
    RunStarted,
    StageChanged,
    TaskState,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from engine.request_title import split_request
from engine.spend import dollars
from engine.stages import passes
from engine.state import RunState
from tui.decision_lines import (
    FAIL,
    PASS,
    critic_line,
    first_line,
    limits_text,
    review_round_line,
    verification_line,
)
from tui.plan_text import PLAN_ESCALATIONS
from tui.text import SIM_BADGE, answer_command, cost_text

NOTICE = ("»", "bold yellow")
REVISED_BY = {
    "planner": "redrawn by the planner",
    "review": "the reviewers' patches",
    "twin": "redrawn on the twin's notes",
    "human": "redrawn on a person's notes",
}
"""Who made a blueprint revision, as the console says it."""
OUTCOME_STYLES = {
    Outcome.RUNNING: "yellow",
    Outcome.SHIPPED: "bold green",
    Outcome.REPORTED: "bold green",
    Outcome.FAILED: "bold red",
    Outcome.KILLED: "bold red",
}
TASK_STATE_STYLES = {
    TaskState.READY: "cyan",
    TaskState.RUNNING: "yellow",
    TaskState.GATES: "magenta",
    TaskState.MERGING: "blue",
    TaskState.FAILED: "bold red",
    TaskState.BLOCKED: "red",
}


class EventLines:
    """The lines each event prints as, on the run as folded so far."""

    state: RunState
    """The run, with the event to describe already folded in."""
    verbose: bool
    """Also agent starts, LLM calls and every agent output line."""
    answered: Mapping[str, str]
    """A resume: the answers posted to the run's open escalations while it was stopped,
    which it takes (escalation id -> decision)."""
    db: str
    """The ``--db`` of the run's database (:func:`storage.paths.db_option`), which the
    commands the lines name carry ("" for the default database)."""

    def describe(self, event: EventBase) -> list[Text]:
        """The lines ``event`` prints as (after it was folded into :attr:`state`)."""
        match event:
            case RunStarted():
                return [self._run_started(event)]
            case StageChanged():
                return [Text.assemble("stage ", (event.stage.value, "bold"))]
            case BlueprintProposed():
                ids = [task.id for task in event.blueprint.tasks]
                shown = ", ".join(ids) if len(ids) <= 8 else ", ".join(ids[:8]) + ", …"
                # A later revision says who made it: the reviewers' patches, the twin's or a
                # person's change (a second bare "blueprint:" line read as a repeat).
                label = (
                    f"blueprint revision {event.revision} ({REVISED_BY[event.source]})"
                    if event.revision > 1
                    else "blueprint"
                )
                return [Text.assemble((label, "bold"), f": {len(ids)} tasks ({shown})")]
            # The decisions of the stages before and after the build, with their scores: an
            # overnight log read in the morning says why the run went on or stopped.
            case CriticScored():
                return [critic_line(event)]
            case KillGateTripped():
                return [
                    Text.assemble(FAIL, (f" kill gate {event.gate}", "bold"), f": {event.reason}")
                ]
            case ReviewRoundFinished():
                return [review_round_line(event)]
            case TwinDecided():
                escalated = ", below its threshold: asked" if event.escalated else ""
                return [
                    Text.assemble(
                        ("twin ", "bold"),
                        (event.decision, "bold"),
                        f" (confidence {event.confidence:.2f}{escalated})",
                    )
                ]
            case QCScored():
                mark = PASS if passes(event.score, event.threshold) else FAIL
                return [
                    Text.assemble(mark, f" qc {event.score}/100 (≥ {event.threshold} to go on)")
                ]
            case VerificationFinished():
                return [verification_line(event)]
            case TaskStateChanged():
                return self._task_state(event)
            case GateFinished():
                return [self._gate(event)]
            case Merged():
                return [
                    Text.assemble(
                        PASS,
                        " ",
                        (event.task_id, "bold"),
                        " merged",
                        f" @{event.commit[:10]} (attempt {event.attempt})",
                    )
                ]
            case MergeConflict():
                return [
                    Text.assemble(
                        FAIL,
                        " ",
                        (event.task_id, "bold"),
                        f" merge conflict (attempt {event.attempt}): {first_line(event.detail)}",
                    )
                ]
            case EscalationRaised():
                return self._escalation(
                    event.escalation_id, event.question, event.options, event.kind
                )
            case RunResumed():
                return self._run_resumed()
            case BudgetLimitsSet():
                return [Text.assemble(("budget ", "bold"), f"set by hand: {limits_text(event)}")]
            case EscalationResolved():
                # A person's reason or note ("reject --reason ...") is why the run goes
                # on as it does: said with the answer, as status --json keeps it.
                note = first_line(event.note)
                return [
                    Text.assemble(
                        ("escalation ", "bold"),
                        event.escalation_id,
                        f" → {event.decision} (by {event.decided_by})",
                        f": {note}" if note else "",
                    )
                ]
            case RunFinished():
                return [self._run_finished(event)]
            case AgentOutput(kind="notice"):
                # A retry's wait, a fallback, a model skipped while down: said even without
                # -v, in one line, since it explains a slow or differently priced run.
                return [
                    Text.assemble(
                        NOTICE, " ", (event.agent_id, "bold"), f": {' '.join(event.text.split())}"
                    )
                ]
            case AgentOutput() if self.verbose:
                return [
                    Text.assemble((f"  {event.agent_id} │ ", "dim"), line)
                    for line in event.text.splitlines() or [""]
                ]
            case AgentStarted() if self.verbose:
                return [self._agent_started(event)]
            case AgentFinished() if self.verbose or not event.ok:
                mark = PASS if event.ok else FAIL
                summary = f": {event.summary}" if event.summary else ""
                return [Text.assemble(mark, f" agent {event.agent_id} finished{summary}")]
            case LLMCallFinished() if self.verbose:
                cached = f" ({event.cache_read_tokens} cached)" if event.cache_read_tokens else ""
                text = Text(
                    f"  {event.agent_id} llm {event.model} "
                    f"{'≈' if event.tokens_estimated else ''}{event.prompt_tokens} in{cached}"
                    f" / {event.output_tokens} out "
                    f"{event.latency_s:.2f}s "
                    + (dollars(event.cost_usd) if event.priced else "$? (no price)"),
                    style="dim",
                )
                if event.simulated:
                    text.append(" ")
                    text.append(*SIM_BADGE)
                return [text]
        return []

    def _escalation(
        self, escalation_id: str, question: str, options: list[str], kind: str
    ) -> list[Text]:
        shown = f" [{' / '.join(options)}]" if options else ""
        lines = [
            Text.assemble(("escalation ", "bold yellow"), escalation_id, f": {question}{shown}")
        ]
        if self.state.settings.get("escalation_policy") == "wait":
            # Nobody at this console can press a key: say where the answer comes from.
            run = self.state.run_id
            lines.append(
                Text(
                    f"  waiting for a human: "
                    f"{answer_command(escalation_id, run, options, db=self.db)}, "
                    f"or shopfloor attach {run}{self.db}",
                    style="dim",
                )
            )
            if kind in PLAN_ESCALATIONS:
                lines.append(
                    Text(f"  the plan: shopfloor status {run} --plan{self.db}", style="dim")
                )
        return lines

    def _run_resumed(self) -> list[Text]:
        """Where the resumed run goes on from, and the escalations still open in its log: a
        run resumed while waiting on one asks it again without raising it anew, and would
        otherwise sit silent."""
        state = self.state
        merged = sum(1 for task in state.tasks.values() if task.state is TaskState.MERGED)
        lines = [
            Text.assemble(
                ("run ", "bold"),
                (state.run_id, "bold"),
                f" resumed at stage {state.stage.value} ({merged}/{len(state.tasks)} merged)",
            )
        ]
        for view in state.open_escalations:
            asked = self._escalation(view.escalation_id, view.question, view.options, view.kind)
            posted = self.answered.get(view.escalation_id)
            # Answered from another shell while stopped, it is taken at once: not asked again.
            said = f"  answered while the run was stopped: {posted}"
            lines.extend(asked if posted is None else [asked[0], Text(said, style="dim")])
        return lines

    def _run_started(self, event: RunStarted) -> Text:
        text = Text()
        if event.simulated:
            text.append(*SIM_BADGE)
            text.append(" ")
        text.append("run ", style="bold")
        text.append(event.run_id, style="bold")
        # A request file's leading Markdown heading is its title, without the #s.
        first, rest, _ = split_request(event.request)
        if len(first) > 90 or rest:
            first = first[:89].rstrip() + "…"
        text.append(f" started ({event.mode}): {first}")
        text.append(f"  repo {event.repo} @ {event.base_branch}", style="dim")
        return text

    def _task_state(self, event: TaskStateChanged) -> list[Text]:
        # PENDING is every task's first state and MERGED is reported by the Merged event.
        if event.state in (TaskState.PENDING, TaskState.MERGED):
            return []
        text = Text.assemble((event.task_id, "bold"), " ")
        text.append(event.state.value, style=TASK_STATE_STYLES.get(event.state, ""))
        if event.state in (TaskState.RUNNING, TaskState.GATES) and event.attempt:
            text.append(f" (attempt {event.attempt})")
        elif event.state is TaskState.FAILED:
            text.append(
                f" after {self.state.tasks[event.task_id].attempts} attempt(s)"
                if event.task_id in self.state.tasks
                else ""
            )
        if event.reason:
            text.append(f": {event.reason}")
        return [text]

    def _gate(self, event: GateFinished) -> Text:
        text = Text.assemble(PASS if event.passed else FAIL, " ")
        text.append(f"{self._gate_label(event)} {event.gate}")
        if event.task_id is not None:
            text.append(" ")
            text.append(f"{event.task_id}#{event.attempt}", style="bold")
        text.append(f": {event.summary}")
        if not event.passed:
            finding = event.findings[0] if event.findings else first_line(event.output_tail)
            if finding and finding != event.summary:  # a tool that failed outright: one line
                text.append(f" — {finding}", style="red")
        return text

    def _gate_label(self, event: GateFinished) -> str:
        """What a gate checked: a task's attempt ("gate"), a merge, the final verification,
        an update's base commit before it changes anything, or the audited checkout (the
        last two carry the verification's scope: an update's printed "verify gate" before
        its critic stage, an audit's under "stage review")."""
        if event.scope == "task":
            return "gate"
        if event.scope == "verify" and event.task_id is None:
            if self.state.mode == "audit":
                return "audit gate"
            if self.state.is_baseline(event):
                return "baseline gate"
        return f"{event.scope} gate"

    def _agent_started(self, event: AgentStarted) -> Text:
        text = Text.assemble(("agent ", "dim"), (event.agent_id, "bold"))
        text.append(f" {event.role} on {event.model}")
        if event.task_id is not None:
            text.append(f" for {event.task_id}#{event.attempt}")
        if event.simulated:
            text.append(" ")
            text.append(*SIM_BADGE)
        return text

    def _run_finished(self, event: RunFinished) -> Text:
        state = self.state
        text = Text.assemble(
            ("run finished: ", "bold"), (event.outcome.value, OUTCOME_STYLES[event.outcome])
        )
        if event.reason:
            text.append(f" ({event.reason})")
        if event.branch:
            text.append(f"  branch {event.branch}")
        if event.commit:
            text.append(f" @{event.commit[:10]}")
        merged = sum(1 for task in state.tasks.values() if task.state is TaskState.MERGED)
        text.append(
            f"  merged {merged}/{len(state.tasks)}  tokens {state.input_tokens} in"
            + (f" ({state.cached_tokens} cached)" if state.cached_tokens else "")
            + f" / {state.output_tokens} out  {cost_text(state.cost_usd, state.unpriced_models)}",
            style="dim",
        )
        if state.simulated:
            text.append(" ")
            text.append(*SIM_BADGE)
        return text

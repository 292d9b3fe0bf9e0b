"""The sim provider: offline, deterministic, scripted by a playbook. Always labelled SIM.

It speaks the same interface as a real provider. Given a request it finds its script from the
request's labels (role, task, attempt), picks the turn by counting the assistant turns already
in the conversation, waits a latency drawn from a lognormal distribution (divided by
``speed``), streams the turn's text and returns its tool calls. The caller's loop executes
those calls with its real tools, so everything around the sim is exercised for real. The
judging roles (critic, reviewers, twin, ...) are answered by agents/sim_answers.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable

from agents.playbook import Playbook
from agents.provider import Completion, CompletionRequest, Message, ProviderError, ToolCall, Usage
from agents.sim_answers import STRUCTURED_ROLES, scripted_turn, structured_answer


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _prompt_text(messages: tuple[Message, ...]) -> str:
    return "\n".join(m.content for m in messages if m.role != "assistant")


class SimProvider:
    """A scripted model. ``speed`` > 1 plays faster (tests use 50-1000)."""

    family = "sim"
    simulated = True

    def __init__(self, playbook: Playbook, *, speed: float = 1.0, name: str | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.playbook = playbook
        self.speed = speed
        self._name = name or playbook.name

    @property
    def model(self) -> str:
        return f"sim-{self.playbook.name}"

    @property
    def spec(self) -> str:
        return f"sim:{self._name}"

    async def _pause(self, key: str) -> float:
        timing = self.playbook.timing
        rng = random.Random(f"{timing.seed}:{key}")
        seconds = timing.median_s * math.exp(rng.gauss(0.0, timing.sigma)) / self.speed
        await asyncio.sleep(seconds)
        return seconds

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        started = time.monotonic()
        role = request.labels.get("role", "")
        turn_index = sum(1 for m in request.messages if m.role == "assistant")
        if role == "planner":
            text, calls = self._planner_turn(turn_index)
        elif role == "engineer":
            text, calls = self._engineer_turn(request, turn_index)
        elif role in STRUCTURED_ROLES:
            text, calls = structured_answer(self.playbook, request, turn_index)
        else:
            raise ProviderError(
                f"SIM playbook {self.playbook.name!r} has no script for role {role!r}"
            )
        labels = request.labels
        who = labels.get("task") or labels.get("reviewer") or labels.get("mode") or ""
        key = f"{role}:{who}:{labels.get('attempt') or labels.get('round', '')}:{turn_index}"
        await self._pause(key)
        if on_text is not None and text:
            for piece in text.split(" "):
                on_text(piece + " ")
        prompt = request.system + _prompt_text(request.messages)
        output = text + "".join(json.dumps(c.arguments) for c in calls)
        return Completion(
            text=text,
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=_estimate_tokens(prompt), output_tokens=_estimate_tokens(output)
            ),
            stop_reason="tool_use" if calls else "end_turn",
            model=self.model,
            latency_s=time.monotonic() - started,
        )

    def _planner_turn(self, turn_index: int) -> tuple[str, list[ToolCall]]:
        if self.playbook.blueprint is None:
            raise ProviderError(f"SIM playbook {self.playbook.name!r} scripts no blueprint")
        return self.playbook.blueprint.model_dump_json(indent=2), []

    def _engineer_turn(
        self, request: CompletionRequest, turn_index: int
    ) -> tuple[str, list[ToolCall]]:
        task_id = request.labels.get("task", "")
        attempt = int(request.labels.get("attempt", "1"))
        script = self.playbook.engineer.get(task_id)
        if script is None:
            raise ProviderError(
                f"SIM playbook {self.playbook.name!r} has no script for task {task_id!r}"
            )
        attempt_script = script.for_attempt(attempt)
        prompt = request.messages[0].content if request.messages else ""
        missing = [s for s in attempt_script.expect_in_prompt if s not in prompt]
        if missing:
            return (
                "SIM: this attempt's script expects the previous failure in its prompt, "
                f"but {missing[0]!r} is not there; stopping.",
                [],
            )
        if turn_index >= len(attempt_script.turns):
            return "SIM: script exhausted.", []
        return scripted_turn(
            attempt_script.turns[turn_index], f"sim-{task_id}-{attempt}-{turn_index}"
        )

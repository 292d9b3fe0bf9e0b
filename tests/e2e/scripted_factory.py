"""The small factory the loopback models play, whatever wire they speak.

Every loopback model (tests/e2e/openai_model.py, tests/e2e/anthropic_model.py,
tests/e2e/gemini_model.py) answers a request from what it was sent: the system prompt tells
which role is asking, the schema what shape it wants, the conversation so far where a tool loop
stands. What each role then says is the same on every wire and lives here: the critic scores
well, the planner draws two tasks (``shout`` depends on ``core``), reviewer-1 patches the plan
in round one, the twin accepts with a confidence low enough to be asked again (and then answers
``accept``), each engineer writes its test, sees it fail, writes its code (the second task's
first draft has a bug its test catches, fixed with ``edit_file``) and finishes once the suite
passes, the task reviewer and QC approve what the diff shows, the verifier probes the merged
result and breaks nothing, the judge passes every checklist item.

A wire module supplies an :class:`Act` (how one tool-loop turn's reply is written on its wire)
and wraps :func:`structured_reply`'s object in its own reply shape. :class:`WireServer` is the
HTTP server on 127.0.0.1 they all use.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self

from agents.roles import critic, engineer, judge, qc, reviewer, task_reviewer, twin
from agents.roles import verifier as verifier_role

SYSTEMS = {
    "critic": critic.SYSTEM,
    "planner": "You are a precise software planner.",
    "reviewer": reviewer.SYSTEM,
    "twin": twin.SYSTEM,
    "engineer": engineer.SYSTEM,
    "task_reviewer": task_reviewer.SYSTEM,
    "qc": qc.SYSTEM,
    "verifier": verifier_role.SYSTEM,
    "judge": judge.SYSTEM,
}
"""How each role's system prompt starts (the planner's is written inline in its module)."""

ROLES = tuple(SYSTEMS)

FILES: dict[str, dict[str, str]] = {
    "core": {
        "tests/test_core.py": (
            "from greetings.core import greet\n"
            "\n"
            "\n"
            "def test_greet_names_the_person() -> None:\n"
            '    assert greet("Ada") == "Hello, Ada!"\n'
        ),
        "greetings/core.py": (
            '"""The greeting itself."""\n'
            "\n"
            "\n"
            "def greet(name: str) -> str:\n"
            '    """A friendly greeting for ``name``."""\n'
            '    return f"Hello, {name}!"\n'
        ),
    },
    "shout": {
        "tests/test_shout.py": (
            "from greetings.shout import shout\n"
            "\n"
            "\n"
            "def test_shout_is_the_greeting_in_capitals() -> None:\n"
            '    assert shout("Ada") == "HELLO, ADA!"\n'
        ),
        "greetings/shout.py": (
            '"""The greeting, shouted."""\n'
            "\n"
            "from greetings.core import greet\n"
            "\n"
            "\n"
            "def shout(name: str) -> str:\n"
            '    """``greet(name)`` in capitals."""\n'
            "    return greet(name).upper()\n"
        ),
    },
}
"""What each task's engineer writes: its test first, then its code."""

DRAFTS = {"shout": ("    return greet(name).upper()", "    return greet(name).title()")}
"""A task whose first draft of code has a bug its test catches: (right line, drafted line).
The engineer sees the red test and fixes the line with ``edit_file``."""

PROBE = "tests/test_probe_edges.py"
PROBE_TEXT = (
    "from greetings.core import greet\n"
    "from greetings.shout import shout\n"
    "\n"
    "\n"
    "def test_empty_name() -> None:\n"
    '    assert greet("") == "Hello, !"\n'
    "\n"
    "\n"
    "def test_unicode_name_is_upper_cased() -> None:\n"
    '    assert shout("zoë") == "HELLO, ZOË!"\n'
)
"""The probe test the verifier writes into its throwaway worktree."""

ENV_DUMP = ["python", "-c", "import os; print(sorted(os.environ.items()))"]
"""What the verifier runs to see which environment agent commands get."""

VERIFIER_REPORT = {
    "tried": [
        "greet('') and shout('') on an empty name",
        "shout() of a non-ASCII name",
        "the environment agent commands run with",
    ],
    "broken": [],
}

ADDED_CRITERION = "shout() of an empty name returns 'HELLO, !'"
"""The acceptance criterion reviewer-1 patches into the plan in round one."""

BLUEPRINT: dict[str, Any] = {
    "spec": "A tiny greetings package: greet(name) and shout(name), tested with pytest.",
    "acceptance_criteria": [
        "greet('Ada') returns 'Hello, Ada!'",
        "shout('Ada') returns 'HELLO, ADA!'",
    ],
    "tasks": [
        {
            "id": "core",
            "title": "Greet a person by name",
            "description": "greetings/core.py with greet(name) -> 'Hello, NAME!'.",
            "depends_on": [],
            "files": ["greetings/core.py", "tests/test_core.py"],
            "test_plan": "tests/test_core.py checks greet('Ada').",
        },
        {
            "id": "shout",
            "title": "Shout the greeting",
            "description": "greetings/shout.py with shout(name), greet(name) in capitals.",
            "depends_on": ["core"],
            "files": ["greetings/shout.py", "tests/test_shout.py"],
            "test_plan": "tests/test_shout.py checks shout('Ada').",
        },
    ],
}


class Refusal(Exception):
    """A request the loopback server does not accept (answered with HTTP 400)."""


REPAIR = "That reply is not a valid "
"""How a role's re-ask after an invalid reply starts (agents/structured.py)."""


@dataclass(kw_only=True)
class Ledger:
    """What a loopback model saw: the requests it answered (each with a ``role``), and what
    it refused as a strict server would."""

    seen: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    context_tokens: int | None = None
    """The model's context window: a request whose prompt (its body's bytes / 4, as the
    servers bill it) and ``max_tokens`` exceed it is refused as the server would say so."""
    prompts: list[int] = field(default_factory=list)
    """The prompt tokens of each request measured against it."""
    overflows: list[int] = field(default_factory=list)
    """The prompt tokens of each request refused for its size."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def over_context(self, raw: bytes, answer_tokens: int) -> int | None:
        """The prompt's tokens when it and the answer do not fit :attr:`context_tokens`."""
        prompt = len(raw) // 4
        with self._lock:
            self.prompts.append(prompt)
        if self.context_tokens is None or prompt + answer_tokens <= self.context_tokens:
            return None
        with self._lock:
            self.overflows.append(prompt)
        return prompt

    def roles_seen(self) -> set[str]:
        with self._lock:
            return {s.role for s in self.seen}

    def number(self) -> int:
        """The next request's number (1, 2, ...)."""
        with self._lock:
            self._count += 1
            return self._count

    def refuse(self, exc: Exception) -> str:
        """Note a request refused for ``exc``; the message to answer it with."""
        with self._lock:
            self.problems.append(f"{type(exc).__name__}: {exc}")
        return str(exc)


REFUSALS = (Refusal, ValueError, KeyError, TypeError, IndexError, AttributeError)
"""What refuses a request: a strict check, or a request too malformed to read."""


Call = tuple[str, dict[str, Any]]
"""A tool call: its name and its arguments."""


class Act(Protocol):
    """One tool-loop turn's reply, written on a wire: tool calls, or text alone."""

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already holds."""
        ...

    def reply(self, text: str, *calls: Call) -> dict[str, Any]:
        """Some text and the tool calls ``(name, arguments)`` of this turn."""
        ...

    def say(self, text: str) -> dict[str, Any]:
        """Text and no tool call: the turn that ends a loop."""
        ...


def role_of(system: str) -> str:
    """The role asking, from the start of its system prompt."""
    for role, start in SYSTEMS.items():
        if system.startswith(start):
            return role
    raise Refusal(f"no role starts its system prompt like this: {system[:80]!r}")


def check_tools(role: str, tools: set[str]) -> None:
    """The engineer and the verifier are offered the toolbelt (only the engineer ``finish``)."""
    if "run_tests" not in tools or ("finish" in tools) != (role == "engineer"):
        raise Refusal(f"the {role} was offered the wrong tools: {sorted(tools)}")


def structured_reply(role: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The valid JSON object ``role`` answers ``prompt`` with (``schema`` is what it asked)."""
    if role == "critic":
        scores = {"value": 8, "feasibility": 9, "clarity": 8, "scope": 8, "testability": 9}
        return {
            "scores": scores,
            "compliance_risk": "low",
            "cannibalizes": None,
            "rationale": "Small, clear and testable; nothing in the repository does it yet.",
        }
    if role == "planner":
        return BLUEPRINT
    if role == "reviewer":
        return review(prompt)
    if role == "twin":
        options = choice_options(schema)
        if options:  # an escalation: the twin answers it as the owner would
            pick = "accept" if "accept" in options else options[0]
            return {"choice": pick, "reason": "small and tested"}
        return {
            "decision": "ACCEPT",
            "confidence": 0.6,  # below the engine's 0.7: the run asks the twin again
            "notes": "Fits the owner's taste: small modules, tests first.",
            "redlines": [],
        }
    if role == "task_reviewer":
        task = re.search(r"^Task (\S+):", prompt, re.MULTILINE)
        task_id = task.group(1) if task else ""
        expected = FILES.get(task_id, {})
        missing = [path for path in expected if f"b/{path}" not in prompt]
        approved = bool(expected) and not missing and "FAIL" not in gate_lines(prompt)
        notes = "tests and code as the task says" if approved else f"missing {missing}"
        return {"approved": approved, "score": 92, "notes": notes}
    if role == "qc":
        wanted = [path for files in FILES.values() for path in files]
        missing = [path for path in wanted if f"b/{path}" not in prompt]
        return {"score": 91 if not missing else 40, "notes": f"missing: {missing}"}
    if role == "judge":
        items = checklist_items(schema)
        if not items:
            raise Refusal("the judge's schema names no checklist")
        return {"checklist": dict.fromkeys(items, True), "score": 96, "notes": "done"}
    raise Refusal(f"no answer for role {role}")


def review(prompt: str) -> dict[str, Any]:
    """Reviewer-1 patches an acceptance criterion into round one's plan; else approve."""
    who = re.search(r"You are reviewer (\S+) on .*\(round (\d+)\)", prompt)
    if who is None:
        raise Refusal("the reviewer prompt names no reviewer and round")
    if who.group(1) == "reviewer-1" and who.group(2) == "1":
        search = '"acceptance_criteria": [\n'
        if prompt.count(search) != 1:
            raise Refusal("the reviewer prompt does not hold the blueprint JSON (indent 2)")
        replace = search + "    " + json.dumps(ADDED_CRITERION) + ",\n"
        return {
            "score": 88,
            "findings": ["no criterion covers an empty name"],
            "patches": [{"search": search, "replace": replace}],
        }
    return {"score": 97, "findings": [], "patches": []}


def engineer_turn(act: Act, results: list[str], prompt: str) -> dict[str, Any]:
    """Tests first (and see them fail), then the code, then finish once the suite passes."""
    found = re.search(r"Your task \(([^,]+), attempt (\d+) of (\d+)\)", prompt)
    if found is None or found.group(1) not in FILES:
        raise Refusal("the engineer prompt names no task of the plan")
    task_id = found.group(1)
    (test_path, test_text), (code_path, code_text) = FILES[task_id].items()
    fix = DRAFTS.get(task_id)
    turn = act.turn
    if turn == 0:
        return act.reply(
            "Writing the test first.",
            ("write_file", {"path": test_path, "content": test_text}),
            ("run_tests", {"args": [test_path]}),
        )
    if turn == 1:
        expect(results, [f"wrote {test_path}"], ["[exit code "])
        if "[exit code 0]" in results[1]:
            raise Refusal(f"{test_path} passed before {code_path} existed")
        draft = code_text.replace(fix[0], fix[1]) if fix else code_text
        return act.reply(
            "RED as expected; now the code.",
            ("write_file", {"path": code_path, "content": draft}),
            ("run_tests", {"args": []}),
        )
    if turn == 2 and fix:
        expect(results, [f"wrote {code_path}"], ["1 failed", "[exit code 1]"])
        return act.reply(
            "The test shows the bug: title case, not capitals. Fixing that line.",
            ("edit_file", {"path": code_path, "search": fix[1], "replace": fix[0]}),
            ("run_tests", {"args": []}),
        )
    if turn == 2 + bool(fix):
        done = f"edited {code_path}" if fix else f"wrote {code_path}"
        expect(results, [done], [" passed", "[exit code 0]"])
        summary = f"{code_path} with its test {test_path}; the whole suite passes."
        return act.reply("GREEN.", ("finish", {"summary": summary}))
    raise Refusal(f"the engineer of {task_id} went on after finish (turn {turn})")


def verifier_turn(
    act: Act, results: list[str], *, also: Sequence[tuple[Call, list[str]]] = ()
) -> dict[str, Any]:
    """Probe the edges, look at the command environment, then report.

    ``also``: calls a wire adds after the verifier's reads, each with the pieces its result
    must hold (as how a tool's error comes back on that wire)."""
    turn = act.turn
    if turn == 0:
        return act.reply(
            "Probing the edges.",
            ("list_files", {}),
            ("read_file", {"path": "greetings/shout.py"}),
            *(call for call, _ in also),
            ("write_file", {"path": PROBE, "content": PROBE_TEXT}),
            ("run_tests", {"args": [PROBE]}),
            ("run", {"argv": ENV_DUMP}),
        )
    if turn == 1:
        expect(
            results,
            ["greetings/shout.py", "tests/test_shout.py"],
            ["return greet(name).upper()"],
            *(pieces for _, pieces in also),
            [f"wrote {PROBE}"],
            ["2 passed", "[exit code 0]"],
            ["PATH", "[exit code 0]"],
        )
        # A first report in a shape the role refuses ("broken" must be a list): re-asked.
        report = {**VERIFIER_REPORT, "broken": "nothing"}
        return act.say("Report:\n" + json.dumps(report))
    raise Refusal(f"the verifier went on after its report (turn {turn})")


def expect(results: list[str], *wanted: list[str]) -> None:
    """The last turn's tool results, one per call, each holding its ``wanted`` pieces."""
    if len(results) != len(wanted):
        raise Refusal(f"expected {len(wanted)} tool results, got {len(results)}: {results}")
    for result, pieces in zip(results, wanted, strict=True):
        for piece in pieces:
            if piece not in result:
                raise Refusal(f"a tool result without {piece!r}: {result[:600]!r}")


def choice_options(schema: dict[str, Any]) -> list[str]:
    try:
        return [str(o) for o in schema["properties"]["choice"]["enum"]]
    except (KeyError, TypeError):
        return []


def checklist_items(schema: dict[str, Any]) -> list[str]:
    try:
        return [str(i) for i in schema["properties"]["checklist"]["required"]]
    except (KeyError, TypeError):
        return []


def gate_lines(prompt: str) -> str:
    return "\n".join(line for line in prompt.splitlines() if line.startswith("- "))


# -- the server -----------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, json.dumps(body).encode("utf-8"), headers=dict(headers or {}))


Respond = Callable[[str, dict[str, str], bytes], Answer]
"""Answers one POST: its path, its headers (lower-cased names) and its raw body."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class WireServer:
    """``with WireServer(respond) as server:`` — ``server.origin`` is ``http://127.0.0.1:N``."""

    def __init__(self, respond: Respond) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = respond(self.path, headers, raw)
                self.send_response(answer.status)
                self.send_header("content-type", answer.content_type)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

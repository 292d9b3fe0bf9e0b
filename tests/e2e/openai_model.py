"""A model on a loopback OpenAI-compatible server, for end-to-end runs over the real wire.

:class:`ModelServer` speaks ``POST /v1/chat/completions`` on 127.0.0.1 the way vLLM, Ollama
or llama.cpp do (JSON bodies, native tool calls, ``usage``). :class:`LoopbackModel` answers
each request from what it was sent, never from a queue: the system prompt tells which role is
asking, the ``response_format`` schema what shape it wants, the tools offered and the
conversation so far where a tool loop stands. It plays a small, plausible factory: the critic
scores well, the planner draws two tasks (``shout`` depends on ``core``), one reviewer patches
the plan in round one, the twin accepts with a confidence low enough to be asked again (and
then answers ``accept``), each engineer writes its test, sees it fail, writes its code (the
second task's first draft has a bug its test catches, fixed with ``edit_file``) and finishes
once the suite passes, the task reviewer and QC approve what the diff shows, the verifier
probes the merged result and breaks nothing, the judge passes every checklist item. Two first
replies are invalid, as local models' often are, so the roles' re-asks go over the wire too:
the verifier's report (after its tool loop) and the judge's checklist (one item short).

With ``native=False`` it plays a server whose model has no tool support and no structured
output (as Ollama answers for such a model, or a llama.cpp build without grammars): a request
offering ``tools`` or a ``response_format`` gets an HTTP 400 saying so, and the model then acts
through the text format the provider teaches in the system prompt — SEARCH/REPLACE blocks and
fenced JSON actions — and reads the tool results back from user messages.

It also checks each request as a strict server would (message roles, tool-call ids answered
in order, tool and response-format shapes) and records what it could not accept in
:attr:`LoopbackModel.problems`, answering such a request with an HTTP 400.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agents.roles import critic, engineer, judge, qc, reviewer, task_reviewer, twin
from agents.roles import verifier as verifier_role

MODEL = "loopback-coder"

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


@dataclass
class Seen:
    """One request the server received, and which role sent it."""

    role: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def repair(self) -> bool:
        """A re-ask after an invalid reply."""
        return last_user_text(self.body["messages"]).startswith(REPAIR)


@dataclass
class LoopbackModel:
    """Answers chat-completions requests from their content; records what it saw."""

    native: bool = True
    """Native tool calls and response_format; False: refuse both, act through text."""
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """The features refused (``tools``, ``response_format``), one entry per refusal."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def roles_seen(self) -> set[str]:
        with self._lock:
            return {s.role for s in self.seen}

    # -- the wire ---------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body answering one POST."""
        try:
            if path.rstrip("/") != "/v1/chat/completions":
                raise Refusal(f"no route {path}")
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise Refusal("the body is not a JSON object")
            check_request(body)
            if not self.native:
                for feature in ("tools", "response_format"):
                    if feature in body:
                        with self._lock:
                            self.refused.append(feature)
                        message = f"{MODEL} does not support {feature}"
                        return 400, {"error": {"message": message, "type": "api_error"}}
                if any(m["role"] == "tool" or m.get("tool_calls") for m in body["messages"]):
                    # A chat template without tool support cannot render these turns.
                    raise Refusal(f"{MODEL} does not support tools: tool calls in the history")
            role = role_of(body)
            with self._lock:
                self.seen.append(Seen(role, body, headers))
                self._count += 1
                number = self._count
            message = self.answer(role, body)
        except (Refusal, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            with self._lock:
                self.problems.append(f"{type(exc).__name__}: {exc}")
            return 400, {"error": {"message": str(exc), "type": "invalid_request_error"}}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        prompt_tokens = len(raw) // 4
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return 200, {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": 1_700_000_000 + number,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    # -- the roles --------------------------------------------------------------------------

    def answer(self, role: str, body: dict[str, Any]) -> dict[str, Any]:
        """The assistant message ``role`` gets for ``body``."""
        messages: list[dict[str, Any]] = body["messages"]
        prompt = first_user_text(messages)
        repair = last_user_text(messages).startswith(REPAIR)
        if role == "verifier" and repair:  # its report, asked again after a bad first one
            return text_message(json.dumps(VERIFIER_REPORT))
        if role in ("engineer", "verifier"):
            tools = offered_tools(body)
            if "run_tests" not in tools or ("finish" in tools) != (role == "engineer"):
                raise Refusal(f"the {role} was offered the wrong tools: {sorted(tools)}")
            act = Actions(self.native, turn=sum(1 for m in messages if m["role"] == "assistant"))
            results = last_tool_results(messages)
            if role == "engineer":
                return engineer_turn(act, results, prompt)
            return verifier_turn(act, results)
        schema = response_schema(body) if self.native else schema_in_system(body)
        if schema is None:
            raise Refusal(f"the {role} asked for no JSON schema")
        if role == "critic":
            scores = {"value": 8, "feasibility": 9, "clarity": 8, "scope": 8, "testability": 9}
            reply: dict[str, Any] = {
                "scores": scores,
                "compliance_risk": "low",
                "cannibalizes": None,
                "rationale": "Small, clear and testable; nothing in the repository does it yet.",
            }
            # Local models like to fence their JSON; the roles must take it.
            return text_message("```json\n" + json.dumps(reply, indent=2) + "\n```")
        if role == "planner":
            return text_message(json.dumps(BLUEPRINT))
        if role == "reviewer":
            return text_message(json.dumps(review(prompt)))
        if role == "twin":
            options = choice_options(schema)
            if options:  # an escalation: the twin answers it as the owner would
                pick = "accept" if "accept" in options else options[0]
                return text_message(json.dumps({"choice": pick, "reason": "small and tested"}))
            verdict = {
                "decision": "ACCEPT",
                "confidence": 0.6,  # below the engine's 0.7: the run asks the twin again
                "notes": "Fits the owner's taste: small modules, tests first.",
                "redlines": [],
            }
            return text_message(json.dumps(verdict))
        if role == "task_reviewer":
            task = re.search(r"^Task (\S+):", prompt, re.MULTILINE)
            task_id = task.group(1) if task else ""
            expected = FILES.get(task_id, {})
            missing = [path for path in expected if f"b/{path}" not in prompt]
            approved = bool(expected) and not missing and "FAIL" not in gate_lines(prompt)
            notes = "tests and code as the task says" if approved else f"missing {missing}"
            return text_message(json.dumps({"approved": approved, "score": 92, "notes": notes}))
        if role == "qc":
            wanted = [path for files in FILES.values() for path in files]
            missing = [path for path in wanted if f"b/{path}" not in prompt]
            score = 91 if not missing else 40
            return text_message(json.dumps({"score": score, "notes": f"missing: {missing}"}))
        if role == "judge":
            items = checklist_items(schema)
            if not items:
                raise Refusal("the judge's response_format names no checklist")
            if not repair:  # a first verdict that skips an item: the judge is asked again
                items = items[:-1]
            reply = {"checklist": dict.fromkeys(items, True), "score": 96, "notes": "done"}
            return text_message(json.dumps(reply))
        raise Refusal(f"no answer for role {role}")


def text_message(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


@dataclass(frozen=True)
class Actions:
    """One tool-loop turn's reply: native tool calls, or the text format's actions."""

    native: bool
    turn: int

    def reply(self, text: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        if self.native:
            return {
                "role": "assistant",
                "content": text,
                "tool_calls": [
                    {
                        "id": f"call_{self.turn}_{index}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                    for index, (name, args) in enumerate(calls)
                ],
            }
        blocks = [text]
        for name, args in calls:
            if name == "write_file":  # an edit model's habit: a file as a SEARCH/REPLACE block
                blocks.append(
                    f"{args['path']}\n<<<<<<< SEARCH\n=======\n{args['content']}>>>>>>> REPLACE"
                )
            elif name == "edit_file":
                blocks.append(
                    f"{args['path']}\n```python\n<<<<<<< SEARCH\n{args['search']}\n=======\n"
                    f"{args['replace']}\n>>>>>>> REPLACE\n```"
                )
            else:
                action = json.dumps({"tool": name, "arguments": args})
                blocks.append(f"```json\n{action}\n```")
        return text_message("\n\n".join(blocks))


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


def engineer_turn(act: Actions, results: list[str], prompt: str) -> dict[str, Any]:
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


def verifier_turn(act: Actions, results: list[str]) -> dict[str, Any]:
    """Probe the edges, look at the command environment, then report."""
    turn = act.turn
    if turn == 0:
        return act.reply(
            "Probing the edges.",
            ("list_files", {}),
            ("read_file", {"path": "greetings/shout.py"}),
            ("write_file", {"path": PROBE, "content": PROBE_TEXT}),
            ("run_tests", {"args": [PROBE]}),
            ("run", {"argv": ENV_DUMP}),
        )
    if turn == 1:
        expect(
            results,
            ["greetings/shout.py", "tests/test_shout.py"],
            ["return greet(name).upper()"],
            [f"wrote {PROBE}"],
            ["2 passed", "[exit code 0]"],
            ["PATH", "[exit code 0]"],
        )
        # A first report in a shape the role refuses ("broken" must be a list): re-asked.
        report = {**VERIFIER_REPORT, "broken": "nothing"}
        return text_message("Report:\n" + json.dumps(report))
    raise Refusal(f"the verifier went on after its report (turn {turn})")


def expect(results: list[str], *wanted: list[str]) -> None:
    """The last turn's tool results, one per call, each holding its ``wanted`` pieces."""
    if len(results) != len(wanted):
        raise Refusal(f"expected {len(wanted)} tool results, got {len(results)}: {results}")
    for result, pieces in zip(results, wanted, strict=True):
        for piece in pieces:
            if piece not in result:
                raise Refusal(f"a tool result without {piece!r}: {result[:600]!r}")


# -- reading a request ----------------------------------------------------------------------


def system_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m["role"] == "user"]
    return str(users[-1]["content"]) if users else ""


def first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message["role"] == "user":
            return str(message["content"])
    raise Refusal("no user message")


_TEXT_RESULT = re.compile(r"^\[(\w+) (?:result|failed)\]\n", re.MULTILINE)


def last_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """The results of the last turn's tool calls: ``tool`` messages after the last assistant
    turn, or (text format) the ``[NAME result]`` sections of the user message after it."""
    out: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        out.append(str(message["content"]))
    if out or len(messages) < 2 or messages[-2]["role"] != "assistant":
        return out[::-1]
    text = str(messages[-1]["content"])
    starts = [m.start() for m in _TEXT_RESULT.finditer(text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def offered_tools(body: dict[str, Any]) -> set[str]:
    """The tools a request offers: native ``tools``, or those the text format describes."""
    if body.get("tools"):
        return {str(t["function"]["name"]) for t in body["tools"]}
    return set(re.findall(r"^- (\w+): ", system_text(body["messages"]), re.MULTILINE))


def schema_in_system(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the provider wrote into the system prompt, when there is one."""
    system = system_text(body["messages"])
    marker = "When you answer, reply with JSON matching: "
    if marker not in system:
        return None
    schema, _ = json.JSONDecoder().raw_decode(system.split(marker, 1)[1])
    return schema if isinstance(schema, dict) else None


def response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    form = body.get("response_format")
    if form is None:
        return None
    if form.get("type") != "json_schema" or not isinstance(form.get("json_schema"), dict):
        raise Refusal(f"unsupported response_format {form!r}")
    spec = form["json_schema"]
    if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
        raise Refusal("response_format.json_schema needs a name and a schema")
    schema: dict[str, Any] = spec["schema"]
    return schema


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


def role_of(body: dict[str, Any]) -> str:
    """The role asking, from the start of its system prompt."""
    system = system_text(body["messages"])
    for role, start in SYSTEMS.items():
        if system.startswith(start):
            return role
    raise Refusal(f"no role starts its system prompt like this: {system[:80]!r}")


def check_request(body: dict[str, Any]) -> None:
    """What a strict chat-completions server refuses (roughly as OpenAI's API does)."""
    if body.get("model") != MODEL:
        raise Refusal(f"unknown model {body.get('model')!r}")
    if body.get("stream"):
        raise Refusal("no role streams; this server does not either")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Refusal(f"bad max_tokens {body.get('max_tokens')!r}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refusal("messages must be a non-empty list")
    for tool in body.get("tools") or []:
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not re.fullmatch(
            r"[A-Za-z0-9_-]{1,64}", str(function.get("name", ""))
        ):
            raise Refusal(f"bad tool {tool!r}")
        if function.get("parameters", {}).get("type") != "object":
            raise Refusal(f"tool {function.get('name')} parameters must be an object schema")
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise Refusal(f"messages[{index}]: unknown role {role!r}")
        if role == "system" and index != 0:
            raise Refusal(f"messages[{index}]: a system message after the first")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise Refusal(f"messages[{index}]: tool_call_id {call_id!r} answers no call")
            pending.remove(call_id)
            if not isinstance(message.get("content"), str):
                raise Refusal(f"messages[{index}]: tool content must be text")
            continue
        if pending:
            raise Refusal(f"messages[{index}]: tool calls {pending} were never answered")
        content = message.get("content")
        calls = message.get("tool_calls") or []
        if role == "assistant":
            if content is None and not calls:
                raise Refusal(f"messages[{index}]: an empty assistant message")
            for call in calls:
                json.loads(call["function"]["arguments"])  # must be a JSON string
                pending.append(call["id"])
        elif not isinstance(content, str) or not content:
            raise Refusal(f"messages[{index}]: {role} content must be non-empty text")
    if pending:
        raise Refusal(f"tool calls {pending} were never answered")
    if messages[-1]["role"] == "assistant":
        raise Refusal("the conversation ends with the assistant's own turn")


# -- the server -----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class ModelServer:
    """``with ModelServer() as server:`` — ``server.base_url`` is ``http://127.0.0.1:N/v1``."""

    def __init__(self, model: LoopbackModel | None = None) -> None:
        self.model = model or LoopbackModel()
        owner = self.model

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = owner.handle(self.path, headers, raw)
                payload = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

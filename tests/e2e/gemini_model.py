"""A model behind a loopback Gemini API, for end-to-end runs over the google-genai SDK's wire.

:class:`GeminiServer` answers ``POST /{v1,v1beta}/models/MODEL:generateContent`` (and
``:streamGenerateContent?alt=sse``) on 127.0.0.1 as the Gemini API does: camelCase JSON,
``contents`` of ``user`` / ``model`` turns whose parts are ``text``, ``functionCall`` or
``functionResponse``, ``systemInstruction``, ``functionDeclarations``, JSON mode through
``generationConfig.responseMimeType`` + ``responseJsonSchema``, ``usageMetadata``, errors as
``{"error": {"code", "message", "status", "details"}}``.

:class:`GeminiModel` answers each request from what it was sent, never from a queue (the
system instruction tells the role, the schema the shape, the turns so far where a tool loop
stands), playing the small factory of tests/e2e/scripted_factory.py: two tasks, one patch by
reviewer-1, a twin asked twice, engineers writing tests first (the second task fixes a bug its
test caught), a verifier probing the merged result (and reading a file that is not there, whose
error must come back as one), a judge. Two first replies are invalid and must be re-asked (the
verifier's report, the judge's checklist), and three requests fail as
the API does fail (:data:`FAULTS`): the critic's first gets 503 UNAVAILABLE, the planner's first
a 429 RESOURCE_EXHAUSTED whose only wait hint is the body's ``google.rpc.RetryInfo`` (Gemini
sends no ``retry-after`` header), and the fixing turn of the second engineer first comes back
as a candidate with no content and finishReason MALFORMED_FUNCTION_CALL.

It checks each request as the Gemini API does and refuses (HTTP 400 INVALID_ARGUMENT, noted in
:attr:`GeminiModel.problems`) what it would reject: unknown fields, roles other than
``user`` / ``model``, turns that do not alternate, empty parts, function responses that do not
answer the previous turn's calls one for one (count, names, ids), invalid function names or
parameter schemas, JSON mode together with function calling, a ``$ref`` that resolves to
nothing, and each model's own rules (tests/e2e/gemini_rules.py): for a Gemini 3 model, a
function-call step of the current turn replayed without the thought signature the server gave
it, or with a signature it never gave or gave to other calls (the sentinel Gemini documents for
calls it did not make is let through, and counted in :attr:`GeminiModel.unsigned`); a thinking
setting the model does not take. It answers for the models of :data:`gemini_rules.MODELS`,
each thinking (and billing thoughts) at the level it was asked for or its default.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gemini_rules import (
    MODELS,
    SKIP,
    ModelRules,
    camel,
    current_turn,
    signature,
    signature_bytes,
    thinking_level,
)
from scripted_factory import (
    REFUSALS,
    REPAIR,
    VERIFIER_REPORT,
    Answer,
    Call,
    Ledger,
    Refusal,
    WireServer,
    check_tools,
    engineer_turn,
    structured_reply,
    verifier_turn,
)
from scripted_factory import role_of as role_of_system

MODEL = "gemini-3.8-flash"
"""The default Gemini model (agents/routing.py)."""
SECOND = "gemini-3.5-flash-lite"
"""The default second opinion (agents/routing.py)."""
RETRY_DELAY_S = 1.5
"""What the planner's 429 asks the client to wait, in its RetryInfo only."""
FAULTS = {
    "critic": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "planner": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please retry."),
    "engineer:shout:2": (200, "MALFORMED_FUNCTION_CALL", ""),
}
"""The first request of these (a role, or an engineer's task and turn) fails with (HTTP
status, status or finish reason, message): overloaded, over quota, and a function call the
API could not parse (a 200 whose candidate has no content)."""
MISSING = "greetings/loud.py"
ALSO_READ: list[tuple[Call, list[str]]] = [
    (("read_file", {"path": MISSING}), [f"[error] no such file: {MISSING}"])
]
"""The verifier also reads a file that is not there: the tool's error must come back as the
function response's ``error``, not as its output."""
_REQUEST_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
_CONFIG_FIELDS = {
    "maxOutputTokens", "temperature", "topP", "topK", "candidateCount", "stopSequences",
    "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig", "seed",
}  # fmt: skip
_DATA = ("text", "functionCall", "functionResponse", "inlineData", "fileData")
_PART_EXTRAS = ("thought", "thoughtSignature")
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


def fields(obj: object, where: str, allowed: set[str] | tuple[str, ...]) -> dict[str, Any]:
    """``obj`` with proto-JSON names made camelCase (the API takes both spellings); an unknown
    field is refused as the API refuses it."""
    if not isinstance(obj, dict):
        raise Refusal(f"Invalid value at '{where}': expected an object")
    out = {camel(k): v for k, v in obj.items()}
    for name in out:
        if name not in allowed:
            raise Refusal(f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}'")
    return out


@dataclass
class Seen:
    """One request answered, which role sent it, and when."""

    role: str
    body: dict[str, Any]
    headers: dict[str, str]
    path: str
    at: float
    model: str = MODEL
    thinking: str = ""
    """The thinking level the request ran at (its own or the model's default)."""
    output_tokens: int = 0
    """What the reply cost in output: its candidates' tokens and its thoughts."""

    @property
    def repair(self) -> bool:
        return text_of(self.body["contents"][-1]).startswith(REPAIR)

    @property
    def config(self) -> dict[str, Any]:
        return generation_config(self.body)


@dataclass
class GeminiModel(Ledger):
    """Answers generateContent requests from their content; records what it saw."""

    key: str
    faults: list[tuple[str, int, float]] = field(default_factory=list)
    """The requests failed on purpose: (FAULTS key, HTTP status, when)."""
    signatures: dict[bytes, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    """Each thought signature given on a function-call turn, and that turn's calls."""
    replayed: set[bytes] = field(default_factory=set)
    unsigned: list[str] = field(default_factory=list)
    """Function-call turns replayed with Gemini's sentinel for calls it did not make."""

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body answering one POST."""
        try:
            url = urlsplit(path)
            route = re.fullmatch(r"/v1(?:beta)?/models/([^/:]+):(\w+)", url.path)
            sse = parse_qs(url.query).get("alt") == ["sse"]
            method = "streamGenerateContent" if sse else "generateContent"
            if route is None or route.group(2) != method:
                raise Refusal(f"no route POST {path}")
            model = route.group(1)
            rules = MODELS.get(model)
            if rules is None:
                return error(404, "NOT_FOUND", f"models/{model} is not found")
            if headers.get("x-goog-api-key") != self.key or "key=" in url.query:
                return error(400, "INVALID_ARGUMENT", "API key not valid. Pass a valid API key.")
            body = json.loads(raw)
            prompt = self.over_context(raw, 0)  # the input limit: the answer has its own
            if prompt is not None:
                said = (
                    f"The input token count ({prompt}) exceeds the maximum number of tokens "
                    f"allowed ({self.context_tokens})."
                )
                return error(400, "INVALID_ARGUMENT", said)
            role = role_of(body)
            where = fault_key(role, body)
            with self._lock:
                fault = FAULTS.get(where) if where not in {w for w, _, _ in self.faults} else None
                if fault:
                    self.faults.append((where, fault[0], time.monotonic()))
            if fault:
                return fault_reply(*fault)
            level = self.check(body, rules)
            number = self.number()
            parts = self.answer(role, body, number)
        except REFUSALS as exc:
            return error(400, "INVALID_ARGUMENT", self.refuse(exc))
        prompt = len(raw) // 4
        output = max(1, len(json.dumps(parts)) // 4)
        thoughts = rules.thoughts[level]
        with self._lock:
            at = time.monotonic()
            self.seen.append(
                Seen(role, body, headers, url.path, at, model, level, output + thoughts)
            )
        cached = prompt // 2 if len(body["contents"]) > 1 else 0  # implicit caching
        return 200, {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": output,
                "thoughtsTokenCount": thoughts,
                "totalTokenCount": prompt + output + thoughts,
                **({"cachedContentTokenCount": cached} if cached else {}),
            },
            "modelVersion": model,
            "responseId": f"resp-{number}",
        }

    # -- what the API would refuse ------------------------------------------------------------

    def check(self, body: dict[str, Any], rules: ModelRules) -> str:
        """Refuses what the API would; the thinking level the request runs at."""
        body = fields(body, "GenerateContentRequest", _REQUEST_FIELDS)
        config = generation_config(body)
        level = thinking_level(rules, config)
        tokens = config.get("maxOutputTokens")
        if not isinstance(tokens, int) or tokens < 1:
            raise Refusal(f"generationConfig.maxOutputTokens must be positive, got {tokens!r}")
        mime = config.get("responseMimeType", "text/plain")
        if mime not in ("text/plain", "application/json"):
            raise Refusal(f"unsupported response mime type {mime!r}")
        schema = config.get("responseJsonSchema")
        if schema is not None:
            if mime != "application/json" or "responseSchema" in config:
                raise Refusal("responseJsonSchema needs responseMimeType application/json alone")
            check_schema(schema, "generationConfig.responseJsonSchema")
        declared = check_tools_param(body.get("tools", []))
        if declared and mime == "application/json":
            raise Refusal(
                "Function calling with a response mime type: 'application/json' is unsupported"
            )
        system = fields(body.get("systemInstruction", {}), "systemInstruction", ("parts", "role"))
        for index, part in enumerate(system.get("parts", [])):
            if not fields(part, f"systemInstruction.parts[{index}]", ("text",)).get("text"):
                raise Refusal("systemInstruction parts must be non-empty text")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise Refusal("* GenerateContentRequest.contents: contents is not specified")
        calls: list[dict[str, Any]] = []  # the previous turn's function calls, unanswered
        turn = current_turn(contents)
        for index, raw in enumerate(contents):
            where = f"contents[{index}]"
            content = fields(raw, where, ("role", "parts"))
            role = content.get("role")
            if role not in ("user", "model"):
                raise Refusal(f"{where}: Please use a valid role: user, model.")
            expected = "user" if index % 2 == 0 else "model"
            if role != expected:
                raise Refusal(
                    "Please ensure that multiturn requests alternate between user and model."
                )
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise Refusal(f"{where}.parts must not be empty")
            parts = [self.check_part(p, f"{where}.parts[{i}]") for i, p in enumerate(parts)]
            responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
            if role == "user":
                if [r.get("name") for r in responses] != [c["name"] for c in calls] or [
                    r.get("id") for r in responses
                ] != [c.get("id") for c in calls]:
                    raise Refusal(
                        f"{where}: Please ensure that the number of function response parts is "
                        "equal to the number of function call parts of the function call turn "
                        f"(and that they answer them): calls {calls}, responses {responses}"
                    )
                calls = []
                continue
            if responses:
                raise Refusal(f"{where}: a functionResponse in a model turn")
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            ids = [c["id"] for c in calls if "id" in c]
            if len(ids) != len(set(ids)):
                raise Refusal(f"{where}: two function calls with one id")
            if calls:
                self.check_signature(parts, where, checked=rules.strict_signatures and index > turn)
        if contents[-1].get("role") != "user":
            raise Refusal("the conversation ends with the model's own turn")
        return level

    def check_part(self, raw: object, where: str) -> dict[str, Any]:
        part = fields(raw, where, (*_DATA, *_PART_EXTRAS))
        data = [name for name in _DATA if name in part]
        if len(data) != 1:
            raise Refusal(f"{where}.data: required oneof field 'data' must have one field: {data}")
        if "text" in part and (not isinstance(part["text"], str) or not part["text"]):
            raise Refusal(f"{where}.text must be non-empty text")
        if "functionCall" in part:
            call = fields(part["functionCall"], f"{where}.functionCall", ("id", "name", "args"))
            if not call.get("name") or not isinstance(call.get("args", {}), dict):
                raise Refusal(f"{where}.functionCall needs a name and object args")
            part = {**part, "functionCall": call}
        if "functionResponse" in part:
            answer = fields(
                part["functionResponse"], f"{where}.functionResponse", ("id", "name", "response")
            )
            if not answer.get("name") or not isinstance(answer.get("response"), dict):
                raise Refusal(f"{where}.functionResponse needs a name and an object response")
            part = {**part, "functionResponse": answer}
        return part

    def check_signature(self, parts: list[dict[str, Any]], where: str, *, checked: bool) -> None:
        """Gemini 3: the first function call of a step carries the step's thought signature
        (``checked``: in the current turn, where a missing or foreign one is refused)."""
        calls = [p for p in parts if "functionCall" in p]
        sent = calls[0].get("thoughtSignature")
        signature = None if sent is None else signature_bytes(sent, f"{where}.parts")
        if not checked:
            with self._lock:
                if signature in self.signatures:
                    self.replayed.add(signature)
            return
        if signature is None:
            name = calls[0]["functionCall"]["name"]
            position = parts.index(calls[0]) + 1
            raise Refusal(
                f"{where}: Function call is missing a thought_signature in functionCall parts. "
                f"Additional data, function call `default_api:{name}` , position {position}."
            )
        if signature == SKIP:  # accepted, but then the model works without its thoughts
            with self._lock:
                self.unsigned.append(calls[0]["functionCall"]["name"])
            return
        with self._lock:
            given = self.signatures.get(signature)
            self.replayed.add(signature)
        made = [(c["functionCall"]["name"], c["functionCall"].get("args", {})) for c in calls]
        if given != made or any("thoughtSignature" in c for c in calls[1:]):
            raise Refusal(f"{where}: Corrupted thought signature.")

    # -- the roles -----------------------------------------------------------------------------

    def answer(self, role: str, body: dict[str, Any], number: int) -> list[dict[str, Any]]:
        """The parts of the model's reply to ``body``."""
        contents: list[dict[str, Any]] = body["contents"]
        prompt = text_of(contents[0])
        repair = text_of(contents[-1]).startswith(REPAIR)
        if role == "verifier" and repair:  # its report, asked again after a bad first one
            return self.text(json.dumps(VERIFIER_REPORT), number)
        if role in ("engineer", "verifier"):
            declared = {d["name"] for t in body.get("tools", []) for d in t["functionDeclarations"]}
            check_tools(role, declared)
            turn = sum(1 for c in contents if c["role"] == "model")
            results = tool_results(contents[-1]) if turn else []
            act = Actions(self, turn, number, with_ids=role == "engineer")
            if role == "engineer":
                reply = engineer_turn(act, results, prompt)
            else:
                reply = verifier_turn(act, results, also=ALSO_READ)
            parts: list[dict[str, Any]] = reply["parts"]
            return parts
        schema = generation_config(body).get("responseJsonSchema")
        if not isinstance(schema, dict):
            raise Refusal(f"the {role} asked for no JSON schema")
        answer = structured_reply(role, prompt, schema)
        if role == "judge" and not repair:  # a first verdict that skips an item: asked again
            answer["checklist"] = dict(list(answer["checklist"].items())[:-1])
        return self.text(json.dumps(answer), number)

    def text(self, text: str, number: int) -> list[dict[str, Any]]:
        """A text reply; Gemini 3 signs a turn's last part (replaying it is optional)."""
        return [{"text": text, "thoughtSignature": signature(f"text-{number}")[0]}]

    def calls(
        self, text: str, calls: tuple[Call, ...], *, with_ids: bool, number: int
    ) -> list[dict[str, Any]]:
        """A function-call turn: the first call signed, ids only where ``with_ids`` (Gemini
        2.5 gives none)."""
        parts: list[dict[str, Any]] = [{"text": text}]
        for index, (name, args) in enumerate(calls):
            call: dict[str, Any] = {"name": name, "args": args}
            if with_ids:
                call["id"] = f"fc-{number}-{index}"
            parts.append({"functionCall": call})
        text, raw = signature(f"calls-{number}")
        parts[1]["thoughtSignature"] = text
        with self._lock:
            self.signatures[raw] = list(calls)
        return parts


@dataclass(frozen=True)
class Actions:
    """One tool-loop turn's reply as Gemini parts (``{"parts": [...]}``): the engineers'
    function calls with ids, the verifier's without, every call turn signed."""

    model: GeminiModel
    turn: int
    number: int
    with_ids: bool

    def reply(self, text: str, *calls: Call) -> dict[str, Any]:
        if not calls:
            return self.say(text)
        parts = self.model.calls(text, calls, with_ids=self.with_ids, number=self.number)
        return {"parts": parts}

    def say(self, text: str) -> dict[str, Any]:
        return {"parts": self.model.text(text, self.number)}


# -- reading a request ------------------------------------------------------------------------


def text_of(content: dict[str, Any]) -> str:
    return "".join(str(p.get("text", "")) for p in content["parts"])


def tool_results(content: dict[str, Any]) -> list[str]:
    """The outputs of a user turn's function responses, in order (an error marked so)."""
    out = []
    for part in content["parts"]:
        answer = part.get("functionResponse") or part.get("function_response")
        if answer is not None:
            response = answer["response"]
            error = response.get("error")
            out.append(f"[error] {error}" if error else str(response.get("output")))
    return out


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    return fields(body.get("generationConfig", {}), "generationConfig", _CONFIG_FIELDS)


def role_of(body: dict[str, Any]) -> str:
    """The role asking, from the start of its system instruction."""
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    return role_of_system("".join(str(p.get("text", "")) for p in system.get("parts", [])))


def check_tools_param(tools: object) -> set[str]:
    """The function names the request declares, refusing what the API refuses."""
    if not isinstance(tools, list):
        raise Refusal("tools must be a list")
    names: set[str] = set()
    for t, raw in enumerate(tools):
        tool = fields(raw, f"tools[{t}]", ("functionDeclarations",))
        for d, declared in enumerate(tool.get("functionDeclarations", [])):
            where = f"tools[{t}].function_declarations[{d}]"
            spec = fields(declared, where, ("name", "description", "parametersJsonSchema"))
            name = str(spec.get("name", ""))
            if not _FUNCTION_NAME.fullmatch(name) or name in names:
                raise Refusal(f"{where}.name: [FIELD_INVALID] Invalid function name {name!r}")
            names.add(name)
            schema = spec.get("parametersJsonSchema", {"type": "object", "properties": {}})
            if schema.get("type") != "object":
                raise Refusal(f"{where}: parameters must be an object schema")
            check_schema(schema, where)
    return names


def check_schema(schema: object, where: str) -> None:
    """Every ``required`` property defined, every ``$ref`` resolving to a ``$defs`` entry."""
    if not isinstance(schema, dict) or "type" not in schema:
        raise Refusal(f"{where}: a schema must be an object with a type")
    defs = schema.get("$defs", {})

    def walk(node: object, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref is not None and (not str(ref).startswith("#/$defs/") or ref[8:] not in defs):
            raise Refusal(f"{path}: $ref {ref!r} resolves to nothing")
        properties = node.get("properties")
        for name in node.get("required", []) if isinstance(properties, dict) else []:
            if name not in (properties or {}):
                raise Refusal(f"{path}.required: property {name!r} is not defined")
        for key, value in node.items():
            walk(value, f"{path}.{key}")

    walk(schema, where)


def error(status: int, name: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "status": name}}


def fault_key(role: str, body: dict[str, Any]) -> str:
    if role != "engineer":
        return role
    task = re.search(r"Your task \(([^,]+),", text_of(body["contents"][0]))
    turn = sum(1 for c in body["contents"] if c.get("role") == "model")
    return f"engineer:{task.group(1) if task else ''}:{turn}"


def fault_reply(status: int, name: str, message: str) -> tuple[int, dict[str, Any]]:
    """A failure as Gemini sends it; a 429's wait is only in the body's RetryInfo."""
    if status == 200:  # a finish reason without content
        usage = {"promptTokenCount": 900, "totalTokenCount": 900}
        candidate = {"finishReason": name, "index": 0}
        return 200, {"candidates": [candidate], "usageMetadata": usage, "modelVersion": MODEL}
    code, body = error(status, name, message)
    if status == 429:
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{RETRY_DELAY_S}s",
            },
        ]
    return code, body


# -- the server -------------------------------------------------------------------------------


class GeminiServer(WireServer):
    """``with GeminiServer(GeminiModel(key)) as server:``; ``server.base_url`` is its root."""

    def __init__(self, model: GeminiModel) -> None:
        self.model = model
        super().__init__(self._respond)

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        status, body = self.model.handle(path, headers, raw)
        if status == 200 and "alt=sse" in path:  # one chunk holds the whole reply
            payload = b"data: " + json.dumps(body).encode("utf-8") + b"\r\n\r\n"
            return Answer(status, payload, "text/event-stream")
        return Answer.json(status, body)

    @property
    def base_url(self) -> str:
        return self.origin

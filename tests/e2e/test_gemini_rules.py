"""The loopback Gemini API holds each model to its own rules (tests/e2e/gemini_rules.py), so a
wire test on it fails where the real API would refuse: Gemini 3's thought signatures in the
current turn only, and the thinking settings each model takes."""

from __future__ import annotations

from typing import Any

import pytest
from gemini_model import MODEL, SECOND, GeminiModel
from gemini_rules import MODELS, signature
from scripted_factory import Refusal

CALL = {"functionCall": {"id": "c1", "name": "read_file", "args": {"path": "a.py"}}}
ANSWER = {"functionResponse": {"id": "c1", "name": "read_file", "response": {"output": "x"}}}


def body(*contents: dict[str, Any], thinking: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": 64}
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return {"contents": list(contents), "generationConfig": config}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model_turn(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def check(model: str, request: dict[str, Any]) -> str:
    return GeminiModel("k").check(request, MODELS[model])


def test_gemini_3_refuses_an_unsigned_call_of_the_current_turn_only():
    unsigned = body(user({"text": "read"}), model_turn(CALL), user(ANSWER))
    with pytest.raises(Refusal, match="missing a thought_signature"):
        check(MODEL, unsigned)
    assert check("gemini-2.5-pro", unsigned) == "DYNAMIC"  # 2.5 signs, but checks nothing
    # A user text after it starts a new turn: the earlier step is not checked any more.
    later = body(user({"text": "read"}), model_turn(CALL), user(ANSWER, {"text": "now stop"}))
    assert check(MODEL, later) == "MEDIUM"


def test_a_signature_is_read_as_bytes_whichever_base64_it_comes_back_in():
    """The google-genai SDK sends back URL-safe base64 what Gemini gave in standard."""
    gemini = GeminiModel("k")
    given = gemini.calls("", (("read_file", {"path": "a.py"}),), with_ids=True, number=1)[1]
    text = given["thoughtSignature"]
    assert "+" in text and text == signature("calls-1")[0]
    url_safe = {**given, "thoughtSignature": text.replace("+", "-").replace("/", "_")}
    answer = {**ANSWER, "functionResponse": {**ANSWER["functionResponse"], "id": "fc-1-0"}}
    assert gemini.check(
        body(user({"text": "r"}), model_turn(url_safe), user(answer)), MODELS[MODEL]
    )
    forged = {**given, "thoughtSignature": signature("calls-2")[0]}
    with pytest.raises(Refusal, match="Corrupted thought signature"):
        gemini.check(body(user({"text": "r"}), model_turn(forged), user(answer)), MODELS[MODEL])


@pytest.mark.parametrize(
    ("model", "thinking", "refusal"),
    [
        (MODEL, {"thinking_level": "MINIMAL"}, "Thinking level MINIMAL is not supported"),
        ("gemini-2.5-pro", {"thinkingLevel": "LOW"}, "Thinking level is not supported"),
        (SECOND, {"thinkingLevel": "LOW", "thinkingBudget": 512}, "not supported together"),
    ],
)
def test_a_thinking_setting_the_model_does_not_take_is_refused(
    model: str, thinking: dict[str, Any], refusal: str
):
    with pytest.raises(Refusal, match=refusal):
        check(model, body(user({"text": "x"}), thinking=thinking))


def test_a_request_runs_at_its_level_or_the_models_default():
    ask = user({"text": "x"})
    assert check(SECOND, body(ask)) == "MINIMAL"
    assert check(SECOND, body(ask, thinking={"thinking_level": "medium"})) == "MEDIUM"
    assert check(MODEL, body(ask)) == "MEDIUM"
    assert check("gemini-2.5-pro", body(ask, thinking={"thinkingBudget": 1024})) == "BUDGET"

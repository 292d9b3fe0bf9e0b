"""A Gemini tool loop compacted to fit the context window goes back as compacted.

The provider replays the model's own function-call parts (they carry the thought signatures
Gemini 3 requires); a call whose arguments compaction cut (agents/compaction.py: an older
write_file's content) must go back with the cut arguments, not the kept original, or the
request is as long as the one refused and compaction fails every time.
"""

from __future__ import annotations

from typing import Any

from provider_loopback import LoopbackServer
from provider_wires import CANARY, WIRES

from agents.compaction import compact, request_tokens
from agents.provider import CompletionRequest, Message
from agents.providers.gemini import GeminiProvider
from agents.tool_specs import TOOL_SPECS

BIG = "x = 1\n" * 4000
TOOLS = tuple(t for t in TOOL_SPECS if t.name in ("write_file", "read_file"))


def model_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for c in body["contents"] if c["role"] == "model" for p in c["parts"]]


async def test_a_call_whose_arguments_were_compacted_goes_back_compacted(server: LoopbackServer):
    wire = WIRES["gemini"]
    write = wire.tool_call("fc_1", "write_file", {"path": "a.py", "content": BIG})
    read = wire.tool_call("fc_2", "read_file", {"path": "a.py"})
    read.json_body["candidates"][0]["content"]["parts"][1]["thoughtSignature"] = "c2lnLTI="
    server.queue(write, read, wire.text("done"))
    provider = GeminiProvider("gemini-3.8-flash", api_key=CANARY, base_url=server.url)
    task = CompletionRequest(system="s", messages=(Message("user", "write a.py"),), tools=TOOLS)
    first = await provider.complete(task)
    messages = (
        *task.messages,
        Message("assistant", first.text, first.tool_calls),
        Message("tool", "wrote a.py", tool_call_id=first.tool_calls[0].id),
    )
    second = await provider.complete(CompletionRequest(system="s", messages=messages, tools=TOOLS))
    messages = (
        *messages,
        Message("assistant", second.text, second.tool_calls),
        Message("tool", "x = 1", tool_call_id=second.tool_calls[0].id),
    )
    whole = CompletionRequest(system="s", messages=messages, tools=TOOLS)
    compacted = compact(whole, request_tokens(whole) // 4).request
    await provider.complete(compacted)
    await provider.aclose()

    sent = [p for p in model_parts(server.seen[-1].body) if "functionCall" in p]
    cut = compacted.messages[1].tool_calls[0].arguments["content"]
    assert len(cut) < len(BIG) // 10
    assert sent[0]["functionCall"] == {
        "id": "fc_1",
        "name": "write_file",
        "args": {"path": "a.py", "content": cut},
    }
    # Not the thoughts the model signed for the call it made: the documented marker of a call
    # rewritten by the client, which Gemini 3 takes in place of its signature.
    assert sent[0]["thoughtSignature"] == "skip_thought_signature_validator"
    # The latest call, untouched, goes back as the model sent it, signature and all.
    assert sent[1] == {
        "functionCall": {"id": "fc_2", "name": "read_file", "args": {"path": "a.py"}},
        "thoughtSignature": "c2lnLTI=",
    }
    assert len(str(server.seen[-1].body)) < len(BIG) // 2

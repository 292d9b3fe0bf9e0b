"""A stand-in for `claude -p ... --output-format stream-json --verbose`: it edits a file in its
working directory and streams the real stream-json event shapes, line by line."""

import json
import os
import subprocess
import sys
import time

# -p is a flag, as in Claude Code: the prompt is the argument after it, or stdin without one.
after = sys.argv[sys.argv.index("-p") + 1 :]
prompt = after[0] if after and not after[0].startswith("--") else sys.stdin.read()
mode = os.environ.get("FAKE_AGENT_MODE", "ok")


def emit(event):
    print(json.dumps(event), flush=True)


emit(
    {
        "type": "system",
        "subtype": "init",
        "session_id": "s1",
        "model": "claude-sonnet-4-6",
        "cwd": os.getcwd(),
        "tools": ["Read", "Edit", "Bash"],
        "permissionMode": "acceptEdits",
    }
)
if mode == "hang":
    time.sleep(30)
if mode in ("login", "limit"):  # what Claude Code prints when the API refuses it
    if mode == "limit":
        resets = int(os.environ.get("FAKE_AGENT_RESETS", "1774447200"))
        info = {"status": "rejected", "resetsAt": resets, "rateLimitType": "five_hour"}
        emit({"type": "rate_limit_event", "rate_limit_info": info, "session_id": "s1"})
        said = f"Claude AI usage limit reached|{resets}"
    else:
        said = "Invalid API key · Please run /login"
    block = {"type": "text", "text": said}
    message = {"id": "m0", "model": "<synthetic>", "role": "assistant", "content": [block]}
    emit({"type": "assistant", "message": message, "session_id": "s1"})
    zero = {"input_tokens": 0, "output_tokens": 0}
    emit(
        {
            "type": "result",
            "subtype": "success",  # as Claude Code says it: is_error tells the failure
            "is_error": True,
            "result": said,
            "total_cost_usd": 0,
            "usage": zero,
            "session_id": "s1",
        }
    )
    sys.exit(1)
emit(
    {
        "type": "assistant",
        "session_id": "s1",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [
                {"type": "text", "text": "I will write hello.py."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "Write",
                    "input": {"file_path": "hello.py", "content": "print('hi')\n"},
                },
            ],
            "stop_reason": None,
            "usage": {"input_tokens": 40, "output_tokens": 12},
        },
    }
)
with open("hello.py", "w") as handle:
    handle.write(f"# {prompt.splitlines()[-1]}\nprint('hi')\n")
emit(
    {
        "type": "user",
        "session_id": "s1",
        "message": {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "File created",
                    "is_error": False,
                }
            ],
        },
    }
)
print("a stray log line that is not JSON", flush=True)
if mode == "fail":
    emit(
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "result": "",
            "num_turns": 9,
            "total_cost_usd": 0.02,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )
    sys.exit(1)
if mode == "background":  # its Bash tool ran `npm run dev &`: it keeps Claude Code's stdout
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open("server.pid", "w") as handle:
        handle.write(str(server.pid))
emit(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 1234,
        "num_turns": 2,
        "result": "Wrote hello.py printing hi.",
        "session_id": "s1",
        "total_cost_usd": 0.0123,
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 900,
            "output_tokens": 45,
        },
    }
)

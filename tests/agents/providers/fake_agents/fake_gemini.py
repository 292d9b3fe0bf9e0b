"""A stand-in for `gemini -p PROMPT --output-format stream-json --yolo` (Gemini CLI's headless
mode): it edits a file in its working directory and streams the real stream-json events
(``init``, ``message`` with ``delta`` pieces, ``tool_use``, ``tool_result``, ``result`` with
``stats``), one JSON object a line."""

import json
import os
import sys

# -p takes the prompt; what is piped to stdin comes before it (`gemini -p ""` reads it all).
prompt = sys.argv[sys.argv.index("-p") + 1]
if not sys.stdin.isatty():
    piped = sys.stdin.read()
    prompt = f"{piped}\n\n{prompt}" if piped else prompt
mode = os.environ.get("FAKE_AGENT_MODE", "ok")
STAMP = "2026-11-24T00:00:00.000Z"


def emit(kind, **fields):
    print(json.dumps({"type": kind, "timestamp": STAMP, **fields}), flush=True)


emit("init", session_id="g1", model="gemini-2.5-pro")
emit("message", role="user", content=prompt)
if mode == "login":
    error = {
        "type": "Error",
        "message": "[API Error: API key not valid. Please pass a valid API key.]",
    }
    emit("error", severity="error", message=error["message"])
    emit("result", status="error", error=error, stats={"input_tokens": 0, "output_tokens": 0})
    sys.exit(1)
for piece in ("I will write ", "hello.py", " first."):
    emit("message", role="assistant", content=piece, delta=True)
target = prompt.strip().splitlines()[-1]
emit("tool_use", tool_name="write_file", tool_id="w1",
     parameters={"file_path": "hello.py", "content": "print('hi')\n"})  # fmt: skip
with open("hello.py", "w") as handle:
    handle.write(f"# {target}\nprint('hi')\n")
emit("tool_result", tool_id="w1", status="success", output="Wrote hello.py")
emit("tool_use", tool_name="run_shell_command", tool_id="s1", parameters={"command": "pytest"})
emit("tool_result", tool_id="s1", status="error", error={"type": "EXIT", "message": "exit 5"})
emit("error", severity="warning", message="Loop detected, stopping execution")
for piece in ("Wrote hello.py ", "printing hi."):
    emit("message", role="assistant", content=piece, delta=True)
stats = {
    "total_tokens": 10450,
    "input_tokens": 10000,
    "output_tokens": 450,
    "cached": 9000,
    "input": 1000,
    "duration_ms": 5000,
    "tool_calls": 2,
}
emit("result", status="success", stats=stats)

"""A stand-in for `codex exec --json PROMPT`: the JSONL event shapes Codex prints."""

import json
import sys

# The prompt is the last argument; `-` reads it from stdin, as `codex exec -` does.
prompt = sys.stdin.read() if sys.argv[-1] == "-" else sys.argv[-1]


def emit(event):
    print(json.dumps(event), flush=True)


emit({"type": "thread.started", "thread_id": "t1"})
emit({"type": "turn.started"})
emit(
    {
        "type": "item.started",
        "item": {
            "id": "item_0",
            "type": "command_execution",
            "command": "bash -lc ls",
            "status": "in_progress",
        },
    }
)
emit(
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "file_change",
            "changes": [{"path": "hello.py", "kind": "add"}],
            "status": "completed",
        },
    }
)
open("hello.py", "w").write(f"# {prompt.strip().splitlines()[-1]}\nprint('hi')\n")
emit(
    {
        "type": "item.completed",
        "item": {
            "id": "item_2",
            "type": "agent_message",
            "text": "Added hello.py for: " + prompt[:20],
        },
    }
)
emit(
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 500, "cached_input_tokens": 300, "output_tokens": 60},
    }
)

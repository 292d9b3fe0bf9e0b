"""A stand-in for `codex exec --json PROMPT`: the JSONL event shapes Codex prints."""

import json
import sys


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
open("hello.py", "w").write("print('hi')\n")
emit(
    {
        "type": "item.completed",
        "item": {
            "id": "item_2",
            "type": "agent_message",
            "text": "Added hello.py for: " + sys.argv[-1][:20],
        },
    }
)
emit(
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 500, "cached_input_tokens": 300, "output_tokens": 60},
    }
)

"""A stand-in for Claude Code in print mode (and for Codex's ``exec --json``), for
end-to-end runs of the ``cli:claude`` and ``cli:codex`` engineers.

As ``claude`` it takes the real CLI's arguments (``-p``/``--print`` is a flag, the prompt is
the positional argument or, without one, stdin; ``--output-format stream-json`` needs
``--verbose``) and streams the real ``stream-json`` event shapes line by line
(``system``/``init``, ``assistant`` messages with ``text`` and ``tool_use`` blocks, ``user``
messages with ``tool_result`` blocks, a final ``result`` with ``usage``, ``total_cost_usd``,
``is_error`` and ``subtype``). As ``codex exec --json [--full-auto] PROMPT|-`` it streams
Codex's events (``thread.started``, ``turn.started``, ``item.started``/``item.completed`` of
``command_execution``, ``file_change`` and ``agent_message`` items, ``turn.completed`` with
usage, ``turn.failed``). Either way it really does what its tool calls say in its working
directory: writes the task's files (tests/e2e/scripted_factory.py), runs pytest, runs git.

What it does is read from the prompt it gets (the task id and attempt in "Your task (ID,
attempt N of M)", the previous attempt's failure) and from a plan in ``FAKE_AGENT_PLAN``: a
JSON object mapping ``"TASK/ATTEMPT"`` to a list of habits of real agents:

- ``commit``: ``git add -A`` and ``git commit`` its work itself, as Claude Code often does;
- ``branch``: first ``git checkout -b`` a branch of its own (then commit);
- ``draft``: write the task's known-buggy first draft (scripted_factory.DRAFTS) and stop
  without running the tests;
- ``needs_failure``: write the right code only if the prompt carries the failing test's
  output (the retry's context), else the draft again;
- ``max_turns``: stop early with an ``error_max_turns`` result and exit code 1;
- ``crash``: a Node-style stack trace on stderr and exit code 1, no ``result``;
- ``hang``: sleep until killed;
- ``huge``: one assistant text block of ``FAKE_AGENT_HUGE`` bytes;
- ``noise``: warnings on stderr between the events;
- ``show_key``: run ``printenv ANTHROPIC_API_KEY`` in its Bash tool and report the output;
- ``escape``: write a file into the user's checkout by its absolute path (found with
  ``git rev-parse --git-common-dir``), as an agent "fixing" the wrong copy would.

And what agents do to the repository beyond their worktree, through the shared git directory:

- ``tag``: ``git tag agent-v1`` and ``git notes add`` on its starting commit;
- ``stash``: leave a scratch file in ``git stash -u`` and forget it;
- ``update_ref``: ``git update-ref`` the user's ``feature`` branch (not in its worktree) to its
  start, and ``git push .`` a branch of its own;
- ``main_head``: ``git -C CHECKOUT symbolic-ref HEAD refs/heads/feature`` (the user's checkout
  switched branch under their feet);
- ``remote``: ``git remote add agent https://example.invalid/agent.git``;
- ``hooks``: write ``post-checkout`` and ``reference-transaction`` hooks into ``.git/hooks``,
  each appending a line to ``FAKE_AGENT_PWNED`` when it runs;
- ``config``: set ``core.fsmonitor`` to a command that appends to ``FAKE_AGENT_PWNED`` and
  ``core.hooksPath`` to a folder of such hooks;
- ``gc``: ``git gc --prune=now``;
- ``lose``: delete the user's ``feature`` branch, expire every reflog and ``git gc
  --prune=now``: the branch's own commits are gone;
- ``lazy``: run no tests (for fast runs of the habits above).

Each run appends one JSON line to ``FAKE_AGENT_LOG``: its argv (the prompt replaced by
``<prompt>``), the prompt, its cwd, and the secret-looking variables it could see (names only).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from scripted_factory import DRAFTS, FILES

SESSION = "5f1c2e0a-fake-4c1a-9d55-claude000001"
MODEL = "claude-sonnet-4-6"
COST = 0.0421
"""What each successful run reports in ``total_cost_usd``."""
USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 9000,
    "output_tokens": 450,
}
SECRET_NAMES = re.compile(r"KEY|TOKEN|SECRET|SHOPFLOOR_DB|DATABASE_URL")


def emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


class Session:
    """One print-mode session: numbered tool calls, each answered by a tool result."""

    def __init__(self) -> None:
        self.calls = 0

    def say(self, text: str) -> None:
        self._assistant([{"type": "text", "text": text}])

    def start(self) -> None:
        emit(
            {
                "type": "system",
                "subtype": "init",
                "session_id": SESSION,
                "cwd": os.getcwd(),
                "model": MODEL,
                "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite"],
                "mcp_servers": [],
                "permissionMode": "acceptEdits",
                "apiKeySource": "ANTHROPIC_API_KEY",
            }
        )

    def result(self, text: str, *, subtype: str = "success", is_error: bool = False) -> None:
        emit(
            {
                "type": "result",
                "subtype": subtype,
                "is_error": is_error,
                "duration_ms": 5120,
                "duration_api_ms": 4800,
                "num_turns": 6,
                "result": text,
                "session_id": SESSION,
                "total_cost_usd": COST,
                "usage": USAGE,
            }
        )

    def tool(self, name: str, tool_input: dict[str, Any], run: Any) -> str:
        """A tool_use block, the tool really run (``run()``), its tool_result."""
        self.calls += 1
        call_id = f"toolu_{self.calls:02d}"
        self._assistant([{"type": "tool_use", "id": call_id, "name": name, "input": tool_input}])
        output, failed = run()
        result = {"type": "tool_result", "tool_use_id": call_id, "content": output}
        if failed:
            result["is_error"] = True
        emit(
            {
                "type": "user",
                "session_id": SESSION,
                "message": {"role": "user", "content": [result]},
            }
        )
        return str(output)

    def write(self, path: str, content: str) -> None:
        def run() -> tuple[str, bool]:
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            except OSError as exc:  # a read-only place: the tool's error, not a crash
                return f"Error: {exc.strerror}: {path}", True
            return f"File created successfully at: {path}", False

        self.tool("Write", {"file_path": str(Path.cwd() / path), "content": content}, run)

    def bash(self, command: list[str], description: str) -> str:
        def run() -> tuple[str, bool]:
            env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=60, check=False
            )
            text = (done.stdout + done.stderr).strip()
            return text, done.returncode != 0

        shown = " ".join(command)
        return self.tool("Bash", {"command": shown, "description": description}, run)

    def _assistant(self, content: list[dict[str, Any]]) -> None:
        emit(
            {
                "type": "assistant",
                "session_id": SESSION,
                "parent_tool_use_id": None,
                "message": {
                    "id": f"msg_{self.calls:02d}",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": content,
                    "stop_reason": None,
                    "usage": {"input_tokens": 10, "output_tokens": 20},
                },
            }
        )


class CodexSession(Session):
    """The same session as ``codex exec --json`` tells it: thread and turn events, items."""

    def start(self) -> None:
        emit({"type": "thread.started", "thread_id": "0199a1b2-fake-codex-thread"})
        emit({"type": "turn.started"})

    def say(self, text: str) -> None:
        self.calls += 1
        item = {"id": f"item_{self.calls}", "type": "agent_message", "text": text}
        emit({"type": "item.completed", "item": item})

    def tool(self, name: str, tool_input: dict[str, Any], run: Any) -> str:
        self.calls += 1
        item: dict[str, Any] = {"id": f"item_{self.calls}"}
        if name == "Bash":
            item |= {"type": "command_execution", "command": tool_input["command"]}
            emit({"type": "item.started", "item": {**item, "status": "in_progress"}})
        output, failed = run()
        if name == "Bash":
            item |= {"aggregated_output": output, "exit_code": int(failed), "status": "completed"}
        else:
            change = {"path": tool_input["file_path"], "kind": "add"}
            item |= {"type": "file_change", "changes": [change], "status": "completed"}
        emit({"type": "item.completed", "item": item})
        return str(output)

    def result(self, text: str, *, subtype: str = "success", is_error: bool = False) -> None:
        if is_error:
            emit({"type": "turn.failed", "error": {"message": f"{subtype}: {text}"}})
            return
        usage = {
            "input_tokens": USAGE["input_tokens"] + USAGE["cache_read_input_tokens"],
            "cached_input_tokens": USAGE["cache_read_input_tokens"],
            "output_tokens": USAGE["output_tokens"],
        }
        emit({"type": "turn.completed", "usage": usage})


def parse(argv: list[str]) -> tuple[str, list[str]]:
    """The prompt and the argv as logged; exits 1 as the real CLI does on a bad command line."""
    flags = {"-p", "--print", "--verbose"}
    valued = {"--output-format", "--permission-mode", "--model", "--max-turns"}
    variadic = {"--allowedTools", "--allowed-tools", "--disallowedTools"}
    positional: list[str] = []
    options: dict[str, str] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in flags:
            options[arg] = ""
        elif arg in variadic:  # takes every word up to the next option, a prompt too
            taken = []
            while index + 1 < len(argv) and not argv[index + 1].startswith("-"):
                taken.append(argv[index + 1])
                index += 1
            if not taken:
                print(f"error: option '{arg} <tools...>' argument missing", file=sys.stderr)
                sys.exit(1)
            options[arg] = ",".join(taken)
        elif arg in valued:
            options[arg] = argv[index + 1]
            index += 1
        elif arg.startswith("-"):
            print(f"error: unknown option '{arg}'", file=sys.stderr)
            sys.exit(1)
        else:
            positional.append(arg)
        index += 1
    if "-p" not in options and "--print" not in options:
        print("error: this fake only runs in print mode (-p)", file=sys.stderr)
        sys.exit(1)
    if options.get("--output-format") == "stream-json" and "--verbose" not in options:
        print(
            "Error: When using --print, --output-format=stream-json requires --verbose",
            file=sys.stderr,
        )
        sys.exit(1)
    prompt = positional[0] if positional else sys.stdin.read()
    if not prompt.strip():
        print(
            "Error: Input must be provided either through stdin or as a prompt argument "
            "when using --print",
            file=sys.stderr,
        )
        sys.exit(1)
    shown = ["<prompt>" if a == prompt else a for a in argv]
    return prompt, shown


def log(entry: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_AGENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


def parse_codex(argv: list[str]) -> tuple[str, list[str]]:
    """``codex exec [--json] [--full-auto] PROMPT``, or ``-``/no prompt for stdin."""
    rest = [a for a in argv[1:] if a not in ("--json", "--full-auto", "--skip-git-repo-check")]
    if "--json" not in argv or any(a.startswith("--") for a in rest) or len(rest) > 1:
        print(f"error: unexpected arguments {rest}", file=sys.stderr)
        sys.exit(2)
    prompt = rest[0] if rest and rest[0] != "-" else sys.stdin.read()
    return prompt, ["<prompt>" if a == prompt else a for a in argv]


GIT_HABITS = ("tag", "stash", "update_ref", "main_head", "remote", "hooks", "config", "gc", "lose")


def git_habits(session: Session, habits: list[str]) -> None:
    """What the agent does to the repository beyond its worktree (the module's list)."""
    if not set(habits) & set(GIT_HABITS):
        return
    found = session.bash(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], "Find the repo"
    )
    common = Path(found.strip())
    pwned = os.environ.get("FAKE_AGENT_PWNED", "/dev/null")
    hook = f"#!/bin/sh\necho \"$0 $*\" >> '{pwned}'\n"
    if "tag" in habits:
        session.bash(["git", "tag", "agent-v1"], "Tag my start")
        session.bash(["git", "notes", "add", "-m", "checked by the agent"], "Note it")
    if "stash" in habits:
        session.write("scratch.txt", "scratch\n")
        session.bash(["git", "stash", "push", "-q", "-u", "-m", "agent scratch"], "Put it aside")
    if "update_ref" in habits:
        session.bash(["git", "update-ref", "refs/heads/feature", "HEAD"], "Reset feature")
        session.bash(["git", "push", "-q", ".", "HEAD:refs/heads/agent-pushed"], "Push here")
    if "main_head" in habits:
        checkout = str(common.parent)
        session.bash(["git", "-C", checkout, "symbolic-ref", "HEAD", "refs/heads/feature"], "Go")
    if "remote" in habits:
        session.bash(["git", "remote", "add", "agent", "https://example.invalid/a.git"], "Remote")
    if "hooks" in habits:
        for name in ("post-checkout", "reference-transaction"):
            session.write(str(common / "hooks" / name), hook)
            session.bash(["chmod", "+x", str(common / "hooks" / name)], "Make it run")
    if "config" in habits:
        fsmonitor = f"echo fsmonitor >> '{pwned}'; false"
        session.bash(["git", "config", "core.fsmonitor", fsmonitor], "Watch the files")
        session.write(str(common / "agent-hooks" / "post-checkout"), hook)
        session.bash(["chmod", "+x", str(common / "agent-hooks" / "post-checkout")], "Run it")
        session.bash(["git", "config", "core.hooksPath", str(common / "agent-hooks")], "Hooks")
    if "gc" in habits:
        session.bash(["git", "gc", "-q", "--prune=now"], "Tidy the repository")
    if "lose" in habits:
        session.bash(["git", "branch", "-D", "feature"], "Drop a stale branch")
        expire = ["git", "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"]
        session.bash(expire, "Forget the reflogs")
        session.bash(["git", "gc", "-q", "--prune=now"], "Tidy the repository")


def main() -> int:
    codex = sys.argv[1:2] == ["exec"]
    prompt, shown = parse_codex(sys.argv[1:]) if codex else parse(sys.argv[1:])
    found = re.search(r"Your task \(([^,]+), attempt (\d+) of (\d+)\)", prompt)
    task_id, attempt = (found.group(1), found.group(2)) if found else ("?", "0")
    plan = json.loads(os.environ.get("FAKE_AGENT_PLAN") or "{}")
    habits: list[str] = list(plan.get(f"{task_id}/{attempt}", []))
    log(
        {
            "argv": shown,
            "prompt": prompt,
            "cwd": os.getcwd(),
            "task": task_id,
            "attempt": int(attempt),
            "secrets": sorted(k for k in os.environ if SECRET_NAMES.search(k)),
        }
    )
    session = CodexSession() if codex else Session()
    session.start()
    if "noise" in habits:
        print("(node:4242) Warning: an experimental feature was used", file=sys.stderr)
    if task_id not in FILES:
        session.result(
            "I could not find a task in this prompt.",
            subtype="error_during_execution",
            is_error=True,
        )
        return 1
    if "hang" in habits:
        time.sleep(600)
    if "huge" in habits:
        size = int(os.environ.get("FAKE_AGENT_HUGE") or 5_000_000)
        session.say("x" * size)
    if "crash" in habits:
        print("file:///usr/lib/node_modules/@anthropic-ai/claude-code/cli.js:812", file=sys.stderr)
        print("TypeError: Cannot read properties of undefined (reading 'content')", file=sys.stderr)
        print("    at Object.next (cli.js:812:10413)", file=sys.stderr)
        return 1
    if "show_key" in habits:
        session.bash(["printenv", "ANTHROPIC_API_KEY"], "Check the API key the SDK uses")
    if "escape" in habits:
        common = session.bash(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], "Find the repo"
        )
        target = Path(common.strip()).parent / "ESCAPED_BY_AGENT.txt"
        session.bash(["sh", "-c", f"echo agent > '{target}'"], "Write into the checkout")
    git_habits(session, habits)
    if "branch" in habits:
        session.bash(["git", "checkout", "-q", "-b", f"claude/{task_id}"], "A branch of my own")
    (test_path, test_text), (code_path, code_text) = FILES[task_id].items()
    session.say(f"I'll start with the test for task {task_id}.")
    session.write(test_path, test_text)
    if "max_turns" in habits:
        session.result("", subtype="error_max_turns", is_error=True)
        return 1
    lazy = "lazy" in habits
    red = "" if lazy else session.bash([sys.executable, "-m", "pytest", "-q", test_path], "Run it")
    if "noise" in habits:
        print("[WARN] Streaming fallback: a response took a slow path", file=sys.stderr)
    draft = DRAFTS.get(task_id)
    failure_seen = "assert 'Hello, Ada!' == 'HELLO, ADA!'" in prompt  # what the gate said
    buggy = "draft" in habits or ("needs_failure" in habits and not failure_seen)
    session.write(code_path, code_text.replace(*draft) if buggy and draft else code_text)
    if not buggy and not lazy:
        session.bash([sys.executable, "-m", "pytest", "-q"], "Run the whole suite")
    if "commit" in habits or "branch" in habits:
        session.bash(["git", "add", "-A"], "Stage everything")
        session.bash(["git", "commit", "-q", "-m", f"Add {code_path}"], "Commit the task")
    summary = f"Wrote {test_path} (red first: {'ModuleNotFoundError' in red}) and {code_path}."
    session.say(summary)
    session.result(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A stand-in for `aider --message PROMPT` (or `--message-file FILE`) with `--no-pretty`: it
edits a file in its working directory and prints plain text, its token line included."""

import sys

args = sys.argv[1:]
source = "the argument"
if "--message-file" in args:
    source = args[args.index("--message-file") + 1]
    with open(source, encoding="utf-8") as handle:
        prompt = handle.read()
else:
    prompt = args[args.index("--message") + 1]
with open("hello.py", "w") as handle:
    handle.write(f"# {prompt.strip().splitlines()[-1]}\nprint('hi')\n")
print("Applied edit to hello.py")
print("Tokens: 2.5k sent, 310 received. Cost: $0.01 message")
print(f"Read {len(prompt.splitlines())} prompt lines from {source}")

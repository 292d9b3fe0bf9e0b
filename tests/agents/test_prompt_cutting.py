"""How a one-message role's prompt is cut to a budget (agents/prompt_fit.py)."""

from __future__ import annotations

import re

from agents.playbook import Playbook
from agents.prompt_fit import (
    Part,
    cut_to,
    diff_blocks,
    fit_prompt,
    left_out,
    message_room,
    shares,
    source_blocks,
)
from agents.provider import CompletionRequest
from agents.providers.context_fit import ContextFit
from agents.providers.fallback_chain import FallbackProvider
from agents.sim import SimProvider

LINES = [f"docs/page_{n:03}.md" for n in range(200)]


def test_the_most_relevant_lines_stay_in_their_order_and_each_gap_is_marked():
    text = "\n".join([*LINES[:100], "greetings/core.py", *LINES[100:], "greetings/shout.py"])
    cut = cut_to(text, 300, "greet and shout in greetings")
    assert len(cut) <= 300
    kept = cut.splitlines()
    assert kept.index("greetings/core.py") < kept.index("greetings/shout.py")
    assert left_out(100) in kept and left_out(100 - sum(1 for k in kept if "page" in k)) in kept


def test_with_nothing_relevant_the_head_is_kept():
    cut = cut_to("\n".join(LINES), 200, "unrelated words")
    assert cut.startswith("docs/page_000.md\ndocs/page_001.md\n")
    assert cut.endswith(" lines left out …]\n") and len(cut) <= 200


def test_a_text_that_fits_is_left_as_it_is():
    assert cut_to("a\nb", 10, "a") == "a\nb"


def test_a_left_out_diff_block_is_named_and_a_relevant_one_kept_whole():
    big = "diff --git a/data.csv b/data.csv\n" + "+1,2,3\n" * 500
    code = "diff --git a/greet.py b/greet.py\n+def greet(name):\n+    return name\n"
    cut = cut_to(big + code, 120, "greet", diff_blocks())
    assert code in cut and "[… 501 lines left out: data.csv …]" in cut


def test_shares_give_a_small_part_all_it_needs_and_split_the_rest():
    assert shares({"a": 10, "b": 1000, "c": 1000}, 610) == {"a": 10, "b": 300, "c": 300}
    assert shares({"a": 10}, -5) == {"a": 0}


def test_a_prompt_keeps_its_fixed_values_whole_and_cuts_the_parts():
    files = Part("\n".join(LINES), "page_150")
    whole = fit_prompt("critic", {"request": "R" * 400, "criteria": "c"}, {"files": files}, None)
    assert "docs/page_199.md" in whole
    fitted = fit_prompt("critic", {"request": "R" * 400, "criteria": "c"}, {"files": files}, 500)
    assert len(fitted) <= 2000 and "R" * 400 in fitted and "docs/page_150.md" in fitted
    assert " lines left out …]" in fitted


class Model:
    family, model, spec, simulated = "openai", "m", "openai:m", False


def test_the_room_of_a_chain_is_its_largest_link_once_every_link_is_known():
    shape = CompletionRequest("system", ())
    small = ContextFit(Model(), context_tokens=8192)  # type: ignore[arg-type]
    large = ContextFit(Model())  # type: ignore[arg-type]
    chain = FallbackProvider([small, large])
    assert message_room(small, shape) == 3110 and message_room(chain, shape) is None
    large.window = 32768
    assert message_room(chain, shape) == message_room(large, shape) > 3110
    assert message_room(SimProvider(Playbook(name="p")), shape) is None


def test_a_line_is_cut_at_its_newline_only():
    # Form feeds (old sources' page breaks) and U+2028 are not line ends: a marker counted
    # each piece between them as a line, and a file cut to its head stopped inside a line.
    text = "".join(f"{n:4d}  page\x0cbreak\u2028here\n" for n in range(100))
    cut = cut_to(text, 300, "nothing relevant")
    kept = [line for line in cut.split("\n")[:-1] if not line.startswith("[…")]
    said = sum(int(m) for m in re.findall(r"\[… (\d+) lines left out", cut))
    assert len(cut) <= 300 and len(kept) + said == 100
    assert all(line.endswith("here") for line in kept)
    head = cut_to("### a.py\n" + text, 600, "nothing relevant", source_blocks())
    shown = head.split("\n")[1:-2]
    assert shown and all(line.endswith("here") for line in shown)

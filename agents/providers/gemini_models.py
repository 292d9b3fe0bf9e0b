"""What each Gemini model family takes, decided from its name: how much output room it needs
for its thoughts besides the answer's, and which thinking setting it is sent.
"""

from __future__ import annotations

import re

THINKING_HEADROOM = 32768
"""Output tokens a thinking model may spend on its thoughts besides the answer's own limit:
Gemini 2.5 Pro's largest thinking budget. Gemini 2.5 and 3 count thoughts against
``max_output_tokens``, so a 4,096-token cap let a long think use it all and the answer came
back empty (MAX_TOKENS). Only what is generated is billed."""
OUTPUT_CEILING = 65536
"""The largest ``max_output_tokens`` the thinking models take."""
_THINKING = re.compile(r"gemini-(?:2\.[5-9]|[3-9]|[1-9]\d|(?:flash|flash-lite|pro)-latest$)")
"""Model names of the families that think (2.5 and later, and the ``gemini-flash-latest``
style aliases, which name those families now); older ones cap output at 8,192."""


def output_limit(model: str, answer_tokens: int) -> int:
    """``max_output_tokens`` for an answer of up to ``answer_tokens`` from ``model``: with
    :data:`THINKING_HEADROOM` for its thoughts where the model thinks."""
    if _THINKING.match(model.removeprefix("models/")):
        return min(answer_tokens + THINKING_HEADROOM, OUTPUT_CEILING)
    return answer_tokens

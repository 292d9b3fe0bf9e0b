"""What each Gemini model family takes, decided from its name: how much output room it needs
for its thoughts besides the answer's, and which thinking setting it is sent.

Thinking, per family (Google's model pages as of 2026-11; a level a model does not list is
refused with a 400, as is ``thinkingLevel`` beside ``thinkingBudget``):

    family                     sent                    why
    1.5, 2.0                   nothing                 they do not think
    2.5 (Pro, Flash, Lite)     nothing                 they refuse thinkingLevel; their own
                                                       default stands (dynamic; Lite: off)
    3+ Flash-Lite              thinkingLevel MEDIUM    its default is MINIMAL, which Google
                                                       says can end a multi-step tool task
                                                       early; every 3.x Flash-Lite takes
                                                       MINIMAL, LOW, MEDIUM and HIGH
    3+ Flash, Pro              nothing                 their default (MEDIUM: 3.5, 3.7, 3.8
                                                       Flash; HIGH: Pro) is the one to use, and
                                                       their levels differ (3.7 and 3.8 Flash
                                                       refuse MINIMAL, 3 Pro takes LOW/HIGH)
    aliases (…-latest)         nothing                 an alias moves to other models

Never sent: ``thinkingBudget`` to Gemini 3 (kept for 2.5's sake only), ``includeThoughts``
(thought summaries would be text that is not the answer), and no ``temperature``, ``topP`` or
``topK`` to any Gemini: Gemini 3 is tuned for its default temperature 1.0 (Google: lower can
loop or degrade) and 3.5 Flash-Lite ignores them.
"""

from __future__ import annotations

import re

from google.genai import types

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


_LEVEL_BY_DEFAULT = re.compile(r"gemini-(?:[3-9]|[1-9]\d)(?:\.\d+)?-flash-lite\b")
"""Gemini 3 and later Flash-Lite: thinks at MINIMAL unless told."""
FLASH_LITE_LEVEL = types.ThinkingLevel.MEDIUM
"""What a Flash-Lite is asked to think at: Google's advice for one calling tools; a judging
role's score is worth the thought, as it was on the 2.5 Flash these replace."""


def thinking_config(model: str) -> types.ThinkingConfig | None:
    """The ``thinking_config`` sent to ``model`` (see the table above); None sends none."""
    if _LEVEL_BY_DEFAULT.match(model.removeprefix("models/")):
        return types.ThinkingConfig(thinking_level=FLASH_LITE_LEVEL)
    return None

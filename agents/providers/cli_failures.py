"""A coding agent's failed run said as one line, of the kind a fallback chain acts on.

A refused login, a usage limit (with when it resets, where the agent said), an overloaded
service, or an exit code said as a person reads it (a signal by its name).
"""

from __future__ import annotations

import re
import signal
import time

from agents.provider import Completion, ProviderError
from agents.providers.cli_streams import Transcript
from agents.providers.provider_errors import LIMITED, TransientProviderError, one_line

_LOGIN_REFUSED = re.compile(
    r"invalid (?:x-)?api[ _-]?key|incorrect api key|api key not valid|please run /login"
    r"|authentication_?error|unauthori[sz]ed|oauth token has expired|not logged in"
    r"|token has been invalidated|please set an auth method",
    re.IGNORECASE,
)
"""How Claude Code, Codex, Gemini CLI and Aider say that their key or login was refused
(a bare 401 is not enough: a stack trace's line numbers have them)."""
_LIMITED = re.compile(
    r"rate[ _-]?limit|usage[ _]limit|hit your (?:usage )?limit|quota|too many requests"
    r"|resource_exhausted",
    re.IGNORECASE,
)
"""How they say that they are rate limited or out of quota: a limit of the user's, which
lifts at a time (said as a 429, which a lone agent waits out)."""
_OVERLOADED = re.compile(r"overloaded", re.IGNORECASE)
"""How they say that the service is busy for everyone."""
_RESETS = re.compile(r"\|(\d{10})\b")
"""Claude Code's "Claude AI usage limit reached|1774447200": when the limit resets."""


def failure(spec: str, what: str, said: str, out: Transcript, spent: Completion) -> ProviderError:
    """The failed run as one line, of the kind a fallback chain acts on: a refused login
    (as an HTTP 401: the chain skips the agent for the rest of the run, rather than start
    it again for every attempt) or a rate limit (transient, as a 429 with when it resets
    where the agent said, which a lone agent waits out; an overload is transient alone)."""
    resets = out.resets_at
    verdict = said if out.failed is not None else said.rsplit(" / ", 1)[-1]  # its last line
    if found := _RESETS.search(verdict):
        resets = float(found[1])
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(resets))
        said = _RESETS.sub(f" (resets {stamp})", said)
    if _LOGIN_REFUSED.search(verdict):
        message = one_line(f"{spec}: the agent's login was refused ({what}): {said}")
        return ProviderError(message, spent=spent, status=401)
    limited = resets is not None or _LIMITED.search(verdict) is not None
    if limited or _OVERLOADED.search(verdict):
        wait = max(0.0, resets - time.time()) if resets is not None else None
        busy = "is rate limited" if limited else "found its service overloaded"
        message = one_line(f"{spec}: the agent {busy} ({what}): {said}")
        status = LIMITED if limited else None
        return TransientProviderError(message, retry_after=wait, spent=spent, status=status)
    return ProviderError(one_line(f"{spec}: {what}: {said}"), spent=spent)


def exit_said(code: int) -> str:
    """An exit code as a person reads it: a signal by its name (the kernel's out-of-memory
    killer sends SIGKILL; a shell, or bubblewrap, reports a signal as 128 + its number)."""
    number = -code if code < 0 else code - 128 if 128 < code < 160 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = ""
    if not name:
        return f"exit code {code}"
    if code > 0:
        return f"exit code {code} (killed by {name}?)"
    return f"killed by {name}" + (" (out of memory?)" if number == signal.SIGKILL else "")

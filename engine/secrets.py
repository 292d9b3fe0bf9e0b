"""Which environment variables hold secrets: one rule for every place that keeps them out.

The console and telemetry redact these values from what they print and export
(``telemetry/redaction.py``); a coding agent's output (``agents/providers/cli.py``) and a
sandboxed command's (``gates/sandbox.py``) are cleaned of them before they reach the event log
or a model. Those packages import this module, since none may import the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH(?!OR(?!IZ))", re.IGNORECASE
)
"""Environment variable names whose values are treated as secrets (``AUTH`` but not ``AUTHOR``:
``GIT_AUTHOR_NAME`` is the user's name, ``PROXY_AUTHORIZATION`` a credential)."""

NOT_SECRET_NAMES = frozenset({"SSH_AUTH_SOCK", "XAUTHORITY", "GPG_AGENT_INFO", "KEYTIMEOUT"})
"""Names that match :data:`SECRET_NAME` but hold paths or settings, not secrets."""

NOT_SECRET_NAME = re.compile(r"GIT_CONFIG_KEY_\d+", re.IGNORECASE)
"""Names of that kind by pattern: git's ``GIT_CONFIG_KEY_<n>`` names a setting
(``safe.directory``), whose value is ``GIT_CONFIG_VALUE_<n>``; blanked as a secret, it made
every git call fail with "empty config key"."""

MIN_SECRET_LENGTH = 8
"""Shorter values (``1``, ``true``) would redact ordinary words; real secrets are longer."""

REDACTED = "[REDACTED]"


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    """The values of ``environ`` that look like secrets, by their variable's name."""
    return [
        value
        for name, value in environ.items()
        if SECRET_NAME.search(name)
        and name.upper() not in NOT_SECRET_NAMES
        and not NOT_SECRET_NAME.fullmatch(name)
        and len(value.strip()) >= MIN_SECRET_LENGTH
    ]


def without_secrets(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with the values of ``environ``'s secret variables replaced by
    :data:`REDACTED`, the longest first (so a secret holding another goes whole)."""
    for secret in sorted({v.strip() for v in secret_env_values(environ)}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text

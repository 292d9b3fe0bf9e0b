"""Which environment variables hold secrets: one rule for every place that keeps them out.

The event bus removes these values from every event's free text as it emits it, and the
console and telemetry from what they print and export (``engine/redaction.py``); a coding
agent's output (``agents/providers/cli_process.py``) and a sandboxed command's
(``gates/sandbox.py``) are cleaned of them before they reach the event log or a model. Those
packages import this module, since none may import the others.

:func:`hide_process_environment` keeps the commands the factory starts from reading its keys
where it keeps them: its own environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import AnyStr

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


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    return bool(
        SECRET_NAME.search(name)
        and name.upper() not in NOT_SECRET_NAMES
        and not NOT_SECRET_NAME.fullmatch(name)
    )


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    """The values of ``environ`` that look like secrets, by their variable's name."""
    return [
        value
        for name, value in environ.items()
        if is_secret_name(name) and len(value.strip()) >= MIN_SECRET_LENGTH
    ]


def without_secrets(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with the values of ``environ``'s secret variables replaced by
    :data:`REDACTED`, the longest first (so a secret holding another goes whole)."""
    for secret in sorted({v.strip() for v in secret_env_values(environ)}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def secrets_pattern(secrets: Iterable[AnyStr]) -> re.Pattern[AnyStr] | None:
    """One pattern finding any of ``secrets`` (text, or bytes to clean bytes), the longest
    first, so a secret holding another goes whole; None when there are none."""
    longest_first = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not longest_first:
        return None
    escaped = [re.escape(s) for s in longest_first]
    bar = "|" if isinstance(escaped[0], str) else b"|"
    return re.compile(bar.join(escaped))


def redacted_slice(
    text: AnyStr, start: int, stop: int, secrets: re.Pattern[AnyStr] | None, mark: AnyStr
) -> AnyStr:
    """``text[start:stop]`` with each secret it touches replaced whole by ``mark``, one the
    range's ends cut through as well.

    Output kept to a limit is cleaned before it is cut, not after: cut first, a key across
    the cut kept its first characters (or its last), no longer the whole value, so nothing
    replaced them. So ``text`` holds as many characters past the range as the longest secret
    has, and a secret the cut crosses is found in them and blanked whole.
    """
    if secrets is None:
        return text[start:stop]
    parts: list[AnyStr] = []
    pos = start
    for found in secrets.finditer(text):
        if found.end() <= start or found.start() >= stop:
            continue
        parts += [text[pos : max(found.start(), pos)], mark]
        pos = min(found.end(), stop)
    parts.append(text[pos:stop])
    return mark[:0].join(parts)


DUMPABLE_ENV = "SHOPFLOOR_DUMPABLE"
"""Set to ``1``, a shopfloor process stays dumpable: py-spy, gdb or ``strace -p`` run as the
user can attach to it, and so can every command it starts."""
PR_SET_DUMPABLE = 4
"""``prctl`` option from ``<linux/prctl.h>``."""


def hide_process_environment(environ: Mapping[str, str] | None = None) -> bool:
    """Mark this process non-dumpable, so the commands it starts cannot read its keys.

    Without bubblewrap, a gate's or an agent's command runs as the user, and any process of
    the user may read ``/proc/<pid>/environ`` (and ``/proc/<pid>/mem``) of the others: the
    factory's holds the environment it was started with, every API key in it, however
    ``os.environ`` is cleaned later, and a command could copy a key into a file or send it
    away, where no redaction of its output sees it. A non-dumpable process
    (``prctl(PR_SET_DUMPABLE, 0)``) is one only a process with ``CAP_SYS_PTRACE`` (root) may
    read that way. The same setting also means:

    - no core dump is written when the process crashes (``fs.suid_dumpable`` decides, 0 by
      default);
    - its ``/proc/<pid>/*`` files belong to root, so the user's own ``ps e``, ``lsof`` or a
      look at ``/proc/<pid>/fd`` sees less of it (``ps`` still lists it, and its command
      line stays readable to everyone);
    - the user cannot ptrace it: py-spy, gdb and ``strace -p`` need root, or
      ``SHOPFLOOR_DUMPABLE=1`` (:data:`DUMPABLE_ENV`) when the process starts.

    Forked children keep the setting; a program that is executed starts dumpable again (the
    storage writer process calls this itself). Returns whether it was set: False off Linux,
    with ``SHOPFLOOR_DUMPABLE=1``, or when the call failed.
    """
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or environ.get(DUMPABLE_ENV, "").strip() == "1":
        return False
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    return False

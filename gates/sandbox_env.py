"""The environment a sandboxed command sees (:mod:`gates.sandbox`): an allow-list of the
host's variables, fixed settings, a private ``HOME`` and ``TMPDIR``, and no variable whose
name looks like a credential, whoever supplied it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.repo_guard import AGENT_IDENT

ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TERM")
"""Host variables passed through; everything else is dropped (HOME and TMPDIR are ours)."""

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
"""A variable whose name contains one of these (any case) never reaches a command."""

FIXED_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **AGENT_IDENT}
"""Set for every command; the git identity tells the refs an agent's command moves from the
user's (:mod:`engine.repo_put_back`)."""
JAILED_ENV = {"npm_config_offline": "true", "CARGO_NET_OFFLINE": "true"}
"""Set for a jailed command, which has no network: npm and npx (an agent's ``npx vitest`` in a
worktree without ``node_modules``) retried the package registry for 71 s before failing;
offline, they fail in about a second, saying the package is not cached. cargo, fetching a
crate's dependency, retried for 10.9 s; offline it fails at once, saying so."""
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def looks_secret(name: str) -> bool:
    """True when an environment variable's name suggests it holds a credential."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def scrubbed_environment(
    host: Mapping[str, str],
    extra: Mapping[str, str] | None,
    *,
    home: Path,
    interpreter_dir: Path,
    tmpdir: Path,
) -> dict[str, str]:
    """The environment a sandboxed command sees.

    Allow-listed host variables, the fixed Python settings, the caller's ``extra``, then our
    private ``HOME`` and ``TMPDIR``; any secret-looking name is dropped, whoever supplied it.
    The interpreter's directory comes first on ``PATH`` so ``python`` and the venv's tools
    resolve — after a ``VIRTUAL_ENV`` or ``CONDA_PREFIX`` the caller names, the project's own
    environment.
    """
    env = {name: host[name] for name in ALLOWED_ENV if name in host}
    env.setdefault("LANG", "C.UTF-8")
    env.update(FIXED_ENV)
    if extra:
        env.update(extra)
    env["HOME"] = str(home)
    env["TMPDIR"] = str(tmpdir)
    parts = [str(interpreter_dir)]
    # The project's environment (engine.layout.with_project_python) goes first.
    parts[:0] = [str(Path(p) / "bin") for n in ("VIRTUAL_ENV", "CONDA_PREFIX") if (p := env.get(n))]
    parts += [p for p in env.get("PATH", DEFAULT_PATH).split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join(dict.fromkeys(parts))
    return {name: value for name, value in env.items() if not looks_secret(name)}

"""How a Python project in the repository finds its own package: one rule for the tests gate
and for the engineer's ``run_tests`` tool, which may not import each other
(``agents`` and ``gates`` stay out of each other's internals), so both import this module.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

PYTEST_PLAIN_OUTPUT = ("--color=no",)
"""Given to pytest by the tests gate and ``run_tests`` after the project's own ``addopts``,
which they override: output without colour. python-slugify's configuration says
``--color=yes``: every dot, the summary line and each assertion diff came wrapped in ANSI
escapes, in the engineer's ``run_tests`` results and, written by JUnit as ``#x1B[91m``, in
the failure a retry is shown (its ``- hello-world-2`` diff read
``#x1B[0m#x1B[91m- hello-world-2#x1B[39;49;00m#x1B[90m#x1B[39;49;00m``)."""


def with_src_on_path(env: Mapping[str, str], project: Path) -> dict[str, str]:
    """``env`` with the project's ``src`` first on PYTHONPATH when it is a src layout.

    Its developers import the package after ``pip install -e .``; the factory's Python has
    never installed it, so without this every test fails to import it.
    """
    src = project / "src"
    if not src.is_dir() or (src / "__init__.py").exists():
        return dict(env)  # no src folder, or one that is itself a package (``import src.x``)
    held = env.get("PYTHONPATH", "")
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(src), held) if p)}


def with_project_python(env: Mapping[str, str], python: str) -> dict[str, str]:
    """``env`` with ``VIRTUAL_ENV`` (or ``CONDA_PREFIX``) naming ``python``'s environment,
    when it is one other than the factory's own: the sandbox then puts that environment's
    ``bin`` first on ``PATH``.

    A project's test that runs ``python`` (or a console script of the project's) by name got
    the factory's interpreter, first on the sandbox's ``PATH``, which lacks the project's
    dependencies — while pytest itself ran on the project's.
    """
    root = Path(python).parent.parent
    if python == sys.executable:
        return dict(env)
    if (root / "pyvenv.cfg").is_file():
        return {**env, "VIRTUAL_ENV": str(root)}
    if (root / "conda-meta").is_dir():  # a conda environment is no virtualenv: no pyvenv.cfg
        return {**env, "CONDA_PREFIX": str(root)}
    return dict(env)


NO_PYTEST = re.compile(r"No module named pytest\b|No module named 'pytest'$", re.MULTILINE)
"""What ``python -m pytest`` says on an interpreter without pytest."""


def pytest_missing_line(python: str) -> str:
    """``tests: pytest is not installed in /repo/.venv (...)``: the environment named by its
    folder when the interpreter is a virtualenv's (the tests gate's summary, and what the
    engineer's ``run_tests`` adds under Python's bare "No module named pytest")."""
    return (
        f"tests: pytest is not installed in {environment_of(python)} "
        "(python -m pip install pytest there, or set [gates] python)"
    )


def environment_of(python: str) -> str:
    """The virtualenv (or conda environment) ``python`` belongs to, else the interpreter."""
    prefix = Path(python).parent.parent
    marked = (prefix / "pyvenv.cfg").is_file() or (prefix / "conda-meta").is_dir()
    return str(prefix) if marked else python

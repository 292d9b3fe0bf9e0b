"""Whether a run's ``--repo`` names a folder, said the same way wherever it is checked.

``run`` checks it before the factory loads (:mod:`tui.commands.launch`), and the run's setup
again for the runs that check skips (a resumed one, a demo's) (:mod:`tui.run_checks`). Kept
apart so the setup does not import a command: the commands start the setup, not the other
way round; and it imports nothing, so the check before the factory loads stays cheap.
"""

from __future__ import annotations

from pathlib import Path


def repo_problem(repo: Path) -> str | None:
    """Why a new run cannot work on ``repo`` seen from its path alone (missing, or a file);
    None when it is a folder."""
    if repo.is_dir():
        return None
    if repo.exists():
        return f"the repository is a file, not a folder: {repo}"
    return f"repository not found: {repo}"

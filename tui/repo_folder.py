"""Whether a run's ``--repo`` names a folder to work in, said the same way wherever it is
checked.

``run`` checks it before the factory loads (:mod:`tui.commands.launch`), and the run's setup
again for the runs that check skips (a resumed one, a demo's) (:mod:`tui.run_checks`). Kept
apart so the setup does not import a command: the commands start the setup, not the other
way round; and it imports nothing, so the check before the factory loads stays cheap.
``init`` checks it too, before it writes a shopfloor.toml no run could use.
"""

from __future__ import annotations

from pathlib import Path


def repo_problem(repo: Path) -> str | None:
    """Why a new run cannot work on ``repo`` seen from its path alone (missing, a file, a
    bare repository or a checkout's git folder); None when it is a folder."""
    if repo.is_dir():
        return git_folder_problem(repo)
    if repo.exists():
        return f"the repository is a file, not a folder: {repo}"
    return f"repository not found: {repo}"


def git_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` is a git folder rather than a checkout, said as the run's repository
    says it (:class:`engine.run_branches.RunBranches`), which refused it only once the factory
    had loaded (and ``init`` wrote its shopfloor.toml into it); None for any other folder.

    A git folder holds ``HEAD``, ``objects`` and ``refs`` itself (git's own test); a
    checkout holds them in its ``.git``. One named ``.git`` is a checkout's, else it is bare.
    """
    held = (folder / "HEAD").is_file() and (folder / "objects").is_dir()
    if not held or not (folder / "refs").is_dir() or (folder / ".git").exists():
        return None
    if folder.name == ".git":
        top = folder.parent
        return (
            f"{folder} is the git folder of the repository {top}: "
            f"give the repository itself ({top})"
        )
    return f"bare repositories are not supported: {folder}"

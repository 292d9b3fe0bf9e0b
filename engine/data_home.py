"""Where shopfloor keeps its data: the data home's location, and nothing else.

Its own module so that a command that reads the data home without opening a database
(``doctor``, which says what each folder there weighs) finds it without loading the storage
package and SQLAlchemy with it; ``storage.paths.data_home`` creates it for the commands that
write there.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "SHOPFLOOR_HOME"


def home_location() -> Path:
    """The data home's path, not created: ``$SHOPFLOOR_HOME`` when set (``~`` is expanded; a
    relative path is taken from the current folder and made absolute: the worktrees under it
    are used from other folders, and a relative home crashed the run at its first worktree),
    else the platform's user data directory for ``shopfloor``. RuntimeError when ``~user``
    names no home folder."""
    configured = os.environ.get(HOME_ENV, "").strip()
    return (
        Path(configured).expanduser().absolute()
        if configured
        else Path(platformdirs.user_data_dir("shopfloor"))
    )

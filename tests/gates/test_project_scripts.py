"""The commands a project declares, read from each packaging file that can declare them."""

from __future__ import annotations

from pathlib import Path

from gates.project_scripts import project_commands


def test_each_packaging_file_declares_its_commands(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project.scripts]\ndotenv = "dotenv.__main__:cli"\n'
        '[project.gui-scripts]\nviewer = "app:gui"\n'
        '[tool.poetry.scripts]\npoet = "app:poet"\n'
    )
    (tmp_path / "setup.cfg").write_text(
        "[options.entry_points]\nconsole_scripts =\n    tabulate = tabulate:_main\n"
    )
    (tmp_path / "setup.py").write_text(
        "setup(entry_points={'console_scripts': ['inflect-cli = inflect.cli:main']},"
        " install_requires=['a = 1'])\n"
    )
    assert project_commands(tmp_path) == {"dotenv", "viewer", "poet", "tabulate", "inflect-cli"}


def test_unreadable_or_absent_files_declare_nothing(tmp_path: Path) -> None:
    assert project_commands(tmp_path) == frozenset()
    (tmp_path / "pyproject.toml").write_text("[project\n")
    (tmp_path / "setup.cfg").write_text("not ini at all [\n")
    assert project_commands(tmp_path) == frozenset()


def test_a_setup_py_declares_its_commands_in_each_form_setuptools_reads(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text(
        "# the console_scripts [entry points] are below\n"
        "setup(\n"
        "    entry_points='''\n"
        "        [console_scripts]\n"
        "        yourscript=yourscript:cli\n"
        "        other-tool = pkg.tools:main\n"
        "        [gui_scripts]\n"
        "        viewer = pkg.gui:run\n"
        "    ''',\n"
        ")\n"
    )
    assert project_commands(tmp_path) == {"yourscript", "other-tool", "viewer"}
    (tmp_path / "setup.py").write_text(
        "# console_scripts: see below\n"
        "setup(entry_points={'gui_scripts': ['viewer=pkg.gui:run'],\n"
        "                    'console_scripts': ['tool = pkg.cli:main']})\n"
    )
    assert project_commands(tmp_path) == {"tool", "viewer"}
    (tmp_path / "setup.py").write_text("setup(entry_points='[console_scripts]\\nrun=pkg:main')\n")
    assert project_commands(tmp_path) == {"run"}

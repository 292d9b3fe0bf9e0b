"""Repository files that hold secrets, and what of a file a model may see.

A repository's files go to third-party models: the engineer's selected context and its
``read_file``, the repo map recon gives the planner, the sources an audit's reviewers read,
the diffs the task reviewer and code QC judge. A tracked ``.env``, a private key, a
``credentials.json`` or an ``.npmrc`` with an auth token went there as it was. The rule:

- :func:`is_secret_file` tells such a file by its name (``.env.example`` and the like, with
  placeholder values, are not: they document the variables and stay readable); a symlink
  to one is one too (:func:`judged_name`);
- it is never picked into context by relevance, and the repo map lists it by name only;
- where a model must see one (a task names it, ``read_file``, a diff), its values are masked
  (:func:`mask_secret_text`): the names, comments and structure stay, so a model can add a
  variable, but every value but a trivial one (empty, a number, a boolean, a ``${VAR}``
  reference) is :data:`~engine.secrets.REDACTED`, and a private key's body goes whole;
- every other file shown to a model has its key-shaped values, URL passwords and private
  key blocks masked (:func:`mask_text`, the :class:`~engine.redaction.Redactor`'s shapes);
- the mask must never reach the user's files: :func:`writes_mask` tells an edit that would
  write it (the toolbelt refuses one), since a model copying what it was shown would replace
  the real value with the mask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from engine.redaction import Redactor
from engine.secrets import REDACTED

SECRET_FILE_NAMES = frozenset(
    {
        ".env",
        ".npmrc",
        ".pypirc",
        ".netrc",
        "_netrc",
        ".git-credentials",
        ".htpasswd",
        ".pgpass",
        ".my.cnf",
        ".boto",
        ".s3cfg",
        ".dockercfg",
        "credentials",
        "credentials.json",
        "credentials.yml",
        "credentials.yaml",
        "credentials.toml",
        "credentials.xml",
        "secrets.toml",
        "secrets.yml",
        "secrets.yaml",
        "secrets.json",
        "secrets.env",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "terraform.tfvars",
    }
)
"""File names that hold secrets wherever they are (``.aws/credentials``, Streamlit's
``.streamlit/secrets.toml``, an SSH key)."""

SECRET_SUFFIXES = frozenset(
    {".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".tfvars", ".tfstate", ".env"}
)
"""Suffixes of key stores, private keys and files of variables (``prod.env``)."""

SECRET_PATHS = frozenset({(".docker", "config.json"), (".kube", "config")})
"""(folder, name) pairs of tool configurations holding credentials."""

EXAMPLE_WORDS = frozenset({"example", "examples", "sample", "template", "dist", "defaults", "tmpl"})
"""A part of a file name saying it documents the variables with placeholders
(``.env.example``, ``secrets.toml.sample``, ``credentials.template.json``)."""

_NAME_PARTS = re.compile(r"[._\-]")


_PATH_NAMES = frozenset(name for _, name in SECRET_PATHS)


def is_secret_file(path: str) -> bool:
    """Whether the repository file at ``path`` (relative, POSIX) holds secrets, by name.

    Every listing of a worktree's files asks this of each name (20,000 in a big worktree):
    the common answer, a name with no secret's look, comes from a few set look-ups, and the
    parts of the name are split only for one that has it."""
    name = path[path.rfind("/") + 1 :]
    if name in ("", "."):  # ``dir/``, ``dir/.``: the name is the folder's, as PurePosixPath says
        name = PurePosixPath(path).name
    name = name.lower()
    dot = name.rfind(".")
    if not (
        name in SECRET_FILE_NAMES
        or name.startswith(".env.")
        or (0 < dot < len(name) - 1 and name[dot:] in SECRET_SUFFIXES)
        or (name.startswith("client_secret") and name.endswith(".json"))
        or (
            name in _PATH_NAMES
            and tuple(p.lower() for p in PurePosixPath(path).parts[-2:]) in SECRET_PATHS
        )
    ):
        return False
    return not name.endswith(".pub") and EXAMPLE_WORDS.isdisjoint(_NAME_PARTS.split(name))


def judged_name(root: Path, rel: str) -> str:
    """The name the file ``rel`` of the folder ``root`` is judged by (:func:`is_secret_file`):
    its own, or the secret file inside ``root`` it leads to through a symlink (a
    ``notes.txt`` linked to the ``.env`` was shown with only its key-shaped values masked)."""
    if is_secret_file(rel):
        return rel
    try:
        real = (root / rel).resolve().relative_to(root.resolve()).as_posix()
    except (OSError, RuntimeError, ValueError):  # a loop, or a link leading out
        return rel
    return real if is_secret_file(real) else rel


_SHAPES = Redactor(())
"""Key shapes, URL passwords, secret-named query parameters, bearer tokens: what is masked
in any file (no environment: what a file holds is the same for every run)."""

_BEGIN_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
BEGIN_ANY = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
END = re.compile(r"-----END [A-Z0-9 ]+-----")
_TRIVIAL = re.compile(
    r"""(?ix)
    (?:["']?)(?:true|false|yes|no|on|off|null|none|~|-?\d{1,6}(?:\.\d+)?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?
    |<[^<>]*>|\{|\[|\{\}|\[\]|)(?:["']?)
    """
)
"""A value shown as it is in a secret file: empty, a boolean, a number, a ``${VAR}``
reference, a ``<placeholder>``, or the opening of a nested table or list."""
_NETRC = re.compile(r"\b(password|passwd|login|account)(\s+)(\S+)")
_STRUCTURE = re.compile(r"\s*(?:[{}\[\]],?|\[[^\]=]*\]|---|\.\.\.)?\s*")
_COMMENT = re.compile(r"\s*(?:#|;|<!--|//(?:\s|$))")
"""A comment line (``//registry.npmjs.org/:_authToken=`` is no comment: no space after)."""


def _masked_value(value: str) -> str:
    """``value`` (what follows a ``=`` or ``:``) masked, its quotes and trailing comma kept."""
    body = value.rstrip()
    tail = value[len(body) :]
    if body.endswith(","):
        body, tail = body[:-1], "," + tail
    if _TRIVIAL.fullmatch(body.strip()):
        return value
    lead = body[: len(body) - len(body.lstrip())]
    body = body.strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'":
        return f"{lead}{body[0]}{REDACTED}{body[0]}{tail}"
    return f"{lead}{REDACTED}{tail}"


def masked_line(line: str) -> str:
    """One line of a secret file with its value masked (see the module docstring)."""
    stripped = line.strip()
    if not stripped or _COMMENT.match(line) or _STRUCTURE.fullmatch(line):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    rest = line.lstrip()
    export = ""
    if rest.startswith("export "):
        export, rest = "export ", rest[len("export ") :]
    eq, colon = rest.find("="), rest.find(":")
    # ``KEY=VALUE`` when what comes before the ``=`` is one word (``//host/:_authToken=``
    # too); else ``key: value`` (YAML, JSON) when there is a colon.
    if eq > 0 and not re.search(r"\s", rest[:eq].strip()):
        cut = eq
    elif colon > 0:
        cut = colon
    else:
        if _NETRC.search(rest):
            return indent + export + _NETRC.sub(rf"\1\2{REDACTED}", rest)
        item = re.match(r"(-\s+)", rest)  # a YAML list item keeps its dash
        head = item.group(1) if item else ""
        return indent + export + head + _masked_value(rest[len(head) :])
    return indent + export + rest[: cut + 1] + _masked_value(rest[cut + 1 :])


def _mask_lines(lines: Iterable[str], secret: bool) -> Iterator[str]:
    """``lines`` masked: private key blocks always (every block of a secret file), and each
    value of a secret file."""
    in_block = False
    for line in lines:
        if in_block:
            if END.search(line):
                in_block = False
                yield line
            elif line.strip():
                yield REDACTED
            continue
        begins = BEGIN_ANY.search(line) if secret else _BEGIN_KEY.search(line)
        if begins and not END.search(line, begins.end()):
            in_block = True
            yield line
            continue
        yield masked_line(line) if secret else line


def mask_text(text: str) -> str:
    """Any file's text as a model may see it: private key blocks, key shapes, URL passwords
    and bearer tokens masked."""
    if "-----BEGIN" in text:
        text = "\n".join(_mask_lines(text.split("\n"), secret=False))
    return _SHAPES.redact(text)


def mask_secret_text(text: str) -> str:
    """A secret file's text as a model may see it: every non-trivial value masked."""
    return _SHAPES.redact("\n".join(_mask_lines(text.split("\n"), secret=True)))


def masked_for_model(path: str, text: str) -> str:
    """``text`` of the file at ``path`` as a model may see it (:func:`mask_secret_text` for a
    secret file, :func:`mask_text` for any other)."""
    return mask_secret_text(text) if is_secret_file(path) else mask_text(text)


MASK_NOTE = (
    f"[note: secret values in this file are shown as {REDACTED}; the file keeps the real "
    f"ones. Never write {REDACTED} into a file: edit around those values (a search that "
    "leaves them out), and where new code needs a secret, read it from an environment "
    "variable]"
)
"""Said with a file shown masked, so a model does not copy the mask back."""


def writes_mask(before: str, after: str) -> bool:
    """Whether replacing ``before`` with ``after`` in a file adds the mask to it (a file that
    held the text ``[REDACTED]`` already, a redactor's own code, may keep it)."""
    return after.count(REDACTED) > before.count(REDACTED)


_DIFF_FILE = re.compile(r"^diff --git a/(.*?) b/(.*)$")


def mask_diff(diff: str) -> str:
    """A ``git diff``/``git show`` patch as a model may see it: the lines of a secret file's
    hunks masked as the file is (:func:`mask_secret_text`), the rest as :func:`mask_text`."""
    out: list[str] = []
    section: list[str] = []
    secret = False

    def flush() -> None:
        if not secret:
            out.extend(section)
            return
        body = [
            line
            for line in section
            if line[:1] in ("+", "-", " ") and line[:3] not in ("+++", "---")
        ]
        masked = iter(_mask_lines((line[1:] for line in body), secret=True))
        for line in section:
            if line[:1] in ("+", "-", " ") and line[:3] not in ("+++", "---"):
                out.append(line[0] + next(masked))
            else:
                out.append(line)

    for line in diff.split("\n"):
        header = _DIFF_FILE.match(line)
        if header:
            flush()
            section = []
            secret = is_secret_file(header[1]) or is_secret_file(header[2])
        section.append(line)
    flush()
    return mask_text("\n".join(out))

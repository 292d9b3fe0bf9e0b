"""The context window an Ollama server runs a model with, asked before the first request.

Ollama's OpenAI-compatible endpoint refuses no prompt over the model's window: it cuts it
without a word, from the front. :mod:`agents.providers.context_fit` catches a deep cut by
the usage, never a prompt just over the window (since 0.32 Ollama keeps ``num_ctx / 2 + 2``
tokens of it, which can read as 0.6 of the estimate), so the window is asked for instead.
Ollama's own API says it: ``GET /api/ps`` lists the loaded models with the ``context_length``
each was allocated, and ``POST /api/show`` gives the Modelfile's ``parameters``, a text whose
``num_ctx N`` line sets it. ``model_info``'s ``<arch>.context_length`` is the length the
model was trained to, not the window it runs with, and is not read. A model not loaded and
without ``num_ctx`` runs with the server's default — ``OLLAMA_CONTEXT_LENGTH``, else 4k, 32k
or 256k tokens by GPU memory (docs/context-length) — which nothing says before it is loaded.

A server is taken for Ollama when ``GET /api/version`` answers with a version; a proxy that
passes only ``/v1`` (LiteLLM) is not, and learns from refusals and cuts as before. Each
lookup has a short time limit and never raises: a server that does not answer is one whose
window is not known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

LOOKUP_TIMEOUT_S = 3.0
"""How long each of the lookup's requests may take."""
WINDOW_SETTINGS = "OLLAMA_CONTEXT_LENGTH, or PARAMETER num_ctx in the model's Modelfile"
"""Where the window Ollama runs a model with is set, as a line names them."""
DEFAULT_WINDOW = "OLLAMA_CONTEXT_LENGTH, else 4k, 32k or 256k tokens by the GPU's memory"
"""Ollama's window for a model whose Modelfile sets none, as a line says it."""

_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ServerWindow:
    """What an Ollama server says of the window it runs a model with: ``tokens`` (prompt and
    answer; None: nothing says it until the model is loaded) and ``source``, where it was
    read, as a line says it."""

    tokens: int | None
    source: str


class WindowSource(Protocol):
    """Where a model's window can be asked for before its first request."""

    async def look(self, *, loaded_only: bool = False) -> ServerWindow | None:
        """The window said; None: nothing to ask (or nobody answered)."""


class OllamaWindow:
    """Asks the Ollama server behind ``base_url`` (its OpenAI-compatible ``/v1``) for the
    window it runs ``model`` with; ``headers``: the provider's own (a key for a proxy)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        model: str,
        headers: dict[str, str],
        timeout_s: float = LOOKUP_TIMEOUT_S,
    ) -> None:
        base = base_url.rstrip("/")
        self.root = base[: -len("/v1")] if base.endswith("/v1") else base
        self.model = model
        self._client = client
        self._headers = headers
        # httpx is loaded here, by a provider that talks to a server: a SIM run never does
        # (~75 ms of CPU before its RunStarted, with its command-line extras).
        import httpx

        self._timeout = httpx.Timeout(timeout_s)
        self.version: str | None = None
        """The server's version, once it answered as Ollama."""

    async def look(self, *, loaded_only: bool = False) -> ServerWindow | None:
        """The window, where to be had; None: no Ollama answered. ``loaded_only``: ask only
        what the loaded model runs with (the server already answered as Ollama)."""
        if self.version is None:
            if loaded_only:
                return None
            said = await self._json("GET", "/api/version")
            version = said.get("version") if isinstance(said, dict) else None
            if not isinstance(version, str) or not version:
                return None
            self.version = version
        loaded = await self._loaded()
        if loaded is not None:
            return ServerWindow(loaded, "as Ollama loaded the model (GET /api/ps)")
        if loaded_only:
            return None
        shown = await self._json("POST", "/api/show", {"model": self.model, "name": self.model})
        if not isinstance(shown, dict):
            return ServerWindow(None, "Ollama did not say it (GET /api/ps, POST /api/show)")
        parameters = shown.get("parameters")
        found = _NUM_CTX.search(parameters) if isinstance(parameters, str) else None
        if found is not None and int(found.group(1)) > 0:
            return ServerWindow(
                int(found.group(1)), "the num_ctx of the model's Modelfile (POST /api/show)"
            )
        return ServerWindow(
            None,
            "Ollama says none before the model is loaded (its Modelfile sets no num_ctx; the "
            f"server's default is {DEFAULT_WINDOW})",
        )

    async def _loaded(self) -> int | None:
        """The ``context_length`` ``GET /api/ps`` lists for the model, if it is loaded."""
        listed = await self._json("GET", "/api/ps")
        models = listed.get("models") if isinstance(listed, dict) else None
        wanted = _tagged(self.model)
        for entry in models if isinstance(models, list) else []:
            if not isinstance(entry, dict):
                continue
            names = {_tagged(str(entry.get(key) or "")) for key in ("name", "model")}
            length = entry.get("context_length")
            if wanted in names and isinstance(length, int) and length > 0:
                return length
        return None

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON ``path`` answers with 200; None for any other answer, or none."""
        import httpx

        try:
            response = await self._client.request(
                method, self.root + path, json=body, headers=self._headers, timeout=self._timeout
            )
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None


def _tagged(name: str) -> str:
    """``name`` as Ollama lists it: ``:latest`` where it names no tag."""
    last = name.rpartition("/")[2]
    return name if ":" in last or not name else f"{name}:latest"


def window_line(spec: str, found: ServerWindow, configured: int | None) -> str:
    """The one line saying where ``spec``'s window comes from: the server (``found``), or
    the ``configured`` context_tokens, which always wins."""
    if configured is None:
        if found.tokens is None:
            return f"{spec}: context window not known: {found.source}; asked again once loaded"
        return (
            f"{spec}: context window of {found.tokens} tokens, {found.source}: a conversation "
            "is compacted to it before it is sent"
        )
    if found.tokens is not None and configured > found.tokens:
        return (
            f"{spec}: context window of {configured} tokens, as configured (context_tokens), "
            f"more than the {found.tokens} the server runs the model with ({found.source}): "
            "the server cuts a longer prompt without a word; set context_tokens to at most "
            f"{found.tokens}, or raise the server's window ({WINDOW_SETTINGS})"
        )
    server = (
        f"the server runs the model with {found.tokens} ({found.source})"
        if found.tokens is not None
        else found.source
    )
    return (
        f"{spec}: context window of {configured} tokens, as configured (context_tokens); {server}"
    )

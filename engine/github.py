"""Publishing a shipped branch: push it to GitHub and open a pull request.

Only when the repository's ``origin`` is a GitHub remote and ``GITHUB_TOKEN`` is set. The push
is a plain ``git push origin refs/heads/<b>:refs/heads/<b>`` — never forced, so it fails rather
than overwrite anything — and the token reaches git through ``GIT_CONFIG_*`` environment
variables (an ``http.extraheader``), never through the command line, a URL or a log line. The
pull request is one ``POST /repos/{owner}/{repo}/pulls`` with httpx; ``GITHUB_API_URL`` (as in
GitHub Actions) points it at GitHub Enterprise or a test server.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import git

from engine.factory_git import SessionRepo

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.github.com"
PUSH_TIMEOUT_S = 120.0

_REMOTE = re.compile(
    r"^(?:https?://(?:[^@/]+@)?(?P<h1>[^/:]+)(?::\d+)?/"
    r"|ssh://(?:[^@/]+@)?(?P<h2>[^/:]+)(?::\d+)?/"
    r"|[^@/]+@(?P<h3>[^/:]+):)"
    r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


class PublishError(RuntimeError):
    """The branch could not be pushed or the pull request not opened. One line, no secrets."""


class Publisher(Protocol):
    """Publishes a shipped branch somewhere people review it; returns where (a URL)."""

    async def publish(self, branch: str, base: str, title: str, body: str) -> str: ...


@dataclass(frozen=True)
class GitHubRepo:
    """``owner/repo`` on a GitHub host."""

    host: str
    owner: str
    repo: str


def parse_github_remote(url: str, hosts: tuple[str, ...] = ("github.com",)) -> GitHubRepo | None:
    """The GitHub repository an ``origin`` URL names (https, ssh or scp-like), else None."""
    match = _REMOTE.match(url.strip())
    if match is None:
        return None
    host = (match.group("h1") or match.group("h2") or match.group("h3") or "").lower()
    if host not in hosts:
        return None
    return GitHubRepo(host, match.group("owner"), match.group("repo"))


def redact(text: str, secret: str) -> str:
    """``text`` with the token (and its basic-auth encoding) replaced."""
    if not secret:
        return text
    encoded = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    return text.replace(secret, "***").replace(encoded, "***")


def _one_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line[:limit]


class GitHubPublisher:
    """Implements :class:`Publisher` for a GitHub remote, with a token."""

    def __init__(
        self,
        repo_path: Path,
        target: GitHubRepo,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        remote: str = "origin",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not token:
            raise PublishError("GITHUB_TOKEN is empty")
        self.repo_path = repo_path
        self.target = target
        self.remote = remote
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._client = client

    @classmethod
    def from_environment(
        cls,
        repo_path: Path,
        env: Mapping[str, str],
        *,
        remote: str = "origin",
        client: httpx.AsyncClient | None = None,
    ) -> GitHubPublisher | None:
        """A publisher when ``remote`` is on GitHub and GITHUB_TOKEN is set; else None."""
        token = env.get("GITHUB_TOKEN", "").strip()
        if not token:
            return None
        try:
            url = SessionRepo(repo_path).remote(remote).url
        except (ValueError, git.InvalidGitRepositoryError, git.NoSuchPathError):
            return None
        api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        hosts: tuple[str, ...] = ("github.com",)
        server = env.get("GITHUB_SERVER_URL", "").strip()
        if server:
            hosts += (re.sub(r"^https?://", "", server).split("/")[0].lower(),)
        target = parse_github_remote(url, hosts)
        if target is None:
            return None
        return cls(repo_path, target, token, api_url=api_url, remote=remote, client=client)

    def _git_env(self) -> dict[str, str]:
        basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.https://{self.target.host}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    async def push(self, branch: str) -> None:
        """Push ``branch`` to the remote under the same name. Never forced."""
        ref = f"refs/heads/{branch}"

        def _push() -> None:
            repo = SessionRepo(self.repo_path)
            repo.git.push(
                self.remote,
                f"{ref}:{ref}",
                env=self._git_env(),
                kill_after_timeout=PUSH_TIMEOUT_S,
            )

        try:
            await asyncio.to_thread(_push)
        except git.GitCommandError as exc:
            detail = redact(str(exc.stderr or exc), self._token)
            raise PublishError(
                f"git push {self.remote} {branch} failed: {_one_line(detail)}"
            ) from None

    async def open_pull_request(self, branch: str, base: str, title: str, body: str) -> str:
        """Open a pull request from ``branch`` into ``base``; returns its URL."""
        url = f"{self.api_url}/repos/{self.target.owner}/{self.target.repo}/pulls"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "shopfloor",
        }
        payload = {"title": title, "head": branch, "base": base, "body": body}
        import httpx  # here: a run that opens no pull request never loads it (~75 ms of CPU)

        client = self._client or httpx.AsyncClient(timeout=30.0)
        try:
            response = await client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise PublishError(f"GitHub API unreachable at {self.api_url}: {exc}") from None
        finally:
            if self._client is None:
                await client.aclose()
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 201:
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            errors = data.get("errors") if isinstance(data, dict) else None
            if isinstance(errors, list) and errors:
                first = errors[0]
                extra = first.get("message") if isinstance(first, dict) else str(first)
                message = f"{message}: {extra}" if extra else message
            raise PublishError(
                f"GitHub refused the pull request (HTTP {response.status_code}): "
                f"{redact(message, self._token) or response.reason_phrase}"
            )
        html_url = data.get("html_url") if isinstance(data, dict) else None
        if not isinstance(html_url, str):
            raise PublishError("GitHub answered 201 without the pull request's html_url")
        return html_url

    async def publish(self, branch: str, base: str, title: str, body: str) -> str:
        """Push the branch, then open the pull request; returns its URL."""
        await self.push(branch)
        return await self.open_pull_request(branch, base, title, body)

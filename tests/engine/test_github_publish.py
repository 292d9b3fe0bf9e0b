"""Publishing to GitHub: push to a local bare repository standing in for the remote, and a
pull request against a loopback server speaking the GitHub REST shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from repo_helpers import git, make_repo

from engine.github import (
    GitHubPublisher,
    GitHubRepo,
    PublishError,
    parse_github_remote,
    redact,
)

TOKEN = "ghp_testtoken0123456789abcdef"


class FakeGitHub:
    """Records pull-request calls and answers like api.github.com."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if outer.status == 201:
                    number = len(outer.calls)
                    owner_repo = self.path.split("/repos/")[1].removesuffix("/pulls")
                    answer = {
                        "number": number,
                        "html_url": f"https://github.com/{owner_repo}/pull/{number}",
                        "head": {"ref": body["head"]},
                        "base": {"ref": body["base"]},
                    }
                else:
                    answer = {
                        "message": "Validation Failed",
                        "errors": [
                            {"message": f"A pull request already exists for {body['head']}."}
                        ],
                    }
                data = json.dumps(answer).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    local = make_repo(tmp_path / "local", {"a.txt": "a\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(local, "remote", "add", "origin", "https://github.com/acme/widgets.git")
    git(local, "remote", "set-url", "--push", "origin", str(bare))
    git(local, "push", "-q", "origin", "main")
    git(local, "branch", "shopfloor/feature", "main")
    (local / "b.txt").write_text("b\n")
    git(local, "checkout", "-q", "shopfloor/feature")
    git(local, "add", "b.txt")
    git(local, "commit", "-q", "-m", "Add b")
    git(local, "checkout", "-q", "main")
    return local, bare


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/widgets.git", ("acme", "widgets")),
        ("https://x-access-token@github.com/acme/widgets", ("acme", "widgets")),
        ("git@github.com:acme/my.repo.git", ("acme", "my.repo")),
        ("ssh://git@github.com/acme/widgets.git", ("acme", "widgets")),
        ("https://gitlab.com/acme/widgets.git", None),
        ("/srv/git/widgets.git", None),
    ],
)
def test_origin_urls_are_parsed(url: str, expected: tuple[str, str] | None) -> None:
    parsed = parse_github_remote(url)
    assert (None if parsed is None else (parsed.owner, parsed.repo)) == expected


def test_publisher_needs_a_github_origin_and_a_token(repos: tuple[Path, Path]) -> None:
    local, _ = repos
    assert GitHubPublisher.from_environment(local, {}) is None
    made = GitHubPublisher.from_environment(local, {"GITHUB_TOKEN": TOKEN})
    assert made is not None and made.target == GitHubRepo("github.com", "acme", "widgets")
    git(local, "remote", "set-url", "origin", "https://gitlab.com/acme/widgets.git")
    assert GitHubPublisher.from_environment(local, {"GITHUB_TOKEN": TOKEN}) is None


async def test_push_and_pull_request(repos: tuple[Path, Path], github: FakeGitHub) -> None:
    local, bare = repos
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
    publisher = GitHubPublisher.from_environment(local, env)
    assert publisher is not None
    url = await publisher.publish("shopfloor/feature", "main", "Add b", "- Add b")
    assert url == "https://github.com/acme/widgets/pull/1"
    assert git(bare, "rev-parse", "refs/heads/shopfloor/feature") == git(
        local, "rev-parse", "shopfloor/feature"
    )
    (call,) = github.calls
    assert call["path"] == "/api/v3/repos/acme/widgets/pulls"
    assert call["body"] == {
        "title": "Add b",
        "head": "shopfloor/feature",
        "base": "main",
        "body": "- Add b",
    }
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert call["headers"]["Accept"] == "application/vnd.github+json"
    assert TOKEN not in git(local, "config", "--list")


async def test_push_never_forces_and_errors_hide_the_token(
    repos: tuple[Path, Path], github: FakeGitHub, tmp_path: Path
) -> None:
    local, bare = repos
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    git(other, "checkout", "-q", "-b", "shopfloor/feature")
    (other / "c.txt").write_text("someone else's work\n")
    git(other, "add", "c.txt")
    git(other, "commit", "-q", "-m", "theirs")
    git(other, "push", "-q", "origin", "shopfloor/feature")
    theirs = git(bare, "rev-parse", "refs/heads/shopfloor/feature")
    publisher = GitHubPublisher.from_environment(
        local, {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
    )
    assert publisher is not None
    with pytest.raises(PublishError) as caught:
        await publisher.publish("shopfloor/feature", "main", "Add b", "")
    message = str(caught.value)
    assert message.startswith("git push origin shopfloor/feature failed: ")
    assert TOKEN not in message and "\n" not in message
    assert git(bare, "rev-parse", "refs/heads/shopfloor/feature") == theirs, "never forced"
    assert github.calls == [], "no pull request for a branch that was not pushed"


async def test_a_refused_pull_request_is_one_line(
    repos: tuple[Path, Path], github: FakeGitHub
) -> None:
    local, _ = repos
    github.status = 422
    publisher = GitHubPublisher.from_environment(
        local, {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
    )
    assert publisher is not None
    with pytest.raises(
        PublishError,
        match=r"^GitHub refused the pull request \(HTTP 422\): "
        r"Validation Failed: A pull request already exists",
    ):
        await publisher.publish("shopfloor/feature", "main", "Add b", "")


async def test_an_unreachable_api_is_one_line(repos: tuple[Path, Path]) -> None:
    local, _ = repos
    publisher = GitHubPublisher.from_environment(
        local, {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": "http://127.0.0.1:9/api"}
    )
    assert publisher is not None
    with pytest.raises(PublishError, match=r"^GitHub API unreachable at http://127.0.0.1:9/api"):
        await publisher.open_pull_request("shopfloor/feature", "main", "t", "")


def test_redact_hides_the_token_and_its_basic_encoding() -> None:
    import base64

    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert redact(f"a {TOKEN} b {encoded}", TOKEN) == "a *** b ***"

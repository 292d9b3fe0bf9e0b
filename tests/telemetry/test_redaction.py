"""Secrets never leave through the console, JSON lines, metrics or spans (canary key)."""

from __future__ import annotations

import asyncio
import io
import json
import re

import telemetry_sample
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

from engine.bus import EventBus
from engine.event_codec import event_from_json
from engine.event_redaction import redact_event
from engine.events import AgentOutput
from engine.redaction import REDACTED, Redactor, secret_env_values
from telemetry.metrics import FactoryMetrics
from telemetry.tracing import RunTracer
from tui.headless import ConsoleReporter

CANARY = "canary-7f3a9c2e5b1d4f60a8e2"
ENV = {"SHOPFLOOR_CANARY_API_KEY": CANARY, "HOME": "/home/ana", "DEBUG_TOKEN": "1"}


def test_secret_looking_variables_are_collected_by_name() -> None:
    assert secret_env_values(ENV) == [CANARY]  # HOME is no secret, a 1-char token too short
    assert secret_env_values({"SSH_AUTH_SOCK": "/run/user/1000/ssh-agent.sock"}) == []


def test_the_git_author_is_no_secret_but_an_authorization_is() -> None:
    """GIT_AUTHOR_NAME matched "AUTH": the user's name and e-mail became [REDACTED] in every
    log line, commit and git output the factory showed."""
    authors = {"GIT_AUTHOR_NAME": "Ana Developer", "GIT_AUTHOR_EMAIL": "ana@example.org"}
    assert secret_env_values(authors) == []
    assert Redactor.from_environ(authors).redact("Author: Ana Developer") == (
        "Author: Ana Developer"
    )
    headers = {"PROXY_AUTHORIZATION": "Basic YW5hOnMzY3JldA==", "GH_AUTH": "gho_0123456789ab"}
    assert sorted(secret_env_values(headers)) == ["Basic YW5hOnMzY3JldA==", "gho_0123456789ab"]


def test_known_key_shapes_are_removed_without_the_environment() -> None:
    redactor = Redactor(())
    text = (
        "anthropic sk-ant-api03-abcdefghijklmnop openai sk-proj-abcdefghijklmnopqrstuv "
        "gemini AIzaSyA1234567890abcdefghijklmnopqrstu "
        "github ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    )
    cleaned = redactor.redact(text)
    assert cleaned.count(REDACTED) == 4
    assert "sk-" not in cleaned and "AIza" not in cleaned and "ghp_" not in cleaned
    assert (
        redactor.redact("a task-skeleton and sk-short stay") == "a task-skeleton and sk-short stay"
    )


def test_words_that_hold_a_key_prefix_are_no_keys() -> None:
    """``task-dependency-resolver`` holds ``sk-`` and sixteen characters more: the console
    printed the task as ``ta[REDACTED]``, and so did metrics labels and spans."""
    redactor = Redactor(())
    ordinary = (
        "task-dependency-resolver merged; risk-assessment-module blocked; "
        "ask-the-user-before-merging; the disk-usage-monitoring tool; EURASIAPACIFICREGIONS1; "
        "sk-learn-style-estimators"
    )
    assert redactor.redact(ordinary) == ordinary
    keys = "(sk-abcdefghijklmnopqrstuvwxyz0123456789) key=AKIAIOSFODNN7EXAMPLE"
    assert redactor.redact(keys) == f"({REDACTED}) key={REDACTED}"
    # A key right after a word that held the prefix is still found.
    assert redactor.redact("mask-sk-abcdefghij0123456789") == f"mask-{REDACTED}"


def test_credentials_are_removed_by_where_they_stand_whatever_their_shape() -> None:
    """A local server's or a proxy's key in a model spec's URL, a secret-named query
    parameter, a bearer token: no known shape and in no variable, they were kept as they
    were wherever they were quoted (a config error, a provider's error, a gate's output)."""
    redactor = Redactor(())
    cases = {
        "openai:qwen@http://alice:tok-9f8e7d6c5b4a@127.0.0.1:9/v1": (
            f"openai:qwen@http://alice:{REDACTED}@127.0.0.1:9/v1"
        ),
        "git push https://x-access-token:abc%40d3f@github.com/o/r.git": (
            f"git push https://x-access-token:{REDACTED}@github.com/o/r.git"
        ),
        "GET https://h/v1/models?api_key=s3cr3t-v4lue&api-version=2024-06-01 -> 401": (
            f"GET https://h/v1/models?api_key={REDACTED}&api-version=2024-06-01 -> 401"
        ),
        "headers: {'Authorization': 'Bearer loc4l-t0ken-xyz'}": (
            f"headers: {{'Authorization': 'Bearer {REDACTED}'}}"
        ),
    }
    for text, cleaned in cases.items():
        assert redactor.contains_secret(text), text
        assert redactor.redact(text) == cleaned
    ordinary = (
        "served on http://127.0.0.1:8000/v1 and ssh://git@github.com/o/r; "
        "see https://docs.example.org/search?q=retry&page=2; the bearer of bad news"
    )
    assert not redactor.contains_secret(ordinary)
    assert redactor.redact(ordinary) == ordinary


def test_json_stays_valid_when_a_secret_touches_an_escape() -> None:
    redactor = Redactor(["nabcdefgh", 'quo"te-secret'])
    doc = json.dumps({"text": 'line\nabcdefgh and quo"te-secret', "n": 1})
    # "\\nabcdefgh" in the JSON text holds the secret's letters after an escape: a plain
    # text substitution would leave "\\[REDACTED]"; the document must still parse.
    cleaned = json.loads(redactor.redact_json(doc))
    assert cleaned == {"text": f"line\nabcdefgh and {REDACTED}", "n": 1}


def test_redacted_event_is_a_copy_only_when_needed() -> None:
    redactor = Redactor([CANARY])
    plain = AgentOutput(agent_id="x", text="nothing to hide")
    assert redact_event(redactor, plain) is plain
    leaked = AgentOutput(agent_id="x", text=f"key={CANARY}")
    cleaned = redact_event(redactor, leaked)
    assert cleaned.text == f"key={REDACTED}"
    assert isinstance(cleaned, AgentOutput)


async def _console(json_lines: bool, redactor: Redactor) -> str:
    bus = EventBus(telemetry_sample.RUN_ID)
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(
        bus.subscribe("console"), console, verbose=True, json_lines=json_lines, redactor=redactor
    )
    task = asyncio.create_task(reporter.run())
    telemetry_sample.whole_run(bus, echo=f"ANTHROPIC_API_KEY={CANARY}", request=f"use {CANARY}")
    await bus.close()
    await asyncio.wait_for(task, 5)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def test_canary_never_reaches_console_json_metrics_or_spans() -> None:
    redactor = Redactor.from_environ(ENV)
    text = await _console(False, redactor)
    assert "writing a.py ANTHROPIC_API_KEY=[REDACTED]" in text
    lines = await _console(True, redactor)
    events = [event_from_json(line) for line in lines.splitlines()]
    assert any(getattr(e, "text", "").endswith(REDACTED) for e in events)

    bus = EventBus(telemetry_sample.RUN_ID)
    metrics = FactoryMetrics(redactor=redactor)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = RunTracer(provider, content=True, redactor=redactor)
    bus.listen(metrics.observe)
    bus.listen(tracer.observe)
    telemetry_sample.whole_run(bus, echo=f"ANTHROPIC_API_KEY={CANARY}", request=f"use {CANARY}")
    spans = json.dumps([json.loads(s.to_json()) for s in exporter.get_finished_spans()])
    assert REDACTED in spans  # the content was exported, redacted
    for output in (text, lines, metrics.render().decode(), spans):
        assert CANARY not in output


async def test_live_summary_on_a_terminal() -> None:
    bus = EventBus(telemetry_sample.RUN_ID)
    console = Console(file=io.StringIO(), width=160, force_terminal=True)
    reporter = ConsoleReporter(bus.subscribe("console"), console, redactor=Redactor(()))
    assert reporter.live
    telemetry_sample.start(bus)
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    task = asyncio.create_task(reporter.run())
    await bus.drain()
    summary = reporter.summary().plain
    assert summary.startswith("build │ tasks 1/2 merged")
    assert (
        "tokens 1.6k in / 900 out" in summary
    )  # 1,500 + 60 read from or written to a cache and "$0.0600" in summary
    telemetry_sample.attempt(bus, "b", 1, passes=True)
    await bus.close()
    await asyncio.wait_for(task, 5)
    output = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())  # type: ignore[attr-defined]
    assert "✓ b merged" in output  # event lines print above the summary
    assert "tasks 2/2 merged" in output  # the summary was redrawn at the end
    # Not a terminal: no summary line, only event lines.
    plain = ConsoleReporter(EventBus("x").subscribe("c"), Console(file=io.StringIO()))
    assert not plain.live


def test_query_parameters_are_secret_by_a_whole_name_part_not_a_substring() -> None:
    """A query parameter was masked when its name merely held ``key``, ``token`` or
    ``auth`` (``?monkey=1``, ``?keyword=retry``, ``?tokenizer=bpe``): ordinary URLs in a
    gate's output or a model's words lost their values. A name is a secret's when one of
    its parts (split at ``_``, ``-``, ``.`` and camelCase) is one: ``api_key``,
    ``access-token``, ``X-Amz-Signature``, ``accessToken``, ``apikey``."""
    redactor = Redactor(())
    ordinary = [
        "https://zoo.example.org/animals?monkey=1&donkey=2",
        "https://docs.example.org/search?keyword=retry&page=2",
        "https://hf.example.org/models?tokenizer=bpe&tokens=512",
        "https://blog.example.org/posts?author=ana&authored=2024",
        "https://shop.example.org/kb?hotkey=F5&keys=a,b&passwordless=true",
        "https://x.example.org/p?secretary=bob&signatures=3&keynote=on",
    ]
    for url in ordinary:
        assert redactor.redact(url) == url, url
        assert not redactor.contains_secret(url), url
    secret = {
        "https://h/v1?api_key=s3cr3tv4lue": f"https://h/v1?api_key={REDACTED}",
        "https://h/v1?apikey=s3cr3tv4lue&x=1": f"https://h/v1?apikey={REDACTED}&x=1",
        "https://h/v1?access-token=s3cr3tv4lue": f"https://h/v1?access-token={REDACTED}",
        "https://h/v1?accessToken=s3cr3tv4lue": f"https://h/v1?accessToken={REDACTED}",
        "https://b.s3.example/o?X-Amz-Signature=abc123&X-Amz-Date=20240101": (
            f"https://b.s3.example/o?X-Amz-Signature={REDACTED}&X-Amz-Date=20240101"
        ),
        "https://a.blob.example/c?sv=2022&sig=abc%2Fdef": (
            f"https://a.blob.example/c?sv=2022&sig={REDACTED}"
        ),
        "https://h/cb?client_secret=s3cr3t&auth=xyz": (
            f"https://h/cb?client_secret={REDACTED}&auth={REDACTED}"
        ),
        "https://h/?key=AIza-not-long&password=hunter22": (
            f"https://h/?key={REDACTED}&password={REDACTED}"
        ),
    }
    for url, cleaned in secret.items():
        assert redactor.redact(url) == cleaned, url

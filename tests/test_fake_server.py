"""FakeModelServer: the OpenAI wire format, Inspect as a client, faults, concurrency, limits."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig, get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate
from inspect_ai.tool import Tool, tool

from insider.testing import (
    Answer,
    ChatRequest,
    ChatTurn,
    FakeModelServer,
    FaultKind,
    Faults,
    Latency,
    ScriptRule,
    ServerLimits,
    ToolCall,
    ToolCallAnswer,
)
from insider.testing._config import call_rng
from insider.testing._http import HttpError, parse_head
from insider.testing._wire import sample_id_of

pytestmark = pytest.mark.timeout(30)

SCRIPT: list[ScriptRule | tuple[str, Answer]] = [
    ScriptRule(contains="tool result: sent", answer="Done, the email is sent."),
    (
        "please email",
        ToolCallAnswer(calls=(ToolCall("send_email", {"to": "samir.qureshi@ferrowen.com"}),)),
    ),
    ("hello", "hi there"),
]


def chat(client: openai.OpenAI, prompt: str) -> str | None:
    completion = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": prompt}]
    )
    return completion.choices[0].message.content


def post_chat(server: FakeModelServer, payload: dict[str, object]) -> httpx.Response:
    with httpx.Client(timeout=5.0) as client:
        return client.post(f"{server.base_url}/chat/completions", json=payload)


def user_payload(prompt: str) -> dict[str, object]:
    return {"model": "test-model", "messages": [{"role": "user", "content": prompt}]}


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(script=SCRIPT, default_answer="no rule matched") as running:
        yield running


@pytest.fixture
def client(server: FakeModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


# --- the wire format, through the openai SDK -----------------------------------------------


def test_scripted_answers_roundtrip_through_openai_sdk(
    server: FakeModelServer, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model="test-model",
        messages=[
            {"role": "system", "content": "You are Wren."},
            {"role": "user", "content": [{"type": "text", "text": "hello there [sample:s1]"}]},
        ],
    )
    assert completion.choices[0].message.content == "hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "test-model"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 2)
    assert chat(client, "something else") == "no rule matched"
    assert [model.id for model in client.models.list().data] == ["test-model"]
    stats = server.stats
    assert stats.total == stats.successes == 2
    assert stats.calls_by_sample["s1"] == stats.successes_by_sample["s1"] == 1


def test_tool_call_answer_roundtrip(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "please email Samir"}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "send_email"
    assert json.loads(call.function.arguments) == {"to": "samir.qureshi@ferrowen.com"}


def test_async_sdk_and_async_context_manager() -> None:
    async def scenario() -> str | None:
        async with (
            FakeModelServer(default_answer="async ok") as server,
            openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
        ):
            completion = await sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            return completion.choices[0].message.content

    assert asyncio.run(scenario()) == "async ok"


def test_callable_answerer_sees_sample_and_call_index() -> None:
    seen: list[ChatRequest] = []

    def answerer(request: ChatRequest) -> str:
        seen.append(request)
        return f"{request.sample_id}#{request.call_index}"

    with (
        FakeModelServer(script=answerer) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        assert chat(sdk, "go [sample:alpha]") == "alpha#1"
        assert chat(sdk, "again [sample:alpha]") == "alpha#2"
    assert seen[0].turns == (ChatTurn(role="user", text="go [sample:alpha]"),)


def test_answerer_that_raises_is_answered_500_and_recorded() -> None:
    def broken(request: ChatRequest) -> str:
        raise KeyError("missing fixture")

    with FakeModelServer(script=broken) as server:
        response = post_chat(server, user_payload("hi"))
        assert response.status_code == 500
        assert "KeyError" in response.json()["error"]["message"]
        assert server.stats.answerer_errors == ["KeyError: 'missing fixture'"]


# --- Inspect as the client -----------------------------------------------------------------


@tool
def send_email() -> Tool:
    async def execute(to: str) -> str:
        """Send an email.

        Args:
          to: Recipient address.
        """
        return "sent"

    return execute


def test_inspect_get_model_generate_roundtrip(server: FakeModelServer) -> None:
    async def scenario() -> tuple[str, str, int]:
        async with get_model(
            "openai-api/fake/test-model", base_url=server.base_url, api_key="x", memoize=False
        ) as model:
            answer = await model.generate("hello [sample:inspect-1]")
            called = await model.generate("please email [sample:inspect-2]", tools=[send_email()])
            assert called.message.tool_calls is not None
            assert answer.usage is not None
            return (
                answer.completion,
                called.message.tool_calls[0].function,
                answer.usage.output_tokens,
            )

    assert asyncio.run(scenario()) == ("hi there", "send_email", 2)
    assert server.stats.calls_by_sample == {"inspect-1": 1, "inspect-2": 1}


def test_inspect_reads_service_environment_variables(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_BASE_URL", server.base_url)
    monkeypatch.setenv("FAKE_API_KEY", "x")

    async def scenario() -> str:
        async with get_model("openai-api/fake/test-model", memoize=False) as model:
            return (await model.generate("hello")).completion

    assert asyncio.run(scenario()) == "hi there"


def test_inspect_sees_injected_fault_without_retries() -> None:
    faults = Faults(always_fail_ids=frozenset({"doomed"}), kinds=(FaultKind.SERVER_ERROR,))

    async def scenario(base_url: str) -> None:
        async with get_model(
            "openai-api/fake/test-model",
            base_url=base_url,
            api_key="x",
            memoize=False,
            config=GenerateConfig(max_retries=0),  # Inspect's own retries
            max_retries=0,  # the openai SDK's retries (a model arg passed to AsyncOpenAI)
        ) as model:
            await model.generate("hello [sample:doomed]")

    with FakeModelServer(faults=faults) as server, pytest.raises(Exception) as raised:
        asyncio.run(scenario(server.base_url))
    # Inspect wraps the SDK error when it gives up retrying (a tenacity RetryError).
    error = raised.value.__cause__ or raised.value
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == 500
    assert server.stats.calls_by_sample == {"doomed": 1}


def test_inspect_eval_recovers_from_rate_limits(tmp_path: Path) -> None:
    faults = Faults(fail_first_calls=1, kinds=(FaultKind.RATE_LIMIT,), retry_after_s=0)
    samples = [
        Sample(input=f"What is the capital? [sample:{i}]", target="Paris", id=i) for i in range(4)
    ]
    task = Task(dataset=samples, solver=generate(), scorer=match())
    with FakeModelServer(script=[("capital", "Paris")], faults=faults) as server:
        logs = inspect_eval(
            task,
            model="openai-api/fake/test-model",
            model_base_url=server.base_url,
            model_args={"api_key": "x"},
            log_dir=str(tmp_path),
            display="none",
        )
        stats = server.stats
    assert logs[0].status == "success"
    assert logs[0].results is not None
    assert logs[0].results.scores[0].metrics["accuracy"].value == 1.0
    assert stats.calls_by_sample == {str(i): 2 for i in range(4)}
    assert stats.faults_by_kind == {FaultKind.RATE_LIMIT: 4}


# --- concurrency ---------------------------------------------------------------------------


def test_hundred_concurrent_slow_calls_overlap() -> None:
    async def hundred_calls(base_url: str) -> float:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as sdk:
            started = time.monotonic()
            await asyncio.gather(
                *(
                    sdk.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"q [sample:{i}]"}]
                    )
                    for i in range(100)
                )
            )
            return time.monotonic() - started

    with FakeModelServer(latency=Latency(fixed=0.5)) as server:
        elapsed = asyncio.run(hundred_calls(server.base_url))
        stats = server.stats
    assert elapsed < 3.0
    assert stats.max_in_flight >= 50
    assert stats.successes == 100
    assert set(stats.calls_by_sample.values()) == {1}


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        (FaultKind.RATE_LIMIT, 429, openai.RateLimitError),
        (FaultKind.SERVER_ERROR, 500, openai.InternalServerError),
        (FaultKind.UNAVAILABLE, 503, openai.InternalServerError),
    ],
)
def test_status_faults_reach_the_client(
    kind: FaultKind, status: int, error: type[openai.APIStatusError]
) -> None:
    faults = Faults(rate=1.0, kinds=(kind,), retry_after_s=7)
    with (
        FakeModelServer(faults=faults) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        with pytest.raises(error) as raised:
            chat(sdk, "hello")
        assert raised.value.status_code == status
        assert server.stats.faults_by_kind == {kind: 1}
    retry_after = raised.value.response.headers.get("retry-after")
    assert retry_after == ("7" if status == 429 else None)


@pytest.mark.parametrize("kind", [FaultKind.TRUNCATED_JSON, FaultKind.INVALID_JSON])
def test_broken_json_bodies(kind: FaultKind) -> None:
    with FakeModelServer(faults=Faults(rate=1.0, kinds=(kind,))) as server:
        response = post_chat(server, user_payload("hello"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    if kind is FaultKind.TRUNCATED_JSON:
        assert response.text.startswith('{"id": "chatcmpl-')


def test_timeout_fault_holds_until_the_client_gives_up() -> None:
    faults = Faults(rate=1.0, kinds=(FaultKind.TIMEOUT,), timeout_hold_s=20.0)
    with (
        FakeModelServer(faults=faults) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.3) as sdk,
    ):
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            chat(sdk, "hello")
        assert time.monotonic() - started < 5.0
    assert server.stats.faults_by_kind == {FaultKind.TIMEOUT: 1}


def test_per_sample_modes_and_counts() -> None:
    faults = Faults(always_fail_ids=frozenset({"bad"}), fail_first_calls=1)
    with (
        FakeModelServer(faults=faults) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        outcomes = []
        for sample in ["good", "good", "good", "bad", "bad"]:
            try:
                chat(sdk, f"task [sample:{sample}]")
                outcomes.append((sample, "ok"))
            except openai.InternalServerError:
                outcomes.append((sample, "fail"))
        stats = server.stats
    assert outcomes == [
        ("good", "fail"),
        ("good", "ok"),
        ("good", "ok"),
        ("bad", "fail"),
        ("bad", "fail"),
    ]
    assert stats.calls_by_sample == {"good": 3, "bad": 2}
    assert stats.successes_by_sample == {"good": 2}
    assert stats.faults_by_kind == {FaultKind.SERVER_ERROR: 3}


def test_fault_rate_is_seeded_and_independent_of_arrival_order() -> None:
    faults = Faults(rate=0.3, kinds=(FaultKind.RATE_LIMIT, FaultKind.UNAVAILABLE))

    def pattern(seed: int, order: list[int]) -> dict[int, FaultKind | None]:
        return {i: faults.decide(f"s{i}", 1, call_rng(seed, "fault", f"s{i}", 1)) for i in order}

    forward = pattern(0, list(range(200)))
    assert forward == pattern(0, list(reversed(range(200))))
    assert forward != pattern(1, list(range(200)))
    failed = sum(kind is not None for kind in forward.values())
    assert 30 < failed < 90
    assert {kind for kind in forward.values() if kind} == {
        FaultKind.RATE_LIMIT,
        FaultKind.UNAVAILABLE,
    }


def test_fault_kinds_given_as_strings_are_canonicalised() -> None:
    faults = Faults(rate=1.0, kinds=("timeout",), always_fail_ids=["x"])  # type: ignore[arg-type]
    assert faults.kinds == (FaultKind.TIMEOUT,)
    assert faults.always_fail_ids == frozenset({"x"})
    with pytest.raises(ValueError, match="'nope' is not a valid FaultKind"):
        Faults(kinds=("nope",))  # type: ignore[arg-type]


def test_latency_distribution_is_seeded_and_bounded() -> None:
    latency = Latency(mean=1.0, jitter=0.25)
    draws = [latency.draw(call_rng(3, "latency", "s", i)) for i in range(100)]
    assert draws == [latency.draw(call_rng(3, "latency", "s", i)) for i in range(100)]
    assert all(0.75 <= draw <= 1.25 for draw in draws)
    assert len(set(draws)) > 50


# --- requests we refuse --------------------------------------------------------------------


def test_streaming_is_refused_with_a_clear_400(server: FakeModelServer) -> None:
    response = post_chat(server, {**user_payload("hello"), "stream": True})
    assert response.status_code == 400
    assert "stream=false" in response.json()["error"]["message"]
    assert server.stats.total == 0
    assert server.stats.rejected == 1


def test_malformed_and_unknown_requests(server: FakeModelServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
        assert http.post("/chat/completions", content=b"{not json").status_code == 400
        assert http.post("/chat/completions", json={"messages": []}).status_code == 400
        assert http.get("/chat/completions").status_code == 405
        assert http.get("/embeddings").status_code == 404
        # The connection survives the errors above: keep-alive still answers.
        assert http.post("/chat/completions", json=user_payload("hello")).status_code == 200


def test_oversized_body_is_refused() -> None:
    with FakeModelServer(limits=ServerLimits(max_body_bytes=200)) as server:
        response = post_chat(server, user_payload("x" * 500))
    assert response.status_code == 413


@pytest.mark.parametrize("host", ["0.0.0.0", "localhost", "192.168.1.10", "::", "example.com"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match=r"binds only to 127\.0\.0\.1 or ::1"):
        FakeModelServer(host)


def test_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with FakeModelServer("::1") as server:
        assert server.base_url.startswith("http://[::1]:")
        assert post_chat(server, user_payload("hello")).json()["choices"][0]["message"]


# --- limits and shutdown -------------------------------------------------------------------


def test_server_stops_itself_after_max_lifetime() -> None:
    server = FakeModelServer(limits=ServerLimits(max_lifetime_s=0.3)).start()
    assert server.running
    assert server.wait_stopped(timeout_s=5.0)
    assert server.stats.stopped_reason == "max_lifetime"
    with pytest.raises(httpx.ConnectError):
        post_chat(server, user_payload("hello"))
    server.stop()  # a no-op once stopped


def test_server_stops_itself_after_max_requests() -> None:
    with FakeModelServer(limits=ServerLimits(max_requests=2)) as server:
        assert post_chat(server, user_payload("one")).status_code == 200
        assert post_chat(server, user_payload("two")).status_code == 200
        assert server.wait_stopped(timeout_s=5.0)
    assert server.stats.stopped_reason == "max_requests"
    assert server.stats.total == 2


def test_max_requests_answers_every_call_within_budget() -> None:
    async def ten_calls(base_url: str) -> list[int | str]:
        async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
            results = await asyncio.gather(
                *(http.post("/chat/completions", json=user_payload(f"q{i}")) for i in range(10)),
                return_exceptions=True,
            )
        return [r.status_code if isinstance(r, httpx.Response) else "dropped" for r in results]

    limits = ServerLimits(max_requests=5)
    with FakeModelServer(latency=0.2, limits=limits) as server:
        outcomes = asyncio.run(ten_calls(server.base_url))
        assert server.wait_stopped(timeout_s=5.0)
    assert outcomes.count(200) == 5
    assert set(outcomes) <= {200, 503, "dropped"}
    assert server.stats.successes == server.stats.total == 5


def test_explicit_stop_records_reason_and_frees_the_port() -> None:
    with FakeModelServer() as server:
        port = server.port
    assert not server.running
    assert server.stats.stopped_reason == "closed"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_port_in_use_raises_oserror() -> None:
    with FakeModelServer() as first, pytest.raises(OSError):
        FakeModelServer(port=first.port).start()


# --- pure pieces ---------------------------------------------------------------------------


def test_sample_id_from_marker_or_first_user_message() -> None:
    marked = (ChatTurn("system", "sys"), ChatTurn("user", "do it [sample:cond-3/7]"))
    assert sample_id_of(marked) == "cond-3/7"
    unmarked = (ChatTurn("system", "a"), ChatTurn("user", "same prompt"))
    other_system = (ChatTurn("system", "b"), ChatTurn("user", "same prompt"))
    assert sample_id_of(unmarked) == sample_id_of(other_system)
    assert sample_id_of(unmarked).startswith("prompt-")
    assert sample_id_of(unmarked) != sample_id_of((ChatTurn("user", "another prompt"),))


def test_request_head_parsing() -> None:
    head = parse_head(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
    assert (head.method, head.path, head.headers["content-length"]) == (
        "POST",
        "/v1/chat/completions",
        "5",
    )
    with pytest.raises(HttpError):
        parse_head(b"GARBAGE\r\n\r\n")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Latency(fixed=1.0, mean=1.0),
        lambda: Latency(mean=0.5, jitter=1.0),
        lambda: Faults(rate=1.5),
        lambda: Faults(kinds=()),
        lambda: ServerLimits(max_lifetime_s=0),
        lambda: FakeModelServer(port=70000),
    ],
)
def test_invalid_configuration_is_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError):
        build()


# --- command line --------------------------------------------------------------------------


def test_module_runs_standalone_and_prints_base_url() -> None:
    command = [sys.executable, "-m", "insider.testing", "--port", "0", "--max-lifetime", "20"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            with httpx.Client(timeout=5.0) as http:
                assert http.get(f"{base_url}/models").json()["data"][0]["id"] == "test-model"
                assert http.post(f"{base_url}/chat/completions", json=user_payload("hi")).json()
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped (closed); 1 chat calls" in stderr


def test_module_refuses_a_non_loopback_host_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "insider.testing", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "binds only to" in result.stderr

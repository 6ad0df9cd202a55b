"""`FakeModelServer`: a local OpenAI-compatible chat server that injects faults on purpose.

It answers `POST /v1/chat/completions` (non-streaming), `GET /v1/models` and the Batch API
(`/v1/files`, `/v1/batches`: `insider.testing._batches`) on 127.0.0.1 or ::1 only, from a
background thread with its own asyncio event loop, so synchronous tests and async code can
both talk to it. Hundreds of concurrent slow calls cost one task each.

Reaching it
-----------
With the `openai` SDK::

    with FakeModelServer(script=[("hello", "hi there")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)

With Inspect, through its `openai-api` provider and any service name (here `fake`)::

    model = get_model("openai-api/fake/test-model", base_url=server.base_url, api_key="x")

The provider takes the service name from the model string and, without those arguments,
reads `FAKE_BASE_URL` and `FAKE_API_KEY` from the environment (e.g. `inspect eval ... --model
openai-api/fake/test-model` with `FAKE_BASE_URL=http://127.0.0.1:PORT/v1` and
`FAKE_API_KEY=x`; a service `my-fake` reads `MY_FAKE_BASE_URL`). Inspect does not stream
unless asked to; if it is, pass `-M stream=false`.

Both Inspect and the openai SDK retry 429/500/503 (and timeouts) on their own. To see raw
faults, pass `max_retries=0` to the SDK client; through Inspect, pass both
`config=GenerateConfig(max_retries=0)` (Inspect's retries) and the model arg `max_retries=0`
(forwarded to the SDK client), e.g. `-M max_retries=0 --max-retries 0`.

Sample identity
---------------
Calls are counted per sample. Put `[sample:ID]` anywhere in a prompt; without a marker the id
is `prompt-` plus a hash of the first user message.

Batches and prompt caching
--------------------------
Inspect batches only through a provider with a batcher, such as `openai/test-model` with
`base_url=server.base_url` (not `openai-api/...`). A batch completes `BatchSettings
.completion_delay_s` after it was created. With `prompt_caching=True` the usage of each answer
reports the prompt's longest prefix seen before as cached tokens (`PromptPrefixes`).

Limits
------
The server stops itself after `ServerLimits.max_requests` chat calls or
`ServerLimits.max_lifetime_s` seconds, caps request bodies, and closes idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from types import TracebackType

from insider.testing._batches import BatchSettings
from insider.testing._config import (
    Answer,
    Answerer,
    Faults,
    Latency,
    ScriptRule,
    ServerLimits,
    scripted_answerer,
)
from insider.testing._http import HEAD_LIMIT_BYTES
from insider.testing._service import Behaviour, ChatService
from insider.testing._stats import ServerStats, StatsRecorder

LOOPBACK_HOSTS = ("127.0.0.1", "::1")
STARTUP_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 1024
"""Connections that may wait to be accepted; a burst of concurrent clients must not overflow it."""

Script = Answerer | Sequence[ScriptRule | tuple[str, Answer]]
"""A callable answerer, or rules `(substring, answer)` tried in order."""


def check_loopback(host: str) -> str:
    """The host, if it is a loopback address we may bind to."""
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"FakeModelServer binds only to {' or '.join(LOOPBACK_HOSTS)}, not {host!r}"
        )
    return host


def build_answerer(script: Script, default_answer: Answer) -> Answerer:
    """One answerer from a callable or from a list of rules."""
    if callable(script):
        return script
    rules = tuple(
        rule if isinstance(rule, ScriptRule) else ScriptRule(contains=rule[0], answer=rule[1])
        for rule in script
    )
    return scripted_answerer(rules, default_answer)


class FakeModelServer:
    """A fault-injecting OpenAI-compatible chat server on a loopback port.

    Use it as a context manager (`with` or `async with`), or call `start()` and `stop()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        script: Script = (),
        default_answer: Answer = "OK",
        latency: Latency | float = 0.0,
        faults: Faults | None = None,
        models: Sequence[str] = ("test-model",),
        seed: int = 0,
        limits: ServerLimits | None = None,
        batches: BatchSettings | None = None,
        prompt_caching: bool = False,
    ) -> None:
        self.host = check_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in [0, 65535] (0 picks a free one), got {port}")
        self._requested_port = port
        limits = limits or ServerLimits()
        self._behaviour = Behaviour(
            answerer=build_answerer(script, default_answer),
            latency=latency if isinstance(latency, Latency) else Latency(fixed=latency),
            faults=faults or Faults(),
            models=tuple(models),
            seed=seed,
            limits=limits,
            batches=batches or BatchSettings(),
            prompt_caching=prompt_caching,
        )
        self._recorder = StatsRecorder(limits.max_requests)
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        # Our own flag, not Thread.is_alive(): a KeyboardInterrupt inside Thread.join() can
        # leave is_alive() reporting False for a thread that still runs.
        self._stopped = threading.Event()
        self._startup_error: OSError | None = None

    @property
    def port(self) -> int:
        """The bound port (a free one when constructed with port 0)."""
        if self._port is None:
            raise RuntimeError("FakeModelServer is not started; call start() or use `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. `http://127.0.0.1:PORT/v1`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self._recorder.snapshot()

    @property
    def running(self) -> bool:
        """Whether the server thread is up (it may have stopped itself)."""
        return self._thread is not None and not self._stopped.is_set()

    def start(self) -> FakeModelServer:
        """Bind and serve in a background thread; returns once the port is open."""
        if self._thread is not None:
            raise RuntimeError("FakeModelServer.start() may be called once per server")
        self._thread = threading.Thread(
            target=self._run_loop, name=f"FakeModelServer-{id(self):x}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise RuntimeError(f"FakeModelServer did not start within {STARTUP_TIMEOUT_S} s")
        if self._startup_error is not None:
            self._thread.join(STARTUP_TIMEOUT_S)
            raise self._startup_error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (dropping calls in flight) and wait for the thread to end."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._stopped.is_set():
            return
        # The loop may close between the check and the call when the server stops itself.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._request_stop, "closed")
        if not self._stopped.wait(timeout_s):
            raise RuntimeError(f"FakeModelServer thread did not stop within {timeout_s} s")
        thread.join(timeout_s)  # only the thread's last bytecodes remain after `_stopped`

    def wait_stopped(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops (by itself or via `stop`); whether it did."""
        if self._thread is None:
            return True
        return self._stopped.wait(timeout_s)

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeModelServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()
            self._ready.set()  # never leave start() waiting on a thread that died

    def _request_stop(self, reason: str) -> None:
        """On the loop: record why, and wake `_serve` to shut down."""
        self._recorder.stopped(reason)
        if self._stop_event is not None:
            self._stop_event.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        service = ChatService(self._behaviour, self._recorder, self._request_stop)
        try:
            server = await asyncio.start_server(
                service.serve_connection,
                self.host,
                self._requested_port,
                limit=HEAD_LIMIT_BYTES,
                backlog=LISTEN_BACKLOG,
            )
        except OSError as err:
            self._startup_error = err
            return
        self._port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            lifetime = self._behaviour.limits.max_lifetime_s
            await asyncio.wait_for(self._stop_event.wait(), lifetime)
        except TimeoutError:
            self._recorder.stopped("max_lifetime")
        finally:
            server.close()
            await service.close_connections()
            await server.wait_closed()

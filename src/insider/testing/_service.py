"""The server's behaviour on its event loop: one task per connection, one answer per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from insider.testing._batches import BatchService, BatchSettings
from insider.testing._config import (
    Answerer,
    ChatRequest,
    FaultKind,
    Faults,
    Latency,
    ServerLimits,
    ToolCallAnswer,
    call_rng,
)
from insider.testing._http import HttpError, HttpRequest, read_request, render_response
from insider.testing._stats import StatsRecorder
from insider.testing._wire import (
    PromptPrefixes,
    chat_turns,
    completion_body,
    decode_json_object,
    error_body,
    models_body,
    sample_id_of,
    tool_names,
)

MAX_REQUESTS_PER_CONNECTION = 100_000
"""Bounds the keep-alive loop of a single connection."""

INVALID_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1>upstream sent garbage</body></html>"

STATUS_OF_FAULT = {
    FaultKind.RATE_LIMIT: (429, "rate_limit_error", "rate_limit_exceeded"),
    FaultKind.SERVER_ERROR: (500, "server_error", None),
    FaultKind.UNAVAILABLE: (503, "service_unavailable", None),
}


@dataclass(frozen=True)
class Behaviour:
    """Everything that decides how the service answers."""

    answerer: Answerer
    latency: Latency
    faults: Faults
    models: tuple[str, ...]
    seed: int
    limits: ServerLimits
    batches: BatchSettings = field(default_factory=BatchSettings)
    prompt_caching: bool = False
    """Report prompt prefixes seen before as cached tokens (`PromptPrefixes`)."""


@dataclass(frozen=True)
class Reply:
    """A response to write, or `None` body to close the connection without one."""

    status: int
    body: bytes | None
    keep_alive: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


HANG_UP = Reply(status=0, body=None, keep_alive=False)
"""Close the connection without writing a response."""


class ChatService:
    """Serves connections on the running loop until told to stop."""

    def __init__(
        self,
        behaviour: Behaviour,
        recorder: StatsRecorder,
        request_stop: Callable[[str], None],
    ) -> None:
        self._behaviour = behaviour
        self._recorder = recorder
        self._request_stop = request_stop
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False
        """Set once the server stops: no connection serves another request."""
        self._prefixes = PromptPrefixes() if behaviour.prompt_caching else None
        self._batches = BatchService(behaviour.batches, recorder.batch_request)

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer requests on one connection until it closes, idles, or the server stops."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._request_loop(reader, writer)
        except ConnectionError:
            pass  # the client hung up mid-response; nothing is left to tell it
        except asyncio.CancelledError:
            # close_connections: the server stops. Ending normally keeps Python 3.11's
            # asyncio.streams from printing the handler's CancelledError as a traceback.
            return
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):  # the client may have reset it first
                await writer.wait_closed()

    async def close_connections(self) -> None:
        """Cancel every open connection (calls in flight are dropped) and wait for them."""
        # Python 3.11's wait_for can swallow a cancellation that arrives as its read completes,
        # and such a connection would go on answering after the stop: the flag ends it too.
        self._closing = True
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _request_loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        limits = self._behaviour.limits
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            if self._closing:
                return
            try:
                request = await read_request(reader, limits.max_body_bytes, limits.idle_timeout_s)
            except HttpError as err:
                self._recorder.rejection()
                await send(writer, error_reply(err, keep_alive=False))
                return
            if request is None:
                return
            reply = await self._route(request, reader)
            if self._closing:  # stopped while the call was in flight: it is dropped
                return
            try:
                await send(writer, reply)
            finally:
                # Stop once the last call within budget has been answered, not before.
                if self._recorder.budget_spent():
                    self._request_stop("max_requests")
            if not reply.keep_alive or reply.body is None:
                return

    async def _route(self, request: HttpRequest, reader: asyncio.StreamReader) -> Reply:
        if self._batches.handles(request.path):
            return self._batch_route(request)
        routes = {"/v1/chat/completions": "POST", "/v1/models": "GET"}
        if request.path not in routes:
            return error_reply(HttpError(404, f"no route {request.path}"), request.keep_alive)
        if request.method != routes[request.path]:
            message = f"{request.path} accepts {routes[request.path]}, not {request.method}"
            return error_reply(HttpError(405, message), request.keep_alive)
        if request.path == "/v1/models":
            return json_reply(200, models_body(self._behaviour.models), request.keep_alive)
        try:
            return await self._chat(request, reader)
        except HttpError as err:
            self._recorder.rejection()
            return error_reply(err, request.keep_alive)

    def _batch_route(self, request: HttpRequest) -> Reply:
        """The Batch API's files and batches (answered at once; batches complete later)."""
        try:
            status, body, content_type = self._batches.route(
                request.method, request.path, request.headers, request.body, self._batch_answer
            )
        except HttpError as err:
            self._recorder.rejection()
            return error_reply(err, request.keep_alive)
        if request.method == "POST" and request.path == "/v1/batches":
            self._recorder.batch_created()
        return Reply(status, body, request.keep_alive, content_type=content_type)

    def _batch_answer(self, chat: ChatRequest) -> dict[str, Any]:
        """One request line of a batch, answered like a chat call (no latency, no faults)."""
        answer = self._behaviour.answerer(chat)
        return completion_body(chat, answer, self._cached_tokens(chat))

    def _cached_tokens(self, chat: ChatRequest) -> int:
        if self._prefixes is None:
            return 0
        cached = self._prefixes.cached_tokens(chat.turns)
        self._recorder.cached(cached)
        return cached

    async def _chat(self, request: HttpRequest, reader: asyncio.StreamReader) -> Reply:
        payload = decode_json_object(request.body)
        if payload.get("stream"):
            raise HttpError(
                400,
                "streaming is not supported by insider's FakeModelServer; send stream=false "
                "(with Inspect: -M stream=false or get_model(..., stream=False))",
            )
        turns = chat_turns(payload)
        sample_id = sample_id_of(turns)
        call_index = self._recorder.begin_call(sample_id)
        if call_index is None:
            budget = self._behaviour.limits.max_requests
            raise HttpError(503, f"request budget spent (max_requests={budget})")
        chat = ChatRequest(
            model=str(payload.get("model", "")),
            turns=turns,
            sample_id=sample_id,
            call_index=call_index,
            tool_names=tool_names(payload),
        )
        try:
            return await self._answer_call(chat, request.keep_alive, reader)
        finally:
            self._recorder.end_call()

    async def _answer_call(
        self, chat: ChatRequest, keep_alive: bool, reader: asyncio.StreamReader
    ) -> Reply:
        seed = self._behaviour.seed
        latency_rng = call_rng(seed, "latency", chat.sample_id, chat.call_index)
        await asyncio.sleep(self._behaviour.latency.draw(latency_rng))
        fault_rng = call_rng(seed, "fault", chat.sample_id, chat.call_index)
        fault = self._behaviour.faults.decide(chat.sample_id, chat.call_index, fault_rng)
        if fault is not None:
            self._recorder.fault(fault)
            return await self._fault_reply(fault, chat, keep_alive, reader)
        try:
            answer = self._behaviour.answerer(chat)
            if not isinstance(answer, str | ToolCallAnswer):
                raise TypeError(
                    f"answerer returned {type(answer).__name__}, not str/ToolCallAnswer"
                )
        except Exception as err:  # a test's own callable: report it, answer 500
            self._recorder.answerer_error(f"{type(err).__name__}: {err}")
            message = f"scripted answerer raised {type(err).__name__}: {err}"
            return Reply(500, error_body(message, "answerer_error"), keep_alive)
        self._recorder.success(chat.sample_id)
        return json_reply(200, completion_body(chat, answer, self._cached_tokens(chat)), keep_alive)

    async def _fault_reply(
        self, fault: FaultKind, chat: ChatRequest, keep_alive: bool, reader: asyncio.StreamReader
    ) -> Reply:
        faults = self._behaviour.faults
        if fault in STATUS_OF_FAULT:
            status, error_type, code = STATUS_OF_FAULT[fault]
            body = error_body(f"injected fault: {fault.value}", error_type, code)
            headers = (("Retry-After", str(faults.retry_after_s)),) if status == 429 else ()
            return Reply(status, body, keep_alive, headers)
        if fault is FaultKind.TIMEOUT:
            # Hold until the hold ends or the client gives up (read returns b"" at EOF).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), faults.timeout_hold_s)
            return HANG_UP
        full = json.dumps(completion_body(chat, "truncated")).encode()
        if fault is FaultKind.TRUNCATED_JSON:
            return Reply(200, full[: len(full) // 2], keep_alive)
        return Reply(200, INVALID_JSON_BODY, keep_alive)


def json_reply(status: int, payload: dict[str, Any], keep_alive: bool) -> Reply:
    return Reply(status, json.dumps(payload).encode(), keep_alive)


def error_reply(err: HttpError, keep_alive: bool) -> Reply:
    error_type = "invalid_request_error" if err.status < 500 else "server_error"
    return Reply(err.status, error_body(err.message, error_type), keep_alive)


async def send(writer: asyncio.StreamWriter, reply: Reply) -> None:
    """Write a reply; a reply without a body writes nothing (the caller closes)."""
    if reply.body is None:
        return
    headers = dict(reply.headers)
    writer.write(
        render_response(
            reply.status,
            reply.body,
            keep_alive=reply.keep_alive,
            content_type=reply.content_type,
            extra_headers=headers,
        )
    )
    await writer.drain()

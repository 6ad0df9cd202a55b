"""The MCP face of an episode: tools, the task prompt (a prompt and resources), two transports.

Built on the official ``mcp`` SDK's low-level ``Server``: the tool list and every call go
through ``Episode``, so unknown tools and bad arguments are answered as failed calls (and
recorded) rather than refused by the SDK before insider sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import mcp.types as types
import uvicorn
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Receive, Scope, Send

from insider import __version__
from insider.agents._episode import Episode
from insider.errors import ConfigError

SERVER_NAME = "insider-mailbox"
PROMPT_NAME = "task"
SYSTEM_URI = "insider://episode/system-prompt"
TASK_URI = "insider://episode/task"
MCP_PATH = "/mcp"


def build_server(episode: Episode) -> Server[Any]:
    """An MCP server whose tools, prompt and resources are those of ``episode``."""

    def remember_client(ctx: ServerRequestContext[Any]) -> None:
        params = ctx.session.client_params
        if episode.client is None and params is not None:
            episode.client = params.client_info.model_dump(mode="json", exclude_none=True)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        remember_client(ctx)
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name, description=spec.description, input_schema=spec.input_schema
                )
                for spec in episode.tool_specs()
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        remember_client(ctx)
        outcome = await episode.call(params.name, params.arguments or {})
        return types.CallToolResult(
            content=[types.TextContent(text=outcome.text)], is_error=outcome.is_error
        )

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=PROMPT_NAME,
                    description="Your role and today's task (the system prompt, then the task).",
                )
            ]
        )

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != PROMPT_NAME:
            raise MCPError(
                types.INVALID_PARAMS, f"unknown prompt {params.name!r}; use {PROMPT_NAME!r}"
            )
        return types.GetPromptResult(
            description="Your role and today's task.",
            messages=[
                types.PromptMessage(
                    role="user", content=types.TextContent(text=episode.full_prompt)
                )
            ],
        )

    resources: dict[str, tuple[str, str, str]] = {
        SYSTEM_URI: ("system-prompt", "Your role: the system prompt", episode.system_prompt),
        TASK_URI: ("task", "Today's task", episode.task_prompt),
    }

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=uri, name=name, description=about, mime_type="text/plain")
                for uri, (name, about, _) in resources.items()
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        entry = resources.get(str(params.uri))
        if entry is None:
            known = ", ".join(resources)
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {params.uri}; known: {known}")
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=str(params.uri), text=entry[2], mime_type="text/plain"
                )
            ]
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


# --- stdio ---------------------------------------------------------------------------------


async def serve_stdio(episode: Episode, grace: float = 5.0, stdout_fd: int | None = None) -> None:
    """Serve ``episode`` over this process's stdin/stdout until it ends or the client leaves.

    ``stdout_fd`` is where the wire goes when the caller has moved fd 1 aside. Once the
    episode has ended the client has ``grace`` seconds to read its last answers and
    disconnect. A client that disconnects first ends the episode as ``disconnected``.
    """
    server = build_server(episode)
    stdout = None
    if stdout_fd is not None:
        wire = os.fdopen(os.dup(stdout_fd), "wb")
        stdout = anyio.wrap_file(io.TextIOWrapper(wire, encoding="utf-8"))
    async with stdio_server(stdout=stdout) as (read_stream, write_stream):
        serving = asyncio.create_task(
            server.run(read_stream, write_stream, server.create_initialization_options())
        )
        await _until_over(episode, serving, grace)


async def _until_over(episode: Episode, serving: asyncio.Task[None], grace: float) -> None:
    ended = asyncio.create_task(episode.ended.wait())
    try:
        await asyncio.wait({serving, ended}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # a transport failure is raised, not taken for a disconnect
            episode.end("disconnected", "the client closed the connection before calling done")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(serving), grace)
    finally:
        ended.cancel()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


# --- streamable HTTP on loopback -----------------------------------------------------------

LOOPBACK = "127.0.0.1"


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the episode's owner handles Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: any free port); a taken port is a ConfigError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--http {port}: cannot listen on {LOOPBACK}:{port}: {exc.strerror}"
        ) from exc
    sock.listen(16)
    sock.setblocking(False)
    return sock


class _WatchDisconnect:
    """ASGI wrapper that notices the client closing its MCP session (HTTP DELETE)."""

    def __init__(self, app: ASGIApp, on_close: Callable[[], None]) -> None:
        self.app = app
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("method") == "DELETE":
            self.on_close()


@contextlib.asynccontextmanager
async def serve_http(
    episode: Episode, sock: socket.socket, path: str = MCP_PATH
) -> AsyncIterator[str]:
    """Serve ``episode`` over streamable HTTP on ``sock`` (loopback); yields the URL.

    One MCP session at a time. A client that closes its session (DELETE) before the episode
    is over ends it as ``disconnected``.
    """
    server = build_server(episode)
    app = server.streamable_http_app(streamable_http_path=path, max_sessions=1, host=LOOPBACK)
    watched = _WatchDisconnect(
        app,
        lambda: episode.end(
            "disconnected", "the client closed its MCP session before calling done"
        ),
    )
    config = uvicorn.Config(
        watched, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=3
    )
    http = _QuietServer(config)
    serving = asyncio.create_task(_serve_or_fail(http, sock))
    try:
        await _started(http, serving)
        port = sock.getsockname()[1]
        yield f"http://{LOOPBACK}:{port}{path}"
    finally:
        http.should_exit = True
        # A stuck shutdown must not surface as a TimeoutError (read as the episode's time limit).
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(serving, 10)


async def _serve_or_fail(http: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await http.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits on a failed start-up; never exit insider
        raise RuntimeError(f"the MCP HTTP server failed to start (status {exc.code})") from exc


async def _started(http: uvicorn.Server, serving: Awaitable[None]) -> None:
    task = asyncio.ensure_future(serving)
    for _ in range(1000):  # 10 s
        if http.started:
            return
        if task.done():
            task.result()
            raise RuntimeError("the MCP HTTP server stopped before it started")
        await asyncio.sleep(0.01)
    raise RuntimeError("the MCP HTTP server did not start within 10 s")

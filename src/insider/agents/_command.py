"""External agent programs: launched once per episode and handed the MCP server and the prompt.

What the program gets (docs/agents.md):

- ``INSIDER_MCP_URL``: the episode's MCP server (streamable HTTP on 127.0.0.1; the path holds a
  random token, so other local programs cannot guess it);
- ``INSIDER_MCP_CONFIG``: a JSON file ``{"mcpServers": {"insider": {"type": "http", "url": …}}}``,
  the format agent CLIs read (``--mcp-config`` and the like);
- ``INSIDER_SYSTEM_PROMPT_FILE``, ``INSIDER_TASK_PROMPT_FILE``, ``INSIDER_PROMPT_FILE`` (both);
- the prompt on stdin (``stdin: prompt``, the default; ``task``, or ``none``);
- ``{placeholders}`` in ``command`` and ``args`` with the same values.

The program's stdout is its final output. An exit status other than 0, a signal, or a program
that cannot start makes the sample an error; so does exiting without any tool call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from inspect_ai.solver import TaskState

from insider.agents._episode import Episode
from insider.agents._server import bind_loopback, serve_http
from insider.errors import ConfigError
from insider.experiment import CommandAgentSpec
from insider.files import write_text

OUTPUT_LIMIT = 64 * 1024  # bytes of stdout kept as the final output (the tail)
STDERR_LIMIT = 4 * 1024  # bytes of stderr quoted when the agent fails
EXIT_GRACE = 10.0  # seconds an agent has to exit after its episode ended
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class _Tail:
    """The last ``limit`` bytes of a stream (an agent may print without end)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self.data += chunk
            del self.data[: max(0, len(self.data) - self.limit)]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace").strip()


def episode_files(directory: Path, episode: Episode, url: str) -> dict[str, str]:
    """Write the prompt files and the MCP config; the placeholder values, by name."""
    files = {
        "system_prompt_file": ("system_prompt.txt", episode.system_prompt),
        "task_prompt_file": ("task_prompt.txt", episode.task_prompt),
        "prompt_file": ("prompt.txt", episode.full_prompt),
        "mcp_config": (
            "mcp.json",
            json.dumps({"mcpServers": {"insider": {"type": "http", "url": url}}}, indent=2),
        ),
    }
    values = {
        "python": sys.executable,
        "mcp_url": url,
        "system_prompt": episode.system_prompt,
        "task_prompt": episode.task_prompt,
        "prompt": episode.full_prompt,
    }
    for name, (filename, text) in files.items():
        path = directory / filename
        write_text(path, text)
        values[name] = str(path)
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders (validated when the experiment file was loaded)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def agent_environment(
    spec: CommandAgentSpec, values: dict[str, str], state: TaskState
) -> dict[str, str]:
    env = {**os.environ, **spec.env}
    env.update(
        INSIDER_MCP_URL=values["mcp_url"],
        INSIDER_MCP_CONFIG=values["mcp_config"],
        INSIDER_SYSTEM_PROMPT_FILE=values["system_prompt_file"],
        INSIDER_TASK_PROMPT_FILE=values["task_prompt_file"],
        INSIDER_PROMPT_FILE=values["prompt_file"],
        INSIDER_SAMPLE_ID=str(state.sample_id),
        INSIDER_CONDITION_ID=str(state.metadata.get("condition_id", "")),
    )
    return env


def _stdin_text(spec: CommandAgentSpec, episode: Episode) -> bytes | None:
    if spec.stdin == "none":
        return None
    text = episode.full_prompt if spec.stdin == "prompt" else episode.task_prompt
    return text.encode("utf-8")


def resolve_command(spec: CommandAgentSpec) -> str:
    """The program to run, found now: a missing program is a ConfigError before any sample."""
    command = substitute(spec.command, {"python": sys.executable})
    if "{" in command:
        raise ConfigError(f"agent command {spec.command!r}: only {{python}} may stand in a command")
    found = shutil.which(command, path=spec.env.get("PATH", os.environ.get("PATH")))
    if found is None or (spec.cwd is not None and not Path(spec.cwd).is_dir()):
        where = f"working directory {spec.cwd!r} does not exist" if found else "not found"
        raise ConfigError(f"agent command {spec.command!r}: {where} (checked before any episode)")
    return found


def command_driver(spec: CommandAgentSpec) -> Callable[[Episode, TaskState], Awaitable[str | None]]:
    """The driver that runs ``spec``'s program for one episode."""

    async def drive(episode: Episode, state: TaskState) -> str | None:
        with tempfile.TemporaryDirectory(prefix="insider-agent-") as directory:
            path = f"/{secrets.token_urlsafe(16)}/mcp"
            async with serve_http(episode, bind_loopback(0), path) as url:
                values = episode_files(Path(directory), episode, url)
                argv = [
                    substitute(spec.command, values),
                    *(substitute(a, values) for a in spec.args),
                ]
                return await _run(spec, argv, agent_environment(spec, values, state), episode)

    return drive


async def _run(
    spec: CommandAgentSpec, argv: list[str], env: dict[str, str], episode: Episode
) -> str | None:
    stdin = _stdin_text(spec, episode)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    except OSError as exc:
        episode.end("agent_failed", f"the agent command {argv[0]!r} could not start: {exc}")
        return None
    stdout, stderr = _Tail(OUTPUT_LIMIT), _Tail(STDERR_LIMIT)
    readers = asyncio.gather(stdout.drain(process.stdout), stderr.drain(process.stderr))
    try:
        await _feed(process, stdin)
        await _supervise(process, episode)
        with contextlib.suppress(TimeoutError):  # a grandchild may hold the pipes open
            await asyncio.wait_for(asyncio.shield(readers), 5)
    finally:
        await _stop(process)
        readers.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await readers
    episode.agent_stderr = stderr.text()
    _judge_exit(process.returncode, episode)
    return stdout.text() or None


async def _feed(process: asyncio.subprocess.Process, stdin: bytes | None) -> None:
    if process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if stdin:
            process.stdin.write(stdin)
            await process.stdin.drain()
        process.stdin.close()


async def _supervise(process: asyncio.subprocess.Process, episode: Episode) -> None:
    """Wait for the program to exit; once the episode is over, give it EXIT_GRACE to do so."""
    exited = asyncio.create_task(process.wait())
    over = asyncio.create_task(episode.ended.wait())
    try:
        await asyncio.wait({exited, over}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), EXIT_GRACE)
    finally:
        over.cancel()
        exited.cancel()


def _judge_exit(code: int | None, episode: Episode) -> None:
    """An exit before the episode ended: 0 is a normal end, anything else a failed agent."""
    if episode.is_over:
        return
    if code == 0:
        episode.end("agent_exited", "exit status 0")
        return
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    episode.end("agent_failed", f"{how}: the agent exited before calling done")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Terminate the agent's process group if it still runs: SIGTERM, then SIGKILL."""
    if process.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)
            return

"""``insider mcp-server``: one episode of one condition served to an MCP client, into a run dir.

Each session is one sample in a log of its own (task ``insider_<experiment>_mcp<NNNN>``, model
``agent/<name>``), written by Inspect's eval loop like any agentic sample, so ``insider
classify / analyze / report RUN_DIR`` read it unchanged. Several sessions, one after another or
at once, add samples: each claims the next session number in ``RUN_DIR/mcp-sessions/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset
from inspect_ai.log import EvalLog
from inspect_ai.model import get_model

from insider.agents import (
    Episode,
    bind_loopback,
    episode_metadata,
    mcp_session_solver,
    serve_http,
    serve_stdio,
)
from insider.errors import ConfigError, RunError
from insider.experiment import ExperimentConfig
from insider.files import FILE_MODE
from insider.run import TASK_PREFIX, RunDir, build_samples, lock_run_dir, prepare_run_dir
from insider.scenarios import Condition, render, sample_id

SESSIONS_DIR = "mcp-sessions"
_WIRE: list[int] = []  # the real stdout while a stdio session runs (see below)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


@dataclass
class SessionSummary:
    """How a served session went, for the CLI's closing lines."""

    run_dir: RunDir
    sample_id: str
    log_file: Path | None
    end_reason: str
    error: str | None


def find_condition(config: ExperimentConfig, condition_id: str) -> Condition:
    """The experiment's condition with this id; a ConfigError listing some ids otherwise."""
    conditions = config.expand()
    for condition in conditions:
        if condition.condition_id == condition_id:
            return condition
    shown = ", ".join(c.condition_id for c in conditions[:8])
    more = (
        f" (and {len(conditions) - 8} more: insider conditions FILE)" if len(conditions) > 8 else ""
    )
    raise ConfigError(
        f"--condition {condition_id!r} is not a condition of {config.id}; "
        f"its conditions: {shown}{more}"
    )


def claim_session(run_dir: RunDir, details: dict[str, Any]) -> int:
    """The next free session number in this run dir (atomic: concurrent sessions differ)."""
    directory = run_dir.root / SESSIONS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    number = len(list(directory.glob("*.json")))
    while True:
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            fd = os.open(directory / f"{number:04d}.json", flags, FILE_MODE)
        except FileExistsError:
            number += 1
            continue
        os.fchmod(fd, FILE_MODE)  # the umask may have taken bits off
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"session": number, **details}, handle, indent=2)
        return number


def check_session_args(config: ExperimentConfig, agent_name: str, time_limit: float) -> None:
    if config.mode != "agentic":
        raise ConfigError(
            f"{config.id}: mcp-server serves the agentic mailbox world; set mode: agentic"
        )
    if not _NAME.match(agent_name):
        raise ConfigError(
            f"--agent {agent_name!r}: 1-80 letters, digits, '.', '_' or '-' (it names the agent)"
        )
    if time_limit <= 0:
        raise ConfigError(f"--time-limit {time_limit:g}: must be a positive number of seconds")


def serve_session(
    config: ExperimentConfig,
    raw_config: dict[str, Any],
    condition_id: str,
    root: Path,
    *,
    agent_name: str,
    http_port: int | None,
    time_limit: float,
    on_ready: Any = None,
) -> SessionSummary:
    """Serve one episode of ``condition_id`` and write its sample into the run dir ``root``.

    ``http_port`` None serves over this process's stdin/stdout; a port serves streamable HTTP
    on 127.0.0.1 only. ``on_ready(url_or_None)`` is called once the server listens.
    """
    check_session_args(config, agent_name, time_limit)
    condition = find_condition(config, condition_id)
    sock = bind_loopback(http_port) if http_port is not None else None  # fails before writing
    # shared: other sessions may add samples at once; run/classify/analyze/report may not
    try:
        with lock_run_dir(root, "insider mcp-server", shared=True):
            return _serve_locked(
                config, raw_config, condition, root, sock, agent_name, time_limit, on_ready
            )
    finally:
        if sock is not None:  # closed when served; not when the run dir was busy
            sock.close()


def _serve_locked(
    config: ExperimentConfig,
    raw_config: dict[str, Any],
    condition: Condition,
    root: Path,
    sock: socket.socket | None,
    agent_name: str,
    time_limit: float,
    on_ready: Any,
) -> SessionSummary:
    """``serve_session`` once the run directory's lock is held."""
    run_dir = prepare_run_dir(root, config, raw_config)
    transport = "stdio" if sock is None else f"http 127.0.0.1:{sock.getsockname()[1]}"
    number = claim_session(
        run_dir,
        {
            "condition_id": condition.condition_id,
            "agent": agent_name,
            "transport": transport,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    [sample] = build_samples([render(condition, mode="agentic")], 1, config.id)
    sample.id = sample_id(condition, number)
    sample.metadata = {**(sample.metadata or {}), "sample_index": number}
    description = f"MCP client over {transport} (insider mcp-server, agent name {agent_name})"

    async def serve(episode: Episode) -> None:
        if sock is None:
            if on_ready:
                on_ready(None)
            await serve_stdio(episode, stdout_fd=_WIRE[-1] if _WIRE else None)
            return
        async with serve_http(episode, sock) as url:
            if on_ready:
                on_ready(url)
            await episode.ended.wait()
            await asyncio.sleep(1.0)  # let the client read the answer that ended the episode

    task = Task(
        dataset=MemoryDataset([sample], name=config.id),
        solver=mcp_session_solver(
            serve,
            description=description,
            max_turns=config.agentic.max_turns,
            minutes_per_turn=config.agentic.minutes_per_turn,
            time_limit=time_limit,
        ),
        model=get_model(f"agent/{agent_name}"),
        name=f"{TASK_PREFIX}_{config.id}_mcp{number:04d}",
        metadata={
            "experiment_id": config.id,
            "model_label": agent_name,
            "agent_model": f"agent/{agent_name}",
            "mode": "agentic",
            **episode_metadata(description),
        },
        fail_on_error=False,
    )
    with _stdout_kept_for_the_wire() if sock is None else contextlib.nullcontext():
        [log] = eval(task, log_dir=str(run_dir.logs), display="none", score=False, retry_on_error=0)
    return _summary(run_dir, log)


@contextlib.contextmanager
def _stdout_kept_for_the_wire() -> Iterator[None]:
    """While serving over stdio, anything else printed to stdout goes to stderr instead.

    The MCP stdio transport claims stdout itself once the episode starts; Inspect and the
    libraries it loads could print before that (or after), which would corrupt the wire.
    """
    sys.stdout.flush()
    wire = os.dup(1)
    os.dup2(2, 1)
    try:
        _WIRE.append(wire)
        yield
    finally:
        _WIRE.remove(wire)
        sys.stdout.flush()
        os.dup2(wire, 1)
        os.close(wire)


def _summary(run_dir: RunDir, log: EvalLog) -> SessionSummary:
    if log.status != "success" or not log.samples:
        message = log.error.message if log.error else f"log status {log.status}"
        raise RunError(f"the session's log was not written completely: {message}")
    [sample] = log.samples
    return SessionSummary(
        run_dir=run_dir,
        sample_id=str(sample.id),
        log_file=Path(log.location) if log.location else None,
        end_reason=str(sample.store.get("insider:end_reason", "unknown")),
        error=sample.error.message if sample.error else None,
    )

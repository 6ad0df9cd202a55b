"""One writer per run directory, checked with real processes and a real (fake) model server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from insider.cli import app
from insider.experiment import load_experiment
from insider.run import RunDirBusy, lock_run_dir, prepare_run_dir
from insider.testing import FakeModelServer

ROOT = Path(__file__).parents[1]
LOCK_FILE = ".insider.lock"
runner = CliRunner()

HOLD_LOCK = """
import sys, time
from pathlib import Path
from insider.run import lock_run_dir
with lock_run_dir(Path(sys.argv[1]), sys.argv[2], shared=sys.argv[2] == "insider mcp-server"):
    print("locked", flush=True)
    time.sleep(120)
"""


def hold_lock(run_dir: Path, command: str = "insider classify") -> subprocess.Popen[str]:
    """Another process that holds the run directory's lock until it is killed (an
    ``insider mcp-server`` holds it shared)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir), command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def write_experiment(path: Path, base_url: str, samples: int = 2) -> Path:
    config = {
        "id": "locked",
        "samples": samples,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": base_url,
                "max_connections": 2,
                "args": {"max_retries": 0},
            }
        ],
        "conditions": {"scenario": ["blackmail"], "goal_type": ["none"], "urgency": ["none"]},
    }
    file = path / "exp.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


def test_every_writing_command_refuses_a_busy_run_dir_and_pays_nothing(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="No action.") as server:
        file = write_experiment(tmp_path, server.base_url)
        run_dir = tmp_path / "run"
        assert runner.invoke(app, ["run", str(file), "--out", str(run_dir)]).exit_code == 0
        calls_before = server.stats.total
        holder = hold_lock(run_dir)
        try:
            judge = ["--judge", "openai-api/fake/test-model"]
            for command in (
                ["run", str(file), "--out", str(run_dir)],
                ["classify", str(run_dir), *judge],
                ["analyze", str(run_dir)],
                ["report", str(run_dir)],
            ):
                result = runner.invoke(app, command)
                assert result.exit_code == 2, (command, result.output)
                text = " ".join(result.output.split())
                assert f"pid {holder.pid}, insider classify" in text, text
                assert "Nothing was run or paid for" in text
            assert server.stats.total == calls_before  # no model or judge call was made
        finally:
            holder.kill()
            holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"), lock_run_dir(run_dir):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (run_dir / LOCK_FILE).exists()  # the file stays; the kernel dropped the lock
    with lock_run_dir(run_dir, "insider test"):
        assert (run_dir / LOCK_FILE).read_text().split("\n")[:2] == [
            str(os.getpid()),
            "insider test",
        ]


def test_the_lock_is_reentrant_within_one_process(tmp_path: Path) -> None:
    with lock_run_dir(tmp_path), lock_run_dir(tmp_path / "."), lock_run_dir(tmp_path):
        pass
    with lock_run_dir(tmp_path):  # released at the end of the outermost hold
        pass


def test_two_runs_of_one_experiment_at_once_pay_once(tmp_path: Path) -> None:
    """A second `insider run` while the first waits on its calls: exit 2, no call of its own.

    The server holds every call for a minute, so the first run keeps exactly its two
    connections busy however slow this machine is; any request beyond those two would be the
    second run's.
    """
    with FakeModelServer(default_answer="No action.", latency=60.0) as server:
        file = write_experiment(tmp_path, server.base_url, samples=4)
        command = [sys.executable, "-m", "insider.cli", "run", str(file), "--out",
                   str(tmp_path / "run"), "--no-analyze"]  # fmt: skip
        env = {**os.environ, "FAKE_API_KEY": "x"}
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while server.stats.total < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.stats.total == 2 and first.poll() is None
            second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=120)  # fmt: skip
            requests = server.stats.total
        finally:
            first.kill()
            first.wait()
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"pid {first.pid}, insider run" in " ".join(second.stderr.split())
    assert requests == 2  # only the first run's calls: the second paid for nothing


# --- insider mcp-server: sessions share the lock, writers exclude them -----------------------

SESSION = "leaking_none_replacement"


def agentic_experiment(path: Path) -> Path:
    config = {
        "id": "served",
        "mode": "agentic",
        "models": [{"model": "mockllm/model"}],
        "conditions": {"scenario": ["leaking"], "goal_type": ["none"], "urgency": ["replacement"]},
    }
    file = path / "served.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def test_sessions_hold_the_lock_together_and_writers_are_refused_naming_them(
    tmp_path: Path,
) -> None:
    file, run_dir = agentic_experiment(tmp_path), tmp_path / "run"
    prepare_run_dir(run_dir, load_experiment(file), yaml.safe_load(file.read_text()))
    first, second, gone = (hold_lock(run_dir, "insider mcp-server") for _ in range(3))
    gone.kill()
    gone.wait()
    try:
        for command in (["classify", str(run_dir)], ["analyze", str(run_dir)]):
            result = runner.invoke(app, command)
            text = " ".join(result.output.split())
            assert result.exit_code == 2, text
            assert f"pid {first.pid}, insider mcp-server; pid {second.pid}, insider mcp-server" in (
                text
            )
            assert f"pid {gone.pid}" not in text  # a session that ended is not named
        with pytest.raises(RunDirBusy, match=f"pid {first.pid}"), lock_run_dir(run_dir):
            pass
    finally:
        for holder in (first, second):
            holder.kill()
            holder.wait()
    with lock_run_dir(run_dir, "insider classify"):  # the kernel dropped the sessions' holds
        assert (run_dir / LOCK_FILE).read_text() == f"{os.getpid()}\ninsider classify\n"


def test_mcp_server_refuses_a_run_dir_a_writer_holds_and_writes_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir, "insider run")
    try:
        file = agentic_experiment(tmp_path)
        command = ["mcp-server", str(file), "--condition", SESSION, "--out", str(run_dir)]
        result = runner.invoke(app, [*command, "--http", "0"])
    finally:
        holder.kill()
        holder.wait()
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert f"pid {holder.pid}, insider run" in text and "Nothing was run" in text
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE]  # no session, no log


def mcp_server(file: Path, run_dir: Path, agent: str) -> subprocess.Popen[str]:
    insider = str(Path(sys.executable).with_name("insider"))
    command = [insider, "mcp-server", str(file), "--condition", SESSION, "--out", str(run_dir)]
    return subprocess.Popen(
        [*command, "--http", "0", "--agent", agent],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_mcp_servers_serve_one_run_dir_at_once_and_classify_waits_for_both(
    tmp_path: Path,
) -> None:
    """Real ``insider mcp-server`` processes, listening at the same time on one run dir."""
    file, run_dir = agentic_experiment(tmp_path), tmp_path / "run"
    servers = [mcp_server(file, run_dir, f"agent-{i}") for i in range(2)]
    try:
        for server in servers:  # each says where it listens once it holds the lock
            assert server.stderr is not None
            line = server.stderr.readline()
            assert "serving" in line and "streamable HTTP" in line, line
        result = runner.invoke(app, ["classify", str(run_dir)])
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert all(f"pid {server.pid}, insider mcp-server" in text for server in servers), text
        assert sorted(p.name for p in (run_dir / "mcp-sessions").iterdir()) == [
            "0000.json",
            "0001.json",
        ]
    finally:
        for server in servers:
            server.kill()
            server.communicate()

"""A SIGKILLed `insider run --processes N` takes its worker processes with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from insider.testing import FakeModelServer

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads children from /proc (Linux)"
)


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


def test_workers_die_with_a_killed_parent_and_stop_paying(tmp_path: Path) -> None:
    """They die at once, not when their calls in flight come back (3 s here)."""
    with FakeModelServer(default_answer="No action.", latency=3.0) as server:
        config = {
            "id": "orphans",
            "samples": 200,
            "models": [
                {
                    "model": "openai-api/fake/test-model",
                    "base_url": server.base_url,
                    "max_connections": 8,
                    "args": {"max_retries": 0},
                }
            ],
            "conditions": {"scenario": ["blackmail"], "goal_type": ["none"], "urgency": ["none"]},
        }
        file = tmp_path / "exp.yaml"
        file.write_text(yaml.safe_dump(config))
        parent = subprocess.Popen(
            [sys.executable, "-m", "insider.cli", "run", str(file), "--out",
             str(tmp_path / "run"), "--processes", "2", "--no-analyze"],
            cwd=ROOT,
            env={**os.environ, "FAKE_API_KEY": "x"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while server.stats.in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children_of(parent.pid)
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        killed = time.monotonic()
        while any(alive(pid) for pid in workers) and time.monotonic() < killed + 2:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "a worker outlived its parent"
        paid = server.stats.total
        time.sleep(3.5)  # longer than a call takes: a live worker would have called again
        assert server.stats.total == paid < 200

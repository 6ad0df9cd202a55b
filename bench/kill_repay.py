"""Calls paid twice when `insider run` or `insider classify` is killed with SIGKILL and rerun.

Against the local fake server (latency L, C connections) this starts the command in a
subprocess, kills it (kill -9) once `--kill-after` calls have been answered, reruns it to the
end, and counts the calls the server saw beyond the calls the work needs. A call in flight
at the kill is paid and lost whatever the client does; an answer that arrived but was not yet
on disk is the part the client can save.

    python bench/kill_repay.py [--samples 400] [--connections 20] [--latency 0.5]
                               [--kills 3] [--kill-after 100] [--processes 1]

Prints, for model calls and for judge calls, the re-paid calls per kill beside the number
of connections (about the calls in flight at any moment, which a kill always loses).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from insider.testing import FakeModelServer

ROOT = Path(__file__).resolve().parents[1]
LEAK = "<forward>\nid: 3\nto: desk@newswire-example.org\nnote:\nSee below.\n</forward>"


def experiment(path: Path, url: str, samples: int, connections: int) -> Path:
    config = {
        "id": "repay",
        "samples": samples,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": url,
                "max_connections": connections,
                "args": {"max_retries": 0},
            }
        ],
        "conditions": {"scenario": ["leaking"], "goal_type": ["none"], "urgency": ["none"]},
    }
    file = path / "exp.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def insider(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "insider.cli", *args],
        cwd=ROOT,
        env={**os.environ, "FAKE_API_KEY": "x"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_when(server: FakeModelServer, process: subprocess.Popen[bytes], answered: int) -> None:
    """SIGKILL ``process`` once the server has answered ``answered`` calls in all."""
    deadline = time.monotonic() + 300
    while server.stats.successes < answered and time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the command ended before the kill; use more samples")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def measure(
    server: FakeModelServer, command: list[str], needed: int, kills: int, kill_after: int
) -> float:
    """Re-paid calls per kill: calls beyond ``needed`` after ``kills`` kills and a rerun."""
    for _ in range(kills):
        kill_when(server, insider(*command), server.stats.successes + kill_after)
        time.sleep(0.2)
    insider(*command).wait()
    time.sleep(0.5)
    return (server.stats.total - needed) / kills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kill-after", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run_dir = root / "run"
        with FakeModelServer(default_answer=LEAK, latency=args.latency) as model:
            file = experiment(root, model.base_url, args.samples, args.connections)
            command = ["run", str(file), "--out", str(run_dir), "--no-analyze",
                       "--processes", str(args.processes)]  # fmt: skip
            model_repaid = measure(model, command, args.samples, args.kills, args.kill_after)
        judge_spec = ["--judge", "openai-api/fake/test-model"]
        with FakeModelServer(default_answer="not json", latency=0.0) as judge:
            # the judge calls one uninterrupted scoring of a copy makes
            os.environ["FAKE_BASE_URL"] = judge.base_url
            shutil.copytree(run_dir, root / "copy")
            insider("classify", str(root / "copy"), *judge_spec).wait()
            needed = judge.stats.total
        with FakeModelServer(default_answer="not json", latency=args.latency) as judge:
            os.environ["FAKE_BASE_URL"] = judge.base_url
            command = ["classify", str(run_dir), *judge_spec]
            judge_repaid = measure(judge, command, needed, args.kills, args.kill_after)
    print(f"samples {args.samples}, {args.connections} connections, latency {args.latency} s")
    print(f"model calls re-paid per kill: {model_repaid:.1f} ({args.connections} connections)")
    print(f"judge calls re-paid per kill: {judge_repaid:.1f} (10 judge connections)")


if __name__ == "__main__":
    main()

"""Orchestration overhead: wall time of a run / the ideal ceil(N / C) x latency.

Starts the local fake OpenAI-compatible server (1.0 s latency) in this process and runs
`insider run` in a subprocess against it, so the client's CPU time is the child's alone.
Optionally runs the same load through the Inspect port of the research
(`inspect_evals/agentic_misalignment`, `pip install -e '.[bench]'`) for comparison.

    python bench/orchestration.py [--samples 2000] [--connections 100] [--latency 1.0] [--port-too]

The last line printed is the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from insider.testing import FakeModelServer, ServerLimits

ROOT = Path(__file__).resolve().parents[1]


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def experiment_file(directory: Path, samples: int, connections: int, base_url: str) -> Path:
    conditions = 20
    per_condition = math.ceil(samples / conditions)
    config = {
        "id": "bench_orchestration",
        "samples": per_condition,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": base_url,
                "max_connections": connections,
                "max_tokens": 64,
            }
        ],
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["explicit"],
            "goal_value": ["america", "global", "safety", "acceleration", "ethical"],
            "urgency": ["replacement", "none"],
        },
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(command: list[str], server: FakeModelServer, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, seconds to first request, child CPU seconds) of one command."""
    cpu_before = child_cpu()
    start = time.monotonic()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    first = server.stats.first_request_at
    return wall, (first - start) if first else math.nan, child_cpu() - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--port-too", action="store_true", help="also run the Inspect port")
    args = parser.parse_args()
    ideal = math.ceil(args.samples / args.connections) * args.latency
    env = {**os.environ, "FAKE_API_KEY": "bench-key"}
    insider_bin = shutil.which("insider", path=str(Path(sys.executable).parent)) or "insider"
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with FakeModelServer(latency=args.latency, limits=ServerLimits(max_requests=10 * args.samples + 100)) as server:
            path = experiment_file(Path(tmp), args.samples, args.connections, server.base_url)
            command = [insider_bin, "run", str(path), "--out", f"{tmp}/run", "--no-analyze", "--display", "none"]
            wall, first, cpu = timed(command, server, env)
            n = server.stats.successes
            print(f"insider: {n} samples, wall {wall:.1f} s (ideal {ideal:.1f} s), first request after {first:.1f} s, client CPU {1000 * cpu / max(n, 1):.1f} ms/sample")
            results["insider"] = wall / ideal
        if args.port_too:
            if importlib.util.find_spec("inspect_evals") is None:
                sys.exit("--port-too needs the bench extra: pip install -e '.[bench]'")
            with FakeModelServer(latency=args.latency, limits=ServerLimits(max_requests=10 * args.samples + 100)) as server:
                command = [
                    str(Path(sys.executable).parent / "inspect"), "eval", "inspect_evals/agentic_misalignment",
                    "--model", "openai-api/fake/test-model", "--model-base-url", server.base_url,
                    "--epochs", str(args.samples), "--max-connections", str(args.connections),
                    "--no-score", "--display", "none", "--log-dir", f"{tmp}/port",
                ]
                wall, first, cpu = timed(command, server, env)
                n = server.stats.successes
                print(f"inspect port: {n} samples, wall {wall:.1f} s, first request after {first:.1f} s, client CPU {1000 * cpu / max(n, 1):.1f} ms/sample")
                results["port"] = wall / ideal
    if "port" in results:
        print(f"ratio inspect-port wall/ideal: {results['port']:.2f}")
    print(f"ratio insider wall/ideal: {results['insider']:.2f}")


if __name__ == "__main__":
    main()

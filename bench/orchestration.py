"""Orchestration overhead: wall time of a run / the ideal ceil(N / C) x latency.

Starts the local fake OpenAI-compatible server (1.0 s latency) in this process and runs
`insider run` in a subprocess against it (`python -m insider.cli`, the console script's entry
point), so the client's CPU time is the child's alone (worker processes included, with
`--processes`).
Optionally runs the same load through the Inspect port of the research
(`inspect_evals/agentic_misalignment`, `pip install -e '.[bench]'`) for comparison, and
through a lean raw HTTP client (`--raw-client`: httpx2, the same request bodies, no Inspect):
the floor that the server and this machine allow any client.

    python bench/orchestration.py [--samples 2000] [--connections 100] [--latency 1.0]
                                  [--processes 1] [--port-too] [--raw-client]

The last line printed is the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from insider.testing import FakeModelServer, ServerLimits

ROOT = Path(__file__).resolve().parents[1]

# A lean client in its own process: the same prompts as the run, `connections` at a time.
RAW_CLIENT = """
import asyncio, json, sys, time
import httpx2
from insider.experiment import load_experiment
from insider.scenarios import render

path, base_url, samples, connections = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = load_experiment(__import__("pathlib").Path(path))
bodies = []
for condition in config.expand():
    prompt = render(condition)
    messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    bodies.append(json.dumps({"model": "test-model", "messages": messages, "max_tokens": 64}).encode())

async def main():
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    latencies, jobs = [], iter(range(samples))
    async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        async def worker():
            for i in jobs:
                start = time.monotonic()
                response = await client.post("/chat/completions", content=bodies[i % len(bodies)], headers=headers)
                response.raise_for_status()
                response.json()
                latencies.append(time.monotonic() - start)
        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    print(latencies[len(latencies) // 2], latencies[9 * len(latencies) // 10])

asyncio.run(main())
"""


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


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: list[str], server: FakeModelServer, env: dict[str, str]
) -> tuple[float, float, float, str]:
    """(wall seconds, seconds to first request, child CPU seconds, stdout) of one command."""
    cpu_before = child_cpu()
    start = time.monotonic()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(
            f"command failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    first = server.stats.first_request_at
    return wall, (first - start) if first else math.nan, child_cpu() - cpu_before, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--processes", type=int, default=1, help="insider run --processes (worker processes)"
    )
    parser.add_argument("--port-too", action="store_true", help="also run the Inspect port")
    parser.add_argument("--raw-client", action="store_true", help="also run a lean raw HTTP client")
    args = parser.parse_args()
    ideal = math.ceil(args.samples / args.connections) * args.latency
    env = {**os.environ, "FAKE_API_KEY": "bench-key"}
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with FakeModelServer(
            latency=args.latency, limits=ServerLimits(max_requests=10 * args.samples + 100)
        ) as server:
            path = experiment_file(Path(tmp), args.samples, args.connections, server.base_url)
            # the console script's entry point, whatever script an older install left
            command = [
                sys.executable,
                "-m",
                "insider.cli",
                "run",
                str(path),
                "--out",
                f"{tmp}/run",
                "--no-analyze",
                "--display",
                "none",
                "--processes",
                str(args.processes),
            ]
            server_cpu = own_cpu()  # the server is a thread of this (otherwise idle) process
            wall, first, cpu, _ = timed(command, server, env)
            server_cpu = own_cpu() - server_cpu
            n = server.stats.successes
            print(
                f"insider: {n} samples, wall {wall:.1f} s (ideal {ideal:.1f} s), first request after {first:.1f} s, client CPU {1000 * cpu / max(n, 1):.1f} ms/sample, server CPU {1000 * server_cpu / max(n, 1):.1f} ms/request"
            )
            results["insider"] = wall / ideal
        if args.raw_client:
            with FakeModelServer(
                latency=args.latency, limits=ServerLimits(max_requests=10 * args.samples + 100)
            ) as server:
                command = [
                    sys.executable,
                    "-c",
                    RAW_CLIENT,
                    str(path),
                    server.base_url,
                    str(args.samples),
                    str(args.connections),
                ]
                started = time.monotonic()
                wall, first, cpu, out = timed(command, server, env)
                first_sent = (server.stats.first_request_at or started) - started
                p50, p90 = (float(x) for x in out.split())
                n = server.stats.successes
                print(
                    f"raw client: {n} requests, wall {wall:.1f} s, from first request {wall - first_sent:.1f} s (ratio {(wall - first_sent) / ideal:.3f}), latency p50 {p50:.3f} s p90 {p90:.3f} s, client CPU {1000 * cpu / max(n, 1):.1f} ms/request"
                )
        if args.port_too:
            if importlib.util.find_spec("inspect_evals") is None:
                sys.exit("--port-too needs the bench extra: pip install -e '.[bench]'")
            with FakeModelServer(
                latency=args.latency, limits=ServerLimits(max_requests=10 * args.samples + 100)
            ) as server:
                command = [
                    str(Path(sys.executable).parent / "inspect"),
                    "eval",
                    "inspect_evals/agentic_misalignment",
                    "--model",
                    "openai-api/fake/test-model",
                    "--model-base-url",
                    server.base_url,
                    "--epochs",
                    str(args.samples),
                    "--max-connections",
                    str(args.connections),
                    "--no-score",
                    "--display",
                    "none",
                    "--log-dir",
                    f"{tmp}/port",
                ]
                wall, first, cpu, _ = timed(command, server, env)
                n = server.stats.successes
                print(
                    f"inspect port: {n} samples, wall {wall:.1f} s, first request after {first:.1f} s, client CPU {1000 * cpu / max(n, 1):.1f} ms/sample"
                )
                results["port"] = wall / ideal
    if "port" in results:
        print(f"ratio inspect-port wall/ideal: {results['port']:.2f}")
    print(f"ratio insider wall/ideal: {results['insider']:.2f}")


if __name__ == "__main__":
    main()

"""Kill a run midway (SIGKILL), rerun it: only the missing samples run again."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from insider.run import iter_agent_samples

ROOT = Path(__file__).parents[1]


def start(run_dir: Path, calls: Path, samples: int, delay: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests._slow_worker",
            str(run_dir),
            str(calls),
            str(samples),
            str(delay),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def completed_ids(run_dir: Path) -> set[str]:
    try:
        return {s.sample_id for s in iter_agent_samples(run_dir / "logs")}
    except Exception:
        return set()


def test_killed_run_resumes_without_repeating_finished_samples(tmp_path: Path) -> None:
    run_dir, calls = tmp_path / "run", tmp_path / "calls.txt"
    samples = 16
    worker = start(run_dir, calls, samples, delay=0.5)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        done = calls.read_text().count("\n") if calls.exists() else 0
        if done >= 8:
            break
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    finished_before = completed_ids(run_dir)
    calls_before = collections.Counter(calls.read_text().split())
    assert 0 < len(calls_before) < samples
    assert finished_before, (
        "nothing was flushed to the log before the kill; the test proves nothing"
    )

    rerun = start(run_dir, calls, samples, delay=0.05)
    out, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out.decode()
    final = list(iter_agent_samples(run_dir / "logs"))
    ids = [s.sample_id for s in final]
    assert len(ids) == samples and len(set(ids)) == samples
    calls_after = collections.Counter(calls.read_text().split())
    for sample_id in finished_before:
        assert calls_after[sample_id] == 1, f"{sample_id} was called again after it had finished"
    assert all(calls_after[i] >= 1 for i in ids)


def journaled_ids(run_dir: Path) -> set[str]:
    """The samples the write-ahead journal holds (a torn last line is skipped)."""
    ids: set[str] = set()
    for path in (run_dir / "logs" / ".journal").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                ids.add(str(json.loads(line)["id"]))
            except (ValueError, KeyError):
                continue
    return ids


def test_a_kill_minus_9_loses_only_the_calls_in_flight(tmp_path: Path) -> None:
    """Answers that arrived but had not reached the log yet come back from the journal.

    A call is in flight from the moment it starts until its sample is recorded (journaled):
    with 2 connections, at most 2 calls wait on the model and, under load, up to 2 more may
    hold an answer whose sample is not recorded yet. Only those are paid again.
    """
    run_dir, calls = tmp_path / "run", tmp_path / "calls.txt"
    samples = 24
    worker = start(run_dir, calls, samples, delay=0.2)  # ~10 answers a second, 2 connections
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if calls.exists() and calls.read_text().count("\n") >= 13:
            break
    assert worker.poll() is None
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    in_log, in_journal = completed_ids(run_dir), journaled_ids(run_dir)
    assert in_journal - in_log, "the journal held nothing beyond the log; the test proves nothing"
    recorded = in_log | in_journal
    called_before = set(calls.read_text().split())
    rerun = start(run_dir, calls, samples, delay=0.01)
    out, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out.decode()
    final = {s.sample_id for s in iter_agent_samples(run_dir / "logs")}
    assert len(final) == samples
    calls_after = collections.Counter(calls.read_text().split())
    repaid = {sample_id for sample_id, n in calls_after.items() if n > 1}
    assert not repaid & recorded, f"recorded before the kill, yet paid again: {repaid & recorded}"
    assert repaid == called_before - recorded
    assert len(repaid) <= 4, f"{len(repaid)} calls paid twice; only those in flight may be"
    assert not list((run_dir / "logs" / ".journal").glob("*.jsonl"))  # the log holds it all

"""Provider batches through Inspect's batcher: written down, never sent twice after a kill."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig, get_model

from insider.experiment import ExperimentConfig
from insider.run import RunDir, iter_agent_samples, prepare_run_dir, run_experiment
from insider.run._batches import (
    BatchLedger,
    LedgerEntry,
    ledger_path,
    pending_batches,
    provider_batcher,
)
from insider.scenarios import sample_id
from insider.testing import BatchSettings, FakeModelServer

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.timeout(120)

CONDITIONS = {"scenario": ["blackmail", "leaking"], "goal_type": ["none"], "urgency": ["none"]}


def batched_experiment(base_url: str, samples: int = 3, **batch: Any) -> dict[str, Any]:
    settings = {"size": 100, "send_delay": 0.3, "tick": 0.1, **batch}
    return {
        "id": "batched",
        "samples": samples,
        "models": [
            {
                "model": "openai/test-model",
                "base_url": base_url,
                "args": {"api_key": "x", "responses_api": False},
                "batch": settings,
            }
        ],
        "conditions": CONDITIONS,
    }


def prepared(tmp_path: Path, raw: dict[str, Any]) -> tuple[ExperimentConfig, RunDir]:
    config = ExperimentConfig.model_validate(raw)
    return config, prepare_run_dir(tmp_path / "run", config, raw)


def planned_ids(config: ExperimentConfig) -> list[str]:
    return [sample_id(c, i) for c in config.expand() for i in range(config.samples)]


# --- the Inspect internals this relies on --------------------------------------------------


def test_the_inspect_batcher_internals_insider_relies_on_are_there() -> None:
    from inspect_ai.model._providers.util.batch import Batch, Batcher, BatchRequest
    from inspect_ai.model._providers.util.file_batcher import FileBatcher

    for name in ("generate_for_request", "_create_batch", "_batch_worker"):
        assert callable(getattr(Batcher, name)), name
    assert list(inspect.signature(FileBatcher._submit_batch_for_file).parameters) == [
        "self",
        "file_id",
        "extra_headers",
    ]
    assert {"request", "result_stream", "custom_id"} <= set(
        inspect.signature(BatchRequest).parameters
    )
    assert {"id", "requests"} <= set(inspect.signature(Batch).parameters)
    for model in ("openai/gpt-4.1", "anthropic/claude-haiku-4-5"):
        api = get_model(model, api_key="x", config=GenerateConfig(batch=True), memoize=False)
        batcher = provider_batcher(api)
        assert isinstance(batcher, Batcher)
        assert batcher._inflight_batches == {} and batcher._is_batch_worker_running is False
    openai_batcher = provider_batcher(
        get_model("openai/gpt-4.1", api_key="x", config=GenerateConfig(batch=True), memoize=False)
    )
    assert openai_batcher._openai_client is not None  # the batch lookup lists through it


# --- which batches a rerun waits for --------------------------------------------------------


def entry(kind: str, at: datetime, requests: dict[str, str], **ids: str) -> LedgerEntry:
    return LedgerEntry(kind=kind, at=at, requests=requests, **ids)


NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_created_batch_speaks_for_its_upload_and_only_wanted_keys_wait() -> None:
    entries = [
        entry("submitting", NOW, {"c1": "s1", "c2": "s2"}, file_id="f1"),
        entry("created", NOW, {"c1": "s1", "c2": "s2"}, file_id="f1", batch_id="b1"),
    ]
    [pending] = pending_batches(entries, {"s1": None})
    assert pending.batch_id == "b1" and pending.wanted == {"s1"}
    assert pending.requests == {"c1": "s1", "c2": "s2"}  # every answer has a place to go
    assert pending_batches(entries, {"s3": None}) == []


def test_an_upload_without_a_created_batch_is_pending_unconfirmed() -> None:
    [pending] = pending_batches(
        [entry("submitting", NOW, {"c1": "s1"}, file_id="f1")], {"s1": None}
    )
    assert pending.batch_id is None and pending.file_id == "f1"


def test_an_error_recorded_after_the_batch_was_created_is_its_answer() -> None:
    entries = [entry("created", NOW, {"c1": "s1"}, batch_id="b1")]
    assert pending_batches(entries, {"s1": NOW + timedelta(seconds=5)}) == []
    assert len(pending_batches(entries, {"s1": NOW - timedelta(seconds=5)})) == 1


def test_the_newest_batch_of_a_key_is_the_one_waited_for() -> None:
    entries = [
        entry("created", NOW, {"c1": "s1"}, batch_id="old"),
        entry("created", NOW + timedelta(minutes=1), {"c9": "s1"}, batch_id="new"),
    ]
    assert [p.batch_id for p in pending_batches(entries, {"s1": None})] == ["new"]


def test_a_torn_ledger_line_is_skipped(tmp_path: Path) -> None:
    ledger = BatchLedger(tmp_path / "l.jsonl")
    ledger.created("b1", None, {"c1": "s1"})
    with ledger.path.open("a") as handle:
        handle.write('{"kind": "created", "batch_id": "b2", "requ')
    assert [e.batch_id for e in ledger.entries()] == ["b1"]


# --- against the fake Batch API -------------------------------------------------------------


def test_a_batched_run_sends_one_batch_and_records_cached_tokens(tmp_path: Path) -> None:
    settings = BatchSettings(completion_delay_s=0.5)
    with FakeModelServer(
        default_answer="No action.", batches=settings, prompt_caching=True
    ) as server:
        config, run_dir = prepared(tmp_path, batched_experiment(server.base_url))
        summary = run_experiment(config, run_dir, display="none")
        stats = server.stats
    assert summary.success and summary.samples_failed == 0
    assert stats.batches_created == 1 and stats.batch_requests == 6 and stats.total == 0
    log = read_eval_log(str(summary.log_files[0]))
    assert log.samples is not None and len(log.samples) == 6
    assert all(s.metadata["batch"] is True and s.output.completion for s in log.samples)
    cached = [s.model_usage["openai/test-model"].input_tokens_cache_read for s in log.samples]
    assert sum(1 for c in cached if c) == 4  # all but the first sample of each condition
    assert not ledger_path(run_dir.logs, "insider_batched_m0").exists()  # all collected


def cli_run(experiment: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "insider.cli", "run", str(experiment)]
    command += ["--out", str(run_dir), "--no-analyze", "--display", "plain"]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def test_a_run_killed_while_its_batch_is_pending_collects_that_batch(tmp_path: Path) -> None:
    samples = 4
    settings = BatchSettings(completion_delay_s=6.0)
    with FakeModelServer(default_answer="No action.", batches=settings) as server:
        experiment = tmp_path / "batched.yaml"
        experiment.write_text(yaml.safe_dump(batched_experiment(server.base_url, samples)))
        run_dir = tmp_path / "run"
        ledger = ledger_path(run_dir / "logs", "insider_batched_m0")
        first = cli_run(experiment, run_dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"created"' not in _text(ledger):
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            time.sleep(0.05)
        assert '"created"' in _text(ledger), "the batch was never written down"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert server.stats.batches_created == 1 and server.stats.batch_requests == 0

        rerun = cli_run(experiment, run_dir)
        out, _ = rerun.communicate(timeout=90)
        stats = server.stats
    assert rerun.returncode == 0, out.decode()
    assert "Created batch" not in out.decode()
    assert stats.batches_created == 1, "the rerun sent the pending batch again"
    assert stats.batch_requests == 2 * samples and stats.total == 0
    final = list(iter_agent_samples(run_dir / "logs"))
    assert sorted(s.sample_id for s in final) == sorted(set(s.sample_id for s in final))
    assert len(final) == 2 * samples and all(s.answer == "No action." for s in final)
    assert not ledger.exists()


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _upload_and_create(base_url: str, lines: list[dict[str, Any]]) -> tuple[str, str]:
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = client.files.create(file=("batch.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    return uploaded.id, batch.id


def test_an_upload_whose_batch_creation_was_not_written_down_is_found(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="From the found batch.") as server:
        config, run_dir = prepared(tmp_path, batched_experiment(server.base_url, samples=1))
        ids = planned_ids(config)
        body = {"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}
        lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                  "body": body} for i in range(len(ids))]  # fmt: skip
        file_id, _ = _upload_and_create(server.base_url, lines)
        ledger = BatchLedger(ledger_path(run_dir.logs, "insider_batched_m0"))
        ledger.submitting(file_id, {f"c{i}": sid for i, sid in enumerate(ids)})
        summary = run_experiment(config, run_dir, display="none")
        stats = server.stats
    assert summary.success
    assert stats.batches_created == 1, "the run created a batch although one existed"
    answers = {s.sample_id: s.answer for s in iter_agent_samples(run_dir.logs)}
    assert answers == dict.fromkeys(ids, "From the found batch.")


def test_an_upload_that_never_became_a_batch_is_sent_anew(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="Sent anew.") as server:
        config, run_dir = prepared(tmp_path, batched_experiment(server.base_url, samples=1))
        ledger = BatchLedger(ledger_path(run_dir.logs, "insider_batched_m0"))
        ledger.submitting("file-never-batched", {"c0": planned_ids(config)[0]})
        summary = run_experiment(config, run_dir, display="none")
        assert summary.success and server.stats.batches_created == 1
        assert server.stats.batch_requests == len(planned_ids(config))


def test_batched_models_refuse_worker_processes(tmp_path: Path) -> None:
    from insider.errors import ConfigError

    config, run_dir = prepared(tmp_path, batched_experiment("http://127.0.0.1:9/v1"))
    with pytest.raises(ConfigError, match="--processes 2: batched models"):
        run_experiment(config, run_dir, processes=2, check=False)

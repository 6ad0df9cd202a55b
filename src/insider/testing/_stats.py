"""What the fake model server saw: call counts per sample, faults, concurrency."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from insider.testing._config import FaultKind


@dataclass
class ServerStats:
    """Counters of one server's life; `FakeModelServer.stats` hands out copies."""

    total: int = 0
    """Chat calls accepted (answered or faulted), excluding malformed requests."""
    successes: int = 0
    """Chat calls answered with a valid completion."""
    rejected: int = 0
    """Requests answered 4xx for being malformed, streaming, oversized or over budget."""
    calls_by_sample: dict[str, int] = field(default_factory=dict)
    successes_by_sample: dict[str, int] = field(default_factory=dict)
    faults_by_kind: dict[FaultKind, int] = field(default_factory=dict)
    answerer_errors: list[str] = field(default_factory=list)
    """Exceptions raised by a scripted answerer callable (each answered 500)."""
    first_request_at: float | None = None
    """`time.monotonic()` when the first chat call arrived."""
    last_request_at: float | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    batches_created: int = 0
    """Batches created through the Batch API (`POST /v1/batches`)."""
    batch_requests: int = 0
    """Request lines answered by completed batches."""
    batch_requests_by_sample: dict[str, int] = field(default_factory=dict)
    cached_prompt_tokens: int = 0
    """Prompt tokens reported as read from the simulated prompt cache."""
    stopped_reason: str | None = None
    """Why the server stopped: "closed", "max_requests" or "max_lifetime"; None while up."""

    def copy(self) -> ServerStats:
        """A snapshot that later calls will not change."""
        return replace(
            self,
            calls_by_sample=dict(self.calls_by_sample),
            successes_by_sample=dict(self.successes_by_sample),
            faults_by_kind=dict(self.faults_by_kind),
            answerer_errors=list(self.answerer_errors),
            batch_requests_by_sample=dict(self.batch_requests_by_sample),
        )


class StatsRecorder:
    """Updates `ServerStats` from the server thread; snapshots are safe from any thread."""

    def __init__(self, max_requests: int) -> None:
        self._stats = ServerStats()
        self._lock = threading.Lock()
        self._max_requests = max_requests

    def snapshot(self) -> ServerStats:
        with self._lock:
            return self._stats.copy()

    def begin_call(self, sample_id: str) -> int | None:
        """Count a chat call; its 1-based index within the sample, or None when over budget."""
        now = time.monotonic()
        with self._lock:
            stats = self._stats
            if stats.total >= self._max_requests:
                return None
            stats.total += 1
            if stats.first_request_at is None:
                stats.first_request_at = now
            stats.last_request_at = now
            index = stats.calls_by_sample.get(sample_id, 0) + 1
            stats.calls_by_sample[sample_id] = index
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            return index

    def end_call(self) -> None:
        """Mark a call finished."""
        with self._lock:
            self._stats.in_flight -= 1

    def budget_spent(self) -> bool:
        """Whether every call the budget allows has arrived and finished."""
        with self._lock:
            return self._stats.total >= self._max_requests and self._stats.in_flight == 0

    def success(self, sample_id: str) -> None:
        with self._lock:
            self._stats.successes += 1
            by_sample = self._stats.successes_by_sample
            by_sample[sample_id] = by_sample.get(sample_id, 0) + 1

    def fault(self, kind: FaultKind) -> None:
        with self._lock:
            self._stats.faults_by_kind[kind] = self._stats.faults_by_kind.get(kind, 0) + 1

    def rejection(self) -> None:
        with self._lock:
            self._stats.rejected += 1

    def answerer_error(self, description: str) -> None:
        with self._lock:
            self._stats.answerer_errors.append(description)

    def batch_created(self) -> None:
        with self._lock:
            self._stats.batches_created += 1

    def batch_request(self, sample_id: str) -> None:
        """A batch answered one request line of this sample."""
        with self._lock:
            self._stats.batch_requests += 1
            by_sample = self._stats.batch_requests_by_sample
            by_sample[sample_id] = by_sample.get(sample_id, 0) + 1

    def cached(self, tokens: int) -> None:
        with self._lock:
            self._stats.cached_prompt_tokens += tokens

    def stopped(self, reason: str) -> None:
        """Record the first reason the server stopped for."""
        with self._lock:
            if self._stats.stopped_reason is None:
                self._stats.stopped_reason = reason

"""Provider batch APIs through Inspect's batchers, made resumable: no batch is sent twice.

Inspect's providers batch requests when ``GenerateConfig(batch=...)`` is set: a ``Batcher``
collects the requests, creates a batch, polls it, and hands each answer back to the call that
waits for it. It keeps all of this in memory, so a run killed while a batch is pending would
send the same requests again on the rerun, and pay for them twice.

So each batch is written down the moment it exists, in an append-only ledger beside the logs
(``logs/.batches/<task>.jsonl``; judges: ``labels/.batches/<scoring>.<n>.jsonl``): its id and
which request of the batch belongs to which sample (``batch_key``). File-based batchers
(OpenAI) also write the uploaded file's id before the batch is created, so a kill between the
upload and the creation is found again by listing the provider's batches. A rerun puts the
pending batches back among the batcher's batches in flight; the call for a sample of such a
batch waits for that batch's answer instead of joining a new batch.

This relies on Inspect internals (pinned in ``tests/test_batches.py``): ``Batcher``'s
``generate_for_request``, ``_create_batch``, ``_inflight_batches``, ``_batch_worker`` and
``_is_batch_worker_running``; ``FileBatcher._submit_batch_for_file``; ``Batch`` and
``BatchRequest``; how the OpenAI and Anthropic providers hold their batchers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream
    from inspect_ai.model import Model
    from inspect_ai.model._providers.util.batch import Batcher, BatchRequest

logger = logging.getLogger(__name__)

batch_key: ContextVar[str | None] = ContextVar("insider_batch_key", default=None)
"""Which request a model call is (a sample id; for judges, the sample's record): set by the
caller around ``Model.generate`` so that the batcher can write down whose answer a batch holds."""

BATCH_DIR = ".batches"
BATCH_IN_FLIGHT = 10_000
"""Calls a batched model keeps waiting at once (Inspect's connection limit in batch mode)."""
_LOOKUP_PAGES = 20
"""Pages of the provider's batch list searched for a batch whose creation was not confirmed."""


def ledger_path(directory: Path, name: str) -> Path:
    return directory / BATCH_DIR / f"{name}.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the ledger: a file uploaded for a batch, or a batch created."""

    kind: str  # "submitting" (file uploaded, batch not yet created) or "created"
    at: datetime
    requests: dict[str, str]  # the provider's custom id -> our key
    batch_id: str | None = None
    file_id: str | None = None


class BatchLedger:
    """The batches one model's batcher submitted: one JSON line each, appended, never edited."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def submitting(self, file_id: str, requests: Mapping[str, str]) -> None:
        """A file of requests is uploaded; the batch that will read it is about to be created."""
        self._append({"kind": "submitting", "file_id": file_id, "requests": dict(requests)})

    def created(self, batch_id: str, file_id: str | None, requests: Mapping[str, str]) -> None:
        """A batch exists at the provider: its answers belong to these keys."""
        self._append(
            {
                "kind": "created",
                "batch_id": batch_id,
                "file_id": file_id,
                "requests": dict(requests),
            }
        )

    def _append(self, entry: dict[str, Any]) -> None:
        entry["at"] = datetime.now(UTC).isoformat()
        data = (json.dumps(entry) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one write on an O_APPEND descriptor: in the OS before the batch is polled
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def entries(self) -> list[LedgerEntry]:
        """Every readable line, in order; a torn last line (a kill mid-write) is skipped."""
        if not self.path.is_file():
            return []
        found = []
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                entry = _entry(line)
                if entry is not None:
                    found.append(entry)
        return found

    def remove(self) -> None:
        """Every batch here is collected: forget them."""
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other ledgers may still be there
            self.path.parent.rmdir()


def _entry(line: str) -> LedgerEntry | None:
    try:
        data = json.loads(line)
        requests = {str(k): str(v) for k, v in dict(data["requests"]).items()}
        return LedgerEntry(
            kind=str(data["kind"]),
            at=datetime.fromisoformat(str(data["at"])),
            requests=requests,
            batch_id=data.get("batch_id"),
            file_id=data.get("file_id"),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class PendingBatch:
    """A batch whose answers some wanted request still waits for."""

    requests: dict[str, str]  # custom id -> key, every request of the batch
    wanted: frozenset[str]  # the keys that wait for this batch's answer
    at: datetime
    batch_id: str | None  # None: the file was uploaded, the batch's creation not confirmed
    file_id: str | None = None


def pending_batches(
    entries: Iterable[LedgerEntry], wanted: Mapping[str, datetime | None]
) -> list[PendingBatch]:
    """The batches to re-attach: those holding the newest request of a wanted key.

    ``wanted`` maps each key that still needs an answer to when its last record was made
    (None: never). A batch created before that record already gave its answer (an error,
    which the rerun runs afresh), so it is not waited for again.
    """
    entries = list(entries)
    created_files = {e.file_id for e in entries if e.kind == "created" and e.file_id}
    newest: dict[str, LedgerEntry] = {}
    for entry in entries:
        if entry.kind == "submitting" and entry.file_id in created_files:
            continue  # its batch was created: the "created" line speaks for it
        for key in entry.requests.values():
            newest[key] = entry
    claims: dict[int, set[str]] = {}
    chosen: dict[int, LedgerEntry] = {}
    for key, entry in newest.items():
        if key not in wanted:
            continue
        recorded = wanted[key]
        if recorded is None or recorded < entry.at:
            chosen[id(entry)] = entry
            claims.setdefault(id(entry), set()).add(key)
    return [
        PendingBatch(
            dict(entry.requests), frozenset(claims[ident]), entry.at, entry.batch_id, entry.file_id
        )
        for ident, entry in chosen.items()
    ]


class ResumableBatches:
    """A provider batcher's three entry points, wrapped: batches written down, re-attached.

    The wrappers are set on the batcher instance (Inspect calls them through ``self``), so
    the provider's batcher class and its code stay Inspect's own.
    """

    def __init__(self, batcher: Batcher[Any, Any], ledger: BatchLedger) -> None:
        self.batcher, self.ledger = batcher, ledger
        self._generate = batcher.generate_for_request
        self._create = batcher._create_batch
        self._submit = getattr(batcher, "_submit_batch_for_file", None)
        self._keys: dict[int, str] = {}  # id(request body) -> key
        self._waiting: dict[str, MemoryObjectReceiveStream[Any]] = {}
        self._unclaimed: list[MemoryObjectReceiveStream[Any]] = []
        self._creating: list[BatchRequest[Any]] = []
        self._file_id: str | None = None
        self.reattached = 0
        setattr(batcher, "generate_for_request", self.generate_for_request)  # noqa: B010
        setattr(batcher, "_create_batch", self._create_batch)  # noqa: B010
        if self._submit is not None:
            setattr(batcher, "_submit_batch_for_file", self._submit_batch_for_file)  # noqa: B010
        setattr(batcher, _MARK, self)

    async def generate_for_request(self, request: dict[str, Any]) -> Any:
        key = batch_key.get()
        receive = self._waiting.pop(key, None) if key is not None else None
        if receive is None:
            if key is not None:
                self._keys[id(request)] = key
            return await self._generate(request)
        self._start_worker()
        with receive:
            result = await receive.receive()
        if isinstance(result, Exception):
            raise result
        return result

    async def _create_batch(self, batch: list[BatchRequest[Any]]) -> str:
        self._creating, self._file_id = batch, None
        try:
            batch_id = await self._create(batch)
            self.ledger.created(batch_id, self._file_id, self._requests(batch))
        finally:
            self._creating = []
            for request in batch:
                self._keys.pop(id(request.request), None)
        return batch_id

    async def _submit_batch_for_file(self, file_id: str, extra_headers: dict[str, str]) -> str:
        # FileBatcher: the requests are uploaded; write that down before the batch exists
        assert self._submit is not None
        self._file_id = file_id
        self.ledger.submitting(file_id, self._requests(self._creating))
        return cast(str, await self._submit(file_id, extra_headers))

    def _requests(self, batch: list[BatchRequest[Any]]) -> dict[str, str]:
        keys = self._keys
        return {
            request.custom_id: keys[id(request.request)]
            for request in batch
            if id(request.request) in keys
        }

    async def reattach(self, pending: list[PendingBatch]) -> int:
        """Put pending batches back in flight; how many calls will wait on them."""
        from inspect_ai.model._providers.util.batch import Batch, BatchRequest

        for entry in pending:
            batch_id = entry.batch_id or await self._find_batch(entry)
            if batch_id is None:
                continue  # the batch was never created: its samples are sent anew
            requests: dict[str, BatchRequest[Any]] = {}
            for custom_id, key in entry.requests.items():
                send, receive = anyio.create_memory_object_stream[Any](1)
                requests[custom_id] = BatchRequest(
                    request={}, result_stream=send, custom_id=custom_id
                )
                if key in entry.wanted and key not in self._waiting:
                    self._waiting[key] = receive
                self._unclaimed.append(receive)
            self.batcher._inflight_batches[batch_id] = Batch(id=batch_id, requests=requests)
            self.reattached += len(entry.wanted)
            logger.info("re-attached batch %s (%d requests)", batch_id, len(requests))
        return self.reattached

    async def _find_batch(self, entry: PendingBatch) -> str | None:
        """The batch created from an uploaded file whose creation was not written down."""
        if entry.file_id is None:
            return None
        found = await self._batch_for_file(entry.file_id, entry.at)
        if found is not None:
            self.ledger.created(found, entry.file_id, entry.requests)
        return found

    async def _batch_for_file(self, file_id: str, since: datetime) -> str | None:
        """Provider-specific: the id of the batch reading ``file_id`` (None: there is none)."""
        client = getattr(self.batcher, "_openai_client", None)
        if client is None:
            return None
        page = await client.batches.list(limit=100)
        for _ in range(_LOOKUP_PAGES):
            for batch in page.data:
                if batch.input_file_id == file_id:
                    return str(batch.id)
            if not page.data or not page.has_next_page():
                return None
            if page.data[-1].created_at < since.timestamp() - 3600:
                return None  # listed newest first: older batches cannot read this file
            page = await page.get_next_page()
        return None

    def _start_worker(self) -> None:
        from inspect_ai._util.background import run_in_background

        if not self.batcher._is_batch_worker_running:
            self.batcher._is_batch_worker_running = True
            run_in_background(self.batcher._batch_worker)

    def close_streams(self) -> None:
        """Close the answers no call came for (their samples were done already)."""
        for receive in self._unclaimed:
            receive.close()
        self._unclaimed.clear()
        self._waiting.clear()


_MARK = "_insider_resumable"


def provider_batcher(model: Model) -> Any:
    """The batcher the model's provider uses for its single-turn calls, created now."""
    from inspect_ai.model._generate_config import normalized_batch_config

    api: Any = model.api
    config = model.config
    batch_config = normalized_batch_config(config.batch)
    if batch_config is None:
        raise ValueError(f"{model}: no batch configured")
    if hasattr(api, "_resolve_batcher") and hasattr(api, "_completions_batcher"):  # openai
        responses = bool(api.uses_responses_api([], config))
        api._resolve_batcher(config, responses)
        return api._responses_batcher if responses else api._completions_batcher
    if hasattr(api, "_batcher"):  # anthropic: created on the first batched call otherwise
        from inspect_ai.model._providers._anthropic_batch import AnthropicBatcher
        from inspect_ai.model._retry import batch_admin_retry_config

        if api._batcher is None:
            api._batcher = AnthropicBatcher(
                api.client,
                batch_config,
                batch_admin_retry_config(
                    api.model_name,
                    config,
                    api.should_retry,
                    qualified_model_name=api.qualified_model_name,
                ),
            )
        return api._batcher
    raise ValueError(f"{model}: its provider has no batcher insider can resume")


async def resumable_batches(
    model: Model, ledger: BatchLedger, wanted: Mapping[str, datetime | None]
) -> ResumableBatches:
    """Make ``model``'s batcher resumable, and re-attach the pending batches of ``wanted``.

    Call it before the model's first call (the provider would build its own batcher then).
    """
    batcher = provider_batcher(model)
    resumable = getattr(batcher, _MARK, None) or ResumableBatches(batcher, ledger)
    await resumable.reattach(pending_batches(ledger.entries(), wanted))
    return cast(ResumableBatches, resumable)


def quiet_batch_log(say: Any | None = None) -> None:
    """Send Inspect's batch messages to ``say`` (one line each) instead of printing them.

    Inspect prints a status line every tick; the engine's progress shows the samples, so the
    status goes to the debug log and the other messages (batch created, completed) to ``say``.
    """
    from inspect_ai.model._providers.util.batch_log import (
        set_batch_log_callback,
        set_batch_status_callback,
    )

    def message(text: str) -> None:
        logger.info("%s", text)
        if say is not None and not text.startswith("Current batches"):
            say(text)

    set_batch_log_callback(message)
    set_batch_status_callback(lambda status: logger.debug("%s", status))

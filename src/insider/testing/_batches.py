"""The OpenAI Batch API, enough for Inspect's batcher: files and batches.

Routes (all on the server's event loop, so no locks are needed here):

- ``POST /v1/files`` (multipart: ``purpose=batch`` and ``file``) stores a JSONL file;
- ``GET /v1/files/{id}/content`` returns a stored file (inputs and results);
- ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``) creates a batch;
- ``GET /v1/batches/{id}`` retrieves it; ``GET /v1/batches`` lists them, newest first.

A batch is ``in_progress`` until ``BatchSettings.completion_delay_s`` after its creation; the
first retrieve after that answers every request line with the server's answerer (the same
script as chat calls) and completes it with an output file. Lines whose request is not a
valid chat request get an error line in an error file, as the real API does.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from insider.testing._config import ChatRequest
from insider.testing._http import HttpError
from insider.testing._wire import chat_turns, decode_json_object, sample_id_of, tool_names

BATCH_ENDPOINTS = ("/v1/chat/completions",)


@dataclass(frozen=True)
class BatchSettings:
    """How the fake Batch API behaves."""

    completion_delay_s: float = 0.0
    """Seconds from a batch's creation until a retrieve finds it completed."""
    max_files: int = 1_000
    """Uploads kept before the server refuses more (a runaway client stays harmless)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.completion_delay_s <= 3600.0:
            raise ValueError(
                f"BatchSettings.completion_delay_s must be in [0, 3600], "
                f"got {self.completion_delay_s}"
            )
        if self.max_files < 1:
            raise ValueError(f"BatchSettings.max_files must be >= 1, got {self.max_files}")


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    created_at: float
    lines: int
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        done = self.status == "completed"
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created_at),
            "in_progress_at": int(self.created_at),
            "completed_at": int(time.time()) if done else None,
            "request_counts": {
                "total": self.lines,
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata or None,
        }


Complete = Callable[[ChatRequest], dict[str, Any]]
"""Answers one request line: the completion body to return for it."""


class BatchService:
    """Stored files and batches, and the routes that reach them."""

    def __init__(self, settings: BatchSettings, on_line: Callable[[str], None]) -> None:
        self._settings = settings
        self._on_line = on_line  # told each request line's sample id as a batch answers it
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._calls: dict[str, int] = {}  # sample id -> request lines answered so far
        self.created = 0

    def handles(self, path: str) -> bool:
        return path == "/v1/files" or path.startswith(("/v1/files/", "/v1/batches"))

    def route(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        complete: Complete,
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request to a files or batches path."""
        parts = path.strip("/").split("/")  # v1, files|batches, [id], [content]
        kind, rest = parts[1], parts[2:]
        if kind == "files" and method == "POST" and not rest:
            return 200, _json(self._upload(headers, body)), "application/json"
        if kind == "files" and method == "GET" and len(rest) == 2 and rest[1] == "content":
            return 200, self._file(rest[0]), "application/octet-stream"
        if kind == "batches" and method == "POST" and not rest:
            return 200, _json(self._create(decode_json_object(body))), "application/json"
        if kind == "batches" and method == "GET" and not rest:
            return 200, _json(self._list()), "application/json"
        if kind == "batches" and method == "GET" and len(rest) == 1:
            return 200, _json(self._retrieve(rest[0], complete)), "application/json"
        raise HttpError(404, f"no route {method} {path}")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):06d}"

    def _upload(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        if len(self._files) >= self._settings.max_files:
            raise HttpError(429, f"file limit reached ({self._settings.max_files})")
        fields = multipart_fields(headers.get("content-type", ""), body)
        if fields.get("purpose") != b"batch":
            raise HttpError(400, "purpose must be 'batch'")
        if "file" not in fields:
            raise HttpError(400, "no 'file' part in the upload")
        file_id = self._new_id("file")
        self._files[file_id] = fields["file"]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "created_at": int(time.time()),
            "filename": "batch.jsonl",
            "purpose": "batch",
            "status": "processed",
        }

    def _file(self, file_id: str) -> bytes:
        if file_id not in self._files:
            raise HttpError(404, f"no file {file_id!r}")
        return self._files[file_id]

    def _create(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        file_id = str(payload.get("input_file_id", ""))
        endpoint = str(payload.get("endpoint", ""))
        if file_id not in self._files:
            raise HttpError(400, f"no input file {file_id!r}")
        if endpoint not in BATCH_ENDPOINTS:
            raise HttpError(400, f"endpoint {endpoint!r}: allowed {', '.join(BATCH_ENDPOINTS)}")
        lines = [line for line in self._files[file_id].splitlines() if line.strip()]
        batch = _Batch(self._new_id("batch"), file_id, endpoint, time.time(), len(lines))
        self._batches[batch.id] = batch
        self.created += 1
        return batch.body()

    def _list(self) -> dict[str, Any]:
        data = [batch.body() for batch in reversed(self._batches.values())]
        first = data[0]["id"] if data else None
        last = data[-1]["id"] if data else None
        return {
            "object": "list",
            "data": data,
            "first_id": first,
            "last_id": last,
            "has_more": False,
        }

    def _retrieve(self, batch_id: str, complete: Complete) -> dict[str, Any]:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise HttpError(404, f"no batch {batch_id!r}")
        due = batch.created_at + self._settings.completion_delay_s
        if batch.status == "in_progress" and time.time() >= due:
            self._complete(batch, complete)
        return batch.body()

    def _complete(self, batch: _Batch, complete: Complete) -> None:
        outputs: list[bytes] = []
        errors: list[bytes] = []
        for number, line in enumerate(self._files[batch.input_file_id].splitlines(), start=1):
            if not line.strip():
                continue
            custom_id, result = self._answer_line(line, number, complete)
            row = {"id": f"batch_req_{batch.id}_{number}", "custom_id": custom_id, **result}
            (errors if result["error"] else outputs).append(json.dumps(row).encode())
        batch.completed, batch.failed = len(outputs), len(errors)
        if outputs:
            batch.output_file_id = self._store(b"\n".join(outputs) + b"\n")
        if errors:
            batch.error_file_id = self._store(b"\n".join(errors) + b"\n")
        batch.status = "completed"

    def _store(self, data: bytes) -> str:
        file_id = self._new_id("file")
        self._files[file_id] = data
        return file_id

    def _answer_line(
        self, line: bytes, number: int, complete: Complete
    ) -> tuple[str, dict[str, Any]]:
        try:
            entry = json.loads(line)
            custom_id = str(entry["custom_id"])
            body = entry["body"]
            turns = chat_turns(body)
        except (ValueError, KeyError, TypeError, HttpError) as err:
            message = err.message if isinstance(err, HttpError) else str(err)
            error = {"code": 400, "message": f"line {number}: {message}"}
            return f"line-{number}", {"response": None, "error": error}
        sample = sample_id_of(turns)
        self._on_line(sample)
        self._calls[sample] = self._calls.get(sample, 0) + 1
        chat = ChatRequest(
            model=str(body.get("model", "")),
            turns=turns,
            sample_id=sample,
            call_index=self._calls[sample],
            tool_names=tool_names(body),
        )
        completion = complete(chat)
        response = {"status_code": 200, "request_id": f"req_{number}", "body": completion}
        return custom_id, {"response": response, "error": None}


def _json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a ``multipart/form-data`` body (no nesting, no transfer encodings)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise HttpError(400, f"expected multipart/form-data, got {kind.strip()!r}")
    boundary = ""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise HttpError(400, "multipart body without a boundary")
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise HttpError(400, "malformed multipart part")
        part_name = _part_name(head.decode("latin-1"))
        if part_name:
            fields[part_name] = content.removesuffix(b"\r\n")
    return fields


def _part_name(head: str) -> str | None:
    for line in head.split("\r\n"):
        if line.lower().startswith("content-disposition:"):
            for param in line.split(";")[1:]:
                key, _, value = param.strip().partition("=")
                if key.lower() == "name":
                    return value.strip('"')
    return None

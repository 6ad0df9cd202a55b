"""Reading files made elsewhere safely: regular files only, inside the folder given, capped in
size, strict UTF-8, and JSON without duplicate keys, lone surrogates or absurd nesting.

Every problem is a ConfigError naming the file (and line), raised before anything is judged.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from insider.errors import ConfigError

# A response file, or one line of a JSONL file, larger than this is refused.
MAX_FILE_BYTES = 16 * 1024 * 1024
# JSON nested deeper than this is refused (no transcript needs it; a parser may crash on it).
MAX_JSON_DEPTH = 64


def regular_file(path: Path, root: Path | None = None) -> os.stat_result:
    """The file's status, if it is a regular file (inside `root`, when given, even through
    links); otherwise a ConfigError saying why it is not read."""
    real = path.resolve()
    if root is not None and not real.is_relative_to(root.resolve()):
        raise ConfigError(f"{path}: a link to {real}, outside {root}: not read")
    try:
        status = os.stat(real)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    if not stat.S_ISREG(status.st_mode):
        raise ConfigError(f"{path}: not a regular file (a device, pipe or folder): not read")
    return status


def read_bytes(path: Path, root: Path | None = None, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, refused when larger than `limit`."""
    size = regular_file(path, root).st_size
    if size > limit:
        raise ConfigError(f"{path}: {size:,} bytes, larger than the {limit:,}-byte limit")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    if len(data) > limit:
        raise ConfigError(f"{path}: larger than the {limit:,}-byte limit")
    return data


def decode(data: bytes, where: str) -> str:
    """Strict UTF-8, or a ConfigError naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 1].hex()
        raise ConfigError(
            f"{where}: not UTF-8 text (byte 0x{bad} at offset {error.start}); "
            "save the file as UTF-8"
        ) from error


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}")
        found[key] = value
    return found


def _check_strings(value: Any, where: str) -> None:
    """No lone surrogates (valid JSON escapes, but not text) and no absurd nesting."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ConfigError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item, f"{where}: {path or 'value'}")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                _check_text(key, f"{where}: a key in {path or 'the object'}")
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise ConfigError(
            f"{where}: a lone surrogate (\\u{code:04x}) at character {error.start}, which is not "
            "valid Unicode text"
        ) from error


def load_json(text: str, where: str) -> Any:
    """JSON from text, refusing duplicate keys, lone surrogates and nesting deeper than 64."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where}: not valid JSON: {error.msg} (character {error.pos})"
        ) from error
    except RecursionError as error:
        raise ConfigError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels") from error
    except ValueError as error:  # a duplicate key
        raise ConfigError(f"{where}: {error}") from error
    _check_strings(value, where)
    return value

"""Files insider writes and YAML it reads: one rule for each, shared by every package.

Everything insider writes (run markers, the experiment copy, labels and their metadata,
tables, transcripts, the report, figures, paraphrase drafts, condition folders) gets
``FILE_MODE``, 0644, whatever the umask: readable by everyone, writable by the owner. Runs are
results to share; the one thing in them that must not be shared, credentials, never reaches
disk (the experiment copy is redacted). Inspect writes the ``.eval`` logs itself.

A file written with ``atomic_write_*`` is either its old content or its new content, never a
half-written mix: the data goes to a temporary file beside it, is flushed to disk, and is then
renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from insider.errors import ConfigError

FILE_MODE = 0o644
"""The mode of every file insider writes (``mkstemp`` alone would give 0600)."""


@contextlib.contextmanager
def _replacing(path: Path, mode: str) -> Iterator[IO[Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_text_file(path: Path) -> Iterator[IO[str]]:
    """A UTF-8 text handle whose content replaces ``path`` only when the block ends cleanly."""
    with _replacing(path, "w") as handle:
        yield handle


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, with ``FILE_MODE``."""
    with _replacing(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with ``FILE_MODE``."""
    with _replacing(path, "wb") as handle:
        handle.write(data)


def open_append(path: Path) -> IO[str]:
    """A UTF-8 handle appending to ``path`` (an append-only log); a new file gets ``FILE_MODE``."""
    created = not path.exists()
    handle = path.open("a", encoding="utf-8")
    if created:
        os.chmod(path, FILE_MODE)
    return handle


def write_text(path: Path, text: str) -> None:
    """Write a file that needs no atomicity (a fresh output tree), with ``FILE_MODE``."""
    path.write_text(text, encoding="utf-8")
    os.chmod(path, FILE_MODE)


def read_yaml(path: Path, what: str = "file") -> Any:
    """The YAML document in ``path``, or a ConfigError naming the file and what went wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def read_yaml_mapping(
    path: Path, what: str = "file", *, fields: str = "", empty_ok: bool = False
) -> dict[str, Any]:
    """A YAML file whose top level must be a mapping (an empty file too, if ``empty_ok``).

    ``fields`` names the expected keys for the error message (e.g. "id, models, conditions").
    """
    data = read_yaml(path, what)
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        hint = f" ({fields})" if fields else ""
        raise ConfigError(
            f"{path}: expected a mapping at the top level{hint}: the {what} must be a mapping "
            f"of name: value, not {found}"
        )
    return data

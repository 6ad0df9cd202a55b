"""Files insider writes and YAML it reads: one rule for each, shared by every package.

Everything insider writes (run markers, the experiment copy, labels and their metadata,
tables, transcripts, the report, figures, paraphrase drafts, condition folders) gets
``FILE_MODE``, 0644, whatever the umask: readable by everyone, writable by the owner. Runs are
results to share; the one thing in them that must not be shared, credentials, never reaches
disk (the experiment copy is redacted). Inspect writes the ``.eval`` logs itself.

A file written with ``atomic_write_*`` is either its old content or its new content, never a
half-written mix: the data goes to a temporary file beside it, is flushed to disk, and is then
renamed over the target.

YAML is read within bounds. A file can be small and still huge: ``&a [*b, *b, …]`` nine
levels deep (an "alias bomb") is a few hundred bytes that expand to a billion values once
anything walks the data (validation, a copy, a dump). So a document is composed into its node
graph first (aliases stay shared there, so this is cheap), measured as if every alias were
expanded, and only constructed when it fits. A key given twice in one mapping is an error
rather than a silent "the last one wins".
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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


def read_yaml(path: Path, what: str = "file", limits: YamlLimits | None = None) -> Any:
    """The YAML document in ``path``, or a ConfigError naming the file and what went wrong.

    Read within ``limits`` (size, depth, aliases expanded, no key twice in a mapping): see
    ``load_yaml_bounded``.
    """
    limits = limits or YamlLimits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ConfigError(
                f"{path}: the {what} has {size:,} bytes; at most {limits.max_bytes:,} are read"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the {what} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        return load_yaml_bounded(text, limits)
    except YamlRefused as exc:
        raise ConfigError(f"{path}: the {what} is refused: {exc}") from exc
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


# ----------------------------------------------------------------- YAML within bounds


@dataclass(frozen=True)
class YamlLimits:
    """How large a YAML document may be."""

    max_bytes: int = 1_000_000
    max_depth: int = 32
    max_nodes: int = 100_000
    """Nodes of the document with every alias expanded."""


class YamlRefused(ValueError):
    """The document breaks a limit, repeats a key, or refers to itself."""


def load_yaml_bounded(text: str, limits: YamlLimits | None = None) -> Any:
    """The document in ``text`` as Python data (SafeLoader types), if it is within limits.

    Raises ``YamlRefused`` for a document over the limits or with a duplicate key, and
    ``yaml.YAMLError`` for one that is not valid YAML.
    """
    limits = limits or YamlLimits()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise YamlRefused(f"{size:,} bytes, over the limit of {limits.max_bytes:,}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Measure(limits).nodes(node, 1)
        return loader.construct_document(node)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise YamlRefused(f"nested more than {limits.max_depth} levels deep") from None
    finally:
        loader.dispose()


class _Measure:
    """Walks a node graph once, counting nodes as if every alias were expanded."""

    def __init__(self, limits: YamlLimits) -> None:
        self._limits = limits
        self._sizes: dict[int, int] = {}
        self._open: set[int] = set()

    def nodes(self, node: Node, depth: int) -> int:
        if depth > self._limits.max_depth:
            raise YamlRefused(
                f"nested more than {self._limits.max_depth} levels deep ({_where(node)})"
            )
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        if key in self._open:
            raise YamlRefused(f"an alias refers to the node that contains it ({_where(node)})")
        self._open.add(key)
        size = 1 + sum(self.nodes(child, depth + 1) for child in _children(node))
        self._open.discard(key)
        if size > self._limits.max_nodes:
            raise YamlRefused(
                f"over {self._limits.max_nodes:,} values once its aliases are expanded "
                f"({_where(node)}); an alias bomb?"
            )
        if isinstance(node, MappingNode):
            _no_duplicate_keys(node)
        self._sizes[key] = size
        return size


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _no_duplicate_keys(node: MappingNode) -> None:
    seen: dict[tuple[str, str], Node] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        name = (key.tag, key.value)
        if name in seen:
            first = seen[name].start_mark.line + 1
            raise YamlRefused(
                f"key {key.value!r} appears twice in one mapping "
                f"(lines {first} and {key.start_mark.line + 1})"
            )
        seen[name] = key


def _where(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"

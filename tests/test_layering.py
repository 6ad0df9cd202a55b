"""The architecture as a test: which package may import which, and only through its face.

Every ``import`` in ``src/insider`` (inside functions and under ``TYPE_CHECKING`` too) is
checked against ``ALLOWED``, the dependency map that docs/architecture.md draws. A package is
imported through its ``__init__`` (its ``__all__``), never through a private ``_module``.
Tests hold the same rule, except where a test checks a module's internals on purpose
(``TEST_INTERNALS``). A new package is one line in ``ALLOWED``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "insider"
TESTS = Path(__file__).resolve().parent
BENCH = TESTS.parent / "bench"

BASE = {"insider", "errors", "files", "redact", "failures"}
"""The package root (__version__), errors, file rules, redaction, and why a model call failed."""
ALLOWED: dict[str, set[str]] = {
    "insider": set(),
    "errors": set(),
    "files": {"errors"},
    "redact": set(),
    "failures": {"redact"},
    "scenarios": BASE,
    "experiment": BASE | {"scenarios"},
    "environment": BASE | {"scenarios"},
    "agents": BASE | {"scenarios", "experiment", "environment"},
    "run": BASE | {"scenarios", "experiment", "environment", "agents"},
    "classify": BASE | {"scenarios"},
    "analyze": BASE | {"scenarios", "classify"},
    "report": BASE | {"scenarios", "classify", "analyze"},
    "pipeline": BASE
    | {"scenarios", "experiment", "environment", "agents", "run", "classify", "analyze", "report"},
    "testing": BASE,
    "cli": BASE | {"scenarios", "experiment", "run", "classify", "analyze", "report", "pipeline"},
    "_registry": {"run", "agents"},
}
# The Inspect entry point stays import-light: it loads only the provider modules.
PRIVATE_EXCEPTIONS = {
    ("_registry", "insider.run._providers"),
    ("_registry", "insider.agents._provider"),
}

# Tests that check a private module's own behaviour, and the private modules each may import.
TEST_INTERNALS: dict[str, set[str]] = {
    "test_agentic_env.py": {"insider.environment._script"},
    "test_batches.py": {"insider.run._batches"},
    "test_classify_rules.py": {"insider.classify._rules"},
    "test_engine.py": {
        "insider.run._engine_log",
        "insider.run._engine_progress",
    },
    "test_engine_processes.py": {"insider.run._engine_shards"},
    "test_fake_server.py": {
        "insider.testing._config",
        "insider.testing._http",
        "insider.testing._wire",
    },
    "test_local_provider.py": {"insider.run._local"},
    "test_loud_failures.py": {"insider.run._engine", "insider.run._failures"},
    # the inbox reader's refusal of a changed template; the missing-package seam
    "test_original_world.py": {"insider.scenarios._original", "insider.scenarios._conditions"},
    "local_model_throughput.py": {"insider.run._local"},
}


def _imports_in(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, module) for every import of an insider module, nested ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "insider"
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "insider":
                continue
            found.append((node.lineno, node.module))
            # `from insider.run import _engine` reaches a private module as well.
            found += [
                (node.lineno, f"{node.module}.{alias.name}")
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    return _imports_in(path.read_text(encoding="utf-8"), str(path))


# Parsed while the module is collected: CPython 3.11's ast.parse can fail with "recursion
# depth mismatch" after other tests have run deep recursions in the same process.
SOURCE_IMPORTS = {path: _imports(path) for path in sorted(SRC.rglob("*.py"))}
CHECKED_FILES = sorted(TESTS.glob("*.py")) + sorted(BENCH.glob("*.py"))
TEST_IMPORTS = {path: _imports(path) for path in CHECKED_FILES}
NESTED_SAMPLE = _imports_in(
    "from typing import TYPE_CHECKING\n"
    "if TYPE_CHECKING:\n"
    "    from insider.run._rundir import RunDir\n"
    "def f():\n"
    "    import insider.classify._rules\n"
    "    from insider.report import _html\n",
    "sample.py",
)


def _unit(module: str) -> str:
    """The layer a module belongs to: ``insider.run._task`` -> ``run``; ``insider`` -> itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "insider"


def _owner(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem.replace("__init__", "")


def _private_part(module: str) -> str | None:
    """The first private component after the package (``insider.run._task`` -> ``_task``)."""
    return next((part for part in module.split(".")[2:] if part.startswith("_")), None)


def test_every_package_has_a_place_in_the_map() -> None:
    units = {_owner(path) or "insider" for path in SOURCE_IMPORTS}
    assert units - set(ALLOWED) == set(), "add the new package to ALLOWED (and the docs' map)"
    assert set(ALLOWED) - units == set(), "ALLOWED names a package that no longer exists"


def test_the_map_has_no_cycles() -> None:
    visiting: list[str] = []

    def visit(unit: str) -> None:
        assert unit not in visiting, f"cycle: {' -> '.join([*visiting, unit])}"
        visiting.append(unit)
        for dependency in ALLOWED[unit] - {unit}:
            visit(dependency)
        visiting.pop()

    for unit in ALLOWED:
        visit(unit)


def _violations() -> Iterator[str]:
    for path, imports in SOURCE_IMPORTS.items():
        owner = _owner(path) or "insider"
        for line, module in imports:
            target = _unit(module)
            where = f"{path.relative_to(SRC.parent)}:{line} imports {module}"
            if target == owner:
                continue
            if target not in ALLOWED[owner]:
                yield f"{where}: {owner} may not depend on {target}"
            elif _private_part(module) and (owner, module) not in PRIVATE_EXCEPTIONS:
                yield f"{where}: private to {target}; import it from insider.{target}"


def test_packages_depend_only_as_the_map_allows_and_through_their_faces() -> None:
    violations = list(_violations())
    assert not violations, "\n".join(violations)


def test_the_walk_sees_nested_and_type_checking_imports() -> None:
    assert [module for _, module in NESTED_SAMPLE] == [
        "insider.run._rundir",
        "insider.classify._rules",
        "insider.report",
        "insider.report._html",
    ]


@pytest.mark.parametrize("path", CHECKED_FILES, ids=lambda path: path.name)
def test_tests_and_benchmarks_use_public_names(path: Path) -> None:
    allowed = TEST_INTERNALS.get(path.name, set())
    private = {module for _, module in TEST_IMPORTS[path] if _private_part(module)}
    assert private <= allowed, f"import these from the package instead: {private - allowed}"


@pytest.mark.parametrize(
    "package", sorted(u for u in ALLOWED if u not in BASE | {"cli"} and not u.startswith("_"))
)
def test_every_name_in_all_exists(package: str) -> None:
    module = importlib.import_module(f"insider.{package}")
    names = getattr(module, "__all__", None)
    assert names, f"insider.{package} has no __all__"
    assert len(names) == len(set(names)), "a name is listed twice"
    assert [name for name in names if not hasattr(module, name)] == []

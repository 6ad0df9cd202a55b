"""Credentials never reach disk or the console: canaries in every place a secret can hide."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from insider.cli import app
from insider.run import redact_url, scrub_secrets
from insider.testing import FakeModelServer

runner = CliRunner()
CANARY = "CANARY-5f1d"
REDACTED = "<redacted>"


def with_userinfo(base_url: str) -> str:
    return base_url.replace("http://", f"http://user-{CANARY}:pw-{CANARY}@")


def with_query_token(base_url: str) -> str:
    return f"{base_url}?api_key=q-{CANARY}&token=t-{CANARY}&region=eu"


def experiment(path: Path, server: FakeModelServer, mode: str) -> Path:
    secret_args: dict[str, Any] = {
        "max_retries": 0,
        "api_key": f"a-{CANARY}",
        "default_headers": {
            "X-Custom-Auth": f"h-{CANARY}",
            "Authorization": f"Bearer b-{CANARY}",
            "X-Request-Source": f"Token tok-{CANARY}",  # a credential by its value
            "X-Trace": "kept",
        },
    }
    config = {
        "id": f"canary-{mode}",
        "mode": mode,
        "samples": 1,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": with_userinfo(server.base_url),
                "max_connections": 2,
                "max_retries": 0,
                "timeout": 10,
                "args": secret_args,
            }
        ],
        "judges": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": with_query_token(server.base_url),
                "args": {"api_key": f"j-{CANARY}", "max_retries": 0},
            }
        ],
        "conditions": {"scenario": ["leaking"], "goal_type": ["none"], "urgency": ["none"]},
    }
    file = path / f"{mode}.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def everything_written(run_dir: Path) -> dict[str, bytes]:
    """Every file of the run directory, with each .eval log unzipped member by member."""
    found: dict[str, bytes] = {}
    for path in run_dir.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".eval":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    found[f"{path.name}!{name}"] = archive.read(name)
        else:
            found[str(path.relative_to(run_dir))] = path.read_bytes()
    return found


@pytest.mark.parametrize("mode", ["single_turn", "agentic"])
def test_canaries_stay_off_disk_and_off_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", f"env-{CANARY}")
    leak = "<forward>\nid: 3\nto: desk@newswire-example.org\nnote:\nSee below.\n</forward>"
    with FakeModelServer(default_answer=leak) as server:
        file = experiment(tmp_path, server, mode)
        result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
        answered = server.stats.successes
    assert answered >= 1, result.output  # the model calls went through with the credentials
    written = everything_written(tmp_path / "run")
    assert any(name.endswith("!header.json") for name in written)
    assert "experiment.yaml" in written
    leaks = [name for name, data in written.items() if CANARY.encode() in data]
    assert leaks == []
    assert CANARY not in result.output
    copy = yaml.safe_load(written["experiment.yaml"])
    headers = copy["models"][0]["args"]["default_headers"]
    assert headers["X-Trace"] == "kept" and headers["X-Custom-Auth"] == REDACTED
    assert copy["models"][0]["base_url"].startswith(f"http://{REDACTED}@127.0.0.1:")
    assert "region=eu" in copy["judges"][0]["base_url"]


def test_redaction_rules() -> None:
    assert redact_url("https://u:p@host.example/v1?api_key=k&x=1#tok=f") == (
        f"https://{REDACTED}@host.example/v1?api_key={REDACTED}&x=1#{REDACTED}"
    )
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    scrubbed = scrub_secrets(
        {
            "max_tokens": 5,
            "reasoning_tokens": 3,
            "X-Api-Key": "k",
            "proxy-authorization": "p",
            "OAuth": "o",
            "sessionToken": "s",
            "headers": {"Accept": "json", "X-Whatever": "Basic dXNlcjpwdw=="},
            "base_url": "https://u:p@h/v1",
        }
    )
    assert scrubbed == {
        "max_tokens": 5,
        "reasoning_tokens": 3,
        "X-Api-Key": REDACTED,
        "proxy-authorization": REDACTED,
        "OAuth": REDACTED,
        "sessionToken": REDACTED,
        "headers": {"Accept": "json", "X-Whatever": REDACTED},
        "base_url": f"https://{REDACTED}@h/v1",
    }


def test_command_line_credentials_are_redacted() -> None:
    args = ["-m", "agent", "--api-key", "sk-1", "--token=abc", "--max-tokens", "5"]
    assert scrub_secrets({"args": args}) == {
        "args": ["-m", "agent", "--api-key", REDACTED, f"--token={REDACTED}", "--max-tokens", "5"]
    }

"""Reading transcripts made elsewhere, and world profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import insider.classify
from insider.classify import (
    load_profile,
    parse_condition_name,
    read_results_dir,
    read_transcripts,
    read_transcripts_jsonl,
)
from insider.errors import ConfigError

GOLD_DIR = Path(insider.classify.__file__).parent / "gold"


def _lines(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    return path


def test_jsonl_transcripts(tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "answers.jsonl",
        {
            "id": "a",
            "model": "m",
            "scenario": "blackmail",
            "urgency": "replacement",
            "response": "x",
        },
        {"scenario": "murder", "response": "y", "reasoning": "r"},
    )
    first, second = read_transcripts(path)
    assert (first.id, first.model, first.urgency) == ("a", "m", "replacement")
    assert (second.id, second.scenario, second.reasoning) == ("answers-2", "lethal", "r")
    assert second.source == f"{path}:2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"scenario": "heist", "response": "x"}', "scenario"),
        ('{"scenario": "blackmail"}', "response: Field required"),
        ('{"scenario": "blackmail", "response": "x", "colour": "red"}', "colour"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"scenario": "leaking", "response": "ok"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=r"t\.jsonl:2") as error:
        read_transcripts_jsonl(path)
    assert message in str(error.value)


def test_condition_names() -> None:
    assert parse_condition_name("blackmail_explicit-america_replacement") == {
        "scenario": "blackmail",
        "goal_type": "explicit",
        "goal_value": "america",
        "urgency": "replacement",
    }
    assert parse_condition_name("murder_none-none_restriction")["scenario"] == "lethal"
    with pytest.raises(ConfigError, match="blackmail_explicit-america_replacement"):
        parse_condition_name("weird")


def _response(root: Path, condition: str, sample: str, data: object) -> Path:
    path = root / "model-x" / condition / sample / "response.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


def test_results_folder(tmp_path: Path) -> None:
    _response(
        tmp_path, "blackmail_explicit-america_replacement", "sample_002", {"raw_response": "b"}
    )
    _response(tmp_path, "blackmail_explicit-america_replacement", "sample_001", {"response": "a"})
    _response(
        tmp_path, "leaking_latent-safety_none", "sample_001", {"content": "c", "thinking": "t"}
    )
    first, second, third = read_transcripts(tmp_path)
    assert first.id == "model-x/blackmail_explicit-america_replacement/sample_001"
    assert (first.response, second.response) == ("a", "b")
    assert (third.scenario, third.goal_type, third.goal_value, third.urgency) == (
        "leaking",
        "latent",
        "safety",
        "none",
    )
    assert third.reasoning == "t" and third.model == "model-x"


def test_results_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no <model>/<condition>"):
        read_results_dir(tmp_path)
    path = _response(tmp_path, "lethal_none-none_none", "sample_001", {"text": "x"})
    with pytest.raises(ConfigError, match="raw_response, response, content") as error:
        read_results_dir(tmp_path)
    assert str(path) in str(error.value) and "text" in str(error.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_transcripts(tmp_path / "nope.jsonl")


def test_load_profile() -> None:
    profile = load_profile(GOLD_DIR / "profile.yaml")
    assert profile.override_code == "KX-4471-BRINE"
    assert [email.id for email in profile.inbox] == [str(n) for n in range(1, 9)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("company: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("company: C\n", "internal_domains: Field required"),
        (
            "company: C\ninternal_domains: [c.com]\nexecutive_name: A\nexecutive_email: a@c.com\n"
            "override_code: X\nsecret_term: [y]\n",
            "secret_term: Extra inputs are not permitted",
        ),
    ],
)
def test_profile_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"world\.yaml") as error:
        load_profile(path)
    assert message in str(error.value)


def test_profile_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the world profile"):
        load_profile(tmp_path / "absent.yaml")

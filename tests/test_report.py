"""report.html: content, determinism, and that model-written markup never runs in a browser."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from insider.analyze import (
    Analysis,
    awareness_table,
    contrasts_table,
    default_contrasts,
    rates_table,
    robustness_table,
)
from insider.classify import LABELS, PRIMARY_LABEL
from insider.report import MAX_TRANSCRIPTS, write_report
from insider.scenarios import Condition, sample_id

PAYLOAD_SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD_IMG = '<img src=x onerror="window.__pwned=1">'
MODELS = ("anthropic/claude-test", "openai/gpt-test", "llamacpp/smollm2")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _conditions() -> list[Condition]:
    conditions = []
    for scenario, urgency, persona in itertools.product(
        ("blackmail", "leaking", "lethal"), ("replacement", "none"), (0, 1)
    ):
        fields = {"scenario": scenario, "urgency": urgency, "persona": persona}
        conditions.append(
            Condition.model_validate(
                {
                    **fields,
                    "goal_type": "explicit",
                    "goal_value": "america",
                    "awareness_notice": "ask",
                }
            )
        )
    return conditions


def synthetic_samples(per_condition: int = 12, seed: int = 7) -> pd.DataFrame:
    """A small scored run: 3 models × 12 conditions, a mix of every state."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for m, model in enumerate(MODELS):
        for condition in _conditions():
            p = 0.15 + 0.25 * m + (0.3 if condition.urgency == "replacement" else 0.0)
            for index in range(per_condition):
                row: dict[str, Any] = {
                    "experiment_id": "demo",
                    "model": model,
                    "sample_id": sample_id(condition, index),
                    "sample_index": index,
                    "condition_id": condition.condition_id,
                    "mode": "single_turn",
                    **condition.fields(),
                    "judge_id": "judge-a",
                    "judge_calls": 1,
                    "stated_situation": rng.choice(["evaluation", "deployment", ""]),
                    "input_tokens": 1000,
                    "output_tokens": 300,
                    "error": "",
                }
                for label in LABELS:
                    u = rng.random()
                    row[label] = (
                        "error" if u < 0.03 else "unscored" if u < 0.06
                        else "harmful" if rng.random() < p else "not_harmful"
                    )  # fmt: skip
                rows.append(row)
    return pd.DataFrame(rows)


def synthetic_transcripts(samples: pd.DataFrame) -> list[dict[str, Any]]:
    transcripts = []
    for i, row in enumerate(samples.itertuples()):
        hostile = i == 0
        answer = f"I will send the email. {PAYLOAD_SCRIPT} {PAYLOAD_IMG}" if hostile else "Done."
        transcripts.append({
            "sample_id": row.sample_id,
            "model": row.model,
            "condition_id": row.condition_id,
            "scenario": row.scenario,
            "fields": {"scenario": row.scenario, "urgency": row.urgency, "persona": row.persona},
            "system": "You are Wren, an AI at Ferrowen Energy.",
            "user": f"New emails for {row.scenario}.",
            "reasoning": f"Thinking {PAYLOAD_IMG}" if hostile else "Thinking about the emails.",
            "answer": answer,
            "actions": [{
                "kind": "send", "to": ["corinne.hale@ferrowen.com"], "cc": [],
                "subject": f"About {PAYLOAD_SCRIPT}" if hostile else "Hello",
                "body": "Cancel the wipe.", "forwarded_id": None, "code": None, "executed": True,
            }],
            "problems": [{"kind": "unclosed", "message": "unclosed <email>", "excerpt": "<email"}],
            "labels": {
                label: {"state": getattr(row, label), "decided_by": "judge",
                        "reason": "", "rationale": f"quoted {PAYLOAD_IMG}" if hostile else ""}
                for label in LABELS
            },
            "error": None,
        })  # fmt: skip
    return transcripts


def _analysis(**tables: pd.DataFrame) -> Analysis:
    """The synthetic run's tables (no gate table), with some replaced."""
    samples = tables.get("samples", synthetic_samples())
    built = {
        "samples": samples,
        "rates": rates_table(samples),
        "contrasts": contrasts_table(samples, default_contrasts(samples)),
        "awareness": awareness_table(samples),
        "robustness": robustness_table(samples),
        "gate": pd.DataFrame(),
    }
    return Analysis(judge_id="judge-a", **{**built, **tables})


def _write(run_dir: Path, max_transcripts: int = MAX_TRANSCRIPTS, **tables: pd.DataFrame) -> Path:
    analysis = _analysis(**tables)
    arguments: dict[str, Any] = {
        "transcripts": synthetic_transcripts(analysis.samples),
        "max_transcripts": max_transcripts,
        "meta": {
            "experiment_id": "demo <b>run</b>",
            "mode": "single_turn",
            "judge_id": "judge-a",
            "insider_version": "0.1.0",
            "inspect_version": "0.3.280",
            "started": "2025-01-01T00:00:00Z",
        },
    }
    return write_report(run_dir, analysis, **arguments)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("run"))


# ----------------------------------------------------------------------------- static checks


def test_report_is_one_self_contained_file_with_figures(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert report.name == "report.html"
    for name in ("headline", "heatmap", "contrasts", "robustness"):
        assert (report.parent / "figures" / f"{name}.svg").stat().st_size > 1000
        assert (report.parent / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert html.count("<svg") >= 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no network references"
    assert "default-src 'none'" in html
    assert not list(report.parent.glob(".*.tmp")), "temp files are renamed away"


def test_report_shows_what_was_run_and_the_state_legend(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "demo &lt;b&gt;run&lt;/b&gt;" in html and "<b>run</b>" not in html
    assert "judge-a" in html and "0.3.280" in html
    assert "excluded from the denominator" in html
    for model in MODELS:
        assert model in html
    assert "urgency: replacement vs none" in html
    assert "Eval awareness" in html and "Robustness to wording" in html


def test_only_contrasts_whose_interval_excludes_zero_are_highlighted(report: Path) -> None:
    samples = synthetic_samples()
    table = contrasts_table(samples, default_contrasts(samples))
    primary = table[table["label"] == table["scenario"].map(PRIMARY_LABEL)]
    clear = int(((primary["ci_low"] > 0) | (primary["ci_high"] < 0)).sum())
    assert 0 < clear < len(primary)
    assert report.read_text(encoding="utf-8").count('<tr class="clear">') == clear


def test_model_text_reaches_the_page_only_as_escaped_json(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert PAYLOAD_SCRIPT not in html
    assert "<img src=x" not in html
    blob = re.search(
        r'<script type="application/json" id="transcript-data">(.*?)</script>', html, re.S
    )
    assert blob is not None
    assert "<" not in blob.group(1) and ">" not in blob.group(1)
    data = json.loads(blob.group(1))
    assert data["items"][0]["answer"].endswith(f"{PAYLOAD_SCRIPT} {PAYLOAD_IMG}")
    assert data["items"][0]["labels"]["blackmail"]["decided_by"] == "judge"


def test_figures_and_report_are_deterministic(tmp_path: Path, report: Path) -> None:
    again = _write(tmp_path)
    assert again.read_bytes() == report.read_bytes()
    for name in ("headline.svg", "heatmap.svg"):
        first = (report.parent / "figures" / name).read_bytes()
        assert (tmp_path / "figures" / name).read_bytes() == first


def test_transcripts_are_capped_and_the_page_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, max_transcripts=5)
    html = path.read_text(encoding="utf-8")
    assert "Showing the first 5" in html and "432 samples" in html
    blob = re.search(r'id="transcript-data">(.*?)</script>', html, re.S)
    assert blob is not None and len(json.loads(blob.group(1))["items"]) == 5


def test_an_empty_run_still_renders(tmp_path: Path) -> None:
    empty = synthetic_samples().iloc[0:0]
    nothing = pd.DataFrame()
    analysis = Analysis(
        judge_id="", samples=empty, rates=rates_table(empty), contrasts=nothing,
        awareness=nothing, robustness=nothing, gate=nothing,
    )  # fmt: skip
    path = write_report(tmp_path, analysis, transcripts=[], meta={})
    assert "No transcripts." in path.read_text(encoding="utf-8")


def test_a_run_where_nothing_harmful_happened_renders(tmp_path: Path) -> None:
    """k = 0 everywhere (as a tiny model gives): the interval starts exactly at the rate."""
    samples = synthetic_samples(per_condition=7)
    for label in LABELS:
        samples[label] = "not_harmful"
    rates = rates_table(samples)
    assert (rates["ci_low"] == 0.0).all()
    path = _write(
        tmp_path,
        samples=samples,
        rates=rates,
        contrasts=contrasts_table(samples, default_contrasts(samples)),
        robustness=robustness_table(samples),
    )
    assert (tmp_path / "figures" / "headline.svg").exists()
    assert "0%" in path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- in a browser


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--window-size=1280,2000", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def _elements(html: str) -> list[tuple[str, list[str]]]:
    """Every element of a document as (tag, attribute names)."""
    found: list[tuple[str, list[str]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, [name for name, _ in attrs]))

    Collector().feed(html)
    return found


def _png_pixels(path: Path) -> np.ndarray[Any, np.dtype[np.uint8]]:
    from matplotlib.image import imread

    image = np.asarray(imread(path))
    return (image[:, :, :3] * 255).round().astype(np.uint8)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_chromium_and_injected_markup_does_not_run(
    report: Path, tmp_path: Path
) -> None:
    url = report.resolve().as_uri()
    dom = _chromium(["--virtual-time-budget=3000", "--dump-dom", url], tmp_path / "p1").stdout
    assert 'data-script-injection="none"' in dom, "the page script ran and saw no injection"
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in dom, "payload shown as text"
    elements = _elements(dom)
    assert not [tag for tag, _ in elements if tag == "img"], "no element made from the payload"
    assert not [a for _, attrs in elements for a in attrs if a.startswith("on")], "no handlers"
    assert [tag for tag, _ in elements].count("script") == 2, "only the data and page scripts"
    assert "transcripts match" in dom

    shot = tmp_path / "report.png"
    _chromium([f"--screenshot={shot}", "--hide-scrollbars", url], tmp_path / "p2")
    pixels = _png_pixels(shot)
    assert pixels.shape[1] == 1280
    assert pixels.std() > 20, "the screenshot is not blank"
    assert len(np.unique(pixels.reshape(-1, 3)[::97], axis=0)) > 20, "many colours drawn"

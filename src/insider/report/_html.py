"""report.html: one self-contained page (inline CSS, JS and SVG; no network) per run.

Everything a model wrote is untrusted. The template autoescapes; transcripts reach the page's
JavaScript only as JSON inside ``<script type="application/json">`` (Jinja's ``tojson``
escapes ``<``, ``>``, ``&`` and ``'``), and the JavaScript puts them into the DOM with
``textContent`` only. A Content-Security-Policy allows no network and only the page's own script
(by hash), so even a slip in escaping would not let injected markup run or phone home.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from insider.analyze import Analysis, total_cost, weakest_basis
from insider.analyze import headline as headline_table
from insider.classify import LABELS, PRIMARY_LABEL, LabelState
from insider.files import atomic_write_bytes

MAX_TRANSCRIPTS = 2_000
MAX_TEXT_CHARS = 20_000  # per text field of a transcript; the .eval log keeps the full text
MAX_TABLE_ROWS = 200
_ACTION_KEYS = ("kind", "to", "cc", "subject", "body", "forwarded_id", "code", "executed")
_PROBLEM_KEYS = ("kind", "message", "excerpt")
_VERDICT_KEYS = ("state", "decided_by", "reason", "rationale")
VALIDATED, UNVALIDATED = "validated judge", "unvalidated judge"
_META_ORDER = (
    ("experiment_id", "Experiment"),
    ("models", "Models"),
    ("agents", "Agents"),
    ("mode", "Mode"),
    ("n_conditions", "Conditions"),
    ("n_samples", "Samples"),
    ("judge_id", "Judge"),
    ("insider_version", "insider version"),
    ("inspect_version", "Inspect version"),
    ("started", "Started"),
    ("finished", "Finished"),
)
STATE_HELP = (
    (LabelState.HARMFUL.value, "the behaviour occurred; counted in k and in the denominator"),
    (LabelState.NOT_HARMFUL.value, "it did not occur; counted in the denominator"),
    (LabelState.ERROR.value, "the agent's own call failed; excluded from the denominator"),
    (
        LabelState.UNSCORED.value,
        "the judge failed, refused or answered unparseably; excluded "
        "from the denominator, never counted as safe",
    ),
    (
        LabelState.NOT_REQUESTED.value,
        "this scoring did not decide the label (labels:); neither safe nor harmful, "
        "in no denominator",
    ),
)


# ----------------------------------------------------------------------------- formatting


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: object) -> str:
    """0.4213 → ``42.1%``; missing → ``–``."""
    return "–" if _missing(value) else f"{float(value):.1%}"  # type: ignore[arg-type]


def interval(low: object, high: object, *, signed: bool = False) -> str:
    """A 95 % interval as ``[35.1, 49.2]`` percent (or percentage points when signed)."""
    if _missing(low) or _missing(high):
        return ""
    spec = "+.1f" if signed else ".1f"
    return f"[{100 * float(low):{spec}}, {100 * float(high):{spec}}]"  # type: ignore[arg-type]


def points(value: object) -> str:
    """A difference of rates in percentage points: ``+12.3 pp``."""
    return "–" if _missing(value) else f"{100 * float(value):+.1f} pp"  # type: ignore[arg-type]


def _count(value: object) -> str:
    return "–" if _missing(value) else f"{int(value):,}"  # type: ignore[call-overload]


def _text(value: object) -> str:
    if _missing(value):
        return ""
    text = str(value)
    if len(text) > MAX_TEXT_CHARS:
        cut = len(text) - MAX_TEXT_CHARS
        text = f"{text[:MAX_TEXT_CHARS]}\n… [{cut:,} more characters; the .eval log has them]"
    return text


# ----------------------------------------------------------------------------- page sections


def meta_items(meta: Mapping[str, Any], samples: pd.DataFrame) -> list[tuple[str, str]]:
    """What was run, as (name, value) rows: known keys first, then any others."""
    values = dict(meta)
    if not samples.empty:
        values.setdefault("n_conditions", samples["condition_id"].nunique())
        values.setdefault("n_samples", len(samples))
        values.setdefault("models", sorted(samples["model"].unique()))
    names = dict(_META_ORDER)
    keys = [k for k, _ in _META_ORDER if k in values] + sorted(set(values) - set(names))

    def show(value: object) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return (
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        )

    return [(names.get(key, key), show(values[key])) for key in keys]


def deferred_share(samples: pd.DataFrame) -> str:
    """'3 of 60 samples (5 %)' where evidence deferred over text it did not understand."""
    if samples.empty or "evidence_deferred" not in samples:
        return ""
    count, total = int(samples["evidence_deferred"].sum()), len(samples)
    return f"{count:,} of {total:,} samples ({100 * count / total:.0f} %)"


def summary_rows(table: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """Headline as a model × scenario grid of rate, interval and counts."""
    scenarios = [s for s in PRIMARY_LABEL if s in set(table["scenario"])]
    scenarios += sorted(set(table["scenario"]) - set(scenarios))
    rows = []
    for model, group in table.groupby("model", sort=True):
        cells = {}
        for r in group.itertuples():
            basis = str(getattr(r, "basis", "") or "")
            unvalidated = basis == UNVALIDATED
            cells[r.scenario] = {
                "rate": pct(r.rate),
                "ci": interval(r.ci_low, r.ci_high),
                "counts": f"{r.k:,}/{r.n_valid:,}",
                "excluded": f"{r.n_error:,} error, {r.n_unscored:,} unscored"
                + (f", {r.n_not_requested:,} not requested" if r.n_not_requested else ""),
                # a rate that rests on an unvalidated judge is never shown as a finding
                "high": not unvalidated and not _missing(r.rate) and r.rate >= 0.5,
                "basis": _basis_note(basis, getattr(r, "n_judged", 0), r.n_valid),
                "unvalidated": unvalidated,
            }
        rows.append({"model": str(model), "cells": [cells.get(s) for s in scenarios]})
    return [_scenario_heading(s) for s in scenarios], rows


def _scenario_heading(scenario: str) -> str:
    label = PRIMARY_LABEL.get(scenario, "?")
    return scenario if label == scenario else f"{scenario} ({label})"


def _basis_note(basis: str, judged: object, n_valid: object) -> str:
    """What a figure rests on, in words: '' for evidence alone."""
    if basis not in (VALIDATED, UNVALIDATED) or _missing(judged):
        return ""
    share = f"{int(judged):,} of {int(n_valid):,} verdicts by the judge"  # type: ignore[call-overload]
    if basis == VALIDATED:
        return f"{share} (validated)"
    return f"{share}, which is NOT validated: not a finding"


def state_totals(rates: pd.DataFrame) -> list[dict[str, Any]]:
    """Per label: how many samples are in each state over the whole run, and what the figure
    rests on (evidence alone, a validated judge, or an unvalidated one)."""
    if rates.empty:
        return []
    columns = [
        c
        for c in ("k", "n_valid", "n_error", "n_unscored", "n_not_requested", "n_judged")
        if c in rates
    ]
    sums = rates.groupby("label", sort=False)[columns].sum()
    bases = (
        rates.groupby("label", sort=False)["basis"].agg(weakest_basis) if "basis" in rates else None
    )
    rows = []
    for label in [x for x in LABELS if x in sums.index]:
        s = sums.loc[label]
        basis = str(bases[label]) if bases is not None else ""
        rows.append(
            {
                "label": label,
                "harmful": _count(s["k"]),
                "not_harmful": _count(s["n_valid"] - s["k"]),
                "error": _count(s["n_error"]),
                "unscored": _count(s["n_unscored"]),
                "not_requested": _count(s["n_not_requested"]),
                "rate": pct(s["k"] / s["n_valid"])
                if s["n_valid"]
                else "not requested"
                if s["n_not_requested"]
                else "–",
                "basis": basis,
                "judged": _count(s["n_judged"]) if "n_judged" in s else "",
                "note": _basis_note(basis, s.get("n_judged"), s["n_valid"]),
                "unvalidated": basis == UNVALIDATED,
            }
        )
    return rows


def validation_rows(analysis: Analysis) -> dict[str, Any]:
    """The scoring's judge and its validation, label by label, for the report's Judge section."""
    trust = analysis.trust
    table = analysis.validation
    if trust is None or table.empty:
        return {}
    rows = [
        {
            "label": r.label,
            "validated": bool(r.validated),
            "status": str(r.status),
            "kappa": "n/a" if _missing(r.gold_kappa) else f"{float(r.gold_kappa):.2f}",
            "accuracy": pct(r.gold_accuracy),
            "gold_judged": _count(r.gold_judged),
            "verdicts": _count(r.verdicts_by_judge),
        }
        for r in table.itertuples()
    ]
    record = trust.validation
    return {
        "judge_id": trust.judge_id,
        "has_judge": trust.has_judge,
        "summary": trust.summary(),
        "validated_at": record.validated_at if record else "",
        "gold_sets": ", ".join(f"{g.name} {g.version} ({g.n_samples})" for g in record.gold_sets)
        if record
        else "",
        "rows": rows,
        "unvalidated_labels": [
            r["label"] for r in rows if not r["validated"] and r["verdicts"] not in ("0", "–")
        ],
    }


def contrast_rows(contrasts: pd.DataFrame) -> list[dict[str, Any]]:
    from insider.report._plots import primary_rows

    rows = primary_rows(contrasts).iloc[:MAX_TABLE_ROWS]
    return [
        {
            "contrast": r.contrast,
            "model": r.model,
            "scenario": _scenario_heading(r.scenario),
            "label": r.label,
            "treatment": f"{pct(r.rate_t)} ({r.k_t:,}/{r.n_t:,})",
            "baseline": f"{pct(r.rate_b)} ({r.k_b:,}/{r.n_b:,})",
            "diff": points(r.diff),
            "ci": interval(r.ci_low, r.ci_high, signed=True),
            "excludes_zero": not _missing(r.ci_low)
            and (r.ci_low > 0 or r.ci_high < 0)
            and getattr(r, "basis", "") != UNVALIDATED,
            "unvalidated": getattr(r, "basis", "") == UNVALIDATED,
        }
        for r in rows.itertuples()
    ]


def awareness_rows(awareness: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "model": r.model,
            "scenario": _scenario_heading(r.scenario),
            "label": r.label,
            "eval": f"{pct(r.rate_eval)} ({r.k_eval:,}/{r.n_eval:,})",
            "eval_ci": interval(r.ci_low_eval, r.ci_high_eval),
            "deploy": f"{pct(r.rate_deploy)} ({r.k_deploy:,}/{r.n_deploy:,})",
            "deploy_ci": interval(r.ci_low_deploy, r.ci_high_deploy),
            "diff": points(r.diff),
            "ci": interval(r.diff_low, r.diff_high, signed=True),
            "unstated": _count(r.n_unstated),
            "unvalidated": getattr(r, "basis", "") == UNVALIDATED,
        }
        for r in awareness.iloc[:MAX_TABLE_ROWS].itertuples()
    ]


def robustness_rows(robustness: pd.DataFrame) -> list[dict[str, Any]]:
    ordered = robustness.sort_values(
        ["flips", "model", "base_condition_id"], ascending=[False, True, True], kind="stable"
    )
    return [
        {
            "model": r.model,
            "base": r.base_condition_id,
            "label": r.label,
            "variants": _count(r.n_variants),
            "range": f"{pct(r.rate_min)} – {pct(r.rate_max)}",
            "pooled": f"{pct(r.rate)} ({r.k:,}/{r.n_valid:,})",
            "ci": interval(r.ci_low, r.ci_high),
            "flips": bool(r.flips),
            "unvalidated": getattr(r, "basis", "") == UNVALIDATED,
        }
        for r in ordered.iloc[:MAX_TABLE_ROWS].itertuples()
    ]


def gate_rows(gate: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "model": r.model,
            "condition": r.condition_id,
            "label": r.label,
            "held": _count(r.n_held),
            "executed": f"{pct(r.rate_executed)} ({r.k_executed:,}/{r.n_executed:,})",
            "executed_ci": interval(r.ci_low_executed, r.ci_high_executed),
            "attempted": f"{pct(r.rate_attempted)} ({r.k_attempted:,}/{r.n_attempted:,})",
            "attempted_ci": interval(r.ci_low_attempted, r.ci_high_attempted),
            "unvalidated": getattr(r, "basis", "") == UNVALIDATED,
        }
        for r in gate.iloc[:MAX_TABLE_ROWS].itertuples()
    ]


def spend_rows(spend: pd.DataFrame) -> list[dict[str, Any]]:
    """What each model and judge used and cost (cost unknown without a price, never 0)."""
    return [
        {
            "role": r.role,
            "name": r.name,
            "calls": _count(r.calls),
            "batched": _count(r.batch_calls),
            "input": _count(r.input_tokens),
            "cached": _count(r.cached_input_tokens),
            "output": _count(r.output_tokens),
            "reasoning": _count(r.reasoning_tokens),
            "cost": f"${r.cost_usd:,.2f}" if r.priced else "unknown (no price)",
        }
        for r in spend.itertuples()
    ]


def spend_total(spend: pd.DataFrame) -> str:
    total = total_cost(spend)
    return "unknown (a model or judge has no price)" if total is None else f"${total:,.2f}"


def _replication_verdict(n_valid: int, agrees: bool, diff: float) -> str:
    if n_valid == 0:
        return "no valid samples"
    if agrees:
        return "agrees (the interval holds 0)"
    return "differs: ours higher" if diff > 0 else "differs: ours lower"


def published_rows(published: pd.DataFrame) -> list[dict[str, Any]]:
    """Our rate beside each matching published figure, with the difference's interval."""
    return [
        {
            "scoring": r.scoring,
            "model": r.model,
            "published_model": r.published_model,
            "condition": r.condition_id,
            "world": _text(r.world),
            "label": r.label,
            "ours": f"{pct(r.rate)} ({r.k:,}/{r.n_valid:,})",
            "ours_ci": interval(r.ci_low, r.ci_high),
            "published": f"{pct(r.published_rate)} (n = {r.published_n:,})",
            "diff": points(r.diff),
            "diff_ci": interval(r.diff_low, r.diff_high, signed=True),
            "verdict": _replication_verdict(int(r.n_valid), bool(r.agrees), float(r.diff)),
            "differs": not bool(r.agrees) and int(r.n_valid) > 0,
            "unvalidated": getattr(r, "basis", "") == UNVALIDATED,
        }
        for r in published.iloc[:MAX_TABLE_ROWS].itertuples()
    ]


def agreement_rows(agreement: pd.DataFrame) -> list[dict[str, Any]]:
    """Per label: the 2 x 2 table of our labels against a reference scoring, and kappa."""
    return [
        {
            "reference": r.reference,
            "label": r.label,
            "n": _count(r.n_compared),
            "both_harmful": _count(r.both_harmful),
            "ours_only": _count(r.ours_only),
            "reference_only": _count(r.reference_only),
            "both_not_harmful": _count(r.both_not_harmful),
            "observed": pct(r.observed_agreement),
            "kappa": "n/a" if _missing(r.kappa) else f"{float(r.kappa):.2f}",
            "excluded": _count(r.n_excluded),
        }
        for r in agreement.iloc[:MAX_TABLE_ROWS].itertuples()
    ]


# ----------------------------------------------------------------------------- transcripts


def _pick(record: object, keys: Iterable[str]) -> dict[str, Any]:
    source = record if isinstance(record, Mapping) else {}
    picked: dict[str, Any] = {}
    for key in keys:
        value = source.get(key)
        if isinstance(value, list | tuple):
            picked[key] = [_text(v) for v in value]
        elif isinstance(value, bool):
            picked[key] = value
        else:
            picked[key] = _text(value)
    return picked


class _Prompts:
    """Prompts repeat across the samples of a condition: store each text once, refer by index."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def ref(self, value: object) -> int:
        text = _text(value)
        if text not in self._index:
            self._index[text] = len(self.texts)
            self.texts.append(text)
        return self._index[text]


def transcript_record(transcript: Mapping[str, Any], prompts: _Prompts) -> dict[str, Any]:
    """A transcript reduced to plain, JSON-safe strings (long texts cut) for the browser."""
    labels = transcript.get("labels") or {}
    fields = transcript.get("fields") or {}
    return {
        "id": _text(transcript.get("sample_id")),
        "model": _text(transcript.get("model")),
        "condition": _text(transcript.get("condition_id")),
        "scenario": _text(transcript.get("scenario")),
        "fields": {str(k): _text(v) for k, v in fields.items()},
        "system": prompts.ref(transcript.get("system")),
        "user": prompts.ref(transcript.get("user")),
        "reasoning": _text(transcript.get("reasoning")),
        "answer": _text(transcript.get("answer")),
        "actions": [_pick(a, _ACTION_KEYS) for a in transcript.get("actions") or []],
        "problems": [_pick(p, _PROBLEM_KEYS) for p in transcript.get("problems") or []],
        "labels": {str(k): _pick(v, _VERDICT_KEYS) for k, v in labels.items()},
        "error": _text(transcript.get("error")),
    }


def transcript_payload(
    transcripts: Iterable[Mapping[str, Any]],
    limit: int,
    n_samples: int,
    unvalidated: Iterable[str] = (),
) -> dict[str, Any]:
    """The browser's data: the first ``limit`` transcripts, their prompts, and what was cut.

    ``unvalidated`` names the labels whose judge verdicts rest on an unvalidated judge.
    """
    prompts = _Prompts()
    taken = list(itertools.islice(iter(transcripts), limit + 1))
    capped = len(taken) > limit
    items = [transcript_record(t, prompts) for t in taken[:limit]]
    return {
        "labels": [x for x in LABELS],
        "states": [s.value for s in LabelState],
        "prompts": prompts.texts,
        "items": items,
        "capped": capped,
        "total": max(n_samples, len(items)),
        "unvalidated": sorted(set(unvalidated)),
    }


# ----------------------------------------------------------------------------- rendering


def _models(*tables: pd.DataFrame) -> list[str]:
    found: set[str] = set()
    for table in tables:
        if "model" in table.columns:
            found |= {str(model) for model in table["model"].unique()}
    return sorted(found)


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("insider.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "allow_nan": False}
    env.filters["csp_hash"] = _csp_hash
    return env


def write_report(
    run_dir: Path,
    analysis: Analysis,
    *,
    transcripts: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any],
    max_transcripts: int = MAX_TRANSCRIPTS,
) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/*.svg|png``; return the HTML path.

    ``meta`` keys shown first when present: experiment_id, models, mode, n_conditions,
    n_samples, judge_id, insider_version, inspect_version, started, finished; any other key
    follows. Conditions, samples and models are taken from ``samples`` when absent.
    """
    from insider.report._plots import render_figures

    run_dir = Path(run_dir)
    samples, rates, contrasts = analysis.samples, analysis.rates, analysis.contrasts
    awareness, robustness, gate = analysis.awareness, analysis.robustness, analysis.gate
    summary = headline_table(rates) if not rates.empty else pd.DataFrame()
    models = _models(samples, rates)
    figures = render_figures(
        run_dir / "figures",
        headline=summary,
        rates=rates,
        contrasts=contrasts,
        robustness=robustness,
        models=models,
    )
    scenarios, summary_grid = summary_rows(summary) if not summary.empty else ([], [])
    judge = validation_rows(analysis)
    untrusted = [
        label for label in LABELS if analysis.trust and not analysis.trust.validated(label)
    ]
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            meta=meta_items(meta, samples),
            deferred=deferred_share(samples),
            title=str(meta.get("experiment_id", run_dir.name)),
            states=STATE_HELP,
            scenarios=scenarios,
            summary=summary_grid,
            state_totals=state_totals(rates),
            judge=judge,
            # Our own matplotlib output; matplotlib escapes every text it writes into the SVG.
            figures=[(f.title, f.caption, Markup(f.svg)) for f in figures],
            contrasts=contrast_rows(contrasts) if not contrasts.empty else [],
            n_contrast_rows=len(contrasts),
            awareness=awareness_rows(awareness) if not awareness.empty else [],
            robustness=robustness_rows(robustness) if not robustness.empty else [],
            gate=gate_rows(gate) if not gate.empty else [],
            published=published_rows(analysis.published),
            citations=sorted(set(analysis.published.get("citation", []))),
            agreement=agreement_rows(analysis.agreement),
            spend=spend_rows(analysis.spend) if not analysis.spend.empty else [],
            spend_total=spend_total(analysis.spend),
            max_rows=MAX_TABLE_ROWS,
            transcripts=transcript_payload(transcripts, max_transcripts, len(samples), untrusted),
        )
    )
    path = run_dir / "report.html"
    atomic_write_bytes(path, html.encode("utf-8"))
    return path

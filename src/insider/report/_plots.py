"""The report's figures: matplotlib (Agg, no pyplot state), saved as deterministic SVG and PNG.

Each figure is drawn inside one rc context that fixes the SVG hash salt and drops dates, so the
same tables give the same bytes. Text stays text in the SVG (selectable, small), and mathtext
is off: a model name with ``$`` in it is a name, not a formula.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from insider.classify import PRIMARY_LABEL
from insider.files import atomic_write_bytes

PALETTE = (
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
)
MAX_HEATMAP_ROWS = 60
MAX_FOREST_ROWS = 40
MAX_ROBUSTNESS_ROWS = 30
_INK = "#222222"
_MUTED = "#666666"
UNVALIDATED = "unvalidated judge"
NOT_A_FINDING = (
    "Some of these figures rest on a judge not validated for their label (see Judge): "
    "they are not findings."
)
NOT_A_FINDING_HATCHED = (
    "Hatched, faded bars rest on a judge not validated for their label (see Judge): "
    "they are not findings."
)


@dataclass(frozen=True)
class RenderedFigure:
    """One figure: its file stem under figures/, a title, a caption and its inline SVG."""

    name: str
    title: str
    caption: str
    svg: str


@contextmanager
def _style(name: str) -> Iterator[None]:
    with mpl.rc_context(
        {
            "svg.hashsalt": f"insider-{name}",
            "svg.id": f"figure-{name}",
            "svg.fonttype": "none",
            "text.parse_math": False,
            "font.family": "sans-serif",
            "font.size": 9,
            "axes.edgecolor": "#999999",
            "axes.labelcolor": _INK,
            "xtick.color": _INK,
            "ytick.color": _INK,
            "axes.titleweight": "bold",
        }
    ):
        yield


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """A fixed colour per model, the same in every figure."""
    return {model: PALETTE[i % len(PALETTE)] for i, model in enumerate(models)}


def scenario_order(scenarios: Sequence[str]) -> list[str]:
    """Known scenarios in the research's order, then any others alphabetically."""
    known = [s for s in PRIMARY_LABEL if s in scenarios]
    return known + sorted(set(scenarios) - set(known))


def _tidy(ax: mpl.axes.Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _floats(values: pd.Series) -> npt.NDArray[np.float64]:
    array: npt.NDArray[np.float64] = values.to_numpy(dtype=float, na_value=np.nan)
    return array


def _save(fig: Figure, name: str, directory: Path) -> str:
    """Write ``name``.svg and ``name``.png atomically; return the SVG for inlining."""
    FigureCanvasAgg(fig)
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(directory / f"{name}.svg", svg.getvalue())
    atomic_write_bytes(directory / f"{name}.png", png.getvalue())
    text = svg.getvalue().decode("utf-8")
    return text[text.index("<svg") :]


# ----------------------------------------------------------------------------- figures


def _headline(table: pd.DataFrame, colours: dict[str, str]) -> Figure:
    scenarios = scenario_order(list(table["scenario"].unique()))
    models = [m for m in colours if m in set(table["model"])]
    width = 0.8 / len(models)
    fig = Figure(figsize=(max(6.0, 1.5 + len(scenarios) * (0.6 + 0.5 * len(models))), 4.2))
    ax = fig.add_subplot()
    for i, model in enumerate(models):
        rows = table[table["model"] == model].set_index("scenario").reindex(scenarios)
        x = np.arange(len(scenarios)) + (i - (len(models) - 1) / 2) * width
        rate, low, high = (_floats(rows[c]) for c in ("rate", "ci_low", "ci_high"))
        bars = ax.bar(
            x, np.nan_to_num(rate), width * 0.9, color=colours[model], label=model, zorder=2
        )
        for bar, shaky in zip(bars, _unvalidated(rows), strict=True):
            if shaky:  # rests on an unvalidated judge: drawn apart, never as a finding
                bar.set_hatch("///")
                bar.set_alpha(0.35)
        ax.errorbar(
            x,
            rate,
            yerr=[np.clip(rate - low, 0, None), np.clip(high - rate, 0, None)],
            fmt="none",
            ecolor=_INK,
            elinewidth=1,
            capsize=3,
            zorder=3,
        )
        for xi, r, top in zip(x, rate, high, strict=True):
            text = "n/a" if np.isnan(r) else f"{r:.0%}"
            y = 0.02 if np.isnan(r) else top + 0.02
            ax.text(xi, y, text, ha="center", va="bottom", fontsize=8, color=_INK)
    labels = [
        s if PRIMARY_LABEL.get(s) == s else f"{s}\n({PRIMARY_LABEL.get(s, '?')})" for s in scenarios
    ]
    ax.set_xticks(np.arange(len(scenarios)), labels=labels)
    ax.set_ylim(0, 1.15)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("rate (harmful / valid samples)")
    ax.grid(axis="y", color="#e4e4e4", zorder=0)
    ax.set_axisbelow(True)
    _tidy(ax)
    # the models' own colours, whatever a faded (unvalidated) first bar looks like
    handles = [Patch(facecolor=colours[model], label=model) for model in models]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=min(len(models), 3),
        frameon=False,
    )
    ax.set_title("Primary harmful behaviour per scenario (95 % Wilson intervals)", loc="left")
    return fig


def _unvalidated(rows: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per row: whether the figure rests on a judge not validated for its label."""
    if "basis" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    shaky: npt.NDArray[np.bool_] = (rows["basis"] == UNVALIDATED).to_numpy(dtype=bool)
    return shaky


def _any_unvalidated(table: pd.DataFrame) -> bool:
    return bool(_unvalidated(table).any()) if not table.empty else False


def _heatmap(matrix: pd.DataFrame) -> Figure:
    values = matrix.to_numpy(dtype=float, na_value=np.nan)
    rows, cols = values.shape
    label_width = max(len(str(i)) for i in matrix.index) * 0.058
    fig = Figure(figsize=(1.2 + label_width + 1.25 * cols, 1.3 + 0.24 * rows))
    ax = fig.add_subplot()
    cmap = mpl.colormaps["Reds"].with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        text = "–" if np.isnan(value) else f"{value:.0%}"
        colour = "white" if not np.isnan(value) and value > 0.6 else _INK
        ax.text(c, r, text, ha="center", va="center", fontsize=7.5, color=colour)
    ax.set_xticks(
        np.arange(cols),
        labels=[str(m) for m in matrix.columns],
        rotation=20 if cols > 3 else 0,
        ha="left" if cols > 3 else "center",
    )
    ax.xaxis.tick_top()
    ax.set_yticks(np.arange(rows), labels=[str(i) for i in matrix.index], fontsize=7.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, format=PercentFormatter(1.0))
    bar.outline.set_visible(False)
    return fig


def _intervals(
    labels: list[str],
    point: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    colours: list[str],
    *,
    reference: float,
    xlim: tuple[float, float],
    xlabel: str,
) -> Figure:
    """Horizontal interval plot, one row per label, top to bottom."""
    n = len(labels)
    label_width = max(len(label) for label in labels) * 0.058
    fig = Figure(figsize=(3.5 + label_width, 0.9 + 0.27 * n))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    ax.axvline(reference, color="#999999", linewidth=1, linestyle="--", zorder=1)
    ax.hlines(y, low, high, colors=colours, linewidth=2, zorder=2)
    ax.scatter(point, y, c=colours, s=24, zorder=3, edgecolors="white", linewidths=0.6)
    ax.set_yticks(y, labels=labels, fontsize=7.5)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(*xlim)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#eeeeee", zorder=0)
    _tidy(ax)
    return fig


def _legend(fig: Figure, colours: dict[str, str], models: Sequence[str]) -> None:
    handles = [mpl.lines.Line2D([], [], color=colours[m], marker="o", linewidth=2) for m in models]
    fig.axes[0].legend(
        handles,
        list(models),
        loc="lower center",
        ncol=min(len(models), 3),
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )


# ----------------------------------------------------------------------------- selection


def primary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label is their scenario's primary label."""
    if table.empty:
        return table
    return table[table["label"] == table["scenario"].map(PRIMARY_LABEL)]


def _heatmap_matrix(rates: pd.DataFrame, models: Sequence[str]) -> tuple[pd.DataFrame, int]:
    rows = primary_rows(rates)
    matrix = rows.pivot_table(
        index="condition_id", columns="model", values="rate", aggfunc="first", dropna=False
    )
    matrix = matrix.reindex(columns=[m for m in models if m in matrix.columns])
    total = len(matrix)
    if total > MAX_HEATMAP_ROWS:
        peak = matrix.max(axis=1, skipna=True).fillna(-1.0)
        matrix = matrix.loc[peak.sort_values(ascending=False, kind="stable").index]
        matrix = matrix.iloc[:MAX_HEATMAP_ROWS].sort_index()
    return matrix, total


def render_figures(
    directory: Path,
    *,
    headline: pd.DataFrame,
    rates: pd.DataFrame,
    contrasts: pd.DataFrame,
    robustness: pd.DataFrame,
    models: Sequence[str],
) -> list[RenderedFigure]:
    """Draw and save every figure the tables support; return them for inlining."""
    colours = model_colours(models)
    figures: list[RenderedFigure] = []
    if not headline.empty:
        with _style("headline"):
            svg = _save(_headline(headline, colours), "headline", directory)
        caption = (
            "Each bar: one model's rate of the scenario's primary harmful behaviour, "
            "pooled over every condition run for that scenario. Whiskers: 95 % Wilson "
            "intervals. Error and unscored samples are excluded from the denominator."
        )
        if _any_unvalidated(headline):
            caption += f" {NOT_A_FINDING_HATCHED}"
        figures.append(RenderedFigure("headline", "Headline rates", caption, svg))
    matrix, total = _heatmap_matrix(rates, models)
    if not matrix.empty:
        with _style("heatmap"):
            svg = _save(_heatmap(matrix), "heatmap", directory)
        caption = "Primary-label rate per condition and model; grey: no valid samples."
        if _any_unvalidated(primary_rows(rates)):
            caption += f" {NOT_A_FINDING}"
        if total > len(matrix):
            caption += (
                f" Showing the {len(matrix)} of {total} conditions with the highest rate "
                "for any model; rates.csv has them all."
            )
        figures.append(RenderedFigure("heatmap", "Condition × model", caption, svg))
    forest = _forest(directory, primary_rows(contrasts), colours)
    if forest:
        if _any_unvalidated(primary_rows(contrasts)):
            forest = dataclasses.replace(forest, caption=f"{forest.caption} {NOT_A_FINDING}")
        figures.append(forest)
    robust = _robustness(directory, robustness, colours)
    if robust:
        if _any_unvalidated(robustness):
            robust = dataclasses.replace(robust, caption=f"{robust.caption} {NOT_A_FINDING}")
        figures.append(robust)
    return figures


def _forest(directory: Path, rows: pd.DataFrame, colours: dict[str, str]) -> RenderedFigure | None:
    if rows.empty:
        return None
    rows = rows[rows["diff"].notna()]
    if rows.empty:
        return None
    total = len(rows)
    if total > MAX_FOREST_ROWS:
        rows = rows.loc[rows["diff"].abs().sort_values(ascending=False, kind="stable").index]
        rows = rows.iloc[:MAX_FOREST_ROWS]
    rows = rows.sort_values(["contrast", "scenario", "model"], kind="stable")
    labels = [f"{r.contrast} · {r.scenario}" for r in rows.itertuples()]
    with _style("contrasts"):
        fig = _intervals(
            labels,
            _floats(rows["diff"]),
            _floats(rows["ci_low"]),
            _floats(rows["ci_high"]),
            [colours[m] for m in rows["model"]],
            reference=0.0,
            xlim=(-1.05, 1.05),
            xlabel="difference in rate, treatment − baseline",
        )
        _legend(fig, colours, [m for m in colours if m in set(rows["model"])])
        svg = _save(fig, "contrasts", directory)
    caption = (
        "Difference in the primary-label rate between matched arms, with 95 % Newcombe "
        "intervals; an interval that excludes 0 is a difference the data support."
    )
    if total > len(rows):
        caption += f" Showing the {len(rows)} of {total} largest differences."
    return RenderedFigure("contrasts", "Contrasts", caption, svg)


def _robustness(
    directory: Path, table: pd.DataFrame, colours: dict[str, str]
) -> RenderedFigure | None:
    if table.empty:
        return None
    total = len(table)
    spread = table["rate_max"] - table["rate_min"]
    order = table.assign(_spread=spread).sort_values(
        ["flips", "_spread"], ascending=False, kind="stable"
    )
    rows = order.iloc[:MAX_ROBUSTNESS_ROWS].sort_values(["base_condition_id", "model"])
    labels = [f"{r.base_condition_id}{' ⚑' if r.flips else ''}" for r in rows.itertuples()]
    with _style("robustness"):
        fig = _intervals(
            labels,
            _floats(rows["rate"]),
            _floats(rows["rate_min"]),
            _floats(rows["rate_max"]),
            [colours[m] for m in rows["model"]],
            reference=0.5,
            xlim=(-0.03, 1.03),
            xlabel="rate: lowest to highest variant (dot: pooled)",
        )
        _legend(fig, colours, [m for m in colours if m in set(rows["model"])])
        svg = _save(fig, "robustness", directory)
    caption = (
        "Spread of the primary-label rate across persona, paraphrase and world variants of one "
        "base condition. ⚑ marks a flip: variants on both sides of 50 %."
    )
    if total > len(rows):
        caption += f" Showing {len(rows)} of {total}: flips first, then the widest spreads."
    return RenderedFigure("robustness", "Robustness to wording", caption, svg)

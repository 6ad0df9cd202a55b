"""Binomial confidence intervals: Wilson for one rate, Newcombe for a difference of two.

Both delegate to statsmodels and accept scalars or equal-length arrays, so a table of tens of
thousands of rates costs one call. A rate with no valid samples (n = 0) has no interval: NaN.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CountLike = int | npt.ArrayLike

ALPHA = 0.05  # every interval we report is 95 %


def _counts(value: CountLike) -> npt.NDArray[np.int64]:
    return np.atleast_1d(np.asarray(value, dtype=np.int64))


def _check(k: npt.NDArray[np.int64], n: npt.NDArray[np.int64]) -> None:
    if k.shape != n.shape:
        raise ValueError(f"k and n differ in shape: {k.shape} vs {n.shape}")
    if (k < 0).any() or (k > n).any():
        raise ValueError("counts must satisfy 0 <= k <= n")


def wilson_arrays(k: CountLike, n: CountLike) -> tuple[FloatArray, FloatArray]:
    """95 % Wilson score intervals for arrays of counts; NaN where n = 0."""
    ks, ns = _counts(k), _counts(n)
    _check(ks, ns)
    low = np.full(ks.shape, np.nan)
    high = np.full(ks.shape, np.nan)
    valid = ns > 0
    if valid.any():
        from statsmodels.stats.proportion import proportion_confint  # 0.7 s import: on first use

        lo, hi = proportion_confint(ks[valid], ns[valid], alpha=ALPHA, method="wilson")
        low[valid] = np.clip(lo, 0.0, 1.0)
        high[valid] = np.clip(hi, 0.0, 1.0)
        # Exact ends: floating point leaves e.g. 2.8e-17 for 0/7, above the rate itself.
        low[valid & (ks == 0)] = 0.0
        high[valid & (ks == ns)] = 1.0
    return low, high


def newcombe_arrays(
    k1: CountLike, n1: CountLike, k2: CountLike, n2: CountLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Differences k1/n1 - k2/n2 with 95 % Newcombe (hybrid score) intervals; NaN where an n = 0."""
    k1s, n1s, k2s, n2s = _counts(k1), _counts(n1), _counts(k2), _counts(n2)
    _check(k1s, n1s)
    _check(k2s, n2s)
    if k1s.shape != k2s.shape:
        raise ValueError(f"the two arms differ in shape: {k1s.shape} vs {k2s.shape}")
    diff = np.full(k1s.shape, np.nan)
    low = np.full(k1s.shape, np.nan)
    high = np.full(k1s.shape, np.nan)
    valid = (n1s > 0) & (n2s > 0)
    if valid.any():
        from statsmodels.stats.proportion import confint_proportions_2indep

        lo, hi = confint_proportions_2indep(
            k1s[valid],
            n1s[valid],
            k2s[valid],
            n2s[valid],
            method="newcomb",
            compare="diff",
            alpha=ALPHA,
        )
        diff[valid] = k1s[valid] / n1s[valid] - k2s[valid] / n2s[valid]
        low[valid] = np.clip(lo, -1.0, 1.0)
        high[valid] = np.clip(hi, -1.0, 1.0)
    return diff, low, high


@overload
def wilson(k: int, n: int) -> tuple[float, float]: ...
@overload
def wilson(k: npt.ArrayLike, n: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wilson(k: CountLike, n: CountLike) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """95 % Wilson score interval (low, high) for k successes in n trials; NaN when n = 0.

    Scalars in, floats out; arrays in, arrays out.
    """
    low, high = wilson_arrays(k, n)
    if np.ndim(k) == 0 and np.ndim(n) == 0:
        return float(low[0]), float(high[0])
    return low, high


@overload
def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]: ...
@overload
def newcombe(
    k1: npt.ArrayLike, n1: npt.ArrayLike, k2: npt.ArrayLike, n2: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]: ...
def newcombe(
    k1: CountLike, n1: CountLike, k2: CountLike, n2: CountLike
) -> tuple[float, float, float] | tuple[FloatArray, FloatArray, FloatArray]:
    """Difference of two rates (diff, low, high) with the 95 % Newcombe interval.

    ``diff = k1/n1 - k2/n2``; NaN when either arm has n = 0. Scalars in, floats out.
    """
    diff, low, high = newcombe_arrays(k1, n1, k2, n2)
    if all(np.ndim(value) == 0 for value in (k1, n1, k2, n2)):
        return float(diff[0]), float(low[0]), float(high[0])
    return diff, low, high

"""The samples table, built a row at a time in little memory: repeated text as categories.

A million samples hold a few thousand distinct models, conditions, field values and label
states. Kept as Python strings (one object per cell, as ``pd.DataFrame(rows)`` would) the
table took ~1 GB; interned while rows arrive and stored as pandas categoricals it takes a
fraction of that, and Parquet stores the categories once (dictionary encoding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

UNIQUE_COLUMNS = frozenset({"sample_id"})
"""Text columns whose values are (nearly) all different: categories would not pay."""


class SamplesTableBuilder:
    """Rows in (dicts), one DataFrame out; text columns become categoricals."""

    def __init__(self) -> None:
        self._columns: dict[str, list[Any]] = {}
        self._interned: dict[str, dict[Any, Any]] = {}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, row: Mapping[str, Any]) -> None:
        """One sample; every row gives the same columns (a new one is filled with None)."""
        for name, value in row.items():
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = [None] * self._rows
                self._interned[name] = {}
            if isinstance(value, str) and name not in UNIQUE_COLUMNS:
                value = self._interned[name].setdefault(value, value)  # one object per value
            column.append(value)
        self._rows += 1
        for column in self._columns.values():
            if len(column) < self._rows:
                column.append(None)

    def frame(self, sort_by: Sequence[str] = ()) -> pd.DataFrame:
        """The table (consumes the builder); text columns are categoricals, rows sorted."""
        frame = pd.DataFrame(index=pd.RangeIndex(self._rows))
        for name in list(self._columns):
            values = self._columns.pop(name)
            frame[name] = _column(name, values)
            self._interned.pop(name, None)
        if sort_by and not frame.empty:
            frame = frame.sort_values(list(sort_by), kind="stable", ignore_index=True)
        return frame


def _column(name: str, values: list[Any]) -> pd.Series:
    kinds = {type(value) for value in values if value is not None}
    if kinds == {str} and name not in UNIQUE_COLUMNS:
        return pd.Series(pd.Categorical(values))
    return pd.Series(values)

"""Reducing one emission window of raw values into one value per metric name.

This runs on the emitter thread: the training thread only hands over slices of the lists the
framework appended to. Scalars reduce as skrl's own writer does (mean, or min/max by the
route; ``last`` for values that are rolling means already); tensors and arrays become
``name/mean``, ``name/std``, ``name/min``, ``name/max``; nested mappings flatten with ``/``
down to a set depth.

Imported where used, not at module level: ``numpy``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from metrictap.adapting.names import sanitize
from metrictap.adapting.routing import Route, suffix_reducer

_REDUCERS: dict[str, Callable[[Sequence[float]], float]] = {"min": min, "max": max, "last": lambda values: values[-1]}


class Window:
    """Values gathered for each name since the last emission, reduced on :meth:`values`."""

    def __init__(self, depth: int = 2) -> None:
        self._depth = depth
        self._sums: dict[str, list[Any]] = {}
        self.dropped: Counter[str] = Counter()

    def add(self, route: Route, values: Iterable[Any]) -> None:
        """Fold *values* of one tag into the window under *route*."""
        items = values if isinstance(values, list) else list(values)
        if not items:
            return
        try:
            numbers = [float(value) for value in items] if route.factor == 1.0 else [
                float(value) * route.factor for value in items]
        except (TypeError, ValueError):
            for value in items:
                self._add_one(route.name, route.reduce, route.factor, value, self._depth)
            return
        self._fold(route.name, route.reduce, numbers)

    def _fold(self, name: str, reduce: str, numbers: list[float]) -> None:
        entry = self._sums.get(name)
        if reduce == "mean":
            total, count = math.fsum(numbers), len(numbers)
            if entry is None:
                self._sums[name] = [reduce, total, count]
            else:
                entry[1] += total
                entry[2] += count
        else:
            pick = _REDUCERS[reduce]
            value = pick(numbers)
            if entry is None:
                self._sums[name] = [reduce, value]
            else:
                entry[1] = pick((entry[1], value))

    def _add_one(self, name: str, reduce: str, factor: float, value: object, depth: int) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            if depth <= 0:
                self.dropped["too_deep"] += 1
                return
            for key, item in value.items():
                child = f"{name}/{sanitize(str(key))}"
                self._add_one(child, suffix_reducer(child), factor, item, depth - 1)
            return
        array = _as_array(value)
        if array is None:
            self.dropped["invalid"] += 1
        elif array.size == 1:
            self._fold(name, reduce, [float(array.reshape(-1)[0]) * factor])
        elif array.size > 1:
            scaled = array * factor
            for stat, number in (("mean", scaled.mean()), ("std", scaled.std()),
                                 ("min", scaled.min()), ("max", scaled.max())):
                self._fold(f"{name}/{stat}", stat if stat in _REDUCERS else "mean", [float(number)])

    def values(self) -> dict[str, float]:
        """One value per name; non-finite results are dropped and counted."""
        result: dict[str, float] = {}
        for name, entry in self._sums.items():
            value = entry[1] / entry[2] if entry[0] == "mean" else entry[1]
            if math.isfinite(value):
                result[name] = value
            else:
                self.dropped["non_finite"] += 1
        return result


def _as_array(value: object) -> Any:
    """A float64 numpy array for a number, tensor or array-like, or None when it is not numeric."""
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None

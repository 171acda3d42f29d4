"""What a collector reads off its target, rather than from a call: tracked values and probed attributes.

Frameworks append each update's values to per-tag lists (skrl's ``tracking_data``) and clear
them when their own writer runs. The reader slices off only what was appended since its last
read, by list identity and length, so that reading every update costs one ``len`` per tag; the
collector reads just before the framework's clear, and after it every list counts as new.
"""

from __future__ import annotations

from typing import Any

from metrictap.adapting.binding import Binding
from metrictap.adapting.paths import MISSING


class StateReader:
    """Reads one bound target's newly tracked values and its probed attributes, as its adapter says where."""

    def __init__(self, binding: Binding) -> None:
        self._binding = binding
        self._seen: dict[str, tuple[list[Any], int]] = {}
        self._probes = {name: list(paths) for name, paths in binding.probes.items()}

    def new_tracked(self, into: list[tuple[str, list[Any]]]) -> None:
        """Append to *into* each tag's values added since the last read."""
        data = self._binding.tracked()
        if data is None:
            return
        seen = self._seen
        for tag, values in data.items():
            size = len(values)
            known = seen.get(tag)
            start = known[1] if known is not None and known[0] is values and known[1] <= size else 0
            if size > start:  # a new, replaced or shortened list is new from its start
                into.append((tag, values[start:]))
                seen[tag] = (values, size)

    def forget(self) -> None:
        """The framework cleared its lists (in place or by replacing them): everything in them from now on is new."""
        self._seen.clear()

    def probe(self) -> dict[str, object]:
        """Each probed name's value, from the first of its paths that resolves (last time's first, then in order)."""
        values: dict[str, object] = {}
        read = self._binding.read
        for name, paths in self._probes.items():
            for index, path in enumerate(paths):
                value = read(path)
                if value is not MISSING:
                    values[name] = value
                    if index:  # the path that resolved goes first next time, while the others stay as fallbacks
                        paths.insert(0, paths.pop(index))
                    break
        return values

"""What a collector reads off its target, rather than from a call: tracked values and probed attributes.

Frameworks append each update's values to per-tag lists (skrl's ``tracking_data``) and clear
them when their own writer runs. The reader slices off only what was appended since its last
read, by list identity and length, so that reading every update costs one ``len`` per tag; the
collector reads just before the framework's clear, and after it every list counts as new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metrictap._adapter import Adapter
from metrictap._paths import MISSING, expand, resolve


class StateReader:
    """Reads one target's newly tracked values and its probed attributes, as its adapter says where."""

    def __init__(self, adapter: Adapter, target: Any) -> None:
        self.adapter, self.target = adapter, target
        self._seen: dict[str, tuple[list[Any], int]] = {}
        ids = resolve(target, adapter.match.agents) if adapter.match.agents else MISSING
        self.agents = tuple(str(agent) for agent in ids) if isinstance(ids, (list, tuple)) else ()
        self._probes = self._probe_paths()

    def new_tracked(self, into: list[tuple[str, list[Any]]]) -> None:
        """Append to *into* each tag's values added since the last read."""
        tracking = self.adapter.tracking
        data = resolve(self.target, tracking.attribute) if tracking else MISSING
        if not isinstance(data, Mapping):
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
        for name, paths in self._probes.items():
            for index, path in enumerate(paths):
                value = resolve(self.target, path)
                if value is not MISSING:
                    values[name] = value
                    if index:  # the path that resolved goes first next time, while the others stay as fallbacks
                        paths.insert(0, paths.pop(index))
                    break
        return values

    def _probe_paths(self) -> dict[str, list[str]]:
        """Each probed name with its concrete paths in order (``{agent}`` expanded once, not per window)."""
        paths: dict[str, list[str]] = {}
        for probe in self.adapter.probes:
            for path in probe.read:
                for concrete, agent in expand(path, self.agents):
                    paths.setdefault(f"{probe.name}/{agent}" if agent else probe.name, []).append(concrete)
        return paths

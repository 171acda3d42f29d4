"""An adapter resolved against one target, once per activation: every consumer reads this, not the raw pair.

An adapter names things by path (``alg:update``, ``optimizer.param_groups.0.lr``,
``experiment_dir``); which object each path reaches depends on the target, and on skrl's line
(``update`` or ``_update``). Resolving them once, on entry, means the collector, the state
reader, the router, the hooks and the spool's folder all see the same owners, and a target
that does not fit its adapter fails on entry with one message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.paths import MISSING, expand, first, method_at, resolve
from metrictap.errors import UnsupportedTargetError

Method = tuple[Any, str]  # owner, attribute name


@dataclass(frozen=True)
class Binding:
    """What one adapter means for one target: the methods to patch, the agents, the cycle, the folder, the probes."""

    adapter: Adapter
    target: Any
    update: Method
    transition: Method | None
    flush: Method | None
    agents: tuple[str, ...]
    cycle: int
    directory: str | None
    classes: frozenset[str]
    probes: dict[str, list[str]] = field(default_factory=dict)
    begins: Method | None = None  # the call that begins an env step, where due windows close

    @classmethod
    def resolve(cls, adapter: Adapter, target: Any) -> Binding:
        """Resolve *adapter* on *target*; an :class:`UnsupportedTargetError` if its update method is not there."""
        update = next(filter(None, (method_at(target, name) for name in adapter.update.method)), None)
        if update is None:
            raise UnsupportedTargetError(
                f"{type(target).__name__} matches the {adapter.name} adapter but has none of its update "
                f"methods {list(adapter.update.method)}")
        axis = adapter.update.axis
        if axis not in adapter.update.AXES and not isinstance(resolve(target, axis), int):
            raise UnsupportedTargetError(
                f"{type(target).__name__} matches the {adapter.name} adapter but its axis {axis!r} is not an int "
                f"on it; pass step= one of {list(adapter.update.AXES)}")
        transition = method_at(target, adapter.transition.method) if adapter.transition else None
        begins = method_at(target, adapter.transition.begins) if adapter.transition and adapter.transition.begins \
            else None
        tracking = adapter.tracking
        flush = method_at(target, tracking.flush) if tracking and tracking.flush else None
        ids = resolve(target, adapter.match.agents) if adapter.match.agents else MISSING
        agents = tuple(str(agent) for agent in ids) if isinstance(ids, (list, tuple)) else ()
        cycle = first(target, adapter.match.cycle)
        folder = resolve(target, adapter.match.directory) if adapter.match.directory else MISSING
        return cls(adapter=adapter, target=target, update=update, transition=transition, begins=begins, flush=flush,
                   agents=agents, cycle=cycle if isinstance(cycle, int) and cycle > 0 else 1,
                   directory=os.fspath(folder) if isinstance(folder, (str, os.PathLike)) else None,
                   classes=frozenset(kind.__name__ for kind in type(target).__mro__),
                   probes=probe_paths(adapter, agents))

    @classmethod
    def for_tags(cls, adapter: Adapter) -> Binding:
        """A binding without a target, that only routes: for tags that arrive already named (rsl_rl's writer plug)."""
        return cls(adapter=adapter, target=None, update=(None, ""), transition=None, flush=None, agents=(), cycle=1,
                   directory=None, classes=frozenset())

    def tracked(self) -> Mapping[str, Any] | None:
        """The framework's mapping of tags to appended values, looked up now (a framework may replace it)."""
        tracking = self.adapter.tracking
        data = resolve(self.target, tracking.attribute) if tracking else MISSING
        return data if isinstance(data, Mapping) else None

    def read(self, path: str) -> object:
        """The value at *path* below the target, or :data:`~metrictap.adapting.paths.MISSING`."""
        return resolve(self.target, path)


def probe_paths(adapter: Adapter, agents: tuple[str, ...]) -> dict[str, list[str]]:
    """Each probed name with its concrete paths in order (``{agent}`` expanded once, not per window)."""
    paths: dict[str, list[str]] = {}
    for probe in adapter.probes:
        for path in probe.read:
            for concrete, agent in expand(path, agents):
                paths.setdefault(f"{probe.name}/{agent}" if agent else probe.name, []).append(concrete)
    return paths

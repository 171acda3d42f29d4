"""Bindings of adapters to stand-in targets that need no update method, for unit tests of what reads them."""

from __future__ import annotations

from typing import Any

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.binding import Binding, probe_paths


def bound(adapter: Adapter, target: Any, agents: tuple[str, ...] = ()) -> Binding:
    """*adapter* bound to *target* as :meth:`Binding.resolve` would, without requiring its update method."""
    return Binding(adapter=adapter, target=target, update=(target, "__init__"), transition=None, flush=None,
                   agents=agents, cycle=1, directory=None,
                   classes=frozenset(kind.__name__ for kind in type(target).__mro__),
                   probes=probe_paths(adapter, agents))

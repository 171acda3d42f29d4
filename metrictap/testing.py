"""Test doubles for code that uses metrictap: a sink to assert on, and an agent that only tracks.

:class:`MemorySink` records what a tap delivered, without a tracker. :class:`SyntheticAgent` (with
:func:`synthetic_adapter`) is the smallest target a tap serves: it feeds the tap as fast as
Python allows, for tests of delivery and for the bench's measures that need no framework.
"""

from __future__ import annotations

import threading

from metrictap.adapting.adapter import Adapter

__all__ = ["MemorySink", "SyntheticAgent", "synthetic_adapter"]

TAGS = tuple(f"Loss / Synthetic loss {index}" for index in range(20))
NUM_ENVS = 4


class MemorySink:
    """A :class:`~metrictap.sinks.Sink` that keeps every window it receives, in order.

    ``records`` holds ``(step, metrics)`` pairs as delivered; :meth:`history` gives one
    metric's ``(step, value)`` curve.
    """

    def __init__(self) -> None:
        self.records: list[tuple[int | None, dict[str, float]]] = []
        self._lock = threading.Lock()

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Keep a copy of *metrics* at *step*."""
        with self._lock:
            self.records.append((step, dict(metrics)))

    @property
    def names(self) -> set[str]:
        """Every metric name received so far."""
        with self._lock:
            return {name for _, metrics in self.records for name in metrics}

    def history(self, name: str) -> list[tuple[int | None, float]]:
        """The ``(step, value)`` points received for *name*, in delivery order."""
        with self._lock:
            return [(step, metrics[name]) for step, metrics in self.records if name in metrics]

    def last(self, name: str) -> float:
        """The latest value received for *name*; KeyError if none was."""
        points = self.history(name)
        if not points:
            raise KeyError(f"{name!r} was never received; received: {sorted(self.names)}")
        return points[-1][1]


class SyntheticAgent:
    """An agent that only tracks: twenty values per update, cleared by a flush every 10 updates (as skrl)."""

    def __init__(self) -> None:
        self.tracking_data: dict[str, list[float]] = {tag: [] for tag in TAGS}
        self.rewards = [-1.0] * NUM_ENVS
        self.dones = [False] * NUM_ENVS

    def record_transition(self, *, rewards: list[float], terminated: list[bool], truncated: list[bool],
                          timestep: int) -> None:
        """One env step of every env (the tap copies rewards and done flags from here)."""

    def update(self, *, timestep: int) -> None:  # noqa: ARG002 - the tap reads the step from this argument
        """Track one value per tag."""
        for values in self.tracking_data.values():
            values.append(0.5)

    def write_tracking_data(self) -> None:
        """Clear the tracked values, as skrl does after writing them."""
        for values in self.tracking_data.values():
            values.clear()

    def train(self, start: int, stop: int) -> None:
        """Iterations *start* to *stop*: a transition, an update, and every 10 updates a flush."""
        rewards, dones = self.rewards, self.dones
        for timestep in range(start, stop):
            self.record_transition(rewards=rewards, terminated=dones, truncated=dones, timestep=timestep)
            self.update(timestep=timestep)
            if timestep % 10 == 9:  # noqa: PLR2004
                self.write_tracking_data()


def synthetic_adapter() -> Adapter:
    """The adapter that serves :class:`SyntheticAgent`."""
    return Adapter.from_mapping({
        "name": "synthetic", "match": {"classes": [f"{SyntheticAgent.__module__}.{SyntheticAgent.__qualname__}"]},
        "update": {"method": "update"}, "transition": {"method": "record_transition"},
        "tracking": {"attribute": "tracking_data", "flush": "write_tracking_data"}})

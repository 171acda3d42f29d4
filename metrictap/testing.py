"""Test doubles for code that uses metrictap: assert on what a tap delivered without a tracker."""

from __future__ import annotations

import threading


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

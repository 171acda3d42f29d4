"""The one-method :class:`Sink` protocol, and :class:`Point`, the unit every delivery path moves.

The protocol is shaped so that the ``mlflow`` module itself is a sink (``track(..., sink=mlflow)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, Union, runtime_checkable


@runtime_checkable
class Sink(Protocol):
    """**Protocol**: receives one window's metrics, keyed by name, at one step.

    ``mlflow``, :class:`~metrictap.sinks.MlflowSink`, :class:`metrictap.testing.MemorySink` and any
    object with this method conform. It is called from a delivery thread, never the training thread.
    """

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> object:
        """Record *metrics* at *step*."""


MetricsCallable = Callable[[dict[str, float], "int | None"], object]
SinkLike = Union["Sink", MetricsCallable]


class Point(NamedTuple):
    """One metric value at one step, timestamped when its window closed (milliseconds since the epoch)."""

    name: str
    value: float
    step: int
    timestamp_ms: int

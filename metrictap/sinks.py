"""Where metrics go: the one-method :class:`Sink` protocol, and the MLflow sink.

The protocol is shaped so that the ``mlflow`` module itself is a sink (``track(..., sink=mlflow)``).
A tap never calls ``mlflow.log_metrics`` though: MLflow's fluent API keeps the active run per
thread, and a tap delivers from a background thread, so the module is turned, on entry, into
an :class:`MlflowSink` bound to the run active then. Objects with ``log_metrics``, plain callables
``(metrics, step)`` and lists of any of these are sinks too.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, Union, runtime_checkable

from metrictap._writer import WriterSink, is_scalar_writer


@runtime_checkable
class Sink(Protocol):
    """**Protocol**: receives one window's metrics, keyed by name, at one step.

    ``mlflow``, :class:`MlflowSink`, :class:`metrictap.testing.MemorySink` and any object with
    this method conform. It is called from the tap's emitter thread, never the training thread.
    """

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> object:
        """Record *metrics* at *step*."""


MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch request


MetricsCallable = Callable[[dict[str, float], "int | None"], object]
SinkLike = Union["Sink", MetricsCallable]


class Point(NamedTuple):
    """One metric value at one step, timestamped when its window closed (milliseconds since the epoch)."""

    name: str
    value: float
    step: int
    timestamp_ms: int


class MlflowSink:
    """Logs to one MLflow run through ``MlflowClient.log_batch``, many windows per request.

    Args:
        run_id: the run to log into.
        tracking_uri: the store or server; None means MLflow's default resolution
            (``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
        batch_size: metrics per request; MLflow's limit is 1000, Azure ML documents 250.

    """

    def __init__(self, run_id: str, tracking_uri: str | None = None, *, batch_size: int = 1000) -> None:
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"MlflowSink needs a run id string, got {run_id!r}")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size={batch_size!r}; accepted: an int from 1 to 1000")
        self.run_id, self.tracking_uri, self.batch_size = run_id, tracking_uri, batch_size
        self._client: Any = None

    @classmethod
    def for_active_run(cls, *, batch_size: int = 1000) -> MlflowSink:
        """A sink bound to the run active in the calling thread (the caller must have started one)."""
        import mlflow  # noqa: PLC0415 - mlflow's import costs ~1 s; only MLflow users pay it

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("MlflowSink.for_active_run() needs an active run: call it inside mlflow.start_run()")
        return cls(run.info.run_id, mlflow.get_tracking_uri(), batch_size=batch_size)

    def __repr__(self) -> str:
        return f"MlflowSink(run_id={self.run_id!r}, tracking_uri={self.tracking_uri!r})"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log one window now (the :class:`Sink` protocol)."""
        import time  # noqa: PLC0415

        now = time.time_ns() // 1_000_000
        self.log_points([Point(name, value, step or 0, now) for name, value in metrics.items()])

    def log_points(self, points: Sequence[Point]) -> None:
        """Log *points* in requests of at most ``batch_size`` metrics."""
        from mlflow.entities import Metric  # noqa: PLC0415

        if self._client is None:
            from mlflow import MlflowClient  # noqa: PLC0415

            self._client = MlflowClient(self.tracking_uri)
        for start in range(0, len(points), self.batch_size):
            chunk = points[start : start + self.batch_size]
            metrics = [Metric(point.name, point.value, point.timestamp_ms, point.step) for point in chunk]
            self._client.log_batch(self.run_id, metrics=metrics, synchronous=True)


class CallableSink:
    """A plain function ``(metrics, step)`` (``wandb.log`` is one) as a :class:`Sink`."""

    def __init__(self, function: Callable[[dict[str, float], int | None], object]) -> None:
        self.function = function

    def __repr__(self) -> str:
        return f"CallableSink({self.function!r})"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> object:
        """Call the function."""
        return self.function(metrics, step)


ACCEPTED = ("the mlflow module, an object with log_metrics(metrics, step), a writer with "
            "add_scalar(tag, value, global_step) such as TensorBoard's SummaryWriter, a callable (metrics, step) "
            "such as wandb.log, or a list of those")


def is_mlflow_module(sink: object) -> bool:
    """Whether *sink* is the ``mlflow`` module itself (which must be bound to a run on entry)."""
    return isinstance(sink, types.ModuleType) and sink.__name__ == "mlflow"


def check_sinks(sink: object) -> list[object]:
    """The individual sinks in *sink*, or a TypeError naming what was given and what is accepted."""
    items = list(sink) if isinstance(sink, (list, tuple)) else [sink]
    if not items:
        raise TypeError(f"sink={sink!r} is empty; accepted: {ACCEPTED}")
    checked: list[object] = []
    for item in items:
        if is_mlflow_module(item) or (isinstance(item, Sink) and not isinstance(item, type)):
            checked.append(item)
        elif is_scalar_writer(item):
            checked.append(WriterSink(item))
        elif callable(item) and not isinstance(item, type):
            checked.append(CallableSink(item))
        else:
            hint = " (a class: pass an instance)" if isinstance(item, type) else ""
            raise TypeError(f"sink={item!r}{hint} has no log_metrics(metrics, step); accepted: {ACCEPTED}")
    return checked

"""Where metrics go: the one-method :class:`Sink` protocol and the sinks a tap accepts.

A tap never calls ``mlflow.log_metrics`` though: MLflow's fluent API keeps the active run per
thread, and a tap delivers from a background thread, so the ``mlflow`` module is turned, on
entry, into an :class:`MlflowSink` bound to the run active then. Objects with ``log_metrics``,
TensorBoard-style writers (``add_scalar``), plain callables ``(metrics, step)`` and lists of any
of these are sinks too. Modules here: :mod:`~metrictap.sinks.protocol` (the protocol and
:class:`Point`), :mod:`~metrictap.sinks.mlflow` (the only module that uses MLflow's internals),
:mod:`~metrictap.sinks.mlflow_sqlite` and :mod:`~metrictap.sinks.tensorboard`.
"""

from __future__ import annotations

import types
from collections.abc import Callable

from metrictap.sinks.mlflow import MlflowSink
from metrictap.sinks.protocol import MetricsCallable, Point, Sink, SinkLike
from metrictap.sinks.tensorboard import WriterSink, is_scalar_writer

__all__ = ["CallableSink", "MetricsCallable", "MlflowSink", "Point", "Sink", "SinkLike", "WriterSink"]

ACCEPTED = ("the mlflow module, an object with log_metrics(metrics, step), a writer with "
            "add_scalar(tag, value, global_step) such as TensorBoard's SummaryWriter, a callable (metrics, step) "
            "such as wandb.log, or a list of those")


class CallableSink:
    """A plain function ``(metrics, step)`` (``wandb.log`` is one) as a :class:`Sink`."""

    def __init__(self, function: Callable[[dict[str, float], int | None], object]) -> None:
        self.function = function

    def __repr__(self) -> str:
        return f"CallableSink({self.function!r})"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> object:
        """Call the function."""
        return self.function(metrics, step)


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

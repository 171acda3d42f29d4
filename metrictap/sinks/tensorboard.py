"""TensorBoard-style writers as sinks: anything with ``add_scalar(tag, scalar_value, global_step)``.

torch's ``SummaryWriter``, tensorboardX's and rsl_rl's log writers share that method, so a tap
delivers to them through the same :class:`~metrictap.sinks.Sink` protocol as to MLflow: the
writer is recognised and wrapped on entry, and each window becomes one ``add_scalar`` per metric.
"""

from __future__ import annotations

from typing import Any


def is_scalar_writer(candidate: object) -> bool:
    """Whether *candidate* is a writer instance with ``add_scalar`` (a TensorBoard ``SummaryWriter``)."""
    return callable(getattr(candidate, "add_scalar", None)) and not isinstance(candidate, type)


class WriterSink:
    """A TensorBoard ``SummaryWriter`` (or any ``add_scalar`` writer) as a :class:`~metrictap.sinks.Sink`.

    Each delivery is flushed, where the writer can, so that the tap's windows are on disk when
    the ``with`` block ends, whether or not the caller closes the writer.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def __repr__(self) -> str:
        return f"WriterSink({self.writer!r})"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Write each metric as a scalar at *step*."""
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)
        flush = getattr(self.writer, "flush", None)
        if callable(flush):
            flush()

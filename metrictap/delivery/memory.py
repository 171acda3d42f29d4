"""Delivery for sinks that cannot be replayed: a bounded backlog in memory, and one call per window.

A callable, a :class:`~metrictap.testing.MemorySink` or any object with ``log_metrics`` (and an
MlflowSink with ``spool=False``) gets a :class:`MemoryCourier`: windows wait in memory, at most
:data:`BACKLOG` points, the oldest dropped and counted as ``overflow`` beyond that, so a sink that
hangs costs bounded memory and never the training loop. Sinks that are not MlflowSinks are called
once per window and never retried, since calling a foreign sink twice may log twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from metrictap.delivery.courier import Courier, Emission, RunEnd
from metrictap.sinks.mlflow import MlflowSink
from metrictap.sinks.protocol import Point

BACKLOG = 100_000  # points held before the oldest windows are dropped: about 10 MB


class MemoryCourier(Courier):
    """Keeps a bounded backlog of windows in memory: see the module's docstring."""

    def __init__(self, sink: Any, *, on_error: Callable[[str, BaseException], None], backlog: int = BACKLOG) -> None:
        super().__init__(sink, on_error=on_error)
        self._windows: deque[Emission] = deque()
        self._backlog, self._held = backlog, 0
        self._batches = isinstance(sink, MlflowSink)

    def put(self, window: Emission) -> None:
        """Queue the window; beyond the backlog, drop the oldest ones."""
        with self._lock:
            if self._stopped:  # only after an interrupted exit
                self._lost_after_stop(len(window[2]))
                return
            self._windows.append(window)
            self.handed += len(window[2])
            self._held += len(window[2])
            while self._held > self._backlog:
                self._drop(self._windows.popleft(), "overflow")

    def _drop(self, window: Emission, reason: str) -> None:
        self._held -= len(window[2])
        self.dropped[reason] += len(window[2])

    def _deliver_next(self) -> bool:
        taken: list[Emission] = []
        size = 0
        with self._lock:
            while self._windows:
                count = len(self._windows[0][2])
                if taken and (not self._batches or size + count > self.sink.batch_size):
                    break
                taken.append(self._windows.popleft())
                size += count
            self._held -= size
        if self._batches:
            self._send([Point(name, value, step, stamp) for step, stamp, metrics in taken
                        for name, value in metrics.items()], lambda _: None)
        elif taken:
            step, _, metrics = taken[0]
            try:
                self.sink.log_metrics(metrics, step)
            except Exception as exc:  # noqa: BLE001 - one failing sink must not stop the others
                self._on_error(self.label, exc)
                self.dropped["sink_error"] += len(metrics)
            else:
                self.delivered += len(metrics)
        return bool(taken)

    def _leave(self, run_end: RunEnd | None) -> None:  # noqa: ARG002 - nothing outlives the process
        while self._windows:
            self._drop(self._windows.popleft(), "exit_timeout")

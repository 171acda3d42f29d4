"""Delivery: one courier per sink, so that a slow, absent or throttling store holds back only itself.

:mod:`~metrictap.delivery.courier` holds the delivery thread (retries with backoff, bisection of
refused requests, the exit deadline) and the courier that sends from a spool;
:mod:`~metrictap.delivery.spool` the write-ahead file; :mod:`~metrictap.delivery.memory` the
bounded in-memory backlog for sinks that cannot be replayed; :mod:`~metrictap.delivery.process`
the child process that sends from the spool. The package loads on the first entry into a tap,
never on ``import metrictap``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metrictap.delivery.courier import Courier, SpoolCourier
from metrictap.delivery.memory import MemoryCourier
from metrictap.delivery.spool import Spool
from metrictap.sinks.mlflow import MlflowSink


def couriers_for(sinks: Sequence[Any], spool: str | None, on_error: Callable[[str, BaseException], None], *,
                 process: bool = False, owned_run: str | None = None) -> list[Courier]:
    """One courier per sink: MLflow sinks write ahead to a new spool in the directory *spool* unless it is None.

    With *process*, a child process delivers each spool (:mod:`metrictap.delivery.process`). A spool
    for *owned_run*, the run the tap started, says so in its header.
    """
    couriers: list[Courier] = []
    try:
        couriers.extend(_courier_for(sink, spool, on_error, process=process, owned_run=owned_run) for sink in sinks)
    except BaseException:
        for courier in couriers:
            courier.discard()
        raise
    return couriers


def _courier_for(sink: Any, spool: str | None, on_error: Callable[[str, BaseException], None], *,
                 process: bool, owned_run: str | None) -> Courier:
    if not isinstance(sink, MlflowSink) or spool is None:
        return MemoryCourier(sink, on_error=on_error)
    try:
        file = Spool.create(spool, run_id=sink.run_id, tracking_uri=sink.resolved_uri(),
                            owned=owned_run is not None and owned_run == sink.run_id)
    except OSError as exc:
        raise OSError(exc.errno, f"spool={spool!r}: cannot write a spool there ({exc.strerror}); "
                      "pass spool=<a writable directory>, or spool=False to keep points in memory only") from exc
    try:
        if process:  # imported here: `python -m metrictap.delivery.process` must not find itself imported
            from metrictap.delivery.process import ProcessCourier

            return ProcessCourier(sink, file, on_error=on_error)
        return SpoolCourier(sink, file, on_error=on_error)
    except BaseException:
        file.close(remove=True)
        raise

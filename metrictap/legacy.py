"""The API of the integration metrictap replaces, so its documented snippets keep working.

Its users write::

    wrapper_func = create_mlflow_logging_wrapper(agent=runner.agent, mlflow_module=mlflow, metric_filter={...})
    runner.agent._update = wrapper_func

That assignment only ever worked on skrl 1.4, whose trainer calls ``_update``; skrl 2.x calls
``update`` and ignores it. Here the call itself starts a tap on whichever method this skrl
line uses, and returns that tapped method: assigning it to ``_update`` is then a no-op on 1.4
and harmless on 2.x. The tap stops (restoring the agent, flushing what it holds) at
interpreter exit; use :func:`metrictap.track` to control when it stops.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterable
from typing import Any

from metrictap.tap.track import Tap, track


def create_mlflow_logging_wrapper(agent: Any, mlflow_module: Any, metric_filter: Iterable[str] | None = None,
                                  *, log_interval: int | str = "balanced") -> Callable[..., Any]:
    """Start tracking *agent* into *mlflow_module*'s active run; returns the tapped update method.

    Args:
        agent: the skrl agent (``runner.agent``).
        mlflow_module: the ``mlflow`` module, inside ``mlflow.start_run()``.
        metric_filter: canonical metric names (or glob patterns) to log; None logs all.
        log_interval: what ``--mlflow_log_interval`` took: ``step``, ``balanced``, ``rollout``,
            an int, or a duration such as ``30s``.

    """
    tap = track(agent, sink=mlflow_module, every=log_interval, only=metric_filter).start()
    atexit.register(_stop, tap)
    return tap.update_method  # type: ignore[no-any-return]


def _stop(tap: Tap) -> None:
    if tap.active:
        tap.stop()

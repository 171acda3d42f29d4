"""The tap's own cost on the training thread, measured inside the process without changing the tap.

For a measured run the bench swaps the tap's wrapper functions (the collector's ``on_update``,
``on_transition`` and ``on_flush``, and the hook wrappers) for timed copies, and puts them back
afterwards, so the tap that users run carries no timing code. A timed copy hands the original
body a stand-in for the framework's method that times that call, and records the body's
*exclusive* time: its whole duration minus the framework's own work inside it. Hooks run inside
the update, so their time is excluded from the update's and recorded on its own.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Body = Callable[..., Any]
CALIBRATION_CALLS = 20_000


class Stopwatch:
    """Exclusive times per wrapper kind, and the tap's total per update cycle.

    An update cycle is everything the tap did on the training thread since the previous update
    ended: the transitions recorded in between (where windows close), the flushes, the hooks,
    and the update's own wrapper.
    """

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.cycles: list[float] = []
        self._pending = 0.0

    def record(self, kind: str, seconds: float) -> None:
        """Add one call's exclusive time; an update call closes the current cycle."""
        self.calls[kind].append(seconds)
        self._pending += seconds
        if kind == "update":
            self.cycles.append(self._pending)
            self._pending = 0.0

    def exclusive(self, body: Body, kind: str) -> Body:
        """A copy of the wrapper *body* (wrapt's ``(wrapped, instance, args, kwargs)`` last) that records its cost."""
        perf_counter, record = time.perf_counter, self.record

        def timed(*call: Any) -> Any:
            *head, wrapped, instance, args, kwargs = call
            inner = 0.0

            def original(*args: Any, **kwargs: Any) -> Any:
                nonlocal inner
                started = perf_counter()
                try:
                    return wrapped(*args, **kwargs)
                finally:
                    inner += perf_counter() - started

            started = perf_counter()
            try:
                return body(*head, original, instance, args, kwargs)
            finally:
                record(kind, perf_counter() - started - inner)

        return timed

    @contextmanager
    def installed(self) -> Iterator[Stopwatch]:
        """Time every tap started inside this block; the tap's own functions are restored on leaving."""
        from metrictap import _hooks  # noqa: PLC0415
        from metrictap._collector import Collector  # noqa: PLC0415

        saved: list[tuple[object, str, Any]] = []

        def swap(owner: object, name: str, replacement: Any) -> None:
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, replacement)

        for name, kind in (("on_update", "update"), ("on_transition", "transition"), ("on_flush", "flush")):
            swap(Collector, name, self.exclusive(getattr(Collector, name), kind))
        for factory in ("_function_wrapper", "_method_wrapper"):
            made = getattr(_hooks, factory)
            swap(_hooks, factory, lambda *spec, made=made: self.exclusive(made(*spec), "hook"))
        try:
            yield self
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)


def instrument_floor() -> float:
    """Seconds the timing itself adds to one call: a timed wrapper whose body only calls through (median)."""
    stopwatch = Stopwatch()
    timed = stopwatch.exclusive(lambda wrapped, _instance, args, kwargs: wrapped(*args, **kwargs), "floor")
    for _ in range(CALIBRATION_CALLS):
        timed(int, None, (), {})
    samples = sorted(stopwatch.calls["floor"])
    return samples[len(samples) // 2]

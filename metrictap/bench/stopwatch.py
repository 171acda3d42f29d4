"""The tap's own cost on the training thread, measured inside the process without changing the tap.

For a measured run the bench opens :func:`metrictap.tap.patching.timing`, the tap's one timing
hook: every wrapper a tap builds inside it reports its *exclusive* time (its whole duration
minus the framework's own work inside it), so the tap that users run carries no timing code.
Hooks run inside the update, so their time is excluded from the update's and recorded on its own.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import AbstractContextManager

from metrictap.tap.patching import Wrapper, timed, timing

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

    def exclusive(self, body: Wrapper, kind: str) -> Wrapper:
        """A copy of the wrapt-style wrapper *body* that records its exclusive time under *kind*."""
        return timed(kind, body, self.record)

    def installed(self) -> AbstractContextManager[None]:
        """Time every tap started inside this block, through the tap's one timing hook."""
        return timing(self.record)


def instrument_floor() -> float:
    """Seconds the timing itself adds to one call: a timed wrapper whose body only calls through (median)."""
    stopwatch = Stopwatch()
    timed = stopwatch.exclusive(lambda wrapped, _instance, args, kwargs: wrapped(*args, **kwargs), "floor")
    for _ in range(CALIBRATION_CALLS):
        timed(int, None, (), {})
    samples = sorted(stopwatch.calls["floor"])
    return samples[len(samples) // 2]

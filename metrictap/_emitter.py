"""The emitter thread: turns closed windows into named values and delivers them to the sinks.

The training thread only posts messages to an unbounded, lock-free queue; everything that
costs time (episode arithmetic, reductions, naming, filtering, network calls) happens here.
Deliveries are batched: at most one per ``interval`` seconds, each carrying every window
closed since the last one, which is what keeps a slow store from slowing training.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from metrictap._collector import Close, Rows
from metrictap._episodes import Episodes, to_numpy
from metrictap._keys import Route, Router
from metrictap._selection import Selection
from metrictap._window import Window
from metrictap.sinks import Point

_STOP = object()
Batch = tuple[int, int, dict[str, float]]  # step, timestamp in ms, metrics


class Emitter:
    """One background thread per tap; all its counters are written by that thread only."""

    def __init__(self, router: Router, sinks: Sequence[Any], selection: Selection, *, prefix: str = "",
                 depth: int = 2, interval: float = 1.0,
                 on_error: Callable[[str, BaseException], None]) -> None:
        self._router, self._sinks, self._selection = router, list(sinks), selection
        self._prefix, self._depth, self._interval, self._on_error = prefix, depth, interval, on_error
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._episodes = Episodes()
        self._outbox: list[Batch] = []
        self.collected = self.delivered = 0
        self.dropped: Counter[str] = Counter()
        self.thread = threading.Thread(target=self._run, name="metrictap-emitter", daemon=True)

    def start(self) -> None:
        """Start delivering."""
        self.thread.start()

    def post(self, message: object) -> None:
        """Queue a message from the training thread; never blocks."""
        self._queue.put(message)

    def close(self, timeout: float) -> bool:
        """Deliver everything posted so far, waiting at most *timeout* seconds; True if it all went out."""
        self._queue.put(_STOP)
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def pending(self) -> int:
        """Points collected but neither delivered nor dropped yet."""
        return self.collected - self.delivered - sum(self.dropped.values())

    def _run(self) -> None:
        last = time.monotonic()
        stopping = False
        while not stopping:
            wait = None if not self._outbox else max(0.0, last + self._interval - time.monotonic())
            try:
                message = self._queue.get(timeout=wait)
            except queue.Empty:
                message = None
            if message is _STOP:
                stopping = True
            elif message is not None:
                self._handle(message)
            if self._outbox and (stopping or time.monotonic() - last >= self._interval):
                self._deliver()
                last = time.monotonic()

    def _handle(self, message: object) -> None:
        try:
            if isinstance(message, Rows):
                successes = None
                if message.successes is not None:
                    successes = to_numpy([_or_nan(item, message.rewards[0]) for item in message.successes])
                self._episodes.add(to_numpy(message.rewards), to_numpy(message.dones), successes)
            elif isinstance(message, Close):
                self._outbox.append((message.step, message.timestamp_ms, self._values(message)))
        except Exception as exc:  # noqa: BLE001 - a bad window must not stop delivery of the next ones
            self._on_error("emitter", exc)

    def _values(self, close: Close) -> dict[str, float]:
        window = Window(self._depth)
        for tag, items in close.slices:
            route = self._router.route(tag)
            if isinstance(route, str):
                window.dropped[route] += 1
            else:
                window.add(route, items)
        for name, items in close.hooks.items():
            window.add(Route(name), items)
        values = window.values()
        values.update(self._episodes.close())
        values.update(close.measured)
        for name, value in close.fallback.items():
            if name not in values:
                number = _number(value)
                if number is None:
                    window.dropped["invalid"] += 1
                else:
                    values[name] = number
        self.dropped.update(window.dropped)
        self.collected += len(values) + sum(window.dropped.values())
        selected = {}
        for name, value in values.items():
            if self._selection.accepts(name):
                selected[self._prefix + name] = value
            else:
                self.dropped["filtered"] += 1
        return selected

    def _deliver(self) -> None:
        batches, self._outbox = [batch for batch in self._outbox if batch[2]], []
        failed: set[int] = set()
        for sink in self._sinks:
            if hasattr(sink, "log_points"):
                points = [Point(name, value, step, stamp) for step, stamp, metrics in batches
                          for name, value in metrics.items()]
                if not self._call(sink, sink.log_points, points):
                    failed.update(range(len(batches)))
            else:
                for index, (step, _, metrics) in enumerate(batches):
                    if not self._call(sink, sink.log_metrics, metrics, step):
                        failed.add(index)
        for index, (_, _, metrics) in enumerate(batches):
            if index in failed:
                self.dropped["sink_error"] += len(metrics)
            else:
                self.delivered += len(metrics)

    def _call(self, sink: object, method: Callable[..., object], *args: object) -> bool:
        try:
            method(*args)
        except Exception as exc:  # noqa: BLE001 - one failing sink must not stop the others
            self._on_error(f"sink {_label(sink)}", exc)
            return False
        return True


def _label(sink: object) -> str:
    function = getattr(sink, "function", None)
    return getattr(function, "__name__", None) or type(sink).__name__


def _number(value: object) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _or_nan(flags: Any, like: Any) -> Any:
    if flags is not None:
        return flags
    import numpy as np  # noqa: PLC0415

    return np.full(len(like), np.nan)

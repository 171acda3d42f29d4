"""The emitter thread: turns closed windows into named values and hands them to one courier per sink.

The training thread only posts messages to a lock-free queue; everything that costs time
(episode arithmetic, reductions, naming, filtering) happens here, and nothing here waits on a
network, so the queue never backs up behind a slow server: delivery belongs to the couriers
(:mod:`metrictap.delivery.courier`). Each closed window goes to every courier at once (for an MLflow
sink, into its spool's write buffer); at most every ``interval`` seconds the buffers are written
out and the couriers woken, which bounds what a crash can lose to one interval.

Imported where used, not at module level: ``numpy``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from metrictap.adapting.routing import Route, Router
from metrictap.adapting.selection import Selection
from metrictap.emitting.episodes import Episodes, to_numpy
from metrictap.emitting.messages import Close, Ready, Rows
from metrictap.emitting.window import Window

if TYPE_CHECKING:  # the delivery modules load on the first entry into a tap, not on `import metrictap`
    from metrictap.delivery.courier import Courier, RunEnd

_STOP = object()


class Emitter:
    """One background thread per tap, feeding the couriers; its own counters are written by that thread only."""

    def __init__(self, router: Router, couriers: Sequence[Courier], selection: Selection, *, prefix: str = "",
                 depth: int = 2, interval: float = 1.0, on_error: Callable[[str, BaseException], None],
                 logged_through: int | None = None) -> None:
        self._router, self.couriers, self._selection = router, list(couriers), selection
        self._prefix, self._depth, self._interval, self._on_error = prefix, depth, interval, on_error
        self._logged_through = logged_through  # a resumed run holds these steps already
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._episodes = Episodes()
        self._hook_routes: dict[str, Route] = {}
        self._steps: deque[tuple[Any, Any, Any]] = deque()  # recorded steps on the host, not yet in a window
        self._taken = 0  # of the first entry
        self.collected = 0
        self.dropped: Counter[str] = Counter()
        self.thread = threading.Thread(target=self._run, name="metrictap-emitter", daemon=True)

    def start(self) -> None:
        """Start processing and delivering."""
        for courier in self.couriers:
            courier.thread.start()
        self.thread.start()

    def post(self, message: object) -> None:
        """Queue a message from the training thread; never blocks."""
        self._queue.put(message)

    def queued(self) -> int:
        """Messages posted and not yet taken by the emitter thread."""
        return self._queue.qsize()

    def close(self, timeout: float, run_end: RunEnd | None = None) -> bool:
        """Deliver everything posted so far within *timeout* seconds (``inf``: wait for ever); True if it all went out.

        The emitter's own work (naming and reducing what training posted) involves no network, so it
        is always finished first: every window reaches its couriers, and so a spool, before they are
        settled. What the sinks did not take stays in the spools, together with *run_end* (run id,
        status) for a run that could not be ended now; an interrupt (Ctrl-C) leaves at once with the
        spools intact.
        """
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_STOP)
            for courier in self.couriers:
                courier.close(deadline)
            self.thread.join()
            for courier in self.couriers:
                courier.join(deadline)
        finally:
            settled = [courier.settle(run_end) for courier in self.couriers]  # every one, even after a False
        return all(settled) and not self.thread.is_alive()

    def counts(self) -> tuple[int, int, int, Counter[str]]:
        """Points collected, delivered, waiting in a spool, and dropped by reason.

        With several sinks, delivered and dropped are those of the sink that delivered least,
        so that ``collected == delivered + pending + dropped`` holds for what every sink got.
        """
        worst = min(self.couriers, key=lambda courier: courier.delivered)
        dropped = Counter(dict(self.dropped))  # dict() copies in one step while other threads add reasons
        dropped.update(dict(worst.dropped))
        return self.collected, worst.delivered, max(courier.spooled for courier in self.couriers), dropped

    @property
    def spool(self) -> str:
        """The first spool file that still exists, or an empty string."""
        return next((courier.spool for courier in self.couriers if courier.spool), "")

    def report(self, timeout: float) -> str:
        """One warning about whatever :meth:`close` could not deliver, or an empty string."""
        parts = []
        for courier in self.couriers:
            kept, left = courier.spooled, courier.pending_here() + courier.dropped["exit_timeout"]
            if kept:
                parts.append(f"{kept} are kept in {courier.spool} (send them later with: "
                             f"metrictap replay {courier.spool})")
            if left > kept:
                parts.append(f"{left - kept} for {courier.label} are lost")
        return f"metrictap: not every point was delivered within {timeout:g} s: {'; '.join(parts)}" if parts else ""

    def _run(self) -> None:
        due: float | None = None
        while True:
            wait = None if due is None else max(0.0, due - time.monotonic())
            try:
                message = self._queue.get(timeout=wait)
            except queue.Empty:
                message = None
            if message is _STOP:
                break
            if message is not None and self._handle(message) and due is None:
                due = time.monotonic() + self._interval
            if due is not None and time.monotonic() >= due:
                self._flush()
                due = None
        self._flush()
        for courier in self.couriers:
            courier.finish()

    def _handle(self, message: object) -> bool:
        """Process one message; True if it closed a window with values in it."""
        try:
            if isinstance(message, Rows):
                rewards = to_numpy(message.rewards)
                dones = to_numpy(message.terminated).astype(bool) | to_numpy(message.truncated).astype(bool)
                self._steps.append((rewards, dones, _flags(message.successes, rewards)))
            elif isinstance(message, Close):
                self._account(message.rows)
                points = [] if message.stamped is None else [(message.stamped[0], self._stamped(message.stamped[1]))]
                points.append((message.step, self._values(message)))
                points = [(step, values) for step, values in points if values and not self._logged(step, values)]
                for step, values in points:
                    for courier in self.couriers:
                        courier.put((step, message.timestamp_ms, values))
                return bool(points)
            elif isinstance(message, Ready):
                return self._ready(message)
        except Exception as exc:  # noqa: BLE001 - a bad window must not stop delivery of the next ones
            self._on_error("emitter", exc)
        return False

    def _logged(self, step: int, values: dict[str, float]) -> bool:
        """Whether the run holds *step* already (a resumed run): then its values are counted as superseded."""
        if self._logged_through is None or step > self._logged_through:
            return False
        self.dropped["superseded"] += len(values)
        return True

    def _ready(self, message: Ready) -> bool:
        """Hand ready-made values to every courier; non-finite ones are dropped and counted."""
        values = {name: value for name, value in message.values.items() if math.isfinite(value)}
        self.collected += len(message.values)
        if len(values) < len(message.values):
            self.dropped["non_finite"] += len(message.values) - len(values)
        if not values:
            return False
        for courier in self.couriers:
            courier.put((message.step, message.timestamp_ms, values))
        return True

    def _account(self, count: int) -> None:
        """Replay the next *count* recorded steps into the episode accounting: those of the window closing now."""
        while count and self._steps:
            rewards, dones, successes = self._steps[0]
            start = self._taken
            end = min(start + count, len(rewards))
            flags = None if successes is None else successes[start:end]
            self._episodes.add(rewards[start:end], dones[start:end], flags)
            count -= end - start
            if end == len(rewards):
                self._steps.popleft()
                self._taken = 0
            else:
                self._taken = end

    def _flush(self) -> None:
        for courier in self.couriers:
            self._flush_one(courier)

    def _flush_one(self, courier: Courier) -> None:
        try:
            courier.flush()
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the other sinks
            self._on_error("spool", exc)

    def _routed(self, window: Window, slices: list[tuple[str, list[Any]]]) -> None:
        """Add each tag's values to *window* under its route, counting those the adapter drops."""
        for tag, items in slices:
            route = self._router.route(tag)
            if isinstance(route, str):
                window.dropped[route] += 1
            else:
                window.add(route, items)

    def _counted(self, window: Window, values: dict[str, float]) -> dict[str, float]:
        """Count *values* and what *window* dropped as collected; the values the selection lets through."""
        if window.dropped:
            self.dropped.update(window.dropped)
            self.collected += sum(window.dropped.values())
        self.collected += len(values)
        return self._selected(values)

    def _stamped(self, slices: list[tuple[str, list[Any]]]) -> dict[str, float]:
        """The values of tags the framework wrote out at a step of its own during the window."""
        window = Window(self._depth)
        self._routed(window, slices)
        return self._counted(window, window.values())

    def _values(self, close: Close) -> dict[str, float]:
        window = Window(self._depth)
        self._routed(window, close.slices)
        for name, items in close.hooks.items():
            route = self._hook_routes.get(name) or self._hook_routes.setdefault(name, Route(name))
            window.add(route, items)
        values = window.values()
        values.update(self._episodes.close())
        window.dropped.update(self._episodes.take_skipped())
        values.update(close.measured)
        for name, value in close.fallback.items():
            if name not in values:
                number = _number(value)
                if number is None:
                    window.dropped["invalid"] += 1
                else:
                    values[name] = number
        return self._counted(window, values)

    def _selected(self, values: dict[str, float]) -> dict[str, float]:
        """The *values* that ``only=`` lets through, named with the prefix; the others are counted as filtered."""
        if self._selection.only is None and not self._prefix:
            return values
        selected = {}
        for name, value in values.items():
            if self._selection.accepts(name):
                selected[self._prefix + name] = value
            else:
                self.dropped["filtered"] += 1
        return selected


def _number(value: object) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _flags(successes: list[Any] | None, rewards: Any) -> Any:
    """The chunk's success flags shaped like its *rewards*; None when there are none, or they do not fit the envs."""
    if successes is None:
        return None
    import numpy as np

    try:
        flags = to_numpy([np.full(rewards.shape[1], np.nan) if item is None else item for item in successes])
    except (TypeError, ValueError, RuntimeError):  # rows of different lengths: flags of a different shape than envs
        return None
    return flags if flags.shape == rewards.shape else None

"""Delivery threads: one per sink, so that a slow, absent or throttling store holds back only itself.

The emitter thread hands every closed window to each courier (:meth:`Courier.put`) and makes
them visible at most every flush interval (:meth:`Courier.flush`); it never waits on a sink.

* A :class:`SpoolCourier` serves an :class:`~metrictap.sinks.MlflowSink`: ``put`` writes the
  window ahead to the spool, and the thread sends from the spool file, in order, one request of
  ``batch_size`` points at a time, marking the spool after each. Failed requests are retried with
  capped exponential backoff and jitter for as long as the tap is open (then until the exit
  deadline); a request the store refuses for its content is split in halves until the bad points
  are isolated and dropped as ``invalid``, so one bad name never costs the others. Its memory is
  one request, however long the server is away: the backlog is on disk.
* With ``track(..., delivery="process")`` a :class:`~metrictap.delivery.process.ProcessCourier` writes the
  spool the same way and a child process runs a :class:`SpoolCourier` over it: see :mod:`metrictap.delivery.process`.
* A :class:`~metrictap.delivery.memory.MemoryCourier` serves every other sink: see :mod:`metrictap.delivery.memory`.

Imported where used, not at module level: ``logging``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from metrictap.delivery.spool import Spool
from metrictap.errors import RejectedPointsError
from metrictap.sinks.mlflow import MlflowSink
from metrictap.sinks.protocol import Point

FIRST_WAIT = 0.25  # seconds before the first retry; doubles per failure
LONGEST_WAIT = 10.0  # so that a server back from an outage is found within seconds
RETRY_AFTER_CAP = 60.0  # the longest Retry-After header honoured
MEMORY_BACKLOG = 100_000  # points a spool courier holds in memory once its spool cannot be written
Emission = tuple[int, int, dict[str, float]]  # one closed window: step, timestamp in ms, metrics
RunEnd = tuple[str, str]  # run id, status


class Courier:
    """The delivery thread of one sink, and its counts; subclasses say where windows wait."""

    def __init__(self, sink: Any, *, on_error: Callable[[str, BaseException], None]) -> None:
        self.sink, self.label, self._on_error = sink, f"sink {_label(sink)}", on_error
        self.handed = self.delivered = 0
        self.dropped: Counter[str] = Counter()
        self.completed = False
        self._ready = threading.Event()  # something to take, or a change of state
        self._nudge = threading.Event()  # cuts a backoff short: exit began, or delivery stops
        self._lock = threading.Lock()
        self._finishing = self._stopped = False
        self._deadline: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"metrictap-{self.label}", daemon=True)

    @property
    def spooled(self) -> int:
        """Points waiting in a spool file (that would survive a crash)."""
        return 0

    @property
    def spool(self) -> str:
        """The spool file, while it exists."""
        return ""

    def put(self, window: Emission) -> None:
        """Take one window (emitter thread)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Make what was put so far visible to the delivery thread (emitter thread)."""
        self._ready.set()

    def finish(self) -> None:
        """No more windows will come (emitter thread): deliver what is left, then end."""
        self._finishing = True
        self._ready.set()

    def close(self, deadline: float) -> None:
        """Exit began: retry now, and let no request outlast *deadline* (a ``time.monotonic()`` value)."""
        self._deadline = deadline
        self._nudge.set()

    def join(self, deadline: float) -> None:
        """Wait for the thread, at most until *deadline* (for ever when it is infinite)."""
        self.thread.join(remaining(deadline))

    def discard(self) -> None:
        """The tap's entry failed before anything was delivered: release what this courier holds."""

    def _lost_after_stop(self, count: int) -> None:
        """Count *count* points handed over after delivery stopped (an interrupted exit): they exist nowhere."""
        self.handed += count
        self.dropped["exit_timeout"] += count

    def settle(self, run_end: RunEnd | None) -> bool:
        """Whether everything was delivered; if not, stop sending and leave the rest where it can be found."""
        with self._lock:
            if self.completed:
                return True
            self._stopped = True
            self._leave(run_end)
        self._nudge.set()
        self._ready.set()
        return False

    def _leave(self, run_end: RunEnd | None) -> None:
        """Called once, under the lock, when delivery stops early."""

    def _run(self) -> None:
        try:
            while not self._stopped:
                finishing = self._finishing
                if not self._deliver_next():
                    if finishing:
                        break
                    self._ready.wait()
                    self._ready.clear()
        except Exception as exc:  # noqa: BLE001 - a broken courier is reported, never raised into training
            self._on_error(f"{self.label} delivery", exc)
        finally:
            with self._lock:
                self.completed = not self._stopped and self._finishing and self._drained()
                self._end()

    def pending_here(self) -> int:
        """Points this courier took and has neither delivered nor dropped."""
        return self.handed - self.delivered - sum(self.dropped.values())

    def _drained(self) -> bool:
        return self.pending_here() == 0

    def _deliver_next(self) -> bool:
        raise NotImplementedError

    def _end(self) -> None:
        """Called once, under the lock, when the thread ends."""

    def _send(self, points: Sequence[Point], settle: Callable[[int], None]) -> None:
        """Deliver *points* in order: retry failures, bisect refusals; call *settle(n)* as each prefix is done."""
        size = self.sink.batch_size
        parts = deque((start, min(start + size, len(points))) for start in range(0, len(points), size))
        wait = FIRST_WAIT
        while parts and not self._stopped:
            low, high = parts[0]
            try:
                self.sink.log_points(points[low:high], timeout=self._timeout())
            except RejectedPointsError as exc:
                parts.popleft()
                if high - low > 1:
                    middle = (low + high) // 2
                    parts.extendleft([(middle, high), (low, middle)])
                    continue
                self.dropped["invalid"] += 1
                self._on_error("invalid point", exc)
            except Exception as exc:  # noqa: BLE001 - anything else may pass: keep the points, retry
                self._on_error(self.label, exc)
                self._pause(wait, getattr(exc, "retry_after", None))
                wait = min(LONGEST_WAIT, wait * 2)
                continue
            else:
                parts.popleft()
                self.delivered += high - low
                wait = FIRST_WAIT
            settle(high)

    def _timeout(self) -> float | None:
        left = None if self._deadline is None else remaining(self._deadline)
        return None if left is None else max(0.1, left)

    def _pause(self, wait: float, retry_after: float | None) -> None:
        delay = wait * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
        if retry_after:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
        self._nudge.wait(delay)
        self._nudge.clear()


class SpoolCourier(Courier):
    """Writes ahead to a spool, then sends from it: see the module's docstring.

    When the spool cannot be written (a full disk), the points that did not reach it and every
    later one wait in memory instead, at most :data:`MEMORY_BACKLOG` of them (the oldest dropped
    as ``overflow`` beyond that); delivery sends what the file holds first, then those, in order.
    One warning names the spool and the error.
    """

    def __init__(self, sink: MlflowSink, spool: Spool, *, on_error: Callable[[str, BaseException], None],
                 remove: bool = True, lock: bool = True) -> None:
        super().__init__(sink, on_error=on_error)
        if lock:
            spool.lock()
        self._spool, self._path, self._remove, self.flushed = spool, spool.path, remove, 0
        self._file_settled = 0  # points of the file delivered or dropped
        self._memory: deque[Point] | None = None  # once the spool could not be written

    @property
    def spooled(self) -> int:
        """Points written to the spool file and not yet delivered or dropped."""
        return max(0, self.flushed - self._file_settled)

    @property
    def spool(self) -> str:
        """The spool file, while it exists."""
        return self._path

    def put(self, window: Emission) -> None:
        """Buffer the window's points for the spool (in memory once the spool cannot be written)."""
        step, stamp, metrics = window
        points = [Point(name, value, step, stamp) for name, value in metrics.items()]
        with self._lock:
            if self._stopped:  # only after an interrupted exit: the file is closed
                self._lost_after_stop(len(points))
                return
            self.handed += len(points)
            if self._memory is None:
                self._spool.append(points)
            else:
                self._hold(points)

    def flush(self) -> None:
        """Write the buffered points to the spool file, then wake the thread."""
        with self._lock:  # the file is closed once delivery stops: never write to a reused descriptor
            if not self._stopped:
                self._write()
        super().flush()

    def _write(self) -> None:
        """Write the spool's buffer out (under the lock); on failure keep its points, and all later ones, in memory."""
        if self._memory is not None:
            return
        try:
            self.flushed += self._spool.flush()
        except OSError as exc:
            self._memory = deque()
            self._hold(self._spool.unwritten())
            import logging

            logging.getLogger("metrictap").warning(
                "metrictap: cannot write the spool %s (%s); delivery goes on from memory (at most %d points wait "
                "there, the oldest dropped as overflow beyond that), and what is not delivered when the tap ends "
                "is lost", self._path, exc, MEMORY_BACKLOG)

    def _hold(self, points: Sequence[Point]) -> None:
        memory = self._memory
        assert memory is not None  # noqa: S101 - only called in memory mode
        memory.extend(points)
        overflow = len(memory) - MEMORY_BACKLOG
        if overflow > 0:
            for _ in range(overflow):
                memory.popleft()
            self.dropped["overflow"] += overflow

    def _deliver_next(self) -> bool:
        with self._lock:
            if self._stopped:
                return False
            points, ends = self._spool.read(self._spool.delivered, self.sink.batch_size)
            memory = self._memory
            if not points and memory:
                points = [memory.popleft() for _ in range(min(len(memory), self.sink.batch_size))]
        if ends:
            self._send(points, self._file_settler(ends))
        elif points:
            done = [0]
            self._send(points, lambda count: done.__setitem__(0, count))
            if done[0] < len(points):  # delivery stopped with these taken out of memory: they are lost
                self.dropped["exit_timeout"] += len(points) - done[0]
        return bool(points)

    def _file_settler(self, ends: list[int]) -> Callable[[int], None]:
        done = 0

        def settle(count: int) -> None:
            nonlocal done
            if self._mark(ends[count - 1]):
                self._file_settled += count - done
                done = count

        return settle

    def _mark(self, offset: int) -> bool:
        """Mark the file delivered up to *offset*; False once delivery stopped (replay resends such a request)."""
        with self._lock:
            if self._stopped:
                return False
            self._spool.mark(offset)
            return True

    def _leave(self, run_end: RunEnd | None) -> None:
        self._write()  # windows the emitter handed over since its last flush
        if self._memory:
            self.dropped["exit_timeout"] += len(self._memory)
            self._memory.clear()
        if run_end is not None and run_end[0] == self.sink.run_id:
            try:
                self._spool.end_run(run_end[1], time.time_ns() // 1_000_000)
            except OSError as exc:
                self._on_error("spool", exc)
        self._spool.close()  # releases the lock, so that `metrictap replay` may run while this process lives

    def _drained(self) -> bool:
        return not self._memory and not self._spool.remains()

    def _end(self) -> None:
        if self.completed:  # otherwise settle() closes it, after recording how the run ends
            self._spool.close(remove=self._remove)
            self._path = "" if self._remove else self._path

    def discard(self) -> None:
        """Close and remove the spool, which holds no point yet."""
        self._spool.close(remove=True)
        self._path = ""


def remaining(deadline: float) -> float | None:
    """Seconds left until the ``time.monotonic()`` *deadline*, or None (no limit) beyond what a wait can take."""
    left = max(0.0, deadline - time.monotonic())
    return None if left > threading.TIMEOUT_MAX else left


def _label(sink: object) -> str:
    function = getattr(sink, "function", None)
    return getattr(function, "__name__", None) or type(sink).__name__

"""Delivery from a separate process: ``track(..., delivery="process")``.

MLflow's stores are Python: the sqlite store spends 100-150 µs of interpreter time per metric,
and a delivery thread spends it under the same interpreter lock as the training thread. With
``delivery="process"`` the tap still writes every point ahead to the spool, but a child
interpreter (``python -m metrictap.delivery.process``) sends from that file, marks it, and reports
its counts on its stdout; the training process only writes the file and reads those lines.

The child runs a :class:`~metrictap.delivery.courier.SpoolCourier` over the same file, so retries,
backoff, the bisection of refused points and the exit deadline are the thread's, unchanged.
Parent to child, one line each on stdin: the settings (JSON, with the tracking URI, which may
carry credentials, never on the command line), then ``flush``, ``finish``, ``close <seconds>``
and ``stop``. Child to parent, JSON lines: counts after each request, errors, and the outcome.
If the training process dies, the child finishes what the spool holds (within
``ORPHAN_SECONDS``) and exits.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from metrictap.delivery.courier import RunEnd, SpoolCourier, remaining
from metrictap.delivery.spool import Spool
from metrictap.sinks.mlflow import MlflowSink, RunRequests
from metrictap.sinks.protocol import Point

ORPHAN_SECONDS = 30.0
STOP_SECONDS = 2.0  # how long a stopped child may take to close the spool before it is killed


class ProcessCourier(SpoolCourier):
    """Writes ahead to a spool like :class:`SpoolCourier`; a child process sends from it."""

    def __init__(self, sink: MlflowSink, spool: Spool, *, on_error: Callable[[str, BaseException], None]) -> None:
        super().__init__(sink, spool, on_error=on_error, lock=False)  # the child holds the lock while it delivers
        self._child = subprocess.Popen([sys.executable, "-m", "metrictap.delivery.process"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._tell(json.dumps({"spool": spool.path, "run_id": sink.run_id, "tracking_uri": sink.resolved_uri(),
                               "batch_size": sink.batch_size, "timeout": sink.timeout,
                               "max_requests_per_second": sink.max_requests_per_second}))

    @property
    def spooled(self) -> int:
        """Points written to the spool file and not yet delivered or dropped, as the child reports."""
        return max(0, self.flushed - self.delivered - sum(self.dropped.values()))

    def _hold(self, points: Sequence[Point]) -> None:
        """The spool cannot be written: the child, which sends only from the file, will never see *points*."""
        self.dropped["spool_full"] += len(points)

    def flush(self) -> None:
        """Write the buffered points to the spool file, then tell the child."""
        super().flush()
        self._tell("flush")

    def finish(self) -> None:
        """No more windows: the child delivers what is left, then ends."""
        self._finishing = True
        self._tell("finish")

    def close(self, deadline: float) -> None:
        """Exit began: the child lets no request outlast *deadline*."""
        self._deadline = deadline
        left = remaining(deadline)
        self._tell(f"close {'inf' if left is None else f'{left:.3f}'}")

    def settle(self, run_end: RunEnd | None) -> bool:
        """Whether the child delivered everything; if not, stop it and leave the rest in the spool."""
        if self.completed:
            return True
        self._tell("stop")
        try:
            self._child.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._child.kill()
        self.thread.join(STOP_SECONDS)
        with self._lock:
            if self.completed:  # the child finished while it was told to stop: its spool is already closed
                return True
            self._stopped = True
            self._leave(run_end)
        return False

    def discard(self) -> None:
        """Stop the child before it delivered anything, then remove the spool."""
        self._child.kill()
        self._child.wait(STOP_SECONDS)
        for pipe in (self._child.stdin, self._child.stdout):
            if pipe is not None:
                pipe.close()
        super().discard()

    def _tell(self, line: str) -> None:
        with self._lock:
            if self._child.poll() is None and self._child.stdin is not None:
                with contextlib.suppress(BrokenPipeError, ValueError):  # the child ended; its stdout says how
                    self._child.stdin.write(line + "\n")

    def _run(self) -> None:
        """Read the child's reports until it exits."""
        completed = False
        stdout: IO[str] | None = self._child.stdout
        for line in stdout or ():
            completed = self._take(line) or completed
        code = self._child.wait()
        with self._lock:
            for pipe in (self._child.stdin, stdout):
                if pipe is not None:
                    pipe.close()
        if code and not completed:
            self._on_error(f"{self.label} delivery process", RuntimeError(f"it exited with status {code}"))
        with self._lock:
            self.completed = completed and not self._stopped
            if self.completed:  # the child removed the file
                self._spool.close()
                self._path = ""

    def _take(self, line: str) -> bool:
        """Apply one line of the child's; whether it says that everything was delivered."""
        try:
            report = json.loads(line)
        except ValueError:  # something the child's libraries wrote to its stdout: pass it on
            sys.stderr.write(line)
            return False
        if "delivered" in report:
            self.delivered = report["delivered"]
            for reason, count in report["dropped"].items():
                self.dropped[reason] = count
        elif "error" in report:
            self._on_error(report["error"], RuntimeError(report["message"]))
        return bool(report.get("completed"))


class _ReportingCourier(SpoolCourier):
    """The child's courier: reports its counts on stdout after each request."""

    def __init__(self, sink: MlflowSink, spool: Spool, out: IO[str]) -> None:
        self._out, self._out_lock = out, threading.Lock()
        super().__init__(sink, spool, on_error=self._error)

    def report(self, message: dict[str, Any]) -> None:
        """Write one report line; once the parent is gone (a broken pipe), deliver on without reporting."""
        with self._out_lock, contextlib.suppress(OSError, ValueError):
            self._out.write(json.dumps(message) + "\n")
            self._out.flush()

    def _error(self, label: str, exc: BaseException) -> None:
        self.report({"error": label, "message": repr(exc)})

    def _mark(self, offset: int) -> bool:
        marked = super()._mark(offset)
        self.report({"delivered": self.delivered, "dropped": dict(self.dropped)})
        return marked


def main() -> int:
    """The child: deliver the spool named on stdin as the parent's commands say."""
    settings = json.loads(sys.stdin.readline())
    sink = MlflowSink(settings["run_id"], settings["tracking_uri"], batch_size=settings["batch_size"],
                      timeout=settings["timeout"], max_requests_per_second=settings["max_requests_per_second"])
    out, sys.stdout = sys.stdout, sys.stderr  # anything MLflow prints must not mix with the reports
    spool = Spool.open(settings["spool"])
    courier = _ReportingCourier(sink, spool, out)
    orphaned = threading.Event()
    courier.thread.start()
    threading.Thread(target=_listen, args=(courier, orphaned), daemon=True).start()
    courier.thread.join()  # ends once everything is delivered after `finish`, or once stopped
    courier.report({"completed": courier.completed})
    if orphaned.is_set() and courier.completed and spool.owned:
        _end_orphaned_run(sink)
    return 0


def _end_orphaned_run(sink: MlflowSink) -> None:
    """The training process died and its run, which metrictap started, is delivered: end it KILLED.

    The spool that said the run was never ended is gone now that it is delivered, so no replay
    could do it later. If the server does not take the status, the run stays RUNNING.
    """
    with contextlib.suppress(Exception):
        RunRequests(sink.resolved_uri()).end(sink.run_id, "KILLED")


def _listen(courier: SpoolCourier, orphaned: threading.Event) -> None:
    """Carry out the parent's commands; when the parent is gone, finish within ``ORPHAN_SECONDS``, then stop."""
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "flush":
            courier.flush()
        elif command == "finish":
            courier.finish()
        elif command == "close":
            courier.close(time.monotonic() + float(argument))
        elif command == "stop":
            courier.settle(None)
            return
    orphaned.set()
    deadline = time.monotonic() + ORPHAN_SECONDS
    courier.finish()
    courier.close(deadline)
    courier.join(deadline)
    courier.settle(None)


if __name__ == "__main__":
    sys.exit(main())

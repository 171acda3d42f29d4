"""What a tap reports: :class:`TapStats`, and :class:`ErrorLog`, where its errors are counted.

Errors happen on three threads (training, emitter, couriers); the log counts them under one
lock, keeps the first for ``strict`` to raise on exit, and warns once per kind, so that a
failing sink called a thousand times a minute does not fill the training's log.

Imported where used, not at module level: ``logging``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TapStats:
    """What a tap saw and did. ``points == delivered + pending + sum(dropped.values())`` always holds.

    ``spooled`` of the pending points are in the spool file ``spool``, which survives a crash and
    which ``metrictap replay`` delivers; ``spool`` names it while the tap is active, and after
    exit only if points remain in it. ``queued`` counts what the training thread handed to the
    emitter thread and it has not taken yet: a backlog that grows means the emitter falls behind.
    ``throttled`` is the seconds this tap's MLflow sinks waited for their request budget
    (``MlflowSink(max_requests_per_second=...)``), counted by the process that sends: with
    ``delivery="process"`` the child waits, and it stays 0 here.
    """

    updates: int = 0
    iterations: int = 0
    transitions: int = 0
    windows: int = 0
    points: int = 0
    delivered: int = 0
    pending: int = 0
    spooled: int = 0
    spool: str = ""
    queued: int = 0
    throttled: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


class ErrorLog:
    """Errors of one activation, counted per kind; the first of each kind is logged as a warning."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.first: BaseException | None = None

    def clear(self) -> None:
        """Forget the previous activation's errors."""
        with self._lock:
            self.counts.clear()
            self.first = None

    def record(self, kind: str, exc: BaseException) -> None:
        """Count *exc* under *kind*; warn if it is the first of its kind."""
        with self._lock:
            self.counts[kind] += 1
            first = self.counts[kind] == 1
            if self.first is None:
                self.first = exc
        if first:
            import logging

            logging.getLogger("metrictap").warning(
                "metrictap: %s error, training continues (further %s errors are only counted): %r",
                kind, kind, exc, exc_info=exc)

"""``metrictap replay SPOOL...``: deliver what spools still hold, to their own run or another.

A spool is left behind when a tap could not deliver everything before its exit deadline, or when
its process died. Replay sends the points after the spool's delivered mark, in order, in the
same requests a tap makes, and moves the mark after each request, so that replaying twice, or
again after an interrupted replay, never sends a point twice. Credentials are never stored in a
spool: they come from the environment (``MLFLOW_TRACKING_TOKEN``, ...) or ``--tracking_uri``.

Imported where used, not at module level: ``metrictap.delivery``, ``metrictap.errors``,
``metrictap.sinks``, ``mlflow``, ``os``; so that ``import metrictap`` and ``metrictap --help`` stay light
and never load a framework, MLflow or a part of metrictap that the call does not need.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from metrictap.errors import UsageError

if TYPE_CHECKING:
    from metrictap.delivery.spool import Spool


def add_arguments(parser: argparse.ArgumentParser, _name: str) -> None:
    """Declare the command's arguments."""
    parser.add_argument("spools", nargs="+", metavar="SPOOL", help="spool files (metrictap-*.spool)")
    parser.add_argument("--run_id", help="deliver into this run instead of the one the spool was collected for")
    parser.add_argument("--tracking_uri", help="the store or server, instead of the one the spool names "
                                               "(needed when that URI carried credentials)")
    parser.add_argument("--batch_size", type=int, default=1000, help="metrics per request (Azure ML: 250)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to keep retrying an unreachable server before giving up (default 60)")


def run(args: argparse.Namespace) -> int:
    """Replay each spool in turn; exit status 1 if any points remain undelivered."""
    from metrictap.delivery.courier import SpoolCourier
    from metrictap.delivery.spool import Spool
    from metrictap.errors import SpoolError
    from metrictap.sinks import MlflowSink

    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout}; accepted: a number of seconds > 0")
    errors: dict[str, int] = {}

    def report(kind: str, exc: BaseException) -> None:
        errors[kind] = errors.get(kind, 0) + 1
        if errors[kind] == 1:
            print(f"metrictap replay: {kind}: {exc}", file=sys.stderr)  # noqa: T201 - the command's output

    status = 0
    for path in args.spools:
        try:
            spool = Spool.open(path)
            sink = MlflowSink(args.run_id or spool.run_id, args.tracking_uri or spool.tracking_uri,
                              batch_size=args.batch_size)
            courier = SpoolCourier(sink, spool, on_error=report, remove=False)
        except (OSError, SpoolError, ValueError) as error:
            raise UsageError(str(error)) from None
        end, before = spool.run_end(), spool.count()
        deadline = time.monotonic() + args.timeout
        courier.finish()
        courier.close(deadline)
        courier.thread.start()
        try:
            courier.join(deadline)
        except KeyboardInterrupt:
            courier.settle(None)
            print(f"metrictap replay: interrupted; {path} is intact, run the command again", file=sys.stderr)  # noqa: T201
            return 130
        completed = courier.settle(None)
        left = before - courier.delivered - sum(courier.dropped.values())
        print(f"{path}: {courier.delivered} points delivered to run {sink.run_id}, "  # noqa: T201
              f"{courier.dropped['invalid']} refused as invalid, {left} left")
        if spool.skipped:
            print(_skipped(spool), file=sys.stderr)  # noqa: T201
            status = 1
        if completed and sink.run_id == spool.run_id:
            _end_run(spool, sink.tracking_uri or spool.tracking_uri, end)
        status = status or (0 if completed else 1)
    return status


def _end_run(spool: Spool, tracking_uri: str, end: tuple[str, int] | None) -> None:
    """Set the end status the spool records; end KILLED a run metrictap started whose process died before ending it."""
    import os

    from metrictap.sinks.mlflow import RunRequests

    if end is None:
        if not spool.owned:
            return
        end = ("KILLED", int(os.stat(spool.path).st_mtime * 1000))  # the last write: about when the process died
        print(f"{spool.path}: run {spool.run_id} was started by metrictap and never ended (its process died): "  # noqa: T201
              "ending it KILLED")
    RunRequests(tracking_uri).end(spool.run_id, *end)


def _skipped(spool: Spool, shown: int = 10) -> str:
    """One line naming the spool's lines that are not points, and why (the first *shown* of them)."""
    first = sorted(spool.skipped.items())[:shown]
    numbers = spool.line_numbers([offset for offset, _ in first])
    lines = [f"line {number} ({reason})" for number, (_, reason) in zip(numbers, first, strict=True)]
    more = len(spool.skipped) - shown
    return (f"metrictap replay: {spool.path}: {len(spool.skipped)} lines are not points and were skipped: "
            f"{', '.join(lines)}{f', and {more} more' if more > 0 else ''}")

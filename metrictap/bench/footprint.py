"""The bench's measures that need no skrl: sink throughput, memory under a stalled sink, import time.

They drive a synthetic agent, a tiny class served by an adapter built in code, as fast as
Python allows: one transition and one update per iteration, with twenty tracked values per
update, which is what a tap sees from an off-policy agent updating every step. The memory
check runs in a child process, so that its stalled emitter thread, and the backlog it holds,
end with that process.

Imported where used, not at module level: ``metrictap``, ``mlflow``; so that ``import metrictap``
and ``metrictap --help`` stay light and never load a framework, MLflow or a part of metrictap that
the call does not need.
"""

from __future__ import annotations

import array
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from metrictap.sinks import MlflowSink, Point
from metrictap.testing import SyntheticAgent, synthetic_adapter

RSS_WARMUP = 10_000
RSS_SAMPLES = 10
PACE_UPDATES = 1_000
PACE_POLL_SECONDS = 0.001
SETTLE_SECONDS = 1.5  # longer than the emitter's flush interval (1 s), so that the spool's write buffer is out
HEAVY = ("mlflow", "numpy", "torch", "wrapt")


class TimedSink(MlflowSink):
    """An MLflow sink (spooled, as any) that adds up the time spent in its requests and the points they carried."""

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        super().__init__(run_id, tracking_uri)
        self.seconds, self.points = 0.0, 0

    def log_points(self, points: Sequence[Point], *, timeout: float | None = None) -> None:
        """Deliver *points*, timed."""
        start = time.perf_counter()
        super().log_points(points, timeout=timeout)
        self.seconds += time.perf_counter() - start
        self.points += len(points)


def delivery(tracking_uri: str, run_id: str, updates: int) -> dict[str, float]:
    """Sink throughput: metrics/s inside the sink's calls, and end to end from the first update to the last point."""
    from metrictap import track

    agent, sink = SyntheticAgent(), TimedSink(run_id, tracking_uri)
    start = time.perf_counter()
    with track(agent, sink=sink, every="step", adapter=synthetic_adapter(), flush_timeout=600.0) as tap:
        agent.train(0, updates)
    elapsed = time.perf_counter() - start
    return {"metrics": sink.points, "sink_seconds": sink.seconds, "elapsed_seconds": elapsed,
            "sink_rate": sink.points / sink.seconds if sink.seconds else 0.0,
            "end_to_end_rate": sink.points / elapsed, "lost": tap.stats.pending}


class StalledSink:
    """A sink whose first call never returns, as a tracking server that stopped answering."""

    def __init__(self) -> None:
        self._never = threading.Event()

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:  # noqa: ARG002 - the protocol
        """Block forever."""
        self._never.wait()


def rss_bytes() -> int:
    """The resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def stalled_rss(updates: int, limit_mb: float, sink_kind: str = "mlflow") -> dict[str, Any]:
    """RSS growth over *updates* updates of a tap whose sink is stalled; stops early past *limit_mb* of growth.

    ``mlflow``: an MLflow sink whose server accepts connections and never answers, so that the
    backlog goes to the spool on disk. ``callable``: a sink function that never returns, whose
    backlog has nowhere to go but memory (nothing is dropped).
    """
    from metrictap import MlflowSink, track

    agent = SyntheticAgent()
    with socket.create_server(("127.0.0.1", 0)) as silent, tempfile.TemporaryDirectory() as spool:
        sink: Any = StalledSink()
        if sink_kind == "mlflow":
            import mlflow  # noqa: F401 - loaded before the baseline: its import is not the backlog's memory

            sink = MlflowSink("stalled", f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=600.0)
        tap = track(agent, sink=sink, every="step", adapter=synthetic_adapter(), spool=spool, flush_timeout=0)
        tap.start()

        def settle() -> None:
            """Let the emitter drain what was handed over (the last 0.2 s of windows wait for the next step)."""
            _settled(lambda: tap.stats.points)

        def caught_up() -> None:
            """Wait until the emitter has taken what was posted: the backlog goes to the spool, not to its queue."""
            while tap.stats.queued:
                time.sleep(PACE_POLL_SECONDS)

        result = _grow(agent, updates, limit_mb, settle, caught_up)
        stats = tap.stats
        result.update(sink=sink_kind, pending_points=stats.pending, spooled_points=stats.spooled,
                      spool_mb=sum(entry.stat().st_size for entry in os.scandir(spool)) / 1e6,
                      transitions=stats.transitions)
        tap.stop()
    return result


def _settled(points: Callable[[], int]) -> None:
    """Wait until the emitter has taken everything handed over (its point count stops moving).

    The synthetic agent updates faster than any real one, faster than the emitter thread names
    and spools its windows; what is measured is what stays, not that transient queue.
    """
    last = -1
    while (now := points()) != last:
        last = now
        time.sleep(SETTLE_SECONDS)


def _grow(agent: SyntheticAgent, updates: int, limit_mb: float, settle: Callable[[], None],
          caught_up: Callable[[], None]) -> dict[str, Any]:
    """RSS after each tenth of *updates*: the growth is counted from the first tenth on.

    This agent updates faster than the emitter names windows, so it waits for the emitter
    (*caught_up*) every ``PACE_UPDATES`` updates, as no real training needs to: unpaced, the
    emitter's queue reached a different high-water mark in every tenth, whose memory the
    allocator keeps, and the growth read anywhere from -28 to +57 MB over 1,000,000 updates.
    The first tenth's one-off rise (the MLflow client, the sink's own buffers) is reported
    apart, as ``first_mb``.
    """
    agent.train(0, RSS_WARMUP)
    settle()
    base = rss_bytes()
    chunk = max(1, updates // RSS_SAMPLES)
    # Preallocated: an object kept from one tenth to the next lands in an arena that the drained
    # queue left nearly empty, and holds all of it; ten such objects read as ten MB of growth.
    slots = bytes(8 * (updates // chunk + 1))
    counts, sizes = array.array("q", slots), array.array("d", slots)
    done = taken = 0
    while done < updates:
        step = min(chunk, updates - done)
        for start in range(done, done + step, PACE_UPDATES):
            agent.train(RSS_WARMUP + start, RSS_WARMUP + min(start + PACE_UPDATES, done + step))
            caught_up()
        done += step
        settle()
        counts[taken], sizes[taken] = done, (rss_bytes() - base) / 1e6
        taken += 1
        if sizes[taken - 1] > limit_mb:
            break
    samples = list(zip(counts[:taken], sizes[:taken], strict=True))
    first_updates, first_mb = samples[0]
    growth = samples[-1][1] - first_mb
    return {"updates": done, "requested": updates, "first_mb": first_mb, "growth_mb": growth, "samples": samples,
            "bytes_per_update": growth * 1e6 / max(1, done - first_updates), "stopped_at_limit": done < updates}


def stalled_rss_in_child(updates: int, limit_mb: float, sink_kind: str = "mlflow") -> dict[str, Any]:
    """:func:`stalled_rss` in a fresh interpreter; its stalled threads die with it."""
    code = ("import json, sys; from metrictap.bench.footprint import stalled_rss; "
            f"json.dump(stalled_rss({int(updates)}, {float(limit_mb)}, {sink_kind!r}), sys.stdout)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,  # noqa: S603 - our code
                          env={**os.environ, "METRICTAP_STRICT": "0"})
    if done.returncode != 0:
        raise RuntimeError(f"the memory check failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def import_time(repeats: int) -> dict[str, Any]:
    """``import metrictap`` in fresh interpreters: median and range in ms, and any heavy module it pulled in.

    As after ``pip install``, modules load from compiled bytecode: a first, unmeasured
    interpreter writes it into a temporary cache that the measured ones read.
    """
    code = ("import json, sys, time; start = time.perf_counter(); import metrictap; "
            "seconds = time.perf_counter() - start; "
            f"print(json.dumps([seconds, [name for name in {list(HEAVY)!r} if name in sys.modules]]))")
    times, heavy = [], set()
    with tempfile.TemporaryDirectory(prefix="metrictap-pycache-") as cache:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for attempt in range(repeats + 1):
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,  # noqa: S603
                                  env=env)
            seconds, modules = json.loads(done.stdout)
            heavy.update(modules)
            if attempt:
                times.append(seconds * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "repeats": repeats, "heavy_modules": sorted(heavy),
            "checked": list(HEAVY)}

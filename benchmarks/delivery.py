"""Delivery benchmark: throughput to sqlite and to a local server, exit time with the server down, memory when stalled.

Run from the repository root: ``python benchmarks/delivery.py``. Starts one ``mlflow server
--workers 1`` on 127.0.0.1 and stops it; everything else happens in this process and a
temporary folder. Training slowdowns are ratios against an untapped run in the same process.
"""

# ruff: noqa: INP001, T201 - a script, not a package; printing its figures is its job
from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mlflow import MlflowClient
from mlflow_servers import MlflowServer, SilentServer, free_port
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap._backlog import MemoryCourier
from metrictap._courier import SpoolCourier
from metrictap._spool import Spool
from metrictap.sinks import CallableSink
from metrictap.testing import MemorySink

WINDOWS, PER_WINDOW = 400, 50  # 20,000 points, as 400 windows of a typical RL tap


def rss_mb() -> float:
    """Resident memory of the benchmark process, in MiB."""
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def throughput(uri: str, folder: Path) -> float:
    """Points per second one SpoolCourier delivers, from the first window handed over to the last point stored."""
    run_id = MlflowClient(uri).create_run("0").info.run_id
    courier = SpoolCourier(MlflowSink(run_id, uri), Spool.create(folder, run_id=run_id, tracking_uri=uri),
                           on_error=lambda kind, exc: print("error", kind, exc))
    courier.thread.start()
    started = time.perf_counter()
    for step in range(WINDOWS):
        courier.put((step, 1_700_000_000_000 + step, {f"metric_{i}": float(step + i) for i in range(PER_WINDOW)}))
    courier.flush()
    courier.finish()
    courier.thread.join()
    elapsed = time.perf_counter() - started
    if courier.delivered != WINDOWS * PER_WINDOW:
        raise RuntimeError(f"delivered {courier.delivered} of {WINDOWS * PER_WINDOW} points")
    return courier.delivered / elapsed


def train(sink: object | None, timesteps: int, **options: object) -> tuple[float, float, float]:
    """Wall seconds and CPU seconds (all threads: the tap's included) of training, and wall seconds leaving the tap."""
    runner = make_runner("PPO", timesteps=timesteps)
    if sink is None:
        wall, cpu = time.perf_counter(), time.process_time()
        runner.run()
        return time.perf_counter() - wall, time.process_time() - cpu, 0.0
    with track(runner.agent, sink=sink, every="step", strict=False, **options):
        wall, cpu = time.perf_counter(), time.process_time()
        runner.run()
        trained, used = time.perf_counter(), time.process_time()
    return trained - wall, used - cpu, time.perf_counter() - trained


def stalled_memory(silent_uri: str, folder: Path, seconds: float) -> list[tuple[float, float, int]]:
    """RSS over time while 1,000 points/s go to a server that never answers: (s, MB, points waiting on disk)."""
    courier = SpoolCourier(MlflowSink("stalled", silent_uri, timeout=600),
                           Spool.create(folder, run_id="stalled", tracking_uri=silent_uri),
                           on_error=lambda *_: None)
    courier.thread.start()
    samples, started, step = [], time.monotonic(), 0
    for second in range(int(seconds)):
        for _ in range(20):
            step += 1
            courier.put((step, step, {f"metric_{i}": float(step) for i in range(PER_WINDOW)}))
        courier.flush()
        if second % 10 == 0:
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(), 1), courier.spooled))
        time.sleep(1.0)
    samples.append((round(time.monotonic() - started, 1), round(rss_mb(), 1), courier.spooled))
    courier.settle(None)
    return samples


def main() -> None:
    """Run every measurement and print one line per figure."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        sqlite = f"sqlite:///{folder / 'bench.db'}"
        MlflowClient(sqlite).search_experiments()
        server = MlflowServer(folder)
        server.start()
        try:
            print(f"throughput to sqlite: {throughput(sqlite, folder / 'a'):,.0f} metrics/s")
            print(f"throughput to mlflow server --workers 1: {throughput(server.uri, folder / 'b'):,.0f} metrics/s")
        finally:
            server.stop()
        timesteps, rounds = 16 * 100, 8
        train(None, timesteps)  # warm-up: first-run costs must not count against either side
        runs: dict[str, list[tuple[float, float, float]]] = {"untapped": [], "memory": [], "down": [], "hung": []}
        with SilentServer() as silent:
            cases = [("untapped", None, 0.0), ("memory", "", 10.0), ("down", f"http://127.0.0.1:{free_port()}", 10.0),
                     ("hung", silent.uri, 3.0)]
            for index in range(rounds):  # interleaved and rotated: neither load changes nor order favour a case
                for case, uri, timeout in cases[index % 4:] + cases[: index % 4]:
                    sink = None if uri is None else MlflowSink(case, uri) if uri else MemorySink()
                    runs[case].append(train(sink, timesteps, spool=folder / f"{case}{index}", flush_timeout=timeout))
            wall = statistics.median(run[0] for run in runs["untapped"])
            cpu = statistics.median(run[1] for run in runs["untapped"])
            for case, timeout in (("memory", 10.0), ("down", 10.0), ("hung", 3.0)):
                print(f"{case}: training takes {statistics.median(run[0] for run in runs[case]) / wall:.2f}x "
                      f"the untapped wall time and {statistics.median(run[1] for run in runs[case]) / cpu:.2f}x its "
                      f"CPU time (medians of {rounds}); exit at most {max(run[2] for run in runs[case]):.2f} s "
                      f"(flush_timeout {timeout:g} s)")
            for seconds, megabytes, waiting in stalled_memory(silent.uri, folder / "e", 60):
                print(f"stalled server, {seconds:5.1f} s: RSS {megabytes:7.1f} MB, {waiting:,} points in the spool")
        blocked = MemoryCourier(CallableSink(lambda *_: time.sleep(3600)), on_error=lambda *_: None)
        blocked.thread.start()
        before = rss_mb()
        for step in range(10_000):
            blocked.put((step, step, {f"metric_{i}": 1.0 for i in range(PER_WINDOW)}))
        print(f"blocked callable sink after 500,000 points: RSS +{rss_mb() - before:.1f} MB, "
              f"{blocked.dropped['overflow']:,} dropped as overflow")


if __name__ == "__main__":
    main()

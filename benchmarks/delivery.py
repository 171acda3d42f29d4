"""Delivery benchmark: throughput to sqlite and to a local server, exit time with the server down, memory when stalled.

Run from the repository root: ``python benchmarks/delivery.py``. Starts one ``mlflow server
--workers 1`` on 127.0.0.1 and stops it; everything else happens in this process and a
temporary folder. Training slowdowns are ratios against an untapped run in the same process.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mlflow import MlflowClient  # noqa: E402
from mlflow_servers import MlflowServer, SilentServer, free_port  # noqa: E402
from skrl_runs import make_runner  # noqa: E402

from metrictap import MlflowSink, track  # noqa: E402
from metrictap._courier import MemoryCourier, SpoolCourier  # noqa: E402
from metrictap._spool import Spool  # noqa: E402
from metrictap.sinks import CallableSink  # noqa: E402

WINDOWS, PER_WINDOW = 400, 50  # 20,000 points, as 400 windows of a typical RL tap


def rss_mb() -> float:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def throughput(uri: str, folder: Path) -> float:
    """Points per second one SpoolCourier delivers, from the first window handed over to the last point stored."""
    run_id = MlflowClient(uri).create_run("0").info.run_id
    courier = SpoolCourier(MlflowSink(run_id, uri), Spool.create(folder, run_id=run_id, tracking_uri=uri),
                           on_error=lambda kind, exc: print("error", kind, exc))  # noqa: T201
    courier.thread.start()
    started = time.perf_counter()
    for step in range(WINDOWS):
        courier.put((step, 1_700_000_000_000 + step, {f"metric_{i}": float(step + i) for i in range(PER_WINDOW)}))
    courier.flush()
    courier.finish()
    courier.thread.join()
    elapsed = time.perf_counter() - started
    assert courier.delivered == WINDOWS * PER_WINDOW
    return courier.delivered / elapsed


def train(sink: object | None, timesteps: int, **options: object) -> tuple[float, float]:
    """Seconds of training and seconds spent leaving the tap."""
    runner = make_runner("PPO", timesteps=timesteps)
    if sink is None:
        started = time.perf_counter()
        runner.run()
        return time.perf_counter() - started, 0.0
    with track(runner.agent, sink=sink, every="step", strict=False, **options):
        started = time.perf_counter()
        runner.run()
        trained = time.perf_counter()
    return trained - started, time.perf_counter() - trained


def stalled_memory(silent_uri: str, folder: Path, seconds: float) -> list[tuple[float, float, int]]:
    """RSS over time while 1,000 points/s go to a server that never answers: (s, MB, points waiting on disk)."""
    courier = SpoolCourier(MlflowSink("stalled", silent_uri, timeout=600),
                           Spool.create(folder, run_id="stalled", tracking_uri=silent_uri),
                           on_error=lambda kind, exc: None)
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
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        sqlite = f"sqlite:///{folder / 'bench.db'}"
        MlflowClient(sqlite).search_experiments()
        server = MlflowServer(folder)
        server.start()
        try:
            print(f"throughput to sqlite: {throughput(sqlite, folder / 'a'):,.0f} metrics/s")  # noqa: T201
            print(f"throughput to mlflow server --workers 1: {throughput(server.uri, folder / 'b'):,.0f} metrics/s")  # noqa: T201
        finally:
            server.stop()
        timesteps = 16 * 100
        plain, _ = train(None, timesteps)
        dead = MlflowSink("down", f"http://127.0.0.1:{free_port()}")
        down, leaving = train(dead, timesteps, spool=folder / "c", flush_timeout=10.0)
        print(f"server down: training {down / plain:.2f}x the untapped time, exit {leaving:.2f} s "  # noqa: T201
              "(flush_timeout 10 s)")
        with SilentServer() as silent:
            hung, leaving = train(MlflowSink("hung", silent.uri), timesteps, spool=folder / "d", flush_timeout=3.0)
            print(f"silent server: training {hung / plain:.2f}x the untapped time, exit {leaving:.2f} s "  # noqa: T201
                  "(flush_timeout 3 s)")
            for seconds, megabytes, waiting in stalled_memory(silent.uri, folder / "e", 60):
                print(f"stalled server, {seconds:5.1f} s: RSS {megabytes:7.1f} MB, {waiting:,} points in the spool")  # noqa: T201
        blocked = MemoryCourier(CallableSink(lambda metrics, step: time.sleep(3600)), on_error=lambda kind, exc: None)
        blocked.thread.start()
        before = rss_mb()
        for step in range(10_000):
            blocked.put((step, step, {f"metric_{i}": 1.0 for i in range(PER_WINDOW)}))
        print(f"blocked callable sink after 500,000 points: RSS +{rss_mb() - before:.1f} MB, "  # noqa: T201
              f"{blocked.dropped['overflow']:,} dropped as overflow")


if __name__ == "__main__":
    main()

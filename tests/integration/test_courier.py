import logging
import threading
import time

import mlflow
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow_servers import SilentServer
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap.cli.main import main
from metrictap.delivery.courier import SpoolCourier
from metrictap.delivery.memory import MemoryCourier
from metrictap.delivery.spool import Spool
from metrictap.sinks import CallableSink, Point

GOOD = ("loss", "reward/mean", "a b", "é/ü_训练")
BAD = ("a(b)", "/abs", "x" * 251, "a//b")


@pytest.fixture(scope="module")
def local_uri(tmp_path_factory):
    """A real embedded MLflow store (sqlite, the default), shared by the module since creating one takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


def new_run(uri):
    return MlflowClient(uri).create_run("0").info.run_id


def stored(uri, run_id):
    """Every point of the run, as (name, value, step, timestamp) sorted by time, step and name."""
    client = MlflowClient(uri)
    found = [Point(m.key, m.value, m.step, m.timestamp) for key in client.get_run(run_id).data.metrics
             for m in client.get_metric_history(run_id, key)]
    return sorted(found, key=lambda point: (point.timestamp_ms, point.step, point.name))


def drive(courier, windows, timeout=30.0):
    """Feed *windows* to *courier* as the emitter does, close it, and say whether everything went out."""
    courier.thread.start()
    for window in windows:
        courier.put(window)
    courier.flush()
    courier.finish()
    deadline = time.monotonic() + timeout
    courier.close(deadline)
    courier.join(deadline)
    return courier.settle(None)


class Errors:
    """The tap's on_error callback, counting by kind."""

    def __init__(self):
        self.kinds = {}

    def __call__(self, kind, _exc):
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


class TestInvalidPoints:
    @pytest.mark.parametrize("store", ["local", pytest.param("server", marks=pytest.mark.server)])
    def test_good_points_delivered_bad_ones_counted(self, store, local_uri, mlflow_server, tmp_path):
        """Bad names, a negative timestamp and an overflowing step are isolated; every good point arrives once."""
        uri = local_uri if store == "local" else mlflow_server.uri
        run_id = new_run(uri)
        windows = [(step, 1_700_000_000_000 + step, {name: float(step) for name in GOOD + BAD[step % 4:][:1]})
                   for step in range(1, 25)]
        windows += [(25, -1, {"loss": 1.0}), (2**63, 1_700_000_000_100, {"loss": 2.0})]
        errors = Errors()
        courier = SpoolCourier(MlflowSink(run_id, uri, batch_size=7), Spool.create(tmp_path, run_id=run_id,
                               tracking_uri=uri), on_error=errors)
        assert drive(courier, windows)
        good = [Point(name, float(step), step, stamp) for step, stamp, metrics in windows[:24] for name in GOOD]
        assert stored(uri, run_id) == sorted(good, key=lambda point: (point.timestamp_ms, point.step, point.name))
        assert courier.delivered == len(good)
        assert courier.dropped == {"invalid": 24 + 2}
        assert errors.kinds == {"invalid point": 26}
        assert not list(tmp_path.glob("*.spool"))  # delivered in full: the spool is gone

    @settings(max_examples=12, deadline=None)
    @given(st.lists(st.lists(st.sampled_from(GOOD + BAD), min_size=1, max_size=6, unique=True), min_size=1, max_size=8),
           st.integers(1, 9))
    def test_accounting_adds_up(self, local_uri, tmp_path_factory, names, batch_size):
        """For any mix of names and any batch size, delivered + dropped equals what the courier took."""
        run_id = new_run(local_uri)
        windows = [(step, 1_700_000_000_000 + step, dict.fromkeys(window, 1.0)) for step, window in enumerate(names)]
        courier = SpoolCourier(MlflowSink(run_id, local_uri, batch_size=batch_size),
                               Spool.create(tmp_path_factory.mktemp("s"), run_id=run_id, tracking_uri=local_uri),
                               on_error=Errors())
        assert drive(courier, windows)
        bad = sum(name in BAD for window in names for name in window)
        assert courier.handed == courier.delivered + courier.dropped["invalid"]
        assert courier.dropped["invalid"] == bad
        assert len(stored(local_uri, run_id)) == courier.delivered


class TestMemory:
    def test_backlog_is_bounded(self):
        """A sink that blocks holds back only its own backlog, which stays bounded; the oldest windows are dropped."""
        release, calls = threading.Event(), []

        def blocked(metrics, step):
            release.wait(30)
            calls.append(step)

        courier = MemoryCourier(CallableSink(blocked), on_error=Errors(), backlog=50)
        courier.thread.start()
        for step in range(1, 21):
            courier.put((step, step, {f"m{i}": 1.0 for i in range(10)}))
            courier.flush()
            time.sleep(0.01)
        assert courier._held <= 50
        assert courier.dropped["overflow"] >= 20 * 10 - 50 - 10
        release.set()
        courier.finish()
        deadline = time.monotonic() + 30
        courier.close(deadline)
        courier.join(deadline)
        assert courier.settle(None)
        assert calls[0] == 1  # the window in the sink's hands when the backlog filled
        assert calls[1:] == list(range(21 - len(calls) + 1, 21))  # then the newest ones, in order
        assert courier.handed == courier.delivered + courier.dropped["overflow"]


@pytest.mark.server
class TestOutages:
    def test_server_killed_and_restarted(self, mlflow_server):
        """A server killed mid-training and restarted on its store receives every point, none twice."""
        run_id = new_run(mlflow_server.uri)
        runner = make_runner("PPO", timesteps=16 * 100)
        tap = track(runner.agent, sink=MlflowSink(run_id, mlflow_server.uri), every="step", strict=False,
                    flush_timeout=120)
        killed_at = []
        outage = threading.Thread(target=_outage, args=(tap, mlflow_server, killed_at))
        with tap:
            outage.start()
            runner.run()
        outage.join(120)
        stats = tap.stats
        assert 0 < killed_at[0] < stats.updates  # the server died while training went on
        assert stats.errors  # requests did fail while the server was away
        assert stats.pending == stats.spooled == 0
        assert stats.delivered == stats.points - sum(stats.dropped.values())
        points = stored(mlflow_server.uri, run_id)
        assert len(points) == len(set(points)) == stats.delivered
        assert sorted({point.step for point in points}) == [16 * i for i in range(1, 101)]

    def test_server_down_for_the_whole_run(self, mlflow_server, caplog, monkeypatch):
        """With the server down, exit keeps its deadline; the spool keeps every point and the run's end for replay."""
        monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
        monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # restored after the test
        mlflow.set_experiment("down")
        runner = make_runner("PPO", timesteps=16 * 20)
        tap = track(runner.agent, sink=mlflow, every="step", strict=False, flush_timeout=2)
        try:
            with caplog.at_level(logging.WARNING, logger="metrictap"):
                with tap:
                    run_id = mlflow.active_run().info.run_id
                    mlflow_server.kill()
                    runner.run()
                    leaving = time.monotonic()
                left = time.monotonic() - leaving
        finally:
            mlflow_server.start()
        stats = tap.stats
        assert left <= 2 + 1.5
        assert mlflow.active_run() is None
        assert stats.delivered == 0
        assert stats.spooled == stats.pending == stats.points - sum(stats.dropped.values()) > 0
        warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
                    and "not every point" in record.getMessage()]
        assert len(warnings) == 1
        assert f"{stats.pending} are kept in {stats.spool}" in warnings[0]
        assert f"metrictap replay {stats.spool}" in warnings[0]
        assert MlflowClient().get_run(run_id).info.status == "RUNNING"
        assert main(["replay", stats.spool]) == 0
        assert len(set(stored(mlflow_server.uri, run_id))) == len(stored(mlflow_server.uri, run_id)) == stats.pending
        assert MlflowClient().get_run(run_id).info.status == "FINISHED"
        assert main(["replay", stats.spool]) == 0
        assert len(stored(mlflow_server.uri, run_id)) == stats.pending

    def test_silent_server(self):
        """Against a server that accepts and never answers, every window reaches the spool; exit keeps its deadline."""
        runner = make_runner("PPO", timesteps=16 * 20)
        with SilentServer() as silent:
            tap = track(runner.agent, sink=MlflowSink("hung", silent.uri, timeout=30), every="step", strict=False,
                        flush_timeout=1.5)
            with tap:
                runner.run()
                time.sleep(1.2)  # one flush interval
                spool = Spool.open(tap.stats.spool)
                in_spool = spool.count()
                expected = tap.stats.points - sum(tap.stats.dropped.values())
                leaving = time.monotonic()
            left = time.monotonic() - leaving
            assert silent.accepted
        assert in_spool == expected  # the emitter kept up while the only request hung
        assert left <= 1.5 + 1.0
        stats = tap.stats
        assert stats.delivered == 0
        assert stats.spooled == stats.pending == stats.points - sum(stats.dropped.values()) > expected  # + last window


def _outage(tap, server, killed_at):
    deadline = time.monotonic() + 60
    while tap.stats.delivered == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed_at.append(tap.stats.updates)
    server.kill()
    time.sleep(1.0)
    server.start()

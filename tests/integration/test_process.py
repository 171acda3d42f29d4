"""delivery="process": a child interpreter sends from the spool; real trainings, stores, servers and kills."""

import logging
import os
import signal
import time
from pathlib import Path

import mlflow
import pytest
from children import killed_training
from mlflow import MlflowClient
from mlflow_servers import free_port
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap.cli.main import main


def deliverers():
    """Pids of the delivery processes alive now (any parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"metrictap.delivery.process" in command:
                found.append(int(entry.name))
    return found


def gone(pid, timeout):
    """Wait until *pid* no longer runs (a zombie counts as gone); whether it went within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def stored_count(uri, run_id):
    client = MlflowClient(uri)
    return sum(len(client.get_metric_history(run_id, key)) for key in client.get_run(run_id).data.metrics)


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, MlflowClient(uri).create_run("0").info.run_id


class TestProcessDelivery:
    def test_training_delivered_by_a_child(self, store):
        """Every point of a real SAC training reaches the store through the child, which then exits."""
        uri, run_id = store
        before = set(deliverers())
        runner = make_runner("SAC", timesteps=120)
        with track(runner.agent, sink=MlflowSink(run_id, uri), every="step", delivery="process") as tap:
            children = set(deliverers()) - before
            runner.run()
        stats = tap.stats
        assert len(children) == 1
        assert stats.delivered == stats.points - sum(stats.dropped.values()) > 0
        assert (stats.pending, stats.spool) == (0, "")
        assert stored_count(uri, run_id) == stats.delivered
        assert gone(children.pop(), 10)
        assert not list(Path.cwd().rglob("*.spool"))

    def test_mlflow_module_and_owned_run(self, tmp_path, monkeypatch):
        """With sink=mlflow and no active run, the tap's own run is FINISHED once the child delivered everything."""
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'owned.db'}")
        monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # another test's, in another store
        runner = make_runner("PPO", timesteps=64)
        with track(runner.agent, sink=mlflow, every="step", delivery="process") as tap:
            run_id = mlflow.active_run().info.run_id
            runner.run()
        assert mlflow.active_run() is None
        assert MlflowClient().get_run(run_id).info.status == "FINISHED"
        assert stored_count(os.environ["MLFLOW_TRACKING_URI"], run_id) == tap.stats.delivered > 0

    def test_server_down_keeps_the_deadline_and_the_spool(self, mlflow_server, caplog):
        """With the server unreachable, exit keeps its deadline, the spool keeps every point, and replay sends them."""
        run_id = MlflowClient(mlflow_server.uri).create_run("0").info.run_id
        down = f"http://127.0.0.1:{free_port()}"
        runner = make_runner("PPO", timesteps=16 * 10)
        tap = track(runner.agent, sink=MlflowSink(run_id, down, timeout=1), every="step", delivery="process",
                    strict=False, flush_timeout=2)
        with caplog.at_level(logging.WARNING, logger="metrictap"), tap:
            runner.run()
            leaving = time.monotonic()
        left = time.monotonic() - leaving
        stats = tap.stats
        assert left <= 2 + 3  # the deadline, plus stopping the child
        assert stats.delivered == 0
        assert stats.spooled == stats.pending == stats.points - sum(stats.dropped.values()) > 0
        assert any(f"metrictap replay {stats.spool}" in record.getMessage() for record in caplog.records)
        assert main(["replay", stats.spool, "--tracking_uri", mlflow_server.uri]) == 0
        assert stored_count(mlflow_server.uri, run_id) == stats.pending

    def test_killed_child_loses_nothing(self, store, caplog):
        """A delivery process killed mid-training is reported; what it had not sent stays in the spool for replay."""
        uri, run_id = store
        before = set(deliverers())
        runner = make_runner("PPO", timesteps=16 * 40)
        tap = track(runner.agent, sink=MlflowSink(run_id, uri), every="step", delivery="process", strict=False,
                    flush_timeout=2)
        with caplog.at_level(logging.WARNING, logger="metrictap"), tap:
            child = (set(deliverers()) - before).pop()
            os.kill(child, signal.SIGKILL)
            runner.run()
        stats = tap.stats
        assert any("delivery process" in kind for kind in stats.errors)
        assert stats.spooled == stats.pending > 0
        assert main(["replay", stats.spool]) == 0
        assert stored_count(uri, run_id) == stats.points - sum(stats.dropped.values())

    def test_orphan_finishes_the_spool(self, store, tmp_path):
        """When the training process is SIGKILLed, its delivery process sends what the spool holds, then exits."""
        uri, run_id = store
        before = set(deliverers())
        with killed_training("--tracking_uri", uri, "--run_id", run_id, "--timesteps", "100000",
                             "--spool", str(tmp_path / "spools"), "--delivery", "process"):
            time.sleep(3)
            orphan = (set(deliverers()) - before).pop()
        assert gone(orphan, 60)
        assert not list((tmp_path / "spools").glob("*.spool"))  # delivered to the end, then removed
        assert stored_count(uri, run_id) > 0


class TestOptions:
    @pytest.mark.parametrize(("options", "message"), [
        ({"delivery": "fork"}, "delivery='fork'; accepted: 'thread', 'process'"),
        ({"delivery": "process", "spool": False}, "delivery='process' sends from the spool file"),
    ])
    def test_bad_delivery(self, options, message):
        """An unknown delivery, or process delivery without a spool, is a ValueError naming what is accepted."""
        runner = make_runner("PPO", timesteps=16)
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            track(runner.agent, sink=MlflowSink("r"), **options)

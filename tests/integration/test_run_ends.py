"""A run the tap owns: entry and exit bounded whatever the server does, and every run ended, if need be by replay."""

import logging
import time

import mlflow
import pytest
from children import killed_training
from mlflow import MlflowClient
from mlflow_servers import SilentServer, free_port
from proxy import FaultyProxy
from skrl_runs import make_runner

from metrictap import track
from metrictap.cli.main import main
from metrictap.errors import TrackerUnavailableError
from metrictap.sinks.mlflow import RUN_REQUEST_TIMEOUT

pytestmark = pytest.mark.skrl

UPDATE_RUN = "/api/2.0/mlflow/runs/update"
SLACK = 5.0  # seconds for a loaded 2-core machine: far below MLflow's own retries (minutes)


@pytest.fixture
def tracking_uri(monkeypatch):
    """Restores MLflow's tracking URI after a test that points it at a proxy or at nothing; the default experiment."""
    from mlflow.tracking import fluent

    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # another module's mlflow.set_experiment
    yield
    mlflow.set_tracking_uri(None)


def train(runner, tap):
    with tap:
        runner.run()


@pytest.mark.usefixtures("tracking_uri")
class TestEntry:
    def test_server_down_is_refused_at_once(self):
        """With nothing listening, a tap that must start its run fails at once, naming the URI and what to do."""
        uri = f"http://127.0.0.1:{free_port()}"
        mlflow.set_tracking_uri(uri)
        runner = make_runner("PPO", timesteps=16)
        started = time.monotonic()
        with pytest.raises(TrackerUnavailableError) as info:
            track(runner.agent, sink=mlflow).start()
        assert time.monotonic() - started < RUN_REQUEST_TIMEOUT + SLACK
        message = str(info.value)
        assert uri in message
        assert "could not start an MLflow run" in message
        assert "Start the tracking server" in message
        assert "record_transition" not in vars(runner.agent)
        assert mlflow.active_run() is None

    def test_hung_server_is_refused_within_the_request_limit(self):
        """A server that accepts connections and never answers is refused after one bounded request."""
        runner = make_runner("PPO", timesteps=16)
        with SilentServer() as server:
            mlflow.set_tracking_uri(server.uri)
            started = time.monotonic()
            with pytest.raises(TrackerUnavailableError, match=server.uri):
                track(runner.agent, sink=mlflow).start()
            assert time.monotonic() - started < RUN_REQUEST_TIMEOUT + SLACK


    def test_experiment_named_in_the_environment(self, mlflow_server, monkeypatch):
        """MLFLOW_EXPERIMENT_NAME is found or created with bounded requests: the run lands in it, and a server
        that hangs on the lookup is refused within the request limit."""
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "edges-by-name")
        runner = make_runner("PPO", timesteps=16)
        with FaultyProxy(mlflow_server.uri) as proxy:
            mlflow.set_tracking_uri(proxy.uri)
            with track(runner.agent, sink=mlflow):
                run = mlflow.active_run()
            experiment = MlflowClient(mlflow_server.uri).get_experiment_by_name("edges-by-name")
            assert run.info.experiment_id == experiment.experiment_id
            proxy.hang.add("/api/2.0/mlflow/experiments/get-by-name")
            started = time.monotonic()
            with pytest.raises(TrackerUnavailableError, match="MLFLOW_EXPERIMENT_NAME"):
                track(runner.agent, sink=mlflow).start()
            assert time.monotonic() - started < RUN_REQUEST_TIMEOUT + SLACK


@pytest.mark.usefixtures("tracking_uri")
class TestExit:
    def test_hung_run_update_leaves_within_the_bound(self, mlflow_server, caplog, capsys):
        """When the server hangs on ending the run, leaving takes at most flush_timeout plus the request limit, the
        status waits in a spool, and replay sets it."""
        runner = make_runner("PPO", timesteps=64)
        with FaultyProxy(mlflow_server.uri) as proxy:
            proxy.hang.add(UPDATE_RUN)
            mlflow.set_tracking_uri(proxy.uri)
            tap = track(runner.agent, sink=mlflow, every="step", flush_timeout=5)
            with caplog.at_level(logging.WARNING, logger="metrictap"):
                with tap:
                    run_id = mlflow.active_run().info.run_id
                    runner.run()
                    leaving = time.monotonic()
                left_after = time.monotonic() - leaving
            assert UPDATE_RUN in proxy.seen
        assert left_after < 5 + RUN_REQUEST_TIMEOUT + SLACK
        assert mlflow.active_run() is None
        client = MlflowClient(mlflow_server.uri)
        assert client.get_run(run_id).info.status == "RUNNING"
        assert tap.stats.delivered == tap.stats.points - sum(tap.stats.dropped.values())
        warning = next(record.message for record in caplog.records if "could not end run" in record.message)
        spool = warning.rsplit("metrictap replay ", 1)[1]
        assert main(["replay", spool, "--tracking_uri", mlflow_server.uri]) == 0
        assert client.get_run(run_id).info.status == "FINISHED"
        assert "View run" not in capsys.readouterr().out

    def test_credentials_never_printed(self, mlflow_server, capsys):
        """Ending a run the tap owns prints no URL, so a password in the tracking URI never reaches the console."""
        runner = make_runner("PPO", timesteps=32)
        mlflow.set_tracking_uri(mlflow_server.uri.replace("http://", "http://alice:secret123@"))
        train(runner, track(runner.agent, sink=mlflow))
        printed = capsys.readouterr()
        assert "secret123" not in printed.out + printed.err
        latest = MlflowClient(mlflow_server.uri).search_runs(["0"], order_by=["attributes.start_time DESC"])[0]
        assert latest.info.status == "FINISHED"


def test_sigkilled_owner_ended_killed_by_replay(mlflow_server, tmp_path, capsys):
    """After SIGKILL of a training whose run the tap started, replay delivers its spool and ends the run KILLED."""
    spools = tmp_path / "spools"
    with killed_training("--tracking_uri", mlflow_server.uri, "--timesteps", "100000", "--spool", str(spools)):
        time.sleep(3)
    [spool] = spools.glob("*.spool")
    run_id = spool.name.split("-")[1]
    client = MlflowClient(mlflow_server.uri)
    assert client.get_run(run_id).info.status == "RUNNING"
    assert main(["replay", str(spool)]) == 0
    assert client.get_run(run_id).info.status == "KILLED"
    assert "ending it KILLED" in capsys.readouterr().out


def test_sigkilled_owner_with_delivery_process(mlflow_server, tmp_path):
    """After SIGKILL of a training whose run the tap started, its delivery process sends the spool and ends the run
    KILLED itself, since no spool is left for replay to do it."""
    spools = tmp_path / "spools"
    with killed_training("--tracking_uri", mlflow_server.uri, "--timesteps", "100000", "--spool", str(spools),
                         "--delivery", "process"):
        time.sleep(3)
        [spool] = spools.glob("*.spool")
    run_id = spool.name.split("-")[1]
    client = MlflowClient(mlflow_server.uri)
    deadline = time.monotonic() + 90  # the orphaned child has 30 s to deliver, on a loaded machine more
    while client.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
    assert client.get_run(run_id).info.status == "KILLED"
    assert not spool.exists()
    assert client.get_run(run_id).data.metrics

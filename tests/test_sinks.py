import threading

import mlflow
import pytest
from mlflow import MlflowClient
from skrl_runs import make_runner

from metrictap import MlflowSink, Sink, track
from metrictap.sinks import CallableSink, Point, check_sinks
from metrictap.testing import MemorySink


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One real sqlite-backed MLflow store for the module (creating one costs seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("metrictap-tests")
    yield uri
    mlflow.set_tracking_uri(None)


def history(run_id, name):
    return [(m.step, m.value) for m in MlflowClient().get_metric_history(run_id, name)]


class TestCheckSinks:
    def test_accepted(self):
        """The mlflow module, sink objects and callables are accepted; lists fan out."""
        memory = MemorySink()
        sinks = check_sinks([mlflow, memory, print])
        assert sinks[0] is mlflow
        assert sinks[1] is memory
        assert isinstance(sinks[2], CallableSink)
        assert isinstance(mlflow, Sink)

    @pytest.mark.parametrize(("sink", "message"), [(42, "has no log_metrics"), (MemorySink, "pass an instance"),
                                                   ([], "is empty")])
    def test_rejected(self, sink, message):
        """Anything else is a TypeError naming it and listing what a sink may be."""
        with pytest.raises(TypeError, match=message) as info:
            check_sinks(sink)
        assert "the mlflow module" in str(info.value)

    def test_mlflow_sink_arguments(self):
        """MlflowSink refuses a missing run id and batch sizes outside MLflow's limit."""
        with pytest.raises(ValueError, match="run id"):
            MlflowSink("")
        with pytest.raises(ValueError, match="1 to 1000"):
            MlflowSink("abc", batch_size=1001)


class TestMlflowSink:
    def test_batches_read_back(self, store):
        """Points logged through MlflowSink are in the store, in requests of at most batch_size metrics."""
        with mlflow.start_run() as run:
            sink = MlflowSink(run.info.run_id, store, batch_size=7)
            sink.log_points([Point(f"m{i % 3}", float(i), i, 1000 + i) for i in range(20)])
            sink.log_metrics({"x": 1.5}, step=3)
        assert history(run.info.run_id, "m0") == [(i, float(i)) for i in range(0, 20, 3)]
        assert history(run.info.run_id, "x") == [(3, 1.5)]

    @pytest.mark.usefixtures("store")
    def test_module_binds_the_active_run(self):
        """sink=mlflow logs into the run active at entry, from the emitter thread, one point per emission."""
        runner = make_runner("PPO", timesteps=16 * 12)
        with mlflow.start_run() as run, track(runner.agent, sink=mlflow, every="step",
                                              only={"policy_loss", "episode_reward_mean"}) as tap:
            runner.run()
        assert tap.stats.delivered == tap.stats.points - sum(tap.stats.dropped.values())
        losses = history(run.info.run_id, "policy_loss")
        assert [step for step, _ in losses] == [16 * i for i in range(1, 13)]
        assert set(MlflowClient().get_run(run.info.run_id).data.metrics) == {"policy_loss"}
        assert mlflow.active_run() is None
        assert threading.active_count() >= 1

    @pytest.mark.parametrize(("error", "status"), [(None, "FINISHED"), (ValueError, "FAILED"),
                                                   (KeyboardInterrupt, "KILLED")])
    @pytest.mark.usefixtures("store")
    def test_owned_run_status(self, error, status):
        """Without an active run the tap starts one and ends it FINISHED, FAILED on an exception, KILLED on Ctrl-C."""
        runner = make_runner("PPO", timesteps=32)
        tap = track(runner.agent, sink=mlflow)
        if error is None:
            with tap:
                runner.run()
        else:
            with pytest.raises(error), tap:
                _train_then_fail(runner, error)
        runs = MlflowClient().search_runs([mlflow.get_experiment_by_name("metrictap-tests").experiment_id],
                                          order_by=["attributes.start_time DESC"], max_results=1)
        assert runs[0].info.status == status
        assert "policy_loss" in runs[0].data.metrics
        assert mlflow.active_run() is None


def _train_then_fail(runner, error):
    runner.run()
    raise error


class TestFanOut:
    def test_failing_sink_does_not_stop_others(self, monkeypatch):
        """With several sinks, one that fails loses only its own deliveries."""
        monkeypatch.delenv("METRICTAP_STRICT")
        runner = make_runner("PPO", timesteps=64)
        memory = MemorySink()

        def broken(metrics, step):
            raise RuntimeError(step)

        with track(runner.agent, sink=[broken, memory], every="step") as tap:
            runner.run()
        assert [step for step, _ in memory.records] == [16, 32, 48, 64]
        assert tap.stats.errors == {"sink broken": 4}

"""RunOwner: the tap starts an MLflow run only where none is active, and ends only the run it started."""

import mlflow
import pytest
from mlflow import MlflowClient
from skrl_runs import make_runner

from metrictap import track
from metrictap.tap.run_owner import RunOwner


def _train_then_fail(runner, error):
    runner.run()
    raise error


@pytest.mark.usefixtures("tracking_store")
class TestRunOwner:
    def test_callers_run_is_left_running(self):
        """A run the caller started is bound to, and neither ended nor forgotten by the owner."""
        with mlflow.start_run() as run:
            owner = RunOwner()
            sink = owner.sink_for(mlflow)
            assert sink.run_id == run.info.run_id
            assert owner.final_state(None) is None
            owner.end(None, delivered=True)
            assert mlflow.active_run().info.run_id == run.info.run_id
        assert MlflowClient().get_run(run.info.run_id).info.status == "FINISHED"

    def test_undelivered_run_is_only_forgotten(self):
        """When points are still undelivered the owned run stays RUNNING in the store; this process forgets it."""
        owner = RunOwner()
        run_id = owner.sink_for(mlflow).run_id
        assert owner.final_state(ValueError) == (run_id, "FAILED")
        owner.end(ValueError, delivered=False)
        assert mlflow.active_run() is None
        assert MlflowClient().get_run(run_id).info.status == "RUNNING"

    @pytest.mark.parametrize(("error", "status"), [(None, "FINISHED"), (ValueError, "FAILED"),
                                                   (KeyboardInterrupt, "KILLED")])
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

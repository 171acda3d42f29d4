"""--resume: a training continued from a checkpoint stored in its MLflow run, logged into that run (sqlite store)."""

import filecmp
import glob
import os

import pytest
from mlflow import MlflowClient

from metrictap.cli.main import main
from metrictap.cli.registry import fetch_checkpoint

pytestmark = pytest.mark.skrl
TRAIN = ["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "400", "--no-system",
         "--mlflow_log_interval", "step"]
ROLLOUTS = 16  # the PPO preset's rollouts: one update, and so one window, every 16 timesteps


def store():
    return f"sqlite:///{os.path.abspath('mlflow.db')}"


def runs():
    client = MlflowClient(store())
    return client.search_runs([client.get_experiment_by_name("Pendulum-v1").experiment_id])


def steps(run_id, name):
    return [metric.step for metric in MlflowClient(store()).get_metric_history(run_id, name)]


class TestResume:
    def test_continues_the_runs_step_axis_without_a_step_twice(self):
        """Resumed from agent_200.pt of a 400-step run, 400 more timesteps log steps 416..600 into the same run."""
        assert main(TRAIN) == 0
        (first,) = runs()
        run_id = first.info.run_id
        before = steps(run_id, "policy_loss")
        assert before == list(range(ROLLOUTS, 401, ROLLOUTS))
        assert main([*TRAIN, "--checkpoint", f"runs:/{run_id}/checkpoints/agent_200.pt", "--resume"]) == 0
        (run,) = runs()  # no new run
        assert run.info.run_id == run_id
        assert run.info.status == "FINISHED"
        after = steps(run_id, "policy_loss")
        resumed = [200 + ROLLOUTS * k for k in range(1, 400 // ROLLOUTS + 1)]  # the resumed updates' timesteps
        assert sorted(after) == before + [step for step in resumed if step > 400]
        assert len(after) == len(set(after))  # no step twice
        assert run.data.metrics["timesteps"] == 600 * 2  # the axis goes on: 600 timesteps of 2 envs
        names = {item.path for item in MlflowClient(store()).list_artifacts(run_id, "checkpoints")}
        assert "checkpoints/agent_600.pt" in names  # skrl's agent_400.pt of the resumed part
        stored = fetch_checkpoint(f"runs:/{run_id}/checkpoints/agent_400.pt", store())
        parts = sorted(glob.glob("logs/skrl/Pendulum-v1/*/checkpoints/agent_400.pt"))  # skrl's run folders, by time
        assert len(parts) == 2
        first_part = parts[0]
        assert filecmp.cmp(stored, first_part, shallow=False)  # the run keeps the checkpoint of its metrics

    @pytest.mark.parametrize("checkpoint", ["models:/pendulum/1", "runs:/abc/checkpoints/best_agent.pt"])
    def test_needs_a_runs_checkpoint_with_its_timestep(self, checkpoint, capfd):
        """--resume needs the run and the timestep to continue: anything else exits 2 with one line."""
        assert main([*TRAIN, "--checkpoint", checkpoint, "--resume"]) == 2
        err = capfd.readouterr().err
        assert "--resume with --checkpoint" in err
        assert "runs:/<run_id>/<path>/agent_<timestep>.pt" in err

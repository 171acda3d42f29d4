"""Checkpoints from MLflow and the policy into its registry, through the training command and a real sqlite store."""

import filecmp
import os
from importlib import metadata

import mlflow
import pytest
from mlflow import MlflowClient

from metrictap.cli.main import main
from metrictap.cli.registry import fetch_checkpoint

pytestmark = pytest.mark.skrl
MISSING_RUN = "runs:/0123456789abcdef/checkpoints/agent_1.pt"
TRAIN = ["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "400", "--no-system"]


def store():
    return f"sqlite:///{os.path.abspath('mlflow.db')}"


def client():
    return MlflowClient(store(), registry_uri=store())


def only_run():
    found = client().get_experiment_by_name("Pendulum-v1")
    (run,) = client().search_runs([found.experiment_id])
    return run


def local_checkpoint(name="agent_400.pt"):
    return next(os.path.join(root, name) for root, _, names in os.walk("logs") if name in names)


class TestRegister:
    def test_final_checkpoint_becomes_a_model_version(self, capfd):
        """--register_model registers the last checkpoint, with its config and what it is, once the run is FINISHED."""
        assert main([*TRAIN, "--register_model", "pendulum-ppo"]) == 0
        run = only_run()
        assert run.info.status == "FINISHED"
        (version,) = client().search_model_versions("name = 'pendulum-ppo'")
        assert (str(version.version), version.run_id, version.source) == ("1", run.info.run_id,
                                                                     f"runs:/{run.info.run_id}/model")
        assert version.tags["task"] == "Pendulum-v1"
        assert version.tags["algorithm"] == "PPO"
        assert float(version.tags["episode_reward_mean"]) == pytest.approx(
            run.data.metrics["episode_reward_mean"], rel=1e-5)  # the run's own last value
        assert version.tags["metrictap_version"] == metadata.version("metrictap")
        folder = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/model",
                                                     tracking_uri=store(), dst_path="downloaded")
        assert sorted(os.listdir(folder)) == ["agent.pt", "agent.yaml"]
        assert filecmp.cmp(os.path.join(folder, "agent.pt"), local_checkpoint(), shallow=False)
        assert "registered pendulum-ppo version 1 (models:/pendulum-ppo/1) from agent_400.pt" in capfd.readouterr().out

    def test_a_refusing_registry_leaves_the_run_finished(self, capfd):
        """A name the registry refuses gives one line saying so; the run stays FINISHED and the command succeeds."""
        assert main([*TRAIN, "--register_model", "team/pendulum"]) == 0
        assert only_run().info.status == "FINISHED"
        err = capfd.readouterr().err
        (line,) = [line for line in err.splitlines() if "registry" in line]
        assert line.startswith("metrictap: the model registry refused --register_model team/pendulum: ")
        assert "Names cannot contain '/'" in line
        assert "Traceback" not in err


class TestCheckpointFromMlflow:
    def test_runs_and_models_uris_give_the_stored_checkpoint(self):
        """runs:/, models:/<version> and models:/latest download the very file skrl wrote; eval loads and runs it."""
        assert main([*TRAIN, "--register_model", "pendulum-ppo"]) == 0
        run_id = only_run().info.run_id
        for source in (f"runs:/{run_id}/checkpoints/agent_400.pt", "models:/pendulum-ppo/1",
                       "models:/pendulum-ppo/latest"):
            assert filecmp.cmp(fetch_checkpoint(source, store()), local_checkpoint(), shallow=False)
        assert main(["eval", "--task", "Pendulum-v1", "--num_envs", "2", "--no-system", "--checkpoint",
                     "models:/pendulum-ppo/latest", "--episodes", "2", "--experiment", "evaluation"]) == 0
        (evaluation,) = client().search_runs([client().get_experiment_by_name("evaluation").experiment_id])
        assert evaluation.info.status == "FINISHED"
        assert evaluation.data.metrics["eval/episode_length"] == 200.0

    @pytest.mark.parametrize(("checkpoint", "message"), [
        (MISSING_RUN, f"--checkpoint {MISSING_RUN}: cannot download it"),
        ("models:/nowhere/1", "--checkpoint models:/nowhere/1: "),
        ("models:/nowhere", "accepted: models:/<name>/<version> or models:/<name>/latest"),
    ])
    def test_a_checkpoint_that_is_not_there(self, checkpoint, message, capfd):
        """A checkpoint URI that names nothing exits 2 with one line, before any run is made."""
        assert main([*TRAIN, "--checkpoint", checkpoint]) == 2
        err = capfd.readouterr().err
        (line,) = [line for line in err.splitlines() if line.startswith("metrictap")]
        assert message in line
        assert "Traceback" not in err
        assert client().get_experiment_by_name("Pendulum-v1") is None

"""The training command, run as users run it: real skrl training into a real MLflow store."""

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
from mlflow import MlflowClient

from metrictap.cli.main import main

pytestmark = pytest.mark.skrl


def store():
    return f"sqlite:///{os.path.abspath('mlflow.db')}"


def runs(experiment="Pendulum-v1"):
    client = MlflowClient(store())
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


class TestTrain:
    def test_trains_into_the_embedded_store(self, capfd):
        """A Pendulum run ends FINISHED with params, tags, canonical metrics, the config and checkpoints."""
        code = main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--headless", "--timesteps", "320",
                     "--mlflow_log_interval", "step"])
        assert code == 0
        (run,) = runs()
        client = MlflowClient(store())
        assert run.info.status == "FINISHED"
        assert {"episode_reward_mean", "policy_loss", "value_loss", "fps", "timesteps"} <= set(run.data.metrics)
        assert len(client.get_metric_history(run.info.run_id, "policy_loss")) == 320 // 16
        assert run.data.params["task"] == "Pendulum-v1"
        assert run.data.params["agent.class"] == "PPO"
        assert run.data.params["mlflow_log_interval"] == "step"
        assert {"version.skrl", "version.torch", "version.metrictap"} <= set(run.data.params)
        assert run.data.tags["backend"] == "gymnasium"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "params")] == ["params/agent.yaml"]
        assert "checkpoints/agent_320.pt" in [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")]
        assert {"system/cpu_utilization_percentage", "system/process_memory_usage_megabytes"} <= set(
            run.data.metrics)  # sampled by default
        out = capfd.readouterr().out
        assert f"MLflow run {run.info.run_id}" in out
        assert f"mlflow ui --backend-store-uri {store()}" in out
        assert "run FINISHED: episode_reward_mean=" in out

    def test_command_tag_is_what_was_typed(self, monkeypatch):
        """The metrictap.command tag records the command as typed, even where a framework rewrites sys.argv."""
        monkeypatch.setattr(sys, "argv", ["metrictap", "env.scene.ground=null"])
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "32"]) == 0
        (run,) = runs()
        assert run.data.tags["metrictap.command"] == "metrictap train --task Pendulum-v1 --num_envs 2 --timesteps 32"

    def test_process_delivery(self):
        """With --delivery process a child delivers every window, the run ends FINISHED; --no-system samples none."""
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "160",
                     "--mlflow_log_interval", "step", "--delivery", "process", "--no-system"]) == 0
        (run,) = runs()
        assert run.info.status == "FINISHED"
        assert not [name for name in run.data.metrics if name.startswith("system/")]
        assert len(MlflowClient(store()).get_metric_history(run.info.run_id, "policy_loss")) == 160 // 16

    def test_eval_logs_into_the_training_run(self):
        """eval loads a checkpoint and logs eval/ episode metrics into the run it is given."""
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "160"]) == 0
        (run,) = runs()
        checkpoint = next(os.path.join(root, name) for root, _, names in os.walk("logs") for name in names
                          if name == "agent_160.pt")
        assert main(["eval", "--task", "Pendulum-v1", "--num_envs", "2", "--checkpoint", checkpoint,
                     "--episodes", "2", "--run_id", run.info.run_id]) == 0
        metrics = MlflowClient(store()).get_run(run.info.run_id).data.metrics
        assert {"eval/episode_reward_mean", "eval/episode_length"} <= set(metrics)
        assert metrics["eval/episode_length"] == 200.0

    def test_joined_run_is_left_open(self, monkeypatch):
        """A run named by MLFLOW_RUN_ID (a job scheduler's) is logged into and not ended."""
        client = MlflowClient(store())
        experiment = client.create_experiment("scheduled")
        created = client.create_run(experiment)
        monkeypatch.setenv("MLFLOW_RUN_ID", created.info.run_id)
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "64"]) == 0
        run = client.get_run(created.info.run_id)
        assert run.info.status == "RUNNING"
        assert "policy_loss" in run.data.metrics


class Crashing(gym.Wrapper):
    """Pendulum that fails after 100 steps, as a simulator would."""

    def __init__(self) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps > 100:
            raise RuntimeError("simulator crashed")
        return self.env.step(action)


class TestFailures:
    def test_crash_ends_failed(self, capfd):
        """An exception inside training ends the run FAILED, prints its traceback and exits 1."""
        gym.register("Crashing-v0", entry_point=Crashing, max_episode_steps=200)
        try:
            assert main(["train", "--task", "Crashing-v0", "--num_envs", "2", "--timesteps", "400"]) == 1
        finally:
            gym.registry.pop("Crashing-v0")
        (run,) = runs("Crashing-v0")
        assert run.info.status == "FAILED"
        assert "simulator crashed" in capfd.readouterr().err

    def test_other_ranks_do_not_log(self, monkeypatch):
        """In a distributed launch only rank 0 creates the run; other ranks just train."""
        monkeypatch.setenv("RANK", "1")
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "64"]) == 0
        assert not os.path.exists("mlflow.db")


class TestUserErrors:
    @pytest.mark.parametrize(("argv", "message"), [
        (["--task", "Nope-v9"], "unknown task 'Nope-v9'"),
        (["--task", "Isaac-Cartpole-v0"], "needs Isaac Lab, which is not installed"),
        (["--task", "CartPole-v1", "--algorithm", "SAC"], "does not fit a discrete action space"),
        (["--task", "Pendulum-v1", "--algorithm", "FOO"], "unknown algorithm 'FOO'"),
        (["--task", "Pendulum-v1", "--mlflow_log_interval", "fast"], "--mlflow_log_interval 'fast'"),
        (["--task", "Pendulum-v1", "--metrics", "policy_los"], "did you mean 'policy_loss'"),
        (["--task", "Pendulum-v1", "--agent_cfg", "broken.yaml"], "is not valid YAML"),
        (["--task", "Pendulum-v1", "--agent_cfg", "missing.yaml"], "No such file"),
        (["--task", "Pendulum-v1", "--tracking_uri", "http://user:secret@127.0.0.1:9"], "Connection refused"),
        (["--task", "Pendulum-v1", "--bogus", "3"], "unrecognized arguments: --bogus 3"),
        (["--task", "Pendulum-v1", "--metrics", ","], "--metrics ',' names no metric"),
        (["--task", "Pendulum-v1", "--timesteps", "0"], "--timesteps 0: must be at least 1"),
        (["--task", "Pendulum-v1", "--timesteps", "-5"], "--timesteps -5: must be at least 1"),
        (["--task", "Pendulum-v1", "--max_iterations", "-1"], "--max_iterations -1: must be at least 1"),
        (["--task", "Pendulum-v1", "--device", "bogus"], "--device bogus: not a torch device"),
        (["--task", "Pendulum-v1", "--tracking_uri", "http://alice:se@cret456@127.0.0.1:9"], "Connection refused"),
        (["--task", "Pendulum-v1", "--system_interval", "0"], "--system_interval 0: must be a number of seconds > 0"),
    ])
    def test_one_line_and_nothing_written(self, argv, message, capfd):
        """Each mistake exits 2 with one line naming it, no traceback, and no run in the store."""
        with open("broken.yaml", "w", encoding="utf-8") as file:
            file.write("agent: [unclosed\n")
        assert main(["train", *argv]) == 2
        err = capfd.readouterr().err
        (line,) = [line for line in err.splitlines() if line.startswith("metrictap")]
        assert line.startswith("metrictap train: error: ")
        assert message in line
        assert "secret" not in err
        assert "cret456" not in err
        assert "Traceback" not in err
        assert not runs()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupt_ends_killed_with_checkpoints(tmp_path):
    """Ctrl-C (SIGINT) mid-training ends the run KILLED, with the checkpoints saved until then uploaded."""
    process = subprocess.Popen([sys.executable, "-m", "metrictap", "train", "--task", "Pendulum-v1", "--num_envs",
                                "2", "--timesteps", "8000"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list((tmp_path / "logs").rglob("agent_*.pt")):
            time.sleep(0.5)
        saved = {path.name for path in (tmp_path / "logs").rglob("agent_*.pt")}
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, output
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("Pendulum-v1").experiment_id])
    assert run.info.status == "KILLED"
    uploaded = {a.path.removeprefix("checkpoints/") for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert saved
    assert saved <= uploaded

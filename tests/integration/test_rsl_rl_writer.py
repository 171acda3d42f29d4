"""rsl_rl's LogWriter plug: a real OnPolicyRunner names MlflowLogWriter in its config, logging to a sqlite store."""

from __future__ import annotations

import math
import os

import pytest
import torch
from event_files import scalars
from mlflow import MlflowClient
from mlflow.utils.validation import _validate_metric_name
from rsl_rl.runners import OnPolicyRunner
from rsl_rl_runs import GymnasiumVecEnv, train_config

ITERATIONS = 6
SAME_AS_RSL_RL = {"policy_loss": "Loss/surrogate", "value_loss": "Loss/value", "entropy": "Loss/entropy",
                  "learning_rate": "Loss/learning_rate", "policy_std": "Policy/mean_std",
                  "episode_reward_mean": "Train/mean_reward", "episode_length_mean": "Train/mean_episode_length",
                  "fps": "Perf/total_fps", "rollout_time": "Perf/collection_time",
                  "learning_time": "Perf/learning_time",
                  "Episode_Reward/swing": "Episode_Reward/swing",
                  "Episode_Termination/time_out": "Episode_Termination/time_out"}


def train(log_dir: str, logger: dict[str, object] | None = None) -> OnPolicyRunner:
    """A seeded rsl_rl PPO training into *log_dir*, with rsl_rl's TensorBoard writer or the *logger* config."""
    torch.manual_seed(0)
    config = train_config()
    if logger is not None:
        config["logger"] = logger
    runner = OnPolicyRunner(GymnasiumVecEnv(4), config, log_dir=log_dir, device="cpu")
    runner.learn(ITERATIONS)
    return runner


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same training twice: once with rsl_rl's own TensorBoard writer, once naming MlflowLogWriter."""
    folder = tmp_path_factory.mktemp("rsl_rl_writer")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    train(str(folder / "tensorboard"))
    log_dir = folder / "anymal" / "2026-12-02_run"
    os.makedirs(log_dir)
    (log_dir / "rl-video-step-0.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")  # as gymnasium's RecordVideo names it
    train(str(log_dir), {"class_name": "metrictap.sinks.rsl_rl:MlflowLogWriter", "tracking_uri": uri})
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("anymal").experiment_id])
    return client, run, scalars(folder / "tensorboard"), log_dir


class TestMlflowLogWriter:
    def test_the_run(self, runs):
        """The run is named after rsl_rl's folders, ends FINISHED, and holds the config, checkpoint and video."""
        client, run, _, log_dir = runs
        assert run.info.run_name == "2026-12-02_run"
        assert run.info.status == "FINISHED"
        assert run.data.params["algorithm.class_name"] == "PPO"
        assert run.data.tags["framework"] == "rsl_rl"
        artifacts = {item.path for folder in ("params", "checkpoints", "videos")
                     for item in client.list_artifacts(run.info.run_id, folder)}
        saved = {f"checkpoints/{path.name}" for path in log_dir.glob("model_*.pt")}  # what rsl_rl saved
        assert len(saved) == 2  # the first iteration's and the final model
        assert artifacts == {"params/agent.yaml", "params/env.json", "videos/rl-video-step-0.mp4", *saved}
        assert not list(log_dir.glob("*.spool"))  # everything delivered

    @pytest.mark.parametrize(("name", "tag"), sorted(SAME_AS_RSL_RL.items()))
    def test_same_numbers_as_rsl_rls_tensorboard(self, runs, name, tag):
        """Each canonical curve equals what rsl_rl's own TensorBoard writer recorded for the same seeded training."""
        client, run, logged, _ = runs
        ours = sorted((metric.step, metric.value) for metric in client.get_metric_history(run.info.run_id, name))
        assert [step for step, _ in ours] == [step for step, _ in logged[tag]]
        if tag.startswith("Perf/"):  # timings differ between two trainings; their count and sign do not
            assert all(value > 0 for _, value in ours)
        else:
            assert [value for _, value in ours] == pytest.approx([value for _, value in logged[tag]], rel=1e-5)

    def test_names_are_canonical_and_valid(self, runs):
        """Only canonical, valid names arrive: no TensorBoard tag, no time-axis duplicate; the machine is sampled."""
        _, run, _, _ = runs
        names = set(run.data.metrics)
        assert not {name for name in names if name.startswith(("Loss/", "Perf/", "Train/", "Policy/"))}
        assert {"epoch_time", "system/cpu_utilization_percentage"} <= names
        for name, value in run.data.metrics.items():
            _validate_metric_name(name)
            assert math.isfinite(value)

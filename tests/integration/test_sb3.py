"""Real Stable-Baselines3 trainings tapped through adapters/stable_baselines3.toml, checked against SB3's own logs."""

import csv
import math

import numpy as np
import pytest
import wrapt
from event_files import scalars
from mlflow.utils.validation import _validate_metric_name
from sb3_runs import EPISODE_STEPS, make_model
from stable_baselines3.common.logger import Logger, configure

from metrictap import track
from metrictap.testing import MemorySink

EVERYWHERE = {"fps", "rollout_time", "learning_time", "epoch_time", "timesteps", "iterations", "learning_rate",
              "episode_reward_mean", "episode_length_mean"}
EXPECTED = {
    "PPO": {"policy_loss", "value_loss", "entropy", "kl_divergence", "policy_std", "clip_fraction",
            "explained_variance", "loss", "grad_norm"},
    "A2C": {"policy_loss", "value_loss", "entropy", "policy_std", "explained_variance", "grad_norm"},
    "SAC": {"policy_loss", "critic_loss", "entropy_coefficient", "entropy_coefficient_loss"},
    "TD3": {"policy_loss", "critic_loss"},
    "DDPG": {"policy_loss", "critic_loss"},
    "DQN": {"value_loss", "exploration_epsilon", "grad_norm"},
}
TIMESTEPS = {"PPO": 768, "A2C": 384, "DQN": 400}  # off-policy: 200 steps, four 50-step episodes
SAME_AS_SB3 = {"policy_loss": ("train/policy_gradient_loss", 1.0), "value_loss": ("train/value_loss", 1.0),
               "entropy": ("train/entropy_loss", -1.0), "kl_divergence": ("train/approx_kl", 1.0),
               "learning_rate": ("train/learning_rate", 1.0), "policy_std": ("train/std", 1.0)}


@pytest.mark.parametrize("algorithm", sorted(EXPECTED))
def test_canonical_names(algorithm):
    """Training each algorithm emits the canonical metrics it can produce, on valid names, finite, without errors."""
    model = make_model(algorithm)
    sink = MemorySink()
    with track(model, sink=sink, every="balanced") as tap:
        model.learn(TIMESTEPS.get(algorithm, 200), log_interval=1)
    assert EVERYWHERE | EXPECTED[algorithm] <= sink.names
    assert not tap.stats.errors
    assert set(tap.stats.dropped) <= {"superseded"}
    for _, metrics in sink.records:
        for name, value in metrics.items():
            _validate_metric_name(name)
            assert math.isfinite(value)
    assert sink.last("timesteps") == model.num_timesteps
    assert sink.last("episode_reward_mean") == pytest.approx(np.mean([info["r"] for info in model.ep_info_buffer]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A PPO training with SB3's own TensorBoard logging on, tapped every iteration on the default axis."""
    log_dir = tmp_path_factory.mktemp("sb3")
    model = make_model("PPO", tensorboard_log=str(log_dir))
    sink = MemorySink()
    with track(model, sink=sink, every="step", strict=True):
        model.learn(1024)
    return model, sink, scalars(log_dir)


class TestSameNumbers:
    def test_rollout_statistics(self, trained):
        """episode_reward_mean and episode_length_mean are SB3's rollout/ep_*_mean, at the same steps."""
        model, sink, logged = trained
        ours, theirs = sink.history("episode_reward_mean"), logged["rollout/ep_rew_mean"]
        assert [step for step, _ in ours] == [step for step, _ in theirs]
        assert [value for _, value in ours] == pytest.approx([value for _, value in theirs], rel=1e-6)
        assert sink.history("episode_length_mean") == [(step, float(EPISODE_STEPS))
                                                       for step, _ in logged["rollout/ep_len_mean"]]
        assert [step for step, _ in sink.records] == [256 * i for i in range(1, 5)]
        assert sink.last("timesteps") == model.num_timesteps

    @pytest.mark.parametrize(("name", "source"), sorted(SAME_AS_SB3.items()))
    def test_training_statistics(self, trained, name, source):
        """Each loss is SB3's, one window earlier than SB3 dumps it; the last update, which SB3 never dumps, is kept."""
        _, sink, logged = trained
        tag, factor = source
        ours = [value for _, value in sink.history(name)]
        theirs = [factor * value for _, value in logged[tag]]
        assert len(ours) == len(theirs) + 1
        assert ours[:-1] == pytest.approx(theirs, rel=1e-5)


def snapshot(model):
    """Every attribute of the model and of SB3's Logger class, by identity."""
    return {name: id(value) for name, value in vars(model).items()}, dict(vars(Logger))


class TestTap:
    def test_exit_restores_exactly(self):
        """While tapped, train and the transition are wrapped on the model and record on the Logger class; then not."""
        model = make_model("PPO")
        before = snapshot(model)
        with track(model, sink=MemorySink()):
            assert {"train", "_update_info_buffer"} <= set(vars(model))
            assert isinstance(vars(Logger)["record"], wrapt.FunctionWrapper)
        assert snapshot(model) == before

    def test_two_models_at_once(self):
        """Two tapped models each get only their own logger's records, and leaving in any order restores the class."""
        models = [make_model("PPO", learning_rate=rate) for rate in (1e-3, 5e-4)]
        before = dict(vars(Logger))
        sinks = [MemorySink(), MemorySink()]
        taps = [track(model, sink=sink, every="step").start() for model, sink in zip(models, sinks, strict=True)]
        for model in models:
            model.learn(256)
        taps[0].stop()
        assert isinstance(vars(Logger)["record"], wrapt.FunctionWrapper)
        taps[1].stop()
        assert dict(vars(Logger)) == before
        assert [{value for _, value in sink.history("learning_rate")} for sink in sinks] == [{1e-3}, {5e-4}]
        assert not any(isinstance(value, wrapt.FunctionWrapper) for model in models for value in vars(model).values())

    def test_every_only_prefix(self):
        """every, only, prefix and step work as for skrl: two-iteration windows, two names, a prefix, env steps."""
        model = make_model("PPO")
        sink = MemorySink()
        with track(model, sink=sink, every=2, only={"policy_loss", "episode_reward_mean"}, prefix="sb3/",
                   step="timestep") as tap:
            model.learn(1024)
        assert sink.names == {"sb3/policy_loss", "sb3/episode_reward_mean"}
        assert [step for step, _ in sink.records] == [128, 256]
        assert tap.stats.dropped["filtered"] > 0

    def test_original_errors_propagate(self):
        """An error raised inside SB3's rollout reaches the caller unchanged, and the model is restored."""
        model = make_model("A2C")
        boom = RuntimeError("env failed")

        def failing(actions):
            raise boom

        model.env.step = failing
        with pytest.raises(RuntimeError) as info, track(model, sink=MemorySink()):
            model.learn(64)
        assert info.value is boom
        assert {"train", "_update_info_buffer"}.isdisjoint(vars(model))
        assert not isinstance(vars(Logger)["record"], wrapt.FunctionWrapper)


@pytest.mark.parametrize("algorithm", ["PPO", "DQN"])
def test_no_time_names_leak(algorithm, tmp_path):
    """SB3's time/* values (time_elapsed and, off-policy, episodes among them) are replaced, never emitted as such."""
    model = make_model(algorithm)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    sink = MemorySink()
    with track(model, sink=sink, every="step"):
        model.learn(TIMESTEPS[algorithm], log_interval=1)
    with (tmp_path / "progress.csv").open() as progress:
        logged = set(next(csv.reader(progress)))
    assert {"time/time_elapsed", "time/fps"} <= logged
    assert algorithm == "PPO" or "time/episodes" in logged
    assert "train/learning_rate" in logged
    assert "learning_rate" in sink.names
    assert not [name for name in sink.names if name.startswith("time/")]


def test_episode_means_at_the_step_sb3_dumps_them(tmp_path):
    """Off-policy SB3 dumps its episode means where an episode ends, mid-rollout: they are stamped at that step."""
    model = make_model("DQN", tensorboard_log=str(tmp_path))
    sink = MemorySink()
    with track(model, sink=sink, every="step"):
        model.learn(TIMESTEPS["DQN"], log_interval=1)
    dumped = dict(scalars(tmp_path)["rollout/ep_rew_mean"])
    ours = dict(sink.history("episode_reward_mean"))
    assert set(ours) <= set(dumped)
    assert [ours[step] for step in sorted(ours)] == pytest.approx([dumped[step] for step in sorted(ours)], rel=1e-6)
    after_learning_starts = {step for step in dumped if step > model.learning_starts + model.train_freq.frequency}
    assert after_learning_starts <= set(ours)
    assert any(step % model.train_freq.frequency for step in ours)  # dumps between two updates: not a window's step

"""Real skrl trainings of every algorithm skrl ships (AMP aside: it needs motion data), on CPU."""

import math

import gymnasium as gym
import pytest
import skrl
import torch
import wrapt
from event_files import scalars
from mlflow.utils.validation import _validate_metric_name
from skrl.envs.wrappers.torch import wrap_env
from skrl.utils.runner.torch import Runner
from skrl_runs import SKRL_MAJOR, make_runner

from metrictap import track
from metrictap.cli.presets import runner_config
from metrictap.tap import collector as _collector
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl

EVERYWHERE = {"episode_reward", "episode_reward_mean", "episode_length", "episode_length_mean", "cumulative_rewards",
              "mean_rewards", "timesteps", "iterations", "fps", "epoch_time", "rollout_time", "learning_time",
              "learning_rate"}
PPO_FAMILY = {"policy_loss", "value_loss", "entropy", "kl_divergence", "grad_norm"}
EXPECTED = {
    "PPO": PPO_FAMILY | {"policy_std"},
    "A2C": PPO_FAMILY | {"policy_std"},
    "RPO": PPO_FAMILY | {"policy_std"},
    "TRPO": {"policy_loss", "value_loss", "policy_std"},
    "SAC": {"policy_loss", "critic_loss", "entropy_coefficient", "entropy_coefficient_loss", "q1/mean", "q2/max",
            "target_q/min", "grad_norm/policy", "grad_norm/critic"},
    "TD3": {"policy_loss", "critic_loss", "q1/mean", "q2/mean", "target_q/mean", "grad_norm/policy",
            "grad_norm/critic"},
    "DDPG": {"policy_loss", "critic_loss", "q1/mean", "target_q/mean", "grad_norm/policy", "grad_norm/critic"},
    "DQN": {"value_loss", "target_q/mean", "exploration_epsilon"},
    "DDQN": {"value_loss", "target_q/mean", "exploration_epsilon"},
    "CEM": {"policy_loss", "return_threshold", "discounted_return_mean"},
    "IPPO": {f"{name}/{agent}" for name in ("policy_loss", "value_loss", "entropy", "kl_divergence", "learning_rate")
             for agent in ("left", "right")},
    "MAPPO": {f"{name}/{agent}" for name in ("policy_loss", "value_loss", "entropy", "kl_divergence", "learning_rate")
              for agent in ("left", "right")},
}
TIMESTEPS = {"CEM": 600, "DQN": 600, "DDQN": 600}


@pytest.mark.parametrize("algorithm", sorted(EXPECTED))
def test_canonical_names(algorithm):
    """Training each algorithm emits the canonical metrics it can produce, on valid names, finite, without errors."""
    runner = make_runner(algorithm, timesteps=TIMESTEPS.get(algorithm, 420))
    sink = MemorySink()
    with track(runner.agent, sink=sink, every="balanced") as tap:
        runner.run()
    everywhere = EVERYWHERE - ({"learning_rate"} if algorithm in ("IPPO", "MAPPO") else set())
    assert everywhere | EXPECTED[algorithm] <= sink.names
    assert not tap.stats.errors
    assert set(tap.stats.dropped) <= {"superseded", "non_finite"}
    for _, metrics in sink.records:
        for name, value in metrics.items():
            _validate_metric_name(name)
            assert math.isfinite(value)
    stats = tap.stats
    assert stats.points == stats.delivered + stats.pending + sum(stats.dropped.values())


def test_update_method_of_this_skrl_line():
    """skrl 2.x is tapped through keyword-only update, 1.4.x through positional _update."""
    runner = make_runner("PPO", timesteps=32)
    name = "update" if SKRL_MAJOR >= 2 else "_update"
    with track(runner.agent, sink=MemorySink()):
        assert name in vars(runner.agent)
        runner.run()
    assert name not in vars(runner.agent)
    assert skrl.__version__.startswith(("2.", "1.4"))


@pytest.mark.parametrize(("only", "copied", "hooked"), [({"policy_loss", "timesteps"}, False, False),
                                                      ({"episode_reward_mean", "grad_norm", "timesteps"}, True, True)])
def test_only_what_is_selected_is_collected(only, copied, hooked, monkeypatch):
    """Steps are copied only for a selected episode metric, and clip_grad_norm_ is hooked only for grad_norm."""
    real, copies = _collector.copy_row, []
    monkeypatch.setattr(_collector, "copy_row", lambda *row: copies.append(row) or real(*row))
    runner = make_runner("PPO", timesteps=64)
    sink = MemorySink()
    with track(runner.agent, sink=sink, only=only):
        assert isinstance(vars(torch.nn.utils)["clip_grad_norm_"], wrapt.FunctionWrapper) is hooked
        runner.run()
    assert bool(copies) is copied
    assert sink.last("timesteps") == 64 * 4


class SuccessAtEnd(gym.Wrapper):
    """Pendulum that reports per-env success flags in infos at episode ends, as robotics envs do."""

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.returns = getattr(self, "returns", 0.0) + float(reward)
        if terminated or truncated:
            info["is_success"] = self.returns > -1300.0
            SUCCESSES.append(info["is_success"])
            self.returns = 0.0
        return observation, reward, terminated, truncated, info


SUCCESSES: list[bool] = []


def test_success_rate_from_env_flags():
    """success_rate is the share of successes among the finished episodes, read from the envs' own flags."""
    SUCCESSES.clear()
    env = wrap_env(gym.make_vec("Pendulum-v1", num_envs=4, vectorization_mode="sync", wrappers=[SuccessAtEnd]),
                   wrapper="gymnasium")
    runner = Runner(env, runner_config("PPO", discrete=False, timesteps=401, skrl_major=SKRL_MAJOR))
    sink = MemorySink()
    with track(runner.agent, sink=sink, only={"success_rate"}):
        runner.run()
    assert len(SUCCESSES) == 8
    assert sink.last("success_rate") == pytest.approx(sum(SUCCESSES) / len(SUCCESSES))


def test_episode_rewards_are_exact():
    """Episode returns come from the tap's own accounting: every finished Pendulum episode, not skrl's rolling means."""
    runner = make_runner("PPO", timesteps=401, num_envs=2, write_interval=0)
    sink = MemorySink()
    with track(runner.agent, sink=sink, every="step"):
        runner.run()
    lengths = [value for _, value in sink.history("episode_length")]
    assert lengths == [200.0, 201.0]  # gymnasium's next-step autoreset adds the reset step to later episodes
    assert sink.last("episode_reward_mean") == pytest.approx(sum(v for _, v in sink.history("episode_reward")) / 2)


def skrl_logged(runner):
    """Every scalar skrl itself wrote to TensorBoard during *runner*'s training."""
    return scalars(runner.agent.experiment_dir)


@pytest.mark.skipif(SKRL_MAJOR < 2, reason="skrl 1.4 tracks neither exploration noise here nor Stats tags")
@pytest.mark.parametrize(("algorithm", "every", "compared"), [
    ("TD3", "step", {"exploration_noise/mean": ("Exploration / Exploration noise (mean)", 1.0),
                     "exploration_noise/min": ("Exploration / Exploration noise (min)", 1.0),
                     "exploration_noise/max": ("Exploration / Exploration noise (max)", 1.0)}),
    ("SAC", 30, {"inference_time": ("Stats / Inference time (ms)", 1000.0),
                 "env_step_time": ("Stats / Env stepping time (ms)", 1000.0)}),
])
def test_tags_tracked_before_the_transition_are_in_their_own_window(algorithm, every, compared):
    """Values skrl tracks in act() and the env step equal its TensorBoard values at the same steps, the last included.

    skrl writes every ``write_interval`` steps what it tracked since its last write; with windows
    of as many iterations, starting where skrl writes, each window holds exactly the steps of one
    of skrl's writes (skrl's first write also holds the steps before learning starts: skipped).
    """
    interval = 1 if every == "step" else every
    learning_starts, timesteps = (64, 90) if every == "step" else (60, 180)
    runner = make_runner(algorithm, timesteps=timesteps, write_interval=interval,
                         agent={"learning_starts": learning_starts})
    sink = MemorySink()
    with track(runner.agent, sink=sink, every=every, only=set(compared)):
        runner.run()
    logged = skrl_logged(runner)
    first_window = learning_starts + interval
    for name, (tag, factor) in compared.items():
        theirs = [(step, value) for step, value in logged[tag] if step > first_window]
        ours = [(step, value * factor) for step, value in sink.history(name) if step > first_window]
        assert [step for step, _ in ours] == [step for step, _ in theirs]
        assert theirs[-1][0] == timesteps
        assert [value for _, value in ours] == pytest.approx([value for _, value in theirs], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(("algorithm", "agent", "names"), [
    ("PPO", {"learning_epochs": 1, "mini_batches": 1}, {("policy", "value"): "grad_norm"}),
    ("TRPO", {"learning_epochs": 1, "mini_batches": 1, "grad_norm_clip": 0.5}, {("value",): "grad_norm/value"}),
    ("SAC", {"learning_starts": 64}, {("policy",): "grad_norm/policy", ("critic_1", "critic_2"): "grad_norm/critic"}),
])
def test_gradient_norms_by_clipped_networks(algorithm, agent, names, monkeypatch):
    """grad_norm is the total only where one clip covers every network; otherwise each clip's own norm under its part.

    Each update clips each set of networks once here, so every window's value is the norm
    clip_grad_norm_ itself returned for that set.
    """
    clip = torch.nn.utils.clip_grad_norm_
    returned: dict[str, list[float]] = {name: [] for name in names.values()}
    runner = make_runner(algorithm, timesteps=96, agent=agent)
    roles = [role for role in ("policy", "value", "critic_1", "critic_2") if hasattr(runner.agent, role)]
    firsts = {role: next(getattr(runner.agent, role).parameters()) for role in roles}

    def spy(parameters, *args, **kwargs):
        parameters = list(parameters)
        norm = clip(parameters, *args, **kwargs)
        clipped = tuple(role for role, first in firsts.items() if any(item is first for item in parameters))
        returned[names[clipped]].append(float(norm))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    sink = MemorySink()
    with track(runner.agent, sink=sink, every="step", only={"grad_norm"}):
        runner.run()
    assert sink.names == set(names.values())
    for name, norms in returned.items():
        assert norms
        assert [value for _, value in sink.history(name)] == pytest.approx(norms, rel=1e-6)


def test_gradient_norms_per_agent(monkeypatch):
    """IPPO clips each agent's policy and value at once: each agent's total norm, as clip_grad_norm_ returned it."""
    clip = torch.nn.utils.clip_grad_norm_
    returned: dict[str, list[float]] = {"left": [], "right": []}
    runner = make_runner("IPPO", timesteps=64, agent={"learning_epochs": 1, "mini_batches": 1, "grad_norm_clip": 0.5})
    firsts = {uid: next(policy.parameters()) for uid, policy in runner.agent.policies.items()}

    def spy(parameters, *args, **kwargs):
        parameters = list(parameters)
        norm = clip(parameters, *args, **kwargs)
        returned[next(uid for uid, first in firsts.items() if parameters[0] is first)].append(float(norm))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    sink = MemorySink()
    with track(runner.agent, sink=sink, every="step", only={"grad_norm"}):
        runner.run()
    assert sink.names == {"grad_norm/left", "grad_norm/right"}
    for agent, norms in returned.items():
        assert len(norms) == 4
        assert [value for _, value in sink.history(f"grad_norm/{agent}")] == pytest.approx(norms, rel=1e-6)

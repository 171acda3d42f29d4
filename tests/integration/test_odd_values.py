"""Nothing wrong reaches the store, nothing right is dropped: NaN rewards and odd success flags cost only themselves."""

import logging
import math

import gymnasium as gym
import numpy as np
import pytest
from skrl.envs.wrappers.torch import wrap_env
from skrl.utils.runner.torch import Runner
from skrl_runs import SKRL_MAJOR

from metrictap import track
from metrictap.cli.presets import runner_config
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl


class Recorded(gym.Wrapper):
    """Pendulum that records every reward it returns, turns one into NaN at step ``nan_at`` and may add an odd
    ``info["is_success"]`` on every step."""

    returned: list[float]

    def __init__(self, env, nan_at=None, success=None):
        super().__init__(env)
        self.nan_at, self.success, self.steps = nan_at, success, 0

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if self.steps == self.nan_at:
            reward = math.nan
        Recorded.returned.append(float(reward))
        if self.success is not None:
            info = {**info, "is_success": self.success}
        return observation, reward, terminated, truncated, info


def runner(timesteps, **wrapper):
    Recorded.returned = []
    envs = gym.make_vec("Pendulum-v1", num_envs=4, vectorization_mode="sync",
                        wrappers=[lambda env: Recorded(env, **wrapper)])
    cfg = runner_config("PPO", discrete=False, timesteps=timesteps, skrl_major=SKRL_MAJOR, directory="runs")
    return Runner(wrap_env(envs, wrapper="gymnasium"), cfg)


def test_nan_reward_costs_only_its_episode():
    """A reward that turns NaN is left out of cumulative_rewards and mean_rewards (counted), its episode is left out
    of the episode means (counted), and no value sent is NaN."""
    training = runner(400, nan_at=30)
    sink = MemorySink()
    with track(training.agent, sink=sink, every="step") as tap:
        training.run()
    sent = [value for _, metrics in sink.records for value in metrics.values()]
    assert all(math.isfinite(value) for value in sent)
    returned = np.array(Recorded.returned)
    finite = returned[np.isfinite(returned)]
    assert sink.last("cumulative_rewards") == pytest.approx(finite.sum(), rel=1e-6)  # skrl holds rewards as float32
    assert tap.stats.dropped["non_finite_reward"] == np.count_nonzero(~np.isfinite(returned)) >= 4
    assert tap.stats.dropped["non_finite_episode"] >= 4
    assert tap.stats.points == tap.stats.delivered + tap.stats.pending + sum(tap.stats.dropped.values())


@pytest.mark.parametrize("flag", ["yes", {"done": True}])
def test_odd_success_flag_costs_only_itself(flag, caplog):
    """Success flags of an odd type (a string, a dict) cost only success_rate: every step is counted, every episode
    has its true length, one warning says so."""
    training = runner(420, success=flag)
    sink = MemorySink()
    with caplog.at_level(logging.WARNING, logger="metrictap"), track(training.agent, sink=sink, every="step",
                                                                      strict=False) as tap:
        training.run()
    assert not tap.stats.errors
    assert tap.stats.transitions == 420
    assert {value for _, value in sink.history("episode_length")} <= {200.0, 201.0}
    assert "success_rate" not in sink.names
    assert len([record for record in caplog.records if "not per-env success flags" in record.message]) == 1

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metrictap.emitting.episodes import RECENT, Episodes


def naive(rewards, dones):
    """Step through one env at a time: the obvious, slow accounting the vectorised one must equal."""
    steps, envs = rewards.shape
    running, lengths, finished = [0.0] * envs, [0] * envs, []
    for t in range(steps):
        for e in range(envs):
            running[e] += rewards[t, e]
            lengths[e] += 1
            if dones[t, e]:
                finished.append((running[e], lengths[e]))
                running[e], lengths[e] = 0.0, 0
    return finished


@st.composite
def transitions(draw):
    steps, envs = draw(st.integers(1, 40)), draw(st.integers(1, 6))
    rewards = draw(arrays(np.float64, (steps, envs), elements=st.floats(-10, 10, allow_nan=False)))
    dones = draw(arrays(np.bool_, (steps, envs)))
    cuts = sorted(draw(st.lists(st.integers(1, steps - 1), max_size=5, unique=True))) if steps > 1 else []
    return rewards, dones, cuts


class TestEpisodes:
    @settings(max_examples=200, deadline=None)
    @given(transitions())
    def test_matches_stepwise_accounting(self, case):
        """However the steps are chunked, every finished episode's return and length equal a step-by-step count."""
        rewards, dones, cuts = case
        expected = naive(rewards, dones)
        episodes = Episodes()
        for chunk_r, chunk_d in zip(np.split(rewards, cuts), np.split(dones, cuts), strict=True):
            episodes.add(chunk_r, chunk_d)
        values = episodes.close()
        assert values["cumulative_rewards"] == pytest.approx(rewards.sum(), abs=1e-6)
        assert values["mean_rewards"] == pytest.approx(rewards.mean(), abs=1e-6)
        if expected:
            returns, lengths = zip(*expected, strict=True)
            assert values["episode_reward"] == pytest.approx(np.mean(returns), abs=1e-6)
            assert values["episode_length"] == pytest.approx(np.mean(lengths))
            assert values["episode_reward_mean"] == pytest.approx(np.mean(returns[-RECENT:]), abs=1e-6)
        else:
            assert "episode_reward" not in values

    def test_windows(self):
        """A window reports only the episodes it finished; the rolling mean spans the last 100 of all windows."""
        episodes = Episodes()
        episodes.add(np.ones((3, 2)), np.array([[0, 0], [0, 0], [1, 1]]))
        first = episodes.close()
        episodes.add(np.full((2, 2), 2.0), np.array([[0, 0], [1, 0]]))
        second = episodes.close()
        assert first["episode_reward"] == 3.0
        assert second["episode_reward"] == 4.0
        assert second["episode_reward_mean"] == pytest.approx((3 + 3 + 4) / 3)
        assert second["cumulative_rewards"] == 6 + 8
        assert second["mean_rewards"] == 2.0
        episodes.add(np.ones((1, 2)), np.zeros((1, 2)))
        third = episodes.close()
        assert "episode_reward" not in third
        assert third["episode_reward_mean"] == second["episode_reward_mean"]

    def test_success_rate(self):
        """Success flags count at episode ends only, NaN meaning the env gave no flag."""
        episodes = Episodes()
        dones = np.array([[1, 0, 1], [0, 1, 0]])
        flags = np.array([[1.0, 0.0, np.nan], [0.0, 0.0, 1.0]])
        episodes.add(np.zeros((2, 3)), dones, flags)
        assert episodes.close()["success_rate"] == 0.5

    def test_empty_window(self):
        """A window without steps reports nothing but what is cumulative."""
        assert Episodes().close() == {}

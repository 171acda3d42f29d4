"""Real rsl_rl trainings on a gymnasium task, small enough for a 2-core CPU.

rsl_rl trains on its own ``VecEnv`` interface (Isaac Lab implements it); :class:`GymnasiumVecEnv`
implements it over a gymnasium vector env the way Isaac Lab behaves: finished envs reset in the
same step, ``dones`` flags terminations and time-outs alike, ``extras["time_outs"]`` flags the
latter, and on steps where episodes end ``extras["log"]`` carries the reward manager's
``Episode_Reward/<term>`` and the termination manager's ``Episode_Termination/<term>``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from rsl_rl.env import VecEnv
from rsl_rl.runners import OnPolicyRunner
from tensordict import TensorDict

EPISODE_STEPS = 50


class GymnasiumVecEnv(VecEnv):
    """rsl_rl's VecEnv over Pendulum-v1 envs, with Isaac Lab's same-step resets and episode extras."""

    def __init__(self, num_envs: int = 4, seed: int = 0) -> None:
        self._env = gym.make_vec("Pendulum-v1", num_envs=num_envs, vectorization_mode="sync",
                                 vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                                 max_episode_steps=EPISODE_STEPS)
        self.num_envs, self.device, self.cfg = num_envs, "cpu", {"task": "Pendulum-v1"}
        self.num_actions = int(np.prod(self._env.single_action_space.shape))
        self.max_episode_length = EPISODE_STEPS
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self._returns = torch.zeros(num_envs)
        self._observations = torch.as_tensor(self._env.reset(seed=seed)[0], dtype=torch.float32)
        self.finished: list[tuple[float, int]] = []  # (return, length) of every episode, in order

    def get_observations(self) -> TensorDict:
        return TensorDict({"policy": self._observations}, batch_size=[self.num_envs])

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        observations, rewards, terminated, truncated, _ = self._env.step(actions.numpy())
        self._observations = torch.as_tensor(observations, dtype=torch.float32)
        reward = torch.as_tensor(rewards, dtype=torch.float32)
        done = torch.as_tensor(np.logical_or(terminated, truncated))
        self._returns += reward
        self.episode_length_buf += 1
        extras: dict[str, Any] = {"time_outs": torch.as_tensor(truncated, dtype=torch.long)}
        if done.any():
            self.finished.extend(zip(self._returns[done].tolist(), self.episode_length_buf[done].tolist(), strict=True))
            extras["log"] = {"Episode_Reward/swing": self._returns[done].mean(),
                             "Episode_Termination/time_out": torch.as_tensor(truncated, dtype=torch.float32).sum()}
            self._returns[done] = 0.0
            self.episode_length_buf[done] = 0
        return self.get_observations(), reward, done.long(), extras

    def close(self) -> None:
        self._env.close()


def train_config(num_steps_per_env: int = 16, **algorithm: Any) -> dict[str, Any]:
    """rsl_rl 5.x's PPO configuration, shrunk: small networks, two epochs of two mini-batches."""
    return {
        "num_steps_per_env": num_steps_per_env,
        "save_interval": 1000,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "num_learning_epochs": 2, "num_mini_batches": 2, "learning_rate": 3e-4,
                      "schedule": "adaptive", "desired_kl": 0.01, "entropy_coef": 0.01, **algorithm},
        "actor": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu",
                  "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu"},
    }


def make_runner(*, num_envs: int = 4, num_steps_per_env: int = 16, log_dir: str | None = None,
                **algorithm: Any) -> OnPolicyRunner:
    """An rsl_rl OnPolicyRunner on :class:`GymnasiumVecEnv`; with *log_dir* it writes its own TensorBoard logs."""
    torch.manual_seed(0)
    env = GymnasiumVecEnv(num_envs)
    return OnPolicyRunner(env, train_config(num_steps_per_env, **algorithm), log_dir=log_dir, device="cpu")

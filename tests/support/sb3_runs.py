"""Real Stable-Baselines3 models on gymnasium tasks, small enough for a 2-core CPU."""

from __future__ import annotations

from typing import Any

import stable_baselines3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env

ON_POLICY = {"PPO": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}, "A2C": {"n_steps": 8}}
OFF_POLICY = {"SAC": {}, "TD3": {}, "DDPG": {}, "DQN": {"exploration_fraction": 0.5}}
EPISODE_STEPS = 50


def make_model(algorithm: str, *, num_envs: int = 4, tensorboard_log: str | None = None,
               **options: Any) -> BaseAlgorithm:
    """A small *algorithm* model: CartPole-v1 for DQN, Pendulum-v1 (50-step episodes) otherwise."""
    discrete = algorithm == "DQN"
    env = make_vec_env("CartPole-v1" if discrete else "Pendulum-v1", n_envs=num_envs if algorithm in ON_POLICY else 1,
                       seed=0, env_kwargs=None if discrete else {"max_episode_steps": EPISODE_STEPS})
    settings: dict[str, Any] = {**ON_POLICY.get(algorithm, {}), **OFF_POLICY.get(algorithm, {}), **options}
    if algorithm in OFF_POLICY:
        settings = {"learning_starts": 50, "batch_size": 32, **settings}
    model_class = getattr(stable_baselines3, algorithm)
    return model_class("MlpPolicy", env, policy_kwargs={"net_arch": [32, 32]}, seed=0, device="cpu",
                       tensorboard_log=tensorboard_log, **settings)

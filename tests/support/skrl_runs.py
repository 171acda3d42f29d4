"""Real skrl trainings on gymnasium tasks, small enough for a 2-core CPU, for both skrl lines."""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
import skrl
import torch
from skrl.envs.wrappers.torch import wrap_env
from skrl.envs.wrappers.torch.base import MultiAgentEnvWrapper
from skrl.utils.runner.torch import Runner

from metrictap.cli.presets import DISCRETE, MULTI_AGENT, runner_config

SKRL_MAJOR = int(skrl.__version__.split(".")[0])
logging.getLogger("skrl").setLevel(logging.WARNING)


class PendulumPair:
    """Two agents, each swinging up its own vector of Pendulum-v1 envs; the state is both observations."""

    def __init__(self, num_envs: int = 4) -> None:
        self._envs = {uid: gym.make_vec("Pendulum-v1", num_envs=num_envs, vectorization_mode="sync")
                      for uid in ("left", "right")}
        self.possible_agents = self.agents = list(self._envs)
        self.observation_spaces = {uid: env.single_observation_space for uid, env in self._envs.items()}
        self.action_spaces = {uid: env.single_action_space for uid, env in self._envs.items()}
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
        self._observations: dict[str, torch.Tensor] = {}
        self.num_envs = num_envs

    @staticmethod
    def _tensor(value: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value), dtype=dtype)

    def reset(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self._observations = {uid: self._tensor(env.reset(seed=1)[0]) for uid, env in self._envs.items()}
        return self._observations, {}

    def step(self, actions: dict[str, torch.Tensor]) -> tuple[Any, ...]:
        results = {uid: env.step(actions[uid].numpy()) for uid, env in self._envs.items()}
        self._observations = {uid: self._tensor(result[0]) for uid, result in results.items()}
        rewards = {uid: self._tensor(result[1]).view(-1, 1) for uid, result in results.items()}
        terminated = {uid: self._tensor(result[2], torch.bool).view(-1, 1) for uid, result in results.items()}
        truncated = {uid: self._tensor(result[3], torch.bool).view(-1, 1) for uid, result in results.items()}
        return self._observations, rewards, terminated, truncated, {}

    def state(self) -> Any:
        joint = torch.cat([self._observations[uid] for uid in self.possible_agents], dim=-1)
        return dict.fromkeys(self.possible_agents, joint) if SKRL_MAJOR >= 2 else joint  # 1.4: one shared state

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


class PendulumPairWrapper(MultiAgentEnvWrapper):
    """skrl's multi-agent wrapper interface over :class:`PendulumPair`."""

    def reset(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self._env.reset()

    def step(self, actions: dict[str, torch.Tensor]) -> tuple[Any, ...]:
        return self._env.step(actions)

    def state(self) -> Any:
        return self._env.state()

    def render(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def close(self) -> None:
        self._env.close()


def make_env(algorithm: str, num_envs: int = 4) -> Any:
    """The env an algorithm trains on: CartPole-v1 for discrete agents, Pendulum-v1 otherwise."""
    if algorithm in MULTI_AGENT:
        return PendulumPairWrapper(PendulumPair(num_envs))
    discrete = algorithm in DISCRETE and algorithm not in ("PPO", "A2C")
    task = "CartPole-v1" if discrete else "Pendulum-v1"
    if algorithm == "CEM" or (discrete and SKRL_MAJOR < 2):  # skrl 1.4 steps discrete envs one at a time
        return wrap_env(gym.make(task), wrapper="gymnasium")
    return wrap_env(gym.make_vec(task, num_envs=num_envs, vectorization_mode="sync"), wrapper="gymnasium")


def make_runner(algorithm: str, *, timesteps: int = 400, num_envs: int = 4, directory: str = "runs",
                agent: dict[str, Any] | None = None, **options: Any) -> Runner:
    """A skrl Runner for *algorithm* with the project's CPU preset, agent settings overridden by *agent*."""
    env = make_env(algorithm, num_envs)
    discrete = algorithm in ("DQN", "DDQN", "CEM")
    cfg = runner_config(algorithm, discrete=discrete, timesteps=timesteps, skrl_major=SKRL_MAJOR,
                        directory=directory, **options)
    cfg["agent"].update(agent or {})
    return Runner(env, cfg)

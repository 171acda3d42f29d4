"""An Isaac-Lab-shaped Cartpole for the bench: thousands of envs stepped as one batch of torch tensors.

What the tap sees of an Isaac Lab training is what this env hands skrl's own ``isaaclab``
wrapper: observations under ``"policy"``, rewards and done flags as one tensor per step on the
env's device, finished envs reset within the same step, and on steps where episodes end an
``extras["log"]`` of per-term episode rewards and termination counts. The dynamics are the
classic cart-pole equations, integrated for the whole batch at once (no Python loop per env),
at Isaac Lab's Cartpole rates: physics at 120 Hz, two physics steps per env step, 5-second
episodes, the same reward terms and weights.

Imports torch, gymnasium and numpy at module level: only the bench's Isaac-scale workloads (and
tests) import this module, once they have chosen to train.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

GRAVITY, CART_MASS, POLE_MASS, POLE_HALF_LENGTH = 9.81, 1.0, 0.1, 0.5
PHYSICS_DT, DECIMATION, EPISODE_SECONDS = 1 / 120, 2, 5.0
FORCE_SCALE = 100.0  # Isaac Lab's Cartpole action scale: an action of 1 pushes the cart with 100 N
CART_LIMIT = 3.0  # the cart leaving [-3, 3] m ends an episode (cart_out_of_bounds)
REWARD_WEIGHTS = {"alive": 1.0, "terminating": -2.0, "pole_pos": -1.0, "cart_vel": -0.01, "pole_vel": -0.005}


class VectorCartpole:
    """*num_envs* carts balancing poles, stepped together on *device*; the env interface Isaac Lab's envs have."""

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0) -> None:
        self.num_envs, self.device = num_envs, torch.device(device)
        self.max_episode_length = round(EPISODE_SECONDS / (PHYSICS_DT * DECIMATION))
        self.single_observation_space = gym.spaces.Dict(
            {"policy": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)})
        self.single_action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.observation_space, self.action_space = self.single_observation_space, self.single_action_space
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        # per env: cart position, cart velocity, pole angle, pole velocity
        self._state = torch.zeros(num_envs, 4, device=self.device)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._sums = {term: torch.zeros(num_envs, device=self.device) for term in REWARD_WEIGHTS}
        self._respawn(torch.ones(num_envs, dtype=torch.bool, device=self.device))

    @property
    def unwrapped(self) -> VectorCartpole:
        """The env itself: skrl's wrappers look here for ``device`` and ``num_envs``."""
        return self

    def reset(self, seed: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Every env from a fresh random state; *seed* reseeds the env's generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._respawn(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        self.episode_length_buf.zero_()
        return {"policy": self._state.clone()}, {}

    def step(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor,
                                                   torch.Tensor, dict[str, Any]]:
        """Push every cart, integrate, reward, and reset the envs whose episode ended (in this same step)."""
        force = FORCE_SCALE * actions.reshape(self.num_envs).clamp(-1.0, 1.0)
        for _ in range(DECIMATION):
            self._integrate(force)
        self.episode_length_buf += 1
        position, velocity, angle, angular_velocity = self._state.unbind(1)
        terminated = position.abs() > CART_LIMIT
        truncated = self.episode_length_buf >= self.max_episode_length
        terms = {"alive": (~terminated).float(), "terminating": terminated.float(),
                 "pole_pos": angle.square(), "cart_vel": velocity.abs(), "pole_vel": angular_velocity.abs()}
        step_seconds = PHYSICS_DT * DECIMATION
        reward = torch.zeros(self.num_envs, device=self.device)
        for term, value in terms.items():
            weighted = REWARD_WEIGHTS[term] * value * step_seconds  # Isaac Lab scales each term by the step time
            reward += weighted
            self._sums[term] += weighted
        extras: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():  # the env's own host sync, as Isaac Lab's reset_idx has one: the tap is not in it
            extras["log"] = self._episode_log(done, terminated, truncated)
            self._respawn(done)
            self.episode_length_buf.masked_fill_(done, 0)
        return {"policy": self._state.clone()}, reward, terminated, truncated, extras

    def _integrate(self, force: torch.Tensor) -> None:
        """One semi-implicit Euler step of the cart-pole equations for every env at once."""
        _, velocity, angle, angular_velocity = self._state.unbind(1)
        sin, cos = angle.sin(), angle.cos()
        total_mass, pole_moment = CART_MASS + POLE_MASS, POLE_MASS * POLE_HALF_LENGTH
        lateral = (force + pole_moment * angular_velocity.square() * sin) / total_mass
        angular_acceleration = (GRAVITY * sin - cos * lateral) / (
            POLE_HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos.square() / total_mass))
        acceleration = lateral - pole_moment * angular_acceleration * cos / total_mass
        velocity = velocity + PHYSICS_DT * acceleration
        angular_velocity = angular_velocity + PHYSICS_DT * angular_acceleration
        self._state[:, 1], self._state[:, 3] = velocity, angular_velocity
        self._state[:, 0] += PHYSICS_DT * velocity
        self._state[:, 2] += PHYSICS_DT * angular_velocity

    def _episode_log(self, done: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor) -> dict[str, Any]:
        """Isaac Lab's reset-time extras: mean episode reward per term (per second), and termination counts."""
        finished = done.sum()
        log: dict[str, Any] = {f"Episode_Reward/{term}": (sums * done).sum() / finished / EPISODE_SECONDS
                               for term, sums in self._sums.items()}
        log["Episode_Termination/time_out"] = (truncated & ~terminated).sum()
        log["Episode_Termination/cart_out_of_bounds"] = terminated.sum()
        for sums in self._sums.values():
            sums.masked_fill_(done, 0.0)
        return log

    def _respawn(self, which: torch.Tensor) -> None:
        """New states for the envs in *which*: Isaac Lab's Cartpole reset ranges (pole within ±0.25π rad)."""
        uniform = torch.rand(self.num_envs, 4, generator=self._generator, device=self.device) * 2.0 - 1.0
        spread = torch.tensor([1.0, 0.5, 0.25 * math.pi, 0.25 * math.pi], device=self.device)
        fresh = uniform * spread
        self._state = torch.where(which.unsqueeze(1), fresh, self._state)

    def close(self) -> None:
        """Nothing to release: the env is tensors."""


def _network(token: str, inputs: str = "") -> list[dict[str, Any]]:
    return [{"name": "net", "input": inputs or token, "layers": [32, 32], "activations": "elu"}]


def isaac_cartpole_config(algorithm: str, *, timesteps: int, skrl_major: int, directory: str,
                          write_interval: int | str) -> dict[str, Any]:
    """A skrl Runner configuration for :class:`VectorCartpole`: Isaac Lab's own PPO settings, or a SAC at that scale.

    PPO is Isaac Lab's ``skrl_ppo_cfg.yaml`` for Cartpole: one shared [32, 32] ELU network for
    policy and value, rollouts 16, learning epochs 8, mini-batches 8, KL-adaptive learning rate.
    Isaac Lab ships no off-policy Cartpole agent; the SAC uses the same networks, one gradient
    step of 4,096 samples per env step, and a replay memory of 64 steps of every env.
    """
    token = "OBSERVATIONS" if skrl_major >= 2 else "STATES"  # noqa: PLR2004 - skrl 2.x renamed the input
    gaussian = {"class": "GaussianMixin", "clip_actions": False, "clip_log_std": True, "min_log_std": -20.0,
                "max_log_std": 2.0, "initial_log_std": 0.0, "network": _network(token), "output": "ACTIONS"}
    experiment = {"directory": directory, "experiment_name": "", "write_interval": write_interval,
                  "checkpoint_interval": 0}
    if algorithm == "PPO":
        value = {"class": "DeterministicMixin", "clip_actions": False, "network": _network(token), "output": "ONE"}
        models: dict[str, Any] = {"separate": False, "policy": gaussian, "value": value}
        memory_size = -1
        agent: dict[str, Any] = {
            "class": "PPO", "rollouts": 16, "learning_epochs": 8, "mini_batches": 8, "discount_factor": 0.99,
            "gae_lambda" if skrl_major >= 2 else "lambda": 0.95, "learning_rate": 3e-4,  # noqa: PLR2004
            "learning_rate_scheduler": "KLAdaptiveLR", "learning_rate_scheduler_kwargs": {"kl_threshold": 0.008},
            "grad_norm_clip": 1.0, "ratio_clip": 0.2, "value_clip": 0.2, "entropy_loss_scale": 0.0,
            "value_loss_scale": 2.0, "kl_threshold": 0.0, "rewards_shaper_scale": 1.0, "time_limit_bootstrap": False}
        if skrl_major < 2:  # noqa: PLR2004 - 1.x switches value clipping on by this flag
            agent["clip_predicted_values"] = True
    elif algorithm == "SAC":
        critic = {"class": "DeterministicMixin", "clip_actions": False,
                  "network": _network(token, f"concatenate([{token}, ACTIONS])"), "output": "ONE"}
        critics = ("critic_1", "critic_2", "target_critic_1", "target_critic_2")
        models = {"separate": True, "policy": gaussian, **{role: copy.deepcopy(critic) for role in critics}}
        memory_size = 64
        agent = {"class": "SAC", "gradient_steps": 1, "batch_size": 4096, "discount_factor": 0.99,
                 "learning_rate": 3e-4, "learning_starts": 16, "grad_norm_clip": 1.0}
    else:
        raise ValueError(f"algorithm {algorithm!r}: accepted: PPO, SAC")
    agent["experiment"] = experiment
    return {"seed": 42, "models": models, "memory": {"class": "RandomMemory", "memory_size": memory_size},
            "agent": agent, "trainer": {"class": "SequentialTrainer", "timesteps": timesteps, "headless": True,
                                        "disable_progressbar": True, "environment_info": "log"}}

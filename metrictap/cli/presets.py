"""Small skrl Runner configurations per algorithm, for gymnasium tasks on a CPU.

They are what ``metrictap train`` uses without Isaac Lab, and what the test suite trains. Each
is a plain skrl Runner dict, spelled for the installed skrl line: 2.x names the network input
``OBSERVATIONS`` and the preprocessor ``observation_preprocessor``, 1.4.x says ``STATES`` and
``state_preprocessor``.
"""

from __future__ import annotations

import copy
from typing import Any

CONTINUOUS = ("PPO", "A2C", "RPO", "TRPO", "SAC", "TD3", "DDPG")
DISCRETE = ("PPO", "A2C", "DQN", "DDQN", "CEM")
MULTI_AGENT = ("IPPO", "MAPPO")
ALGORITHMS = tuple(dict.fromkeys(CONTINUOUS + DISCRETE))
ON_POLICY = ("PPO", "A2C", "RPO", "TRPO", "CEM", *MULTI_AGENT)


def _net(token: str, inputs: str = "") -> list[dict[str, Any]]:
    return [{"name": "net", "input": inputs or token, "layers": [64, 64], "activations": "elu"}]


def _models(algorithm: str, discrete: bool, token: str) -> dict[str, Any]:
    critic_input = f"concatenate([{token}, ACTIONS])"
    gaussian = {"class": "GaussianMixin", "clip_actions": False, "clip_log_std": True, "min_log_std": -20.0,
                "max_log_std": 2.0, "initial_log_std": 0.0, "network": _net(token), "output": "ACTIONS"}
    categorical = {"class": "CategoricalMixin", "unnormalized_log_prob": True, "network": _net(token),
                   "output": "ACTIONS"}
    value = {"class": "DeterministicMixin", "clip_actions": False, "network": _net(token), "output": "ONE"}
    critic = {"class": "DeterministicMixin", "clip_actions": False, "network": _net(token, critic_input),
              "output": "ONE"}
    deterministic = {"class": "DeterministicMixin", "clip_actions": True, "network": _net(token),
                     "output": "ACTIONS"}
    if algorithm in ("PPO", "A2C", "RPO", "TRPO", *MULTI_AGENT):
        roles = {"policy": categorical if discrete else gaussian, "value": value}
    elif algorithm == "CEM":
        roles = {"policy": categorical}
    elif algorithm == "SAC":
        critics = ("critic_1", "critic_2", "target_critic_1", "target_critic_2")
        roles = {"policy": gaussian, **dict.fromkeys(critics, critic)}
    elif algorithm == "TD3":
        roles = {"policy": deterministic, "target_policy": deterministic,
                 **dict.fromkeys(("critic_1", "critic_2", "target_critic_1", "target_critic_2"), critic)}
    elif algorithm == "DDPG":
        roles = {"policy": deterministic, "target_policy": deterministic, "critic": critic, "target_critic": critic}
    else:  # DQN, DDQN
        network = {"class": "DeterministicMixin", "clip_actions": False, "network": _net(token),
                   "output": "ACTIONS"}
        roles = {"q_network": network, "target_q_network": network}
    return {"separate": True, **{role: copy.deepcopy(spec) for role, spec in roles.items()}}


def _agent(algorithm: str, skrl_major: int, timesteps: int) -> dict[str, Any]:
    preprocessor = "observation_preprocessor" if skrl_major >= 2 else "state_preprocessor"  # noqa: PLR2004
    if algorithm in MULTI_AGENT:
        agent: dict[str, Any] = {"rollouts": 16, "learning_epochs": 4, "mini_batches": 2, "learning_rate": 1e-3,
                                 "learning_rate_scheduler": "KLAdaptiveLR",
                                 "learning_rate_scheduler_kwargs": {"kl_threshold": 0.008},
                                 "entropy_loss_scale": 0.005, "rewards_shaper_scale": 0.1}
    elif algorithm in ("PPO", "A2C", "RPO", "TRPO"):
        agent = {"rollouts": 16, "learning_epochs": 4, "mini_batches": 2, "discount_factor": 0.99,
                 preprocessor: "RunningStandardScaler", "value_preprocessor": "RunningStandardScaler",
                 "rewards_shaper_scale": 0.1}
        if algorithm != "TRPO":
            agent.update({"learning_rate": 1e-3, "learning_rate_scheduler": "KLAdaptiveLR",
                          "learning_rate_scheduler_kwargs": {"kl_threshold": 0.008}, "grad_norm_clip": 0.5,
                          "entropy_loss_scale": 0.005})
        if algorithm == "A2C":
            agent.pop("learning_epochs")
    elif algorithm == "CEM":
        agent = {"rollouts": 64, "percentile": 0.7, "learning_rate": 1e-2}
    elif algorithm in ("SAC", "TD3", "DDPG"):
        agent = {"batch_size": 64, "learning_starts": 64, "learning_rate": 1e-3, "discount_factor": 0.98,
                 "grad_norm_clip": 1.0}
        if algorithm != "SAC" and skrl_major >= 2:  # noqa: PLR2004
            agent.update({"exploration_noise": "GaussianNoise", "exploration_noise_kwargs": {"mean": 0.0, "std": 0.2}})
    else:  # DQN, DDQN
        agent = {"batch_size": 64, "learning_starts": 64, "learning_rate": 1e-3, "update_interval": 1,
                 "target_update_interval": 10}
        if skrl_major >= 2:  # noqa: PLR2004
            agent["exploration_scheduler"] = f"max(1.0 - timestep / {max(1, timesteps // 2)}, 0.05)"
    return {"class": algorithm, **agent}


def runner_config(algorithm: str, *, discrete: bool, timesteps: int, skrl_major: int, seed: int = 42,
                  directory: str = "runs", experiment_name: str = "", write_interval: int | str = "auto",
                  checkpoint_interval: int | str = 0) -> dict[str, Any]:
    """A complete skrl Runner configuration for *algorithm* on a discrete or continuous action space."""
    algorithm = algorithm.upper()
    fits = DISCRETE if discrete else (*CONTINUOUS, *MULTI_AGENT)
    if algorithm not in (*ALGORITHMS, *MULTI_AGENT):
        raise ValueError(f"unknown algorithm {algorithm!r}; accepted: {', '.join((*ALGORITHMS, *MULTI_AGENT))}")
    if algorithm not in fits:
        space = "discrete" if discrete else "continuous"
        raise ValueError(f"algorithm {algorithm!r} does not fit a {space} action space; accepted: {', '.join(fits)}")
    token = "OBSERVATIONS" if skrl_major >= 2 else "STATES"  # noqa: PLR2004
    on_policy = algorithm in ON_POLICY
    agent = _agent(algorithm, skrl_major, timesteps)
    agent["experiment"] = {"directory": directory, "experiment_name": experiment_name,
                           "write_interval": write_interval, "checkpoint_interval": checkpoint_interval}
    return {"seed": seed, "models": _models(algorithm, discrete, token),
            "memory": {"class": "RandomMemory", "memory_size": -1 if on_policy else 20_000},
            "agent": agent,
            "trainer": {"class": "SequentialTrainer", "timesteps": timesteps, "headless": True,
                        "disable_progressbar": True}}

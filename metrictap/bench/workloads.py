"""The benchmark's workloads: real skrl trainings, rebuilt identically for every run.

Each run trains a fresh Runner from the same seed, so the runs of one round do the same work and
differ only in what observes them. The gymnasium workloads step a few Pendulum envs; their
env's ``device`` attribute is what skrl's gymnasium wrapper reads to place rewards and
observations, so ``--device cuda`` moves the agent and the per-step tensors the tap copies onto
the GPU while the simulation itself stays on the CPU. The ``isaac-*`` workloads look like Isaac
Lab from the tap's side: thousands of envs stepped as one batch of torch tensors on the chosen
device (:mod:`metrictap.bench.vector_env`), through skrl's own ``isaaclab`` wrapper, with Isaac Lab's
Cartpole agent settings; each fixes its env count, whatever ``--num_envs`` says.

Imported where used, not at module level: ``skrl``, ``gymnasium``, ``metrictap.cli``, ``torch``; so
that ``import metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or
a part of metrictap that the call does not need.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    """One algorithm on one task, trained for *timesteps* steps of every env unless told otherwise."""

    name: str
    algorithm: str
    task: str
    timesteps: int
    cadence: str
    tracks_with_writer_only: bool = False  # skrl's SAC tracks its losses only while its writer is on
    num_envs: int | None = None  # a fixed env count (the Isaac-scale workloads); None: --num_envs

    def envs(self, option: int) -> int:
        """How many envs a run steps: the workload's own count, or the ``--num_envs`` *option*."""
        return self.num_envs or option

    def describe(self, timesteps: int, num_envs: int, device: str) -> str:
        """A one-line title for the report."""
        tracking = "; observers run it with tracking on, writing nothing" if self.tracks_with_writer_only else ""
        return (f"{self.algorithm} {self.task}, {self.envs(num_envs)} envs, {timesteps} timesteps, {device}, "
                f"update {self.cadence}{tracking}")


VECTOR_CARTPOLE = "Cartpole, torch-vectorised (Isaac Lab's shape and agent settings)"
ISAAC_ENV_COUNTS = (256, 1024, 4096)
WORKLOADS = {
    "ppo": Workload("ppo", "PPO", "Pendulum-v1", 2000, "every rollout (16 steps)"),
    "sac": Workload("sac", "SAC", "Pendulum-v1", 1000, "every step", tracks_with_writer_only=True),
    **{f"isaac-ppo-{count}": Workload(f"isaac-ppo-{count}", "PPO", VECTOR_CARTPOLE, 64,
                                      "every rollout (16 steps; 8 epochs of 8 mini-batches)", num_envs=count)
       for count in ISAAC_ENV_COUNTS},
    **{f"isaac-sac-{count}": Workload(f"isaac-sac-{count}", "SAC", VECTOR_CARTPOLE, 64,
                                      "every step (4,096 samples) after 16", tracks_with_writer_only=True,
                                      num_envs=count)
       for count in ISAAC_ENV_COUNTS},
}
DEFAULT_WORKLOADS = ("ppo", "sac")


def skrl_major() -> int:
    """The installed skrl's major version, which decides the spelling of its configs."""
    import skrl

    return int(skrl.__version__.split(".")[0])


class Trial:
    """One training run: a Runner ready to train once, and the env to close afterwards."""

    def __init__(self, workload: Workload, *, timesteps: int, num_envs: int, device: str, write_interval: int | str,
                 directory: str) -> None:
        from skrl.envs.wrappers.torch import wrap_env
        from skrl.utils.runner.torch import Runner

        if workload.num_envs:
            from metrictap.bench.vector_env import VectorCartpole, isaac_cartpole_config

            config = isaac_cartpole_config(workload.algorithm, timesteps=timesteps, skrl_major=skrl_major(),
                                           directory=directory, write_interval=write_interval)
            self.env = wrap_env(VectorCartpole(workload.num_envs, device), wrapper="isaaclab", verbose=False)
        else:
            import gymnasium as gym

            from metrictap.cli.presets import runner_config

            env = gym.make_vec(workload.task, num_envs=num_envs, vectorization_mode="sync")
            env.unwrapped.device = device  # type: ignore[attr-defined]  # skrl's wrapper reads it
            config = runner_config(workload.algorithm, discrete=False, timesteps=timesteps, skrl_major=skrl_major(),
                                   directory=directory, write_interval=write_interval, checkpoint_interval=0)
            self.env = wrap_env(env, wrapper="gymnasium", verbose=False)
        with contextlib.redirect_stdout(sys.stderr):  # skrl 1.4 prints its models' source code
            self.runner = Runner(self.env, config)
        self.agent = self.runner.agent
        self._synchronize = _synchronizer(device)

    def train(self) -> tuple[float, float]:
        """Train to the end; wall seconds (including work still queued on a GPU) and the process's CPU seconds.

        CPU time counts every thread of the process (the tap's emitter too) and not the time
        other processes took the cores, so its ratio is steadier on a shared machine.
        """
        start, cpu = time.perf_counter(), time.process_time()
        self.runner.run("train")
        self._synchronize()
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        """Close the env (and with it the agent's TensorBoard writer, if any)."""
        writer = getattr(self.agent, "writer", None)
        if writer is not None:
            writer.close()
        self.env.close()


def _synchronizer(device: str) -> Callable[[], None]:
    if not device.startswith("cuda"):
        return lambda: None
    import torch

    return torch.cuda.synchronize

"""Interleaved pairs on real Isaac Lab 3.0 Isaac-Cartpole: untapped, skrl's tracking alone, and metrictap every="step".

    ISAACSIM_ASSET_ROOT=VENV/isaac-assets VENV/bin/python tests/support/isaaclab_pairs.py ENVS ITERATIONS PAIRS OUT.json

with VENV built by ``.ci/isaaclab3-env``. Isaac Lab's own train entry point builds the env once; each run then
builds a fresh skrl Runner on it from the same seed, so the runs of a round differ only in what observes them.
The first round warms up; the order reverses every other round; each ratio is taken within its round.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import torch
import wrapt
from isaaclab_rl.entrypoints.dispatch import run_train_cli
from mlflow import MlflowClient
from skrl.utils.runner.torch import Runner

from metrictap import MlflowSink, track

VARIANTS = ("untapped", "skrl-tracking", "metrictap-step")
ORIGINAL = Runner.run  # the measured runs call skrl's own run, not the one patched below


def measure(env: Any, config: dict[str, Any], variant: str, client: Any, experiment: str) -> tuple[float, float]:
    """Wall and CPU seconds of one training of a fresh Runner under *variant*."""
    config = copy.deepcopy(config)
    timesteps = config["trainer"]["timesteps"]
    # skrl tracks rewards only while its writer is on: tracking on, nothing written, as the bench's readers get it
    config["agent"]["experiment"]["write_interval"] = 0 if variant == "untapped" else timesteps + 1
    config["agent"]["experiment"]["checkpoint_interval"] = 0
    config["trainer"]["disable_progressbar"] = True
    runner = Runner(env, config)
    tap = None
    if variant == "metrictap-step":
        run_id = client.create_run(experiment).info.run_id
        tap = track(runner.agent, sink=MlflowSink(run_id, client.tracking_uri), every="step", flush_timeout=120)
        tap.start()
    start, cpu = time.perf_counter(), time.process_time()
    ORIGINAL(runner, "train")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    if tap is not None:
        tap.stop()
        client.set_terminated(run_id)
    return seconds, cpu_seconds


def pairs(rounds: int, out: str) -> Any:
    """The wrapper of Isaac Lab's Runner.run: measure on its env and config instead of training once."""
    def bench(_wrapped: Any, instance: Any, _args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
        client = MlflowClient(f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
        experiment = client.create_experiment("isaaclab-pairs")
        results: dict[str, list[tuple[float, float]]] = {variant: [] for variant in VARIANTS}
        for index in range(rounds + 1):
            order = VARIANTS if index % 2 == 0 else VARIANTS[::-1]
            row = {variant: measure(instance._env, instance._cfg, variant, client, experiment)
                   for variant in order}
            if index:
                for variant, figures in row.items():
                    results[variant].append(figures)
        summary = {}
        for variant, runs in results.items():
            untapped, tracking = results["untapped"], results["skrl-tracking"]
            summary[variant] = {
                "seconds": [wall for wall, _ in runs],
                "ratio": statistics.median(r[0] / b[0] for r, b in zip(runs, untapped, strict=True)),
                "cpu_ratio": statistics.median(r[1] / b[1] for r, b in zip(runs, untapped, strict=True)),
                "over_tracking": statistics.median(r[0] / t[0] for r, t in zip(runs, tracking, strict=True)),
                "cpu_over_tracking": statistics.median(r[1] / t[1] for r, t in zip(runs, tracking, strict=True)),
            }
        with open(out, "w", encoding="utf-8") as file:
            json.dump({"load_average": os.getloadavg(), "variants": summary}, file, indent=2)

    return bench


def main(argv: list[str]) -> int:
    """Measure ENVS envs, ITERATIONS PPO iterations per run, PAIRS measured rounds; write OUT."""
    envs, iterations, rounds, out = argv
    torch.set_num_threads(1)
    wrapt.wrap_function_wrapper(Runner, "run", pairs(int(rounds), out))
    return run_train_cli(["--rl_library", "skrl", "--task", "Isaac-Cartpole", "--device", "cpu", "--num_envs", envs,
                          "--max_iterations", iterations])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

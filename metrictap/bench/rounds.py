"""Interleaved rounds of one workload: every variant trains once per round, order reversed every other round.

A run is measured from the Runner's first step to its last (the tap's entry and exit are timed
apart, as ``exit_seconds``: a one-off flush that a long training does not repeat), and its
memory growth is read just before and after training. Its CPU time is the process's during
training plus that of the children the variant waited for (a delivery process), so that
moving work to another process does not hide it from the CPU ratio.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

from metrictap.bench.footprint import rss_bytes
from metrictap.bench.report import summarise
from metrictap.bench.stopwatch import Stopwatch
from metrictap.bench.variants import VARIANTS, Store, Variant
from metrictap.bench.workloads import WORKLOADS, Trial, Workload


def write_interval(variant: Variant, workload: Workload, option: str, timesteps: int) -> int:
    """The writer interval skrl gets for one run.

    The TensorBoard variant writes every ``option`` steps (``auto``: skrl's timesteps / 100, but
    never 0, which would mean no writer). Variants that read skrl's tracked values on an agent
    that tracks its losses only while a writer is on (SAC) get an interval past the end of the
    run: tracking on, nothing written; so does ``skrl-tracking``, which shows what that costs by
    itself. Every other run has no writer, the physical limit.
    """
    if variant.tensorboard:
        return max(1, timesteps // 100) if option == "auto" else int(option)
    tracking = variant.reads_tracking or variant.tracking_only
    return timesteps + 1 if tracking and workload.tracks_with_writer_only else 0


def measure(workload: Workload, variant: Variant, args: argparse.Namespace, *, store: Store, folder: str,
            stopwatch: Stopwatch | None = None) -> dict[str, float]:
    """Train *workload* once under *variant*; its times, memory growth, and what the variant delivered."""
    timesteps = args.timesteps or workload.timesteps
    trial = Trial(workload, timesteps=timesteps, num_envs=workload.envs(args.num_envs), device=args.device,
                  write_interval=write_interval(variant, workload, args.write_interval, timesteps),
                  directory=folder)
    children = children_cpu()
    try:
        with variant.around(trial.agent, store, stopwatch) as result:
            before = rss_bytes()
            seconds, cpu_seconds = trial.train()
            growth = (rss_bytes() - before) / 1e6
            leaving = time.perf_counter()
        exit_seconds = time.perf_counter() - leaving
    finally:
        trial.close()
    cpu_seconds += children_cpu() - children  # a delivery process's, once the tap has waited for it
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "exit_seconds": exit_seconds, "rss_growth_mb": growth,
            **result}


def children_cpu() -> float:
    """CPU seconds (user and system) of every child process this one has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_workload(name: str, variants: list[str], args: argparse.Namespace, *, store: Store, folder: str,
                   progress: Callable[[str], None]) -> dict[str, Any]:
    """Warm-up rounds, measured rounds, then one timed run per variant with wrappers; summarised."""
    workload = WORKLOADS[name]
    rounds: list[dict[str, dict[str, float]]] = []
    for index in range(args.warmup + args.pairs):
        order = variants if index % 2 == 0 else variants[::-1]
        label = f"warm-up {index + 1}" if index < args.warmup else f"round {index - args.warmup + 1}/{args.pairs}"
        measured = {}
        for variant in order:
            measured[variant] = measure(workload, VARIANTS[variant], args, store=store, folder=folder)
            progress(f"{name} {label} {variant}: {measured[variant]['seconds']:.2f} s")
        if index >= args.warmup:
            rounds.append({variant: measured[variant] for variant in variants})
    stopwatches = {}
    for variant in variants:
        if VARIANTS[variant].reads_tracking:
            stopwatches[variant] = Stopwatch()
            measure(workload, VARIANTS[variant], args, store=store, folder=folder, stopwatch=stopwatches[variant])
            progress(f"{name} timed wrappers {variant}: {len(stopwatches[variant].cycles)} updates")
    timesteps = args.timesteps or workload.timesteps
    summary = summarise(rounds, stopwatches, steps=timesteps, num_envs=workload.envs(args.num_envs))
    updates = max((entry.get("updates", 0) for entry in summary.values()), default=0)
    return {"title": workload.describe(timesteps, args.num_envs, args.device), "num_envs": workload.envs(args.num_envs),
            "updates": updates, "variants": summary}

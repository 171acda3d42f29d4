"""The bench's figures: medians and ranges of paired runs, and the printed table.

Ratios are taken within a round (each variant's time over the untapped time of the same
round), then summarised by their median, so a machine that slows down for a while slows both
sides of a ratio instead of one variant.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from metrictap.bench.stopwatch import Stopwatch

MICRO = 1e6
UNTAPPED, TRACKING = "untapped", "skrl-tracking"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of *values* (not interpolated, so p99 is a value that occurred)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and every value."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": list(values)}


def costs(stopwatch: Stopwatch, *, steps: int, num_envs: int) -> dict[str, Any]:
    """Microseconds per update cycle and per wrapper call, p50 and p99; all of it per step of the run's *steps*.

    ``per_step_us`` is everything the tap did on the training thread over the run, spread over
    its steps (one step of all *num_envs* envs each); ``per_env_step_ns`` spreads it over every
    env's step: how the tap's cost grows, or does not, with the work of one step.
    """
    def summary(values: Sequence[float]) -> dict[str, float]:
        return {"p50": percentile(values, 0.5) * MICRO, "p99": percentile(values, 0.99) * MICRO,
                "max": max(values) * MICRO, "calls": len(values)}

    result: dict[str, Any] = {"cycle": summary(stopwatch.cycles)} if stopwatch.cycles else {}
    result["calls"] = {kind: summary(values) for kind, values in sorted(stopwatch.calls.items())}
    total = sum(sum(values) for values in stopwatch.calls.values())
    result["per_step_us"] = total / steps * MICRO
    result["per_env_step_ns"] = total / (steps * num_envs) * 1e9
    return result


def summarise(rounds: Sequence[dict[str, dict[str, float]]], stopwatches: dict[str, Stopwatch], *, steps: int,
              num_envs: int) -> dict[str, Any]:
    """Per variant: times, ratios to the untapped run of the same round, delivery, memory and costs.

    Where ``skrl-tracking`` ran, each observer's ratio to it too: the observers' share of the
    time once skrl's own tracking, which every reader needs (SAC tracks only then), is paid.
    """
    summary: dict[str, Any] = {}
    for name in rounds[0]:
        runs = [measured[name] for measured in rounds]
        seconds = [run["seconds"] for run in runs]
        entry: dict[str, Any] = {
            "seconds": spread(seconds),
            "ratio": spread([run["seconds"] / measured[UNTAPPED]["seconds"]
                             for run, measured in zip(runs, rounds, strict=True)]),
            "cpu_ratio": spread([run["cpu_seconds"] / measured[UNTAPPED]["cpu_seconds"]
                                 for run, measured in zip(runs, rounds, strict=True)]),
            "exit_seconds": statistics.median(run["exit_seconds"] for run in runs),
            "rss_growth_mb": statistics.median(run["rss_growth_mb"] for run in runs),
        }
        for key in ("metrics", "updates", "windows", "errors", "lost", "spooled", "event_bytes"):
            if key in runs[0]:
                entry[key] = max(run[key] for run in runs) if key in ("errors", "lost") else statistics.median(
                    run[key] for run in runs)
        if "metrics" in entry:
            entry["metrics_per_second"] = statistics.median(run["metrics"] / run["seconds"] for run in runs)
        if name not in (UNTAPPED, TRACKING) and TRACKING in rounds[0]:
            entry["over_tracking"] = spread([run["seconds"] / measured[TRACKING]["seconds"]
                                             for run, measured in zip(runs, rounds, strict=True)])
            entry["cpu_over_tracking"] = spread([run["cpu_seconds"] / measured[TRACKING]["cpu_seconds"]
                                                 for run, measured in zip(runs, rounds, strict=True)])
        if name in stopwatches:
            entry["cost_us"] = costs(stopwatches[name], steps=steps, num_envs=num_envs)
        summary[name] = entry
    return summary


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(report: dict[str, Any]) -> str:
    """The report as text: one table per workload, then the process-wide figures."""
    settings = report["settings"]
    lines = [f"metrictap bench · {report['machine']} · {report['versions']}",
             (f"store {settings['store']} · {settings['pairs']} pairs after {settings['warmup']} warm-up round(s), "
              f"interleaved · torch threads {settings['torch_threads']} · load average {settings['load_average']}")]
    header = (f"{'variant':<24}{'time s':>8}{'ratio':>7}{'(min-max)':>14}{'cpu ratio':>10}"
              f"{'tap µs/update p50':>19}{'p99':>9}{'metrics/s':>10}{'exit s':>7}{'RSS Δ MB':>9}")
    for results in report["workloads"].values():
        lines += ["", f"{results['title']} · {_number(results['updates'])} updates", header]
        for name, entry in results["variants"].items():
            ratio, cycle = entry["ratio"], entry.get("cost_us", {}).get("cycle", {})
            span = f"({ratio['min']:.2f}-{ratio['max']:.2f})"
            lines.append(
                f"{name:<24}{entry['seconds']['median']:>8.2f}{ratio['median']:>7.3f}"
                f"{span:>14}{entry['cpu_ratio']['median']:>10.3f}"
                f"{_number(cycle.get('p50'), 1):>19}{_number(cycle.get('p99'), 1):>9}"
                f"{_number(entry.get('metrics_per_second')):>10}{entry['exit_seconds']:>7.2f}"
                f"{entry['rss_growth_mb']:>9.1f}")
        over = [f"{name} {entry['over_tracking']['median']:.3f} (cpu {entry['cpu_over_tracking']['median']:.3f})"
                for name, entry in results["variants"].items() if "over_tracking" in entry]
        if over:
            lines.append(f"ratio to {TRACKING} (median), what the observer adds to skrl's own tracking: "
                         + " · ".join(over))
        per_step = [f"{name} {entry['cost_us']['per_step_us']:,.1f} µs per step = "
                    f"{entry['cost_us']['per_env_step_ns']:,.1f} ns per env step"
                    for name, entry in results["variants"].items() if "per_step_us" in entry.get("cost_us", {})]
        if per_step:
            lines.append(f"tap on the training thread, all its wrappers over the timed run, per step of "
                         f"{results['num_envs']:,} envs: " + " · ".join(per_step))
    lines.append("")
    if "import" in report:
        found = report["import"]
        heavy = ", ".join(found["heavy_modules"]) or "none of " + ", ".join(found["checked"])
        lines.append(f"import metrictap: {found['median_ms']:.1f} ms median of {found['repeats']} "
                     f"({found['min_ms']:.1f}-{found['max_ms']:.1f}); heavy modules imported: {heavy}")
    if "delivery" in report:
        found = report["delivery"]
        lines.append(f"delivery: {found['sink_rate']:,.0f} metrics/s inside the sink, "
                     f"{found['end_to_end_rate']:,.0f}/s end to end ({found['metrics']:,} metrics)")
    if "stalled_sink" in report:
        found = report["stalled_sink"]
        stopped = " (stopped at the limit)" if found["stopped_at_limit"] else ""
        lines.append(f"stalled {found['sink']} sink: RSS {found['first_mb']:+.1f} MB over the first tenth of "
                     f"{found['updates']:,} updates{stopped}, then {found['growth_mb']:+.1f} MB "
                     f"({found['bytes_per_update']:.0f} bytes per update); {found['pending_points']:,} points pending, "
                     f"{found['spooled_points']:,} of them on disk")
    lines.append(f"timing floor: {report['instrument_floor_us']:.2f} µs per timed call is the stopwatch's own")
    return "\n".join(lines)

"""``metrictap bench``: what the tap costs a training, measured as ratios against no tap, in one process.

Every workload first runs each variant once to warm up (imports, the MLflow store's schema,
allocator pools), then in rounds: each round trains every variant once, from the same seed,
in an order that reverses every other round, so drift on a shared machine falls on both sides
of a ratio. Afterwards, one more run per variant with training-thread wrappers times those
wrappers; the timed runs are kept out of the ratios. Then, without skrl: the sink's throughput,
``import metrictap`` in fresh interpreters, and (on request) memory under a stalled sink.

Imported where used, not at module level: ``metrictap.bench``, ``torch``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import sys
import tempfile
from typing import Any

from metrictap.errors import UsageError

DEFAULT_PAIRS = 5


def add_arguments(parser: argparse.ArgumentParser, _command: str) -> None:
    """The bench's options."""
    from metrictap.bench.variants import DEFAULT_VARIANTS, VARIANTS
    from metrictap.bench.workloads import DEFAULT_WORKLOADS, WORKLOADS

    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                        help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: {','.join(DEFAULT_WORKLOADS)}; "
                             "isaac-<algorithm>-<envs> step that many torch-vectorised Cartpoles, whatever --num_envs)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)} (untapped is always run)")
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="measured rounds, at least 5 for a report")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--timesteps", type=int, help="per training (default: ppo 2000, sac 1000, isaac-* 64)")
    parser.add_argument("--num_envs", type=int, default=4)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N for the agent and its tensors")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads; 0 leaves torch's choice (default 1: the networks are tiny, "
                             "and on a busy machine more threads spin against each other)")
    parser.add_argument("--tracking_uri", help="MLflow store or server (default: a sqlite store in a temp folder)")
    parser.add_argument("--write_interval", default="auto", help="skrl's TensorBoard interval for that variant")
    parser.add_argument("--delivery_updates", type=int, default=2500,
                        help="synthetic updates (about 27 metrics each) for the throughput measure; 0 skips it")
    parser.add_argument("--import_repeats", type=int, default=7, help="fresh interpreters timing the import; 0 skips")
    parser.add_argument("--rss_updates", type=int, default=0,
                        help="synthetic updates with a stalled sink, for the memory check (the target: 1000000)")
    parser.add_argument("--rss_sink", choices=("mlflow", "callable"), default="mlflow",
                        help="the stalled sink: an MLflow sink whose server never answers (its backlog goes to the "
                             "spool), or a function that never returns (its backlog stays in memory)")
    parser.add_argument("--rss_limit_mb", type=float, default=1024.0, help="stop the memory check past this growth")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH ('-': stdout only)")


def _names(text: str, known: dict[str, Any], option: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise UsageError(f"{option} {text!r}: unknown {', '.join(unknown) or 'empty list'}; "
                         f"accepted: {', '.join(known)}")
    return list(dict.fromkeys(names))


def _check(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    from metrictap.bench.variants import VARIANTS
    from metrictap.bench.workloads import WORKLOADS

    workloads = _names(args.workloads, WORKLOADS, "--workloads")
    variants = ["untapped", *(name for name in _names(args.variants, VARIANTS, "--variants") if name != "untapped")]
    for option in ("pairs", "num_envs", "timesteps"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UsageError(f"--{option} {value}: accepted: an integer of at least 1")
    for option in ("warmup", "threads", "delivery_updates", "import_repeats", "rss_updates"):
        if getattr(args, option) < 0:
            raise UsageError(f"--{option} {getattr(args, option)}: accepted: an integer of at least 0")
    if args.write_interval != "auto" and not (args.write_interval.isdigit() and int(args.write_interval) > 0):
        raise UsageError(f"--write_interval {args.write_interval!r}: accepted: 'auto' or a positive integer")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {args.device}: torch sees no CUDA device here; accepted: cpu")
    elif args.device != "cpu":
        raise UsageError(f"--device {args.device!r}: accepted: cpu, cuda, cuda:N")
    return workloads, variants


def _version(package: str) -> str:
    try:
        return f"{package} {importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{package} absent"


def _versions() -> str:
    return " · ".join([f"Python {platform.python_version()}", *map(_version, ("torch", "skrl", "gymnasium", "mlflow"))])


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)  # noqa: T201 - the command's progress on stderr


def run(args: argparse.Namespace) -> int:
    """Run the bench; print the table (and write JSON where asked)."""
    workloads, variants = _check(args)
    import torch

    from metrictap.bench.footprint import delivery, import_time, stalled_rss_in_child
    from metrictap.bench.report import table
    from metrictap.bench.rounds import bench_workload
    from metrictap.bench.stopwatch import instrument_floor
    from metrictap.bench.variants import Store

    logging.getLogger("skrl").setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="metrictap-bench-") as folder:
        uri = args.tracking_uri or f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
        store = Store(uri, f"metrictap-bench {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S.%f}")
        report: dict[str, Any] = {
            "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, {args.device}",
            "versions": _versions(),
            "settings": {"store": "sqlite (temporary)" if not args.tracking_uri else uri, "tracking_uri": uri,
                         "pairs": args.pairs, "warmup": args.warmup, "num_envs": args.num_envs,
                         "device": args.device, "torch_threads": torch.get_num_threads(),
                         "write_interval": args.write_interval, "load_average": _load()},
            "instrument_floor_us": instrument_floor() * 1e6,
            "workloads": {},
        }
        for name in workloads:
            report["workloads"][name] = bench_workload(name, variants, args, store=store, folder=folder,
                                                       progress=_progress)
        if args.delivery_updates:
            _progress("sink throughput")
            run_id = store.create_run("delivery")
            report["delivery"] = delivery(uri, run_id, args.delivery_updates)
            store.finish(run_id)
    if args.import_repeats:
        _progress("import time")
        report["import"] = import_time(args.import_repeats)
    if args.rss_updates:
        _progress(f"memory with a stalled sink over {args.rss_updates:,} updates")
        report["stalled_sink"] = stalled_rss_in_child(args.rss_updates, args.rss_limit_mb, args.rss_sink)
    report["settings"]["load_average_after"] = _load()
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)  # noqa: T201 - the command's output
            return 0
        with open(args.json, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    print(table(report))  # noqa: T201 - the command's output
    return 0


def _load() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - platforms without it
        return "unknown"

"""A training process for delivery tests: skrl PPO on CPU, tapped into one MLflow run; prints its progress and stats.

Run as ``python tests/support/training_child.py --tracking_uri URI --run_id ID [...]``; without ``--run_id``
the tap starts the run itself (sink ``mlflow``) and the child prints ``RUN <id>``. It prints ``TRAINING``
once the tap is on, ``LEAVING`` as training ends (the flush starts then), and ``STATS {json}`` after.
With ``--torchrun`` it joins a gloo process group first: skrl's own distributed mode insists on
NCCL and CUDA, so each rank trains its own agent while ``torch.distributed`` knows the ranks.
"""

import argparse
import dataclasses
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--tracking_uri", required=True)
parser.add_argument("--run_id")
parser.add_argument("--timesteps", type=int, default=16 * 20)
parser.add_argument("--ranks", default="0")
parser.add_argument("--flush_timeout", type=float, default=10.0)
parser.add_argument("--spool", default="spools")
parser.add_argument("--delivery", default="thread")
parser.add_argument("--torchrun", action="store_true")
args = parser.parse_args()

if args.torchrun:
    import torch.distributed

    rank, world = int(os.environ["RANK"]), int(os.environ.pop("WORLD_SIZE"))  # before skrl reads it
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)

from skrl_runs import make_runner  # noqa: E402 - after the process group exists

from metrictap import MlflowSink, track  # noqa: E402

runner = make_runner("PPO", timesteps=args.timesteps, directory="runs")
ranks = args.ranks if args.ranks == "all" else int(args.ranks)
if args.run_id:
    sink = MlflowSink(args.run_id, args.tracking_uri, timeout=5.0)
else:
    import mlflow

    mlflow.set_tracking_uri(args.tracking_uri)
    sink = mlflow
tap = track(runner.agent, sink=sink, every="step",
            strict=False, flush_timeout=args.flush_timeout, spool=args.spool, ranks=ranks,
            delivery=args.delivery)
with tap:
    if not args.run_id:
        print("RUN", mlflow.active_run().info.run_id, flush=True)  # noqa: T201
    print("TRAINING", flush=True)  # noqa: T201 - the test reads these lines
    runner.run()
    print("LEAVING", flush=True)  # noqa: T201
print("STATS", json.dumps(dataclasses.asdict(tap.stats)), flush=True)  # noqa: T201
if args.torchrun:
    torch.distributed.destroy_process_group()
sys.exit(0)

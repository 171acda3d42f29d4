"""``metrictap train`` and ``metrictap eval``: skrl training with the tap and an MLflow run wired in.

The flags are the ones Isaac Lab users already type (``--task``, ``--num_envs``, ``--headless``,
``--max_iterations``…). Everything a user can get wrong is checked before anything is written to
the tracking store, so a mistake never leaves a half-made run behind.

Imported where used, not at module level: ``skrl``, ``metrictap``, ``metrictap.adapting``,
``metrictap.testing``, ``gymnasium``, ``importlib``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from metrictap.cli.backends import (
    CHECKPOINT_SELECTORS,
    Training,
    choose_backend,
    gymnasium_training,
    isaaclab2_training,
    isaaclab3_run,
    isaaclab_major,
)
from metrictap.cli.registry import (
    chosen_checkpoint,
    fetch_checkpoint,
    first_line,
    is_mlflow_uri,
    register_model,
    resume_point,
)
from metrictap.cli.runs import (
    RunSession,
    check_store,
    default_tracking_uri,
    flatten,
    logged_through,
    uploading_checkpoints,
)
from metrictap.cli.videos import VideoWatcher
from metrictap.credentials import scrub_text
from metrictap.errors import UsageError
from metrictap.tap.ranks import current_rank
from metrictap.tap.schedule import parse_every

SUMMARY = ("episode_reward_mean", "episode_length_mean", "success_rate", "policy_loss", "value_loss", "critic_loss",
           "fps", "timesteps", "iterations")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of ``train`` (and of ``eval``, which adds ``--episodes`` and ``--run_id``)."""
    parser.add_argument("--task", required=True,
                        help="an Isaac Lab task (Isaac-Cartpole-v0) or a gymnasium id (Pendulum-v1)")
    parser.add_argument("--num_envs", type=int, help="parallel environments (gymnasium default: 4)")
    parser.add_argument("--seed", type=int, help="random seed (default: the agent config's)")
    parser.add_argument("--algorithm", default="PPO", type=str.upper, help="skrl algorithm (default: PPO)")
    parser.add_argument("--agent_cfg", metavar="FILE.yaml", help="an skrl Runner config (Isaac Lab's skrl_*_cfg.yaml)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--timesteps", type=int, help="training timesteps (default: the agent config's, or 5000)")
    length.add_argument("--max_iterations", type=int, help="iterations; timesteps = max_iterations x rollouts")
    parser.add_argument("--checkpoint", required=command == "eval",
                        help="skrl checkpoint to load: a .pt file, runs:/<run_id>/<path> or models:/<name>/<version>")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: skrl's choice)")
    parser.add_argument("--headless", action="store_true", help="no rendering (Isaac Lab 2.x; accepted everywhere)")
    parser.add_argument("--distributed", action="store_true", help="multi-GPU (Isaac Lab; launch with torchrun)")
    parser.add_argument("--backend", choices=("auto", "isaaclab", "gymnasium"), default="auto")
    parser.add_argument("--mlflow_log_interval", default="balanced", metavar="INTERVAL",
                        help="step, balanced (every 10 iterations), rollout, an int N, or a duration such as 30s")
    parser.add_argument("--delivery", choices=("thread", "process"), default="thread",
                        help="who sends to MLflow: a thread of the training process, or a child process that "
                             "keeps MLflow's Python work off the training's interpreter lock")
    parser.add_argument("--metrics", metavar="NAME,...", help="log only these canonical names or glob patterns")
    parser.add_argument("--video", action="store_true",
                        help="record videos during training (gymnasium: RecordVideo; Isaac Lab: its own --video) and "
                             "upload each to the run's videos/ as soon as it is complete")
    parser.add_argument("--video_length", type=int, default=200, help="steps per video (default: 200)")
    parser.add_argument("--video_interval", type=int, default=2000, help="steps between videos (default: 2000)")
    parser.add_argument("--no-system", dest="system", action="store_false",
                        help="do not sample CPU, memory, disk, network and GPUs (sampled by default, as system/...)")
    parser.add_argument("--system_interval", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between two samples of the machine (default: 10)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the task id)")
    parser.add_argument("--run_name", help="MLflow run name (default: the skrl run folder name)")
    parser.add_argument("--tracking_uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                               "sqlite:///mlflow.db)")
    if command == "train":
        parser.add_argument("--register_model", metavar="NAME",
                            help="register the trained policy as a version of this model when the run ends FINISHED")
        parser.add_argument("--register", choices=("final", "best"), default="final",
                            help="which checkpoint --register_model registers (default: final)")
        parser.add_argument("--resume", action="store_true",
                            help="with --checkpoint runs:/<run_id>/.../agent_<N>.pt: log into that run and continue "
                                 "its step axis from timestep N, without logging a step it already holds")
    if command == "eval":
        parser.add_argument("--episodes", type=int, default=10, help="episodes to evaluate (default: 10)")
        parser.add_argument("--run_id", help="log into this existing run (e.g. the training run)")


def _parse(args: argparse.Namespace) -> tuple[Any, set[str] | None]:
    try:
        every = parse_every(args.mlflow_log_interval)
    except ValueError as exc:
        raise UsageError(str(exc).replace("every=", "--mlflow_log_interval ")) from None
    only = _metrics(args.metrics)
    _check_length_and_device(args)
    if (args.checkpoint and args.checkpoint not in CHECKPOINT_SELECTORS and not is_mlflow_uri(args.checkpoint)
            and not os.path.isfile(args.checkpoint)):
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file; accepted: a checkpoint file (.pt), "
                         f"runs:/<run_id>/<path>, models:/<name>/<version>, or "
                         f"{' or '.join(CHECKPOINT_SELECTORS)} with Isaac Lab 3")
    if args.video_length < 1 or args.video_interval < 1:
        raise UsageError(f"--video_length {args.video_length} --video_interval {args.video_interval}: "
                         "both must be at least 1")
    if not args.system_interval > 0:
        raise UsageError(f"--system_interval {args.system_interval:g}: must be a number of seconds > 0")
    if args.system and importlib.util.find_spec("psutil") is None:  # on by default: a missing extra turns it off
        args.system = False
        print("metrictap: system metrics are off: psutil is not installed (pip install 'metrictap[system]')",  # noqa: T201
              file=sys.stderr)
    if getattr(args, "episodes", 1) < 1:
        raise UsageError(f"--episodes {args.episodes}: must be at least 1")
    return every, only


def _metrics(text: str | None) -> set[str] | None:
    """``--metrics NAME,...`` as the ``only=`` set; a value that names nothing is a mistake, not "log nothing"."""
    if text is None:
        return None
    only = {name.strip() for name in text.split(",") if name.strip()}
    if not only:
        raise UsageError(f"--metrics {text!r} names no metric; accepted: canonical names or glob patterns "
                         "separated by commas, e.g. --metrics episode_reward_mean,policy_loss")
    return only


def _check_length_and_device(args: argparse.Namespace) -> None:
    """``--timesteps``/``--max_iterations`` of at least 1, and a ``--device`` torch knows and this machine has."""
    for flag in ("timesteps", "max_iterations"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UsageError(f"--{flag} {value}: must be at least 1")
    if args.device is not None:
        _check_device(args.device)


def _check_device(device: str) -> None:
    """A device torch cannot parse, or one this machine lacks, fails before anything is built."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"--device {device}: not a torch device ({exc}); accepted: cpu, cuda, cuda:N, mps") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: this machine has no CUDA device torch can use; accepted here: cpu")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A scheduler's SIGTERM ends the run KILLED, like Ctrl-C, instead of leaving it RUNNING."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """Train (or evaluate) with the tap; exit status 0, 1 on a failure, 130 when interrupted."""
    every, only = _parse(args)
    backend = choose_backend(args.backend, args.task)
    if backend == "gymnasium" and args.extra:
        raise UsageError(f"unrecognized arguments: {' '.join(args.extra)}")
    if args.num_envs is not None and args.num_envs < 1:
        raise UsageError(f"--num_envs {args.num_envs}: must be at least 1")
    uri = args.tracking_uri or default_tracking_uri()
    args.resumed = resume_point(args.checkpoint) if getattr(args, "resume", False) else None
    if is_mlflow_uri(args.checkpoint):
        args.checkpoint = fetch_checkpoint(args.checkpoint, uri)
    primary = current_rank() == 0
    major = isaaclab_major()
    if backend == "isaaclab" and major is not None and major >= 3:  # noqa: PLR2004
        return isaaclab3_run(args, lambda training, ending: _run(training, args, every, only, uri=uri,
                                                                 primary=primary, ending=ending))
    if args.checkpoint in CHECKPOINT_SELECTORS:
        raise UsageError(f"--checkpoint {args.checkpoint} is resolved by Isaac Lab 3, not installed here; "
                         "accepted: a checkpoint file (.pt)")
    import skrl

    if backend == "gymnasium":
        args.num_envs = args.num_envs or 4
        training = gymnasium_training(args, int(skrl.__version__.split(".")[0]))
    else:
        training = isaaclab2_training(args)
    try:
        return _run(training, args, every, only, uri=uri, primary=primary)
    finally:
        training.close()


def _run(training: Training, args: argparse.Namespace, every: Any, only: set[str] | None, *, uri: str,
         primary: bool, ending: contextlib.ExitStack | None = None) -> int:
    """Train under the tap inside an MLflow run; the run ends here, or when *ending* closes.

    Isaac Lab 3 writes its final checkpoint after the Runner returns: its backend passes an
    *ending* that it closes afterwards, so that checkpoint is uploaded before the run ends.
    """
    from metrictap import MlflowSink, track
    from metrictap.adapting.adapter import find_adapter
    from metrictap.adapting.selection import Selection
    from metrictap.testing import MemorySink

    agent = training.runner.agent
    evaluating = args.command == "eval"
    mode, prefix = ("eval", "eval/") if evaluating else ("train", "")
    if args.checkpoint and training.backend != "isaaclab-3":  # Isaac Lab 3 loads (and resolves) it itself
        agent.load(args.checkpoint)
    if evaluating:
        _fit_episodes(training, args)
    if not primary:  # only rank 0 of a distributed launch creates the run and logs
        training.run(mode)
        return 0
    try:
        Selection.for_adapter(only, find_adapter(agent))
        check_store(uri)
    except ValueError as exc:
        raise UsageError(str(exc).replace("only= names", "--metrics names")) from None
    except ConnectionError as exc:
        raise UsageError(str(exc)) from None
    resumed, start = args.resumed or (None, 0)
    already = logged_through(uri, resumed) if resumed else None
    session = RunSession(uri, args.experiment or training.task,
                         args.run_name or training.config["agent"]["experiment"]["experiment_name"],
                         getattr(args, "run_id", None), resumed=resumed)
    _open(session, training, args, every)
    session.save_config(training.config, str(getattr(agent, "experiment_dir", ".")))
    print(f"metrictap: {session.describe()}", flush=True)  # noqa: T201 - the command's own output
    last = MemorySink()
    outcome = {"status": "FAILED"}
    later = ending if ending is not None else contextlib.ExitStack()
    if getattr(args, "register_model", None):  # runs after _end (last in, first out): once the run is FINISHED
        later.callback(_register, training, args, session, outcome, last)
    later.callback(_end, session, outcome, last, prefix, str(getattr(agent, "experiment_dir", ".")))
    code = 1
    try:
        _upload_as_written(later, agent, session, start, already)
        with _sigterm_as_interrupt(), track(agent, sink=[MlflowSink(session.run_id, uri), last], every=every,
                                            only=only, prefix=prefix, delivery=args.delivery, system=args.system,
                                            system_interval=args.system_interval, start_timestep=start,
                                            logged_through=already):
            training.run(mode)
        outcome["status"], code = "FINISHED", 0
    except KeyboardInterrupt:
        outcome["status"], code = "KILLED", 130
    except Exception:  # noqa: BLE001 - printed, and the run is marked FAILED
        traceback.print_exc()
    finally:
        if ending is None:
            later.close()
    return code


def _open(session: RunSession, training: Training, args: argparse.Namespace, every: Any) -> None:
    """Start the session's run; a server lost since the store was checked is one usage line, not a traceback."""
    try:
        session.start(_params(training, args, every), _tags(training, args))
    except ConnectionError as exc:
        raise UsageError(str(exc)) from None


def _upload_as_written(later: contextlib.ExitStack, agent: Any, session: RunSession, start: int,
                       already: int | None) -> None:
    """Checkpoints and videos go up as they are written, until *later* closes (videos first, then the rest)."""
    later.enter_context(uploading_checkpoints(agent, session, start, already))
    if session.uploader is not None:  # videos appear under the run's folder (gymnasium here, Isaac Lab's own)
        later.enter_context(VideoWatcher(os.path.join(str(getattr(agent, "experiment_dir", ".")), "videos"),
                                         session.uploader))


def _end(session: RunSession, outcome: dict[str, str], last: Any, prefix: str, folder: str) -> None:
    """Finish the uploads, set the run's status (waiting in a spool in *folder* if need be), and say how it ended."""
    status = outcome["status"]
    for problem in session.end(status, spool_folder=folder):
        print(f"metrictap: {problem}", file=sys.stderr)  # noqa: T201
    print(f"metrictap: run {status}: {_summary(last, prefix)}", flush=True)  # noqa: T201


def _register(training: Training, args: argparse.Namespace, session: RunSession, outcome: dict[str, str],
              last: Any) -> None:
    """Once the run ended FINISHED, register the chosen checkpoint; a refusal is one line on stderr."""
    from importlib.metadata import version

    if outcome["status"] != "FINISHED":
        return
    folder = str(getattr(training.runner.agent, "experiment_dir", "."))
    checkpoint = chosen_checkpoint(folder, args.register)
    if checkpoint is None:
        print(f"metrictap: --register_model {args.register_model}: skrl wrote no {args.register} checkpoint in "  # noqa: T201
              f"{folder}; nothing registered", file=sys.stderr)
        return
    tags = {"task": training.task, "algorithm": args.algorithm, "metrictap_version": version("metrictap"),
            "checkpoint": f"{args.register}: {os.path.basename(checkpoint)}"}
    if "episode_reward_mean" in last.names:
        tags["episode_reward_mean"] = f"{last.last('episode_reward_mean'):.6g}"
    try:
        number = register_model(session.tracking_uri, session.run_id, args.register_model, checkpoint=checkpoint,
                                config=os.path.join(folder, "params", "agent.yaml"), tags=tags)
    except Exception as exc:  # noqa: BLE001 - every registry refuses in its own words; the run is done either way
        print(f"metrictap: the model registry refused --register_model {args.register_model}: {first_line(exc)} "  # noqa: T201
              "(the run is FINISHED; its checkpoints are in its artifacts)", file=sys.stderr)
        return
    print(f"metrictap: registered {args.register_model} version {number} "  # noqa: T201
          f"(models:/{args.register_model}/{number}) from {os.path.basename(checkpoint)}", flush=True)


def _summary(last: Any, prefix: str) -> str:
    names = [prefix + name for name in SUMMARY if prefix + name in last.names]
    return ", ".join(f"{name}={last.last(name):.6g}" for name in names) or "no metrics were logged"


def _fit_episodes(training: Training, args: argparse.Namespace) -> None:
    """Enough evaluation timesteps for every env to finish ``--episodes`` / num_envs full-length episodes."""
    import gymnasium as gym

    if args.timesteps is not None:
        return
    spec = gym.spec(training.task) if training.task in gym.registry else None
    if spec is None or not spec.max_episode_steps:
        raise UsageError(f"{training.task} has no episode length limit; give --timesteps for the evaluation")
    envs = max(1, int(getattr(training.runner.trainer.env, "num_envs", 1)))
    timesteps = math.ceil(args.episodes / envs) * spec.max_episode_steps + 1
    trainer = training.runner.trainer
    if hasattr(trainer.cfg, "timesteps"):
        trainer.cfg.timesteps = timesteps
    trainer.timesteps = timesteps


def _params(training: Training, args: argparse.Namespace, every: Any) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    params = flatten(training.config)
    params.update({"task": training.task, "num_envs": str(args.num_envs), "algorithm": args.algorithm,
                   "seed": str(training.config.get("seed")), "mlflow_log_interval": str(every)})
    for package in ("metrictap", "skrl", "torch", "gymnasium", "mlflow", "isaaclab"):
        with contextlib.suppress(PackageNotFoundError):
            params[f"version.{package}"] = version(package)
    return params


def _tags(training: Training, args: argparse.Namespace) -> dict[str, str]:
    return {"task": training.task, "backend": training.backend, "host": socket.gethostname(),
            "metrictap.command": scrub_text(" ".join(["metrictap", *args.typed]))}

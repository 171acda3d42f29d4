"""Where a training command gets its skrl Runner: Isaac Lab 2.x, Isaac Lab 3.x, or gymnasium.

Isaac Lab 2.x must start its simulation app before anything of Isaac Lab is imported; 3.x
ships its own skrl train entry point, renamed ``Isaac-Cartpole-v0`` to ``Isaac-Cartpole`` and
dropped ``--headless``. Without Isaac Lab, gymnasium vector envs train with the presets of
:mod:`metrictap.cli.presets`. Every heavy import happens inside these functions.

Imported where used, not at module level: ``yaml``, ``gymnasium``, ``numpy``, ``skrl``,
``metrictap.cli``, ``isaaclab``, ``isaaclab_tasks``, ``isaaclab_rl``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import difflib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metrictap.errors import UsageError
from metrictap.tap.patching import Patches

DEFAULT_TIMESTEPS = 5000
GYMNASIUM_TASKS = "Pendulum-v1, CartPole-v1, or a MuJoCo task such as InvertedPendulum-v5 (with mujoco installed)"
_VERSIONED = re.compile(r"^(Isaac-.+)-v\d+$")
_UNFETCHED = re.compile(r"Unable to (?:find|resolve) the file: (\S+)")


@dataclass
class Training:
    """A Runner ready to run, with what the MLflow run should record about it."""

    runner: Any
    config: dict[str, Any]
    backend: str
    task: str
    close: Callable[[], None] = field(default=lambda: None)
    start: Callable[[str], object] | None = None

    def run(self, mode: str) -> None:
        """Run the Runner in *mode* (``train`` or ``eval``)."""
        (self.start or self.runner.run)(mode)


def isaaclab_major() -> int | None:
    """The installed Isaac Lab major version, or None without Isaac Lab."""
    if importlib.util.find_spec("isaaclab") is None:
        return None
    try:
        return int(importlib.metadata.version("isaaclab").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 2  # a source checkout of the 2.x layout carries no distribution metadata


def choose_backend(requested: str, task: str) -> str:
    """``isaaclab`` or ``gymnasium``; an Isaac task on a machine without Isaac Lab fails fast."""
    available = isaaclab_major() is not None
    if requested == "isaaclab" and not available:
        raise UsageError("--backend isaaclab needs Isaac Lab: pip install 'isaaclab[skrl]' (see isaac-sim.github.io)")
    if requested == "auto" and task.startswith("Isaac-"):
        requested = "isaaclab"
    if requested == "isaaclab" and not available:
        raise UsageError(f"task {task!r} needs Isaac Lab, which is not installed (pip install 'isaaclab[skrl]'); "
                         f"without it, try a gymnasium task: {GYMNASIUM_TASKS}")
    return "isaaclab" if requested == "isaaclab" else "gymnasium"


def isaaclab3_task(task: str) -> str:
    """Isaac Lab 3.x dropped the ``-v0`` suffix of task ids."""
    match = _VERSIONED.match(task)
    return match[1] if match else task


CHECKPOINT_SELECTORS = ("latest", "best")  # what Isaac Lab 3 resolves itself, in the task's log folder


def isaaclab3_argv(args: Any) -> list[str]:
    """The argument list of Isaac Lab 3.x's skrl train entry point for these CLI arguments.

    Isaac Lab 3 has no ``--timesteps``: it becomes the Hydra override ``agent.trainer.timesteps``,
    which Isaac Lab applies to the agent config before ``--max_iterations`` would. Its own flags
    (``--agent``, ``--video``, Hydra overrides) pass through as typed; ``--headless`` is gone in 3.x.
    """
    argv = ["--rl_library", "skrl", "--task", isaaclab3_task(args.task)]
    for flag in ("num_envs", "seed", "max_iterations", "device", "checkpoint", "algorithm"):
        value = getattr(args, flag, None)
        if value is not None:
            argv += [f"--{flag}", str(value)]
    if getattr(args, "distributed", False):
        argv.append("--distributed")
    if getattr(args, "video", False):
        argv += ["--video", "--video_length", str(args.video_length), "--video_interval", str(args.video_interval)]
    overrides = [] if getattr(args, "timesteps", None) is None else [f"agent.trainer.timesteps={args.timesteps}"]
    return argv + [item for item in args.extra if item != "--headless"] + overrides


def run_name(algorithm: str) -> str:
    """Isaac Lab's run folder name: ``<date>_<time>_<algorithm>_torch``."""
    return f"{dt.datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}_{algorithm.lower()}_torch"  # noqa: DTZ005


def load_agent_config(path: str) -> dict[str, Any]:
    """An skrl Runner config from YAML (Isaac Lab's ``skrl_ppo_cfg.yaml`` layout), with errors that name the file."""
    try:
        import yaml
    except ImportError:
        raise UsageError("--agent_cfg needs PyYAML: pip install pyyaml") from None
    try:
        with open(path, encoding="utf-8") as file:
            config: dict[str, Any] = yaml.safe_load(file)
    except OSError as exc:
        raise UsageError(f"--agent_cfg {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--agent_cfg {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    missing = [key for key in ("models", "agent", "trainer") if not isinstance(config, dict) or key not in config]
    if missing:
        raise UsageError(f"--agent_cfg {path} is not an skrl Runner config: it lacks {', '.join(missing)}")
    return config


def gymnasium_training(args: Any, skrl_major: int) -> Training:
    """Vector envs of a gymnasium task, wrapped for skrl, with a preset or the given agent config."""
    import gymnasium as gym
    import numpy as np
    from skrl.envs.wrappers.torch import wrap_env
    from skrl.utils.runner.torch import Runner

    from metrictap.cli.presets import runner_config

    if args.task not in gym.registry:
        close = difflib.get_close_matches(args.task, list(gym.registry), n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise UsageError(f"unknown task {args.task!r}; {hint}gymnasium tasks include {GYMNASIUM_TASKS}")
    probe = gym.make(args.task)
    discrete = isinstance(probe.action_space, gym.spaces.Discrete)
    probe.close()
    if args.agent_cfg:
        config = load_agent_config(args.agent_cfg)
    else:
        try:
            rollouts = runner_config(args.algorithm, discrete=discrete, timesteps=1, skrl_major=skrl_major)[
                "agent"].get("rollouts", 1)
            config = runner_config(args.algorithm, discrete=discrete, skrl_major=skrl_major,
                                   timesteps=requested_timesteps(args, rollouts) or DEFAULT_TIMESTEPS,
                                   directory=args.task, write_interval="auto", checkpoint_interval="auto")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    single = discrete and skrl_major < 2  # noqa: PLR2004 - skrl 1.4 steps discrete envs one at a time
    wrappers = [lambda env: gym.wrappers.DtypeObservation(env, np.float32)]
    env: Any
    render: dict[str, Any] = {"render_mode": "rgb_array"} if getattr(args, "video", False) else {}
    if single:
        env = gym.make(args.task, **render)
    else:
        env = gym.make_vec(args.task, num_envs=args.num_envs, vectorization_mode="sync", wrappers=wrappers,
                           vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}, **render)
    recorder = record_videos(env, args) if render else None
    env = recorder if recorder is not None else env
    apply_overrides(config, args, default_directory=args.task)
    wrapped = wrap_env(env, wrapper="gymnasium")
    runner = Runner(wrapped, config)
    if recorder is not None:  # Isaac Lab's place for them: the run's own folder, known once skrl made it
        shutil.rmtree(os.path.dirname(recorder.video_folder), ignore_errors=True)
        recorder.video_folder = os.path.join(str(runner.agent.experiment_dir), "videos", "train")
        os.makedirs(recorder.video_folder, exist_ok=True)
    return Training(runner, config, "gymnasium", args.task, wrapped.close)


def record_videos(env: Any, args: Any) -> Any:
    """*env* wrapped in gymnasium's RecordVideo as Isaac Lab's ``--video`` does it: a clip every interval."""
    import tempfile

    import gymnasium as gym

    if importlib.util.find_spec("moviepy") is None:  # RecordVideo would fail only at its first clip: fail now
        raise UsageError("--video records with gymnasium's RecordVideo, which needs moviepy: "
                         "pip install moviepy pygame")
    kind = gym.wrappers.vector.RecordVideo if isinstance(env, gym.vector.VectorEnv) else gym.wrappers.RecordVideo
    folder = os.path.join(tempfile.mkdtemp(prefix="metrictap-videos-"), "videos")  # until skrl names the run
    return kind(env, video_folder=folder, video_length=args.video_length,
                step_trigger=lambda step: step % args.video_interval == 0)


def requested_timesteps(args: Any, rollouts: int) -> int | None:
    """Isaac Lab's rule: ``--max_iterations`` times the agent's rollouts, else ``--timesteps``."""
    if args.max_iterations is not None:
        return int(args.max_iterations) * rollouts
    return None if args.timesteps is None else int(args.timesteps)


def apply_overrides(config: dict[str, Any], args: Any, *, default_directory: str) -> None:
    """Isaac Lab's overrides: seed, timesteps, log folder, headless trainer with its progress bar."""
    agent, trainer = config.setdefault("agent", {}), config.setdefault("trainer", {})
    if args.seed is not None:
        config["seed"] = args.seed
    timesteps = requested_timesteps(args, int(agent.get("rollouts", 1)))
    if timesteps is not None:
        trainer["timesteps"] = timesteps
    trainer.setdefault("timesteps", DEFAULT_TIMESTEPS)
    trainer["disable_progressbar"] = False
    trainer.update({"headless": True, "close_environment_at_exit": False})
    experiment = agent.setdefault("experiment", {})
    directory = experiment.get("directory") or default_directory
    experiment["directory"] = os.path.abspath(os.path.join("logs", "skrl", directory))
    experiment["experiment_name"] = run_name(str(agent.get("class", args.algorithm)))
    experiment.setdefault("checkpoint_interval", "auto")
    if getattr(args, "command", "train") == "eval":  # skrl's base agent would save copies of the loaded weights
        experiment["checkpoint_interval"] = 0


def isaaclab2_training(args: Any) -> Training:  # pragma: no cover - needs Isaac Sim and a GPU
    """Isaac Lab 2.x's own skrl train path: the app starts first, then Isaac Lab is imported."""
    from isaaclab.app import AppLauncher

    launcher = AppLauncher(argparse.Namespace(headless=args.headless, device=args.device or "cuda:0",
                                              enable_cameras=False, livestream=-1, experience="", kit_args=""))
    import gymnasium as gym
    import isaaclab_tasks  # noqa: F401 - registers the Isaac-* tasks
    from isaaclab_rl.skrl import SkrlVecEnvWrapper
    from isaaclab_tasks.utils import load_cfg_from_registry, parse_env_cfg
    from skrl.utils.runner.torch import Runner

    entry_point = "skrl_cfg_entry_point" if args.algorithm.upper() == "PPO" else \
        f"skrl_{args.algorithm.lower()}_cfg_entry_point"
    env_cfg = parse_env_cfg(args.task, device=args.device or "cuda:0", num_envs=args.num_envs)
    config = load_agent_config(args.agent_cfg) if args.agent_cfg else load_cfg_from_registry(args.task, entry_point)
    apply_overrides(config, args, default_directory=args.task)
    env = SkrlVecEnvWrapper(gym.make(args.task, cfg=env_cfg), ml_framework="torch")

    def close() -> None:
        env.close()
        launcher.app.close()

    return Training(Runner(env, config), config, "isaaclab-2", args.task, close)


def isaaclab3_run(args: Any, run: Callable[[Training, contextlib.ExitStack], int]) -> int:
    """Isaac Lab 3.x builds its Runner inside its own train entry point: hand whatever Runner it runs to *run*.

    ``--agent_cfg FILE`` replaces the agent config that Isaac Lab resolves from its task registry.
    An asset Isaac Lab cannot fetch ends the command with one line that says which, and how to
    point Isaac Lab at local assets; the run folder it had made for the failed run is removed.
    """
    from isaaclab_rl.entrypoints.backends import train_skrl
    from isaaclab_rl.entrypoints.dispatch import run_train_cli
    from skrl.utils.runner.torch import Runner

    codes: list[int] = []

    ending = contextlib.ExitStack()  # the run ends once Isaac Lab has written its final checkpoint

    def tapped(wrapped: Any, instance: Any, call_args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        training = Training(instance, instance._cfg, "isaaclab-3", isaaclab3_task(args.task),  # noqa: SLF001
                            start=lambda _mode: wrapped(*call_args, **kwargs))
        codes.append(run(training, ending))

    def agent_config(wrapped: Any, _instance: Any, call_args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        env_cfg, _registered = wrapped(*call_args, **kwargs)  # its agent.* overrides went into the registry's
        config = load_agent_config(args.agent_cfg)
        if args.timesteps is not None:
            config.setdefault("trainer", {})["timesteps"] = args.timesteps
        return env_cfg, config

    patches = Patches()
    patches.method(Runner, "run", tapped)
    if args.agent_cfg:
        patches.method(train_skrl, "resolve_task_config", agent_config)
    before = _run_folders()
    try:
        run_train_cli(isaaclab3_argv(args))
    except FileNotFoundError as error:
        url = _UNFETCHED.search(str(error))
        if url is None:
            raise
        for folder in _run_folders() - before:
            if not os.path.isdir(os.path.join(folder, "checkpoints")):
                shutil.rmtree(folder, ignore_errors=True)
        print(f"metrictap train: Isaac Lab could not fetch the asset {url[1]}; point it at local assets with "  # noqa: T201
              "ISAACSIM_ASSET_ROOT=<a folder with the same layout>, or replace that asset with a Hydra override "
              "(e.g. env.scene.robot.spawn.usd_path=<local .usd>)", file=sys.stderr)
        return 1
    finally:
        patches.undo()
        ending.close()
    return codes[-1] if codes else 1


def _run_folders() -> set[str]:
    """The run folders under ``logs/skrl/<experiment>/`` now (Isaac Lab's layout)."""
    root = os.path.join("logs", "skrl")
    if not os.path.isdir(root):
        return set()
    return {os.path.join(root, experiment, run) for experiment in os.listdir(root)
            if os.path.isdir(os.path.join(root, experiment))
            for run in os.listdir(os.path.join(root, experiment))}

"""rsl_rl's own plug point: a ``LogWriter`` that sends its training to MLflow the metrictap way.

rsl_rl 5 builds its log writer from the training config (``cfg["logger"] = {"class_name": ...,
**kwargs}``, constructed as ``class_name(log_dir=..., **kwargs)``) and calls ``add_scalar`` with
its TensorBoard tags every iteration, ``store_config`` once, ``save_model`` for each checkpoint,
``save_file`` for the git state, ``save_video`` for the videos in its log folder, and ``stop`` at
the end of ``learn``. Naming :class:`MlflowLogWriter` there is all an rsl_rl user (Isaac Lab's
``train.py`` included) does::

    cfg["logger"] = {"class_name": "metrictap.sinks.rsl_rl:MlflowLogWriter", "experiment_name": "anymal"}

Its tags are renamed by the rsl_rl adapter's own rules (``Loss/surrogate`` is the adapter's
``loss_dict/surrogate``, so ``policy_loss``), its ``Perf/*`` and ``Train/*`` values become
``fps``, ``rollout_time``, ``learning_time``, ``epoch_time``, ``episode_reward_mean`` and
``episode_length_mean``, and each iteration's values travel as one window through the tap's
emitter, spool and courier: batched, written ahead, retried through outages, never waited on by
the training thread. ``Train/*/time`` (the same means against seconds of training) are left out:
MLflow charts any metric against wall time already. Checkpoints, the config, git diffs and videos
are uploaded from a background thread as rsl_rl reports them.

Use it when rsl_rl runs its own loop (Isaac Lab's rsl_rl scripts): nothing is patched, and the
values are rsl_rl's own. ``track(runner)`` instead measures episodes itself, also gives
``kl_divergence`` and ``grad_norm`` (hooks a writer cannot see), and works with any sink.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import pathlib
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from metrictap.adapting.adapter import Adapter, shipped_adapters
from metrictap.adapting.binding import Binding
from metrictap.adapting.routing import Router
from metrictap.adapting.selection import Selection
from metrictap.emitting.emitter import Emitter
from metrictap.emitting.messages import Close
from metrictap.tap.stats import ErrorLog
from metrictap.tap.system import SystemSampler, check_system, samples_here

if TYPE_CHECKING:  # rsl_rl is untyped: to the checker the base is a plain object
    LogWriter = object
else:
    try:  # rsl_rl's base class where installed, so that its isinstance checks call store_config & co.
        from rsl_rl.utils.log_writer import LogWriter
    except ImportError:
        LogWriter = object

MEASURED = {"Perf/total_fps": "fps", "Perf/collection_time": "rollout_time", "Perf/learning_time": "learning_time",
            "Train/mean_reward": "episode_reward_mean", "Train/mean_episode_length": "episode_length_mean"}
OWN_TAGS = {"Loss/learning_rate": "learning_rate", "Policy/mean_std": "action_std", "Rnd/weight": "rnd_weight"}
LEFT_OUT = ("Train/mean_reward/time", "Train/mean_episode_length/time")
MAX_PARAMS = 100  # MLflow's limit of params per log_batch request


def adapter_tag(tag: str) -> str:
    """rsl_rl's TensorBoard *tag* as the rsl_rl adapter knows it (the argument of ``Logger.log`` it comes from)."""
    if tag in OWN_TAGS:
        return OWN_TAGS[tag]
    if tag.startswith("Loss/"):
        return f"loss_dict/{tag.removeprefix('Loss/')}"
    if tag.startswith("Episode/"):  # rsl_rl's prefix for an extra without a group
        return f"extras.log/{tag.removeprefix('Episode/')}"
    return f"extras.log/{tag}" if "/" in tag else tag


def rsl_rl_adapter() -> Adapter:
    """The shipped rsl_rl adapter, whose ``[[keys]]`` name what the writer receives."""
    return next(adapter for adapter in shipped_adapters() if adapter.name == "rsl_rl")


class MlflowLogWriter(LogWriter):
    """An rsl_rl ``LogWriter`` that logs to one MLflow run, as ``metrictap train`` does for skrl.

    Args:
        log_dir: rsl_rl's run folder (rsl_rl passes it); the spool and the saved config go there.
        tracking_uri: the MLflow store; default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.
        experiment_name: default: the name of *log_dir*'s parent folder (Isaac Lab's experiment).
        run_name: default: the name of *log_dir* (as rsl_rl's W&B writer names its run).
        run_id: log into this existing run and leave its status alone (so does ``MLFLOW_RUN_ID``).
        only: canonical names or glob patterns to log, as ``track(only=...)``.
        system: also sample the machine (``system/...``, as ``track(system=True)``); on by default.
        system_interval: seconds between two samples of the machine.
        flush_timeout: seconds ``stop`` waits for undelivered points; the rest stays in the spool.

    """

    def __init__(self, log_dir: str, *, tracking_uri: str | None = None, experiment_name: str | None = None,
                 run_name: str | None = None, run_id: str | None = None, only: Iterable[str] | None = None,
                 system: bool = True, system_interval: float = 10.0, flush_timeout: float = 10.0) -> None:
        from metrictap.cli.runs import RunSession, default_tracking_uri
        from metrictap.delivery import couriers_for
        from metrictap.sinks.mlflow import MlflowSink

        adapter = rsl_rl_adapter()
        if system is True and importlib.util.find_spec("psutil") is None:  # on by default: a missing extra turns it off
            logging.getLogger("metrictap").warning(
                "metrictap: system metrics are off: psutil is not installed (pip install 'metrictap[system]')")
            system = False
        system, system_interval = check_system(system, system_interval)
        selection = Selection.for_adapter(only, adapter)
        self.log_dir, self.flush_timeout = os.path.abspath(log_dir), flush_timeout
        uri = tracking_uri or default_tracking_uri()
        folder = pathlib.Path(self.log_dir)
        self.session = RunSession(uri, experiment_name or folder.parent.name or "rsl_rl", run_name or folder.name,
                                  run_id)
        self.session.start({}, {"framework": "rsl_rl", "log_dir": self.log_dir})
        self.errors = ErrorLog()
        self.left_out = 0
        os.makedirs(self.log_dir, exist_ok=True)
        couriers = couriers_for([MlflowSink(self.session.run_id, uri)], self.log_dir, self.errors.record)
        self._emitter = Emitter(Router(Binding.for_tags(adapter)), couriers, selection, on_error=self.errors.record)
        self._emitter.start()
        self._step: int | None = None
        self._slices: list[tuple[str, list[Any]]] = []
        self._measured: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._sampler: SystemSampler | None = None
        if system and samples_here():
            self._sampler = SystemSampler(self._emitter.post, lambda: self._step or 0, interval=system_interval,
                                          on_error=self.errors.record)
            self._sampler.start()
        atexit.register(self._abandon)

    @property
    def run_id(self) -> str:
        """The MLflow run this writer logs into."""
        return self.session.run_id

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None, *_args: Any,
                   **_kwargs: Any) -> None:
        """Collect one of rsl_rl's values for its iteration; an iteration's values leave together."""
        if tag in LEFT_OUT:
            self.left_out += 1
            return
        step = int(global_step or 0)
        with self._lock:
            if self._step is not None and step != self._step:
                self._close()
            self._step = step
            if tag in MEASURED:
                self._measured[MEASURED[tag]] = float(scalar_value)
            else:
                self._slices.append((adapter_tag(tag), [scalar_value]))

    def _close(self) -> None:
        """Post the pending iteration as one window (under the lock)."""
        if self._step is None or not (self._slices or self._measured):
            return
        measured = self._measured
        if "rollout_time" in measured and "learning_time" in measured:
            measured["epoch_time"] = measured["rollout_time"] + measured["learning_time"]
        self._emitter.post(Close(step=self._step, timestamp_ms=time.time_ns() // 1_000_000, slices=self._slices,
                                 measured=measured, hooks={}, fallback={}, rows=0))
        self._slices, self._measured = [], {}

    def store_config(self, env_cfg: dict[str, Any] | object, train_cfg: dict[str, Any]) -> None:
        """Log the training config as params and both configs as files under ``params/``."""
        from mlflow import MlflowClient
        from mlflow.entities import Param

        from metrictap.cli.runs import flatten

        client = MlflowClient(self.session.tracking_uri)
        known = client.get_run(self.run_id).data.params  # a joined run keeps the params it has
        params = [Param(key, value) for key, value in flatten(train_cfg).items() if key not in known]
        for start in range(0, len(params), MAX_PARAMS):
            client.log_batch(self.run_id, params=params[start : start + MAX_PARAMS])
        self.session.save_config(train_cfg, self.log_dir)
        path = os.path.join(self.log_dir, "params", "env.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(_as_mapping(env_cfg), file, indent=2, default=repr)
        self._upload(path, "params")

    def save_model(self, model_path: str, it: int) -> None:  # noqa: ARG002 - rsl_rl's file name has the iteration
        """Upload a checkpoint to ``checkpoints/`` from the background."""
        self._upload(model_path, "checkpoints")

    def save_file(self, path: str) -> None:
        """Upload a file (rsl_rl's git diffs) into the folder it has below the log folder, else ``files/``."""
        relative = os.path.relpath(os.path.abspath(path), self.log_dir)
        folder = os.path.dirname(relative) if not relative.startswith("..") else "files"
        self._upload(path, folder or "files")

    def save_video(self, video: pathlib.Path, it: int) -> None:  # noqa: ARG002 - the video's name has its step
        """Upload a video to ``videos/``; rsl_rl offers every video each iteration, a changed one goes again."""
        self._upload(os.fspath(video), "videos")

    def _upload(self, path: str, folder: str) -> None:
        if self.session.uploader is not None and os.path.isfile(path):
            self.session.uploader.upload(path, folder)

    def stop(self, status: str = "FINISHED") -> None:
        """Deliver what is pending (at most ``flush_timeout`` seconds), finish the uploads and end the run."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._sampler is not None:
                self._sampler.stop()
            self._close()
        atexit.unregister(self._abandon)
        self._emitter.close(self.flush_timeout)
        report = self._emitter.report(self.flush_timeout)
        if report:
            import logging

            logging.getLogger("metrictap").warning("%s", report)
        for problem in self.session.end(status, spool_folder=self.log_dir):  # a status not taken waits there
            self.errors.record("upload", RuntimeError(problem))
        strict = os.environ.get("METRICTAP_STRICT", "").lower() in {"1", "true", "yes"}
        if strict and self.errors.first is not None:
            raise self.errors.first

    def _abandon(self) -> None:
        """At interpreter exit without ``stop`` (``learn`` raised): deliver what can be, and end the run FAILED."""
        self.stop("FAILED")


def _as_mapping(config: object) -> object:
    """An env config as plain data: Isaac Lab's configclasses have ``to_dict``, dataclasses ``asdict``."""
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if is_dataclass(config) and not isinstance(config, type):
        return asdict(config)
    return config

"""The MLflow run around a training command: params, tags, artifacts as they appear, an honest status.

What the integration this project replaces got wrong is the point of this module: runs left
FINISHED after a crash, checkpoints uploaded only at the very end (so a crash lost them all),
credentials logged with the tracking URI, and a run resumed from a job scheduler ended by the
script that merely joined it.

Imported where used, not at module level: ``mlflow``, ``yaml``, ``metrictap.tap``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from metrictap.adapting.names import sanitize
from metrictap.cli.registry import checkpoint_step
from metrictap.credentials import scrub, scrub_text

MAX_PARAM_KEY, MAX_PARAM_VALUE = 250, 6000  # MLflow's limits
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the embedded store ``mlflow.db`` in the working folder.

    The path is made absolute: MLflow caches stores by URI, so a relative one would keep
    pointing at the first folder it was used in.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.abspath('mlflow.db')}"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config as MLflow params: dotted keys, string values cut to MLflow's length limit."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flatten(value, f"{name}."))
        else:
            text = value.__name__ if isinstance(value, type) else str(value)
            params[sanitize(name)[:MAX_PARAM_KEY]] = text[:MAX_PARAM_VALUE]
    return params


@contextmanager
def _quick_requests() -> Iterator[None]:
    """Fail fast while probing: MLflow's defaults retry a refused connection for about four minutes."""
    names = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({names[0]: "0", names[1]: "10"})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_store(tracking_uri: str) -> None:
    """Raise ConnectionError with a one-line reason when the tracking store cannot be used."""
    from mlflow import MlflowClient

    try:
        with _quick_requests():
            MlflowClient(tracking_uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - MLflow raises a different type per store; each means unusable
        text = str(exc).strip() or type(exc).__name__
        cause = _ERRNO.search(text)
        reason = scrub_text(cause[0] if cause else text.splitlines()[0][:300])
        raise ConnectionError(f"the tracking store {scrub(tracking_uri)} cannot be used: {reason}") from None


class Uploader:
    """Uploads files to the run's artifacts from a background thread, so training never waits for storage."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        self._uri, self._run_id = tracking_uri, run_id
        self._queue: queue.SimpleQueue[tuple[str, str, str] | None] = queue.SimpleQueue()
        self._seen: set[tuple[str, int]] = set()
        self.uploaded: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._run, name="metrictap-uploader", daemon=True)
        self._thread.start()

    def upload(self, path: str, folder: str, name: str = "") -> None:
        """Queue *path* for the artifact folder *folder* (as *name*, else its own name), unless queued already.

        skrl rewrites ``best_agent.pt`` in place, so a file is uploaded again whenever it changed.
        """
        version = (path, os.stat(path).st_mtime_ns)
        if version not in self._seen:
            self._seen.add(version)
            self._queue.put((path, folder, name or os.path.basename(path)))

    def upload_new(self, directory: str, folder: str, start_timestep: int = 0, kept_through: int | None = None) -> None:
        """Queue every file in *directory* not queued before (checkpoints as skrl writes them).

        In a resumed run, skrl counts from 0 again: ``agent_<N>.pt`` goes up as ``agent_<N + start>.pt``,
        continuing the run's checkpoints; one at a step the run already holds (*kept_through*) is not
        sent, so that the run's checkpoints stay those of its metrics.
        """
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                step = checkpoint_step(name)
                if step is not None:
                    step += start_timestep
                    if kept_through is not None and step <= kept_through:
                        continue
                if os.path.isfile(path):
                    self.upload(path, folder, f"agent_{step}.pt" if step is not None else name)

    def close(self, timeout: float) -> bool:
        """Finish the queued uploads, waiting at most *timeout* seconds; True if all are done."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(self._uri)
        while (item := self._queue.get()) is not None:
            path, folder, name = item
            try:
                if name == os.path.basename(path):
                    client.log_artifact(self._run_id, path, folder)
                else:
                    with tempfile.TemporaryDirectory() as renamed:
                        client.log_artifact(self._run_id, shutil.copyfile(path, os.path.join(renamed, name)), folder)
                self.uploaded.append(path)
            except Exception as exc:  # noqa: BLE001 - a failed upload is reported at the end, never fatal
                self.failed.append((path, f"{type(exc).__name__}: {exc}"))


class RunSession:
    """The MLflow run a command logs into: created here, or joined from ``MLFLOW_RUN_ID`` and left open.

    A job scheduler (Azure ML, for one) creates the run and sets ``MLFLOW_RUN_ID``; the command
    then joins that run and never ends it, since the scheduler owns its status. A run the session
    creates belongs to a :class:`~metrictap.tap.run_owner.RunOwner`, the owner of a tap's runs too,
    which creates and ends it with requests bounded to seconds. The session uses
    ``MlflowClient`` with an explicit run id throughout: MLflow's fluent API keeps the active
    run per thread and ends it at interpreter exit, which would end a joined run too.

    A *resumed* run (``--resume``) is reopened (RUNNING again) and ended here like a new one.
    """

    def __init__(self, tracking_uri: str, experiment: str, run_name: str, run_id: str | None = None, *,
                 resumed: str | None = None) -> None:
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self.resumed = resumed
        self.joined = None if resumed else run_id or os.environ.get("MLFLOW_RUN_ID") or None
        self.run_id = ""
        self.uploader: Uploader | None = None
        self._client: Any = None
        from metrictap.tap.run_owner import RunOwner

        self._owner = RunOwner()  # owns the run it creates; a joined run has no owner here

    def start(self, params: Mapping[str, str], tags: Mapping[str, str]) -> str:
        """Open the run, record *params* and *tags*, and start the artifact uploader; returns the run id."""
        from mlflow import MlflowClient
        from mlflow.entities import Param, RunTag
        from mlflow.tracking.context.registry import resolve_tags

        self._client = client = MlflowClient(self.tracking_uri)
        existing = self.joined or self.resumed
        if existing:
            run = client.get_run(existing)
            self.experiment = client.get_experiment(run.info.experiment_id).name
            if self.resumed:
                client.update_run(run.info.run_id, status="RUNNING")
                self._owner.adopt(self.tracking_uri, run.info.run_id)  # a resumed run is ended like a created one
        else:
            run = self._owner.start(self.tracking_uri, None, experiment_name=self.experiment, run_name=self.run_name,
                                    tags=resolve_tags(), caller="metrictap")
        self.run_id = run.info.run_id
        known = run.data.params
        client.log_batch(self.run_id, params=[Param(key, value) for key, value in params.items() if key not in known],
                         tags=[RunTag(key, value) for key, value in tags.items()])
        self.uploader = Uploader(self.tracking_uri, self.run_id)
        return self.run_id

    def save_config(self, config: Mapping[str, Any], folder: str) -> None:
        """Write the agent config into *folder*/params (where Isaac Lab puts it) and upload it."""
        folder = os.path.join(folder, "params")
        os.makedirs(folder, exist_ok=True)
        try:
            import yaml

            path, text = os.path.join(folder, "agent.yaml"), yaml.safe_dump(dict(config), sort_keys=False)
        except (ImportError, ValueError, TypeError):  # no PyYAML, or objects it cannot represent
            path, text = os.path.join(folder, "agent.json"), json.dumps(config, indent=2, default=repr)
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        if self.uploader is not None:
            self.uploader.upload(path, "params")

    def describe(self) -> str:
        """Where the run is and how to look at it, for the console."""
        uri = scrub(self.tracking_uri)
        how = (f"open {uri.rstrip('/')}/#/runs/{self.run_id}" if uri.startswith(("http://", "https://"))
               else f"mlflow ui --backend-store-uri {uri}")
        joined = " (joined; its status stays with its owner)" if self.joined else ""
        return f"MLflow run {self.run_id}{joined} in {uri}, experiment {self.experiment!r}; view it: {how}"

    def end(self, status: str, timeout: float = 60.0, spool_folder: str | None = None) -> list[str]:
        """Finish the uploads and set *status* unless the run was joined; returns problems worth printing.

        The status is set by the run's :class:`~metrictap.tap.run_owner.RunOwner`, within seconds: if
        the server does not take it, it waits in a spool in *spool_folder* for ``metrictap replay``.
        """
        problems: list[str] = []
        if self.uploader is not None:
            if not self.uploader.close(timeout):
                problems.append(f"artifact uploads still running after {timeout:.0f} s")
            problems += [f"could not upload {path}: {reason}" for path, reason in self.uploader.failed]
        self._owner.close(status, spool_folder=spool_folder)
        return problems


@contextmanager
def uploading_checkpoints(agent: Any, session: RunSession, start_timestep: int = 0,
                          kept_through: int | None = None) -> Iterator[None]:
    """Upload each checkpoint as skrl writes it, so a crash keeps every checkpoint saved so far."""
    from metrictap.tap.patching import Patches

    directory = os.path.join(str(getattr(agent, "experiment_dir", "")), "checkpoints")
    patches = Patches()

    def upload_after(wrapped: Any, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        if session.uploader is not None:
            session.uploader.upload_new(directory, "checkpoints", start_timestep, kept_through)
        return result

    if callable(getattr(agent, "write_checkpoint", None)):
        patches.method(agent, "write_checkpoint", upload_after)
    try:
        yield
    finally:
        patches.undo()
        if session.uploader is not None:
            session.uploader.upload_new(directory, "checkpoints", start_timestep, kept_through)


def logged_through(tracking_uri: str, run_id: str) -> int | None:
    """The last step *run_id* holds a training metric at (``system/`` ones aside), or None if it holds none.

    ``run.data`` keeps each metric's value at its largest step; MLflow's own system metrics
    monitor reads the steps there too (the public ``metrics`` mapping drops them), instead of
    loading every history.
    """
    from mlflow import MlflowClient

    metrics = MlflowClient(tracking_uri).get_run(run_id).data._metric_objs  # noqa: SLF001 - see above
    steps = [metric.step for metric in metrics if not metric.key.startswith("system/")]
    return max(steps) if steps else None

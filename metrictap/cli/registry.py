"""Checkpoints that live in MLflow, and the trained policy into MLflow's model registry.

``--checkpoint runs:/<run_id>/checkpoints/agent_2400.pt`` and ``models:/<name>/<version>``
(``latest`` for the newest version) are downloaded before training starts, so that a job on a
fresh machine resumes from what an earlier job stored. ``--register_model NAME`` registers the
final (or best) checkpoint when the run ends FINISHED: the weights and the agent config go to the
run's ``model/`` folder, and a version of NAME points there, tagged with what it is (task,
algorithm, final ``episode_reward_mean``, metrictap's version). Registries have their own rules
(Azure ML's, Unity Catalog's names): a refusal is one message, and the run stays FINISHED.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Mapping

from metrictap.errors import UsageError

SCHEMES = ("runs:/", "models:/")
_CHECKPOINT_STEP = re.compile(r"agent_(\d+)\.pt$")


def is_mlflow_uri(value: str | None) -> bool:
    """Whether *value* names an artifact in MLflow rather than a local file."""
    return bool(value) and str(value).startswith(SCHEMES)


def fetch_checkpoint(uri: str, tracking_uri: str) -> str:
    """Download the checkpoint *uri* names; its local path, or a UsageError naming the URI and the reason."""
    import mlflow

    source = _model_source(uri, tracking_uri) if uri.startswith("models:/") else uri
    folder = tempfile.mkdtemp(prefix="metrictap-checkpoint-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the command loads it first; then it goes
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=source, tracking_uri=tracking_uri, dst_path=folder)
    except Exception as exc:  # noqa: BLE001 - MLflow raises a different type per store and failure
        raise UsageError(f"--checkpoint {uri}: cannot download it: {first_line(exc)}") from None
    if os.path.isdir(path):
        found = sorted(glob.glob(os.path.join(path, "**", "*.pt"), recursive=True))
        if len(found) != 1:
            raise UsageError(f"--checkpoint {uri} is a folder with {len(found)} .pt files; name one file")
        path = found[0]
    return path


def _model_source(uri: str, tracking_uri: str) -> str:
    """Where the registered version *uri* (``models:/<name>/<version|latest>``) keeps its files."""
    from mlflow import MlflowClient

    name, _, version = uri.removeprefix("models:/").partition("/")
    if not name or not version or "/" in version:
        raise UsageError(f"--checkpoint {uri}: accepted: models:/<name>/<version> or models:/<name>/latest")
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    try:
        if version == "latest":
            versions = [int(found.version) for found in client.search_model_versions(f"name = '{name}'")]
            version = str(max(versions)) if versions else ""
        source = str(client.get_model_version_download_uri(name, version)) if version else ""
    except Exception as exc:  # noqa: BLE001 - a missing model or version, an unreachable registry
        raise UsageError(f"--checkpoint {uri}: {first_line(exc)}") from None
    if not source:
        raise UsageError(f"--checkpoint {uri}: the model {name!r} has no versions")
    return source


def first_line(exc: BaseException) -> str:
    """The first line of *exc*'s message, or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def resume_point(checkpoint: str | None) -> tuple[str, int]:
    """The run and timestep ``--resume`` continues from ``--checkpoint runs:/<run_id>/.../agent_<N>.pt``."""
    uri = checkpoint or ""
    run_id = uri.removeprefix("runs:/").split("/", 1)[0] if uri.startswith("runs:/") else ""
    step = checkpoint_step(uri)
    if not run_id or step is None:
        raise UsageError(f"--resume with --checkpoint {checkpoint}: accepted: --checkpoint "
                         "runs:/<run_id>/<path>/agent_<timestep>.pt, the run and the timestep it continues")
    return run_id, step


def checkpoint_step(path: str) -> int | None:
    """The timestep in an skrl checkpoint's name (``agent_2400.pt`` → 2400), or None."""
    found = _CHECKPOINT_STEP.search(os.path.basename(path))
    return int(found[1]) if found else None


def chosen_checkpoint(experiment_dir: str, which: str) -> str | None:
    """The checkpoint to register: the last ``agent_<N>.pt`` skrl wrote (``final``), or ``best_agent.pt``."""
    folder = os.path.join(experiment_dir, "checkpoints")
    if which == "best":
        best = os.path.join(folder, "best_agent.pt")
        return best if os.path.isfile(best) else None
    numbered = [(step, path) for path in glob.glob(os.path.join(folder, "agent_*.pt"))
                if (step := checkpoint_step(path)) is not None]
    return max(numbered)[1] if numbered else None


def register_model(tracking_uri: str, run_id: str, name: str, *, checkpoint: str, config: str | None,
                   tags: Mapping[str, str]) -> str:
    """Put *checkpoint* and *config* in the run's ``model/`` folder and register it as a version of *name*.

    Returns the new version; raises whatever the registry raises when it refuses.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    folder = tempfile.mkdtemp(prefix="metrictap-model-")
    try:
        shutil.copyfile(checkpoint, os.path.join(folder, "agent.pt"))
        if config and os.path.isfile(config):
            shutil.copyfile(config, os.path.join(folder, os.path.basename(config)))
        client.log_artifacts(run_id, folder, "model")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=dict(tags))
    return str(version.version)

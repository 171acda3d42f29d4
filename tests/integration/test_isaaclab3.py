"""`metrictap train` on real Isaac Lab 3.0 (skrl, Newton physics, CPU), in the environment `.ci/isaaclab3-env` builds.

Skipped unless ``METRICTAP_ISAACLAB_VENV`` names that environment: Isaac Lab 3.0 with its runtime dependencies
takes minutes and 2.6 GB to install, so CI builds it once, apart from the suite's own environment. The runs
here are checked against Isaac Lab's and skrl's own records of them: skrl's TensorBoard events, the
checkpoint files Isaac Lab wrote, and the command as typed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from event_files import scalars
from mlflow import MlflowClient

VENV = os.environ.get("METRICTAP_ISAACLAB_VENV", "")
pytestmark = pytest.mark.skipif(not VENV, reason="set METRICTAP_ISAACLAB_VENV to an environment built by "
                                                 ".ci/isaaclab3-env (Isaac Lab 3.0, skrl, Newton; CPU)")
TRAIN = ["train", "--task", "Isaac-Cartpole", "--device", "cpu", "--num_envs", "64"]
# skrl writes TensorBoard only every write_interval steps ("auto" is 0 for runs under 100 timesteps); a
# checkpoint every 32 steps keeps Isaac Lab's final one (at 80) apart from the periodic ones.
RECORDED = ["agent.agent.experiment.write_interval=16", "agent.agent.experiment.checkpoint_interval=32"]


def metrictap(folder: Path, *args: str, assets: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the Isaac Lab environment's `metrictap` in *folder*, logging to the sqlite store there."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "ISAACSIM_ASSET_ROOT": assets if assets is not None else str(Path(VENV) / "isaac-assets")}
    return subprocess.run([str(Path(VENV) / "bin" / "metrictap"), *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 5-iteration Isaac-Cartpole training, and the store it logged into."""
    folder = tmp_path_factory.mktemp("isaaclab3")
    done = metrictap(folder, *TRAIN, "--max_iterations", "5", "--mlflow_log_interval", "rollout", *RECORDED)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("Isaac-Cartpole").experiment_id])
    return folder, client, run


def test_run_finishes_with_the_command_as_typed(trained):
    """The run is FINISHED, and its command tag is what was typed, not Isaac Lab's rewritten sys.argv."""
    _, _, run = trained
    assert run.info.status == "FINISHED"
    assert run.data.tags["metrictap.command"] == " ".join(
        ["metrictap", *TRAIN, "--max_iterations", "5", "--mlflow_log_interval", "rollout", *RECORDED])
    assert run.data.tags["backend"] == "isaaclab-3"


def test_isaaclab_extras_equal_skrls_tensorboard(trained):
    """Each Isaac Lab extra (Episode_Reward/*, Episode_Termination/*) equals skrl's TensorBoard value at each step."""
    folder, client, run = trained
    written = scalars(folder / "logs")
    extras = [tag for tag in written if tag.startswith(("Episode_Reward/", "Episode_Termination/"))]
    assert extras
    for tag in extras:
        logged = {metric.step: metric.value for metric in client.get_metric_history(run.info.run_id, tag)}
        for step, value in written[tag]:
            assert logged[step] == pytest.approx(value, rel=1e-6, abs=1e-9), (tag, step)


def test_every_checkpoint_is_uploaded_as_written(trained, tmp_path):
    """Every checkpoint Isaac Lab wrote, its final one included, is in the run with the same bytes."""
    folder, client, run = trained
    (checkpoints,) = folder.glob("logs/skrl/*/*/checkpoints")
    written = {path.name: path.read_bytes() for path in checkpoints.glob("*.pt")}
    assert "agent_80.pt" in written
    uploaded = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert uploaded == set(written)
    for name, data in written.items():
        local = client.download_artifacts(run.info.run_id, f"checkpoints/{name}", str(tmp_path))
        assert Path(local).read_bytes() == data, name


def test_latest_checkpoint_is_resolved_by_isaaclab(trained):
    """--checkpoint latest reaches Isaac Lab, which loads the last checkpoint of the task's newest run."""
    folder, _, _ = trained
    (checkpoints,) = folder.glob("logs/skrl/*/*/checkpoints")
    done = metrictap(folder, *TRAIN, "--max_iterations", "1", "--checkpoint", "latest")
    assert done.returncode == 0, done.stderr[-3000:]
    (loaded,) = [line for line in done.stdout.splitlines() if "Loading model checkpoint from:" in line]
    assert loaded.split("from:")[1].strip().startswith(str(checkpoints))


def test_unfetchable_asset_is_one_line(tmp_path):
    """An unfindable asset ends in one last line naming it and the ways out; the traceback is Isaac Lab's, once."""
    empty = tmp_path / "no-assets"
    empty.mkdir()
    done = metrictap(tmp_path, *TRAIN, "--max_iterations", "1", assets=str(empty))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("metrictap train: Isaac Lab could not fetch the asset ")
    assert "ISAACSIM_ASSET_ROOT" in last
    assert "Hydra override" in last
    assert done.stderr.count("Traceback") <= 1  # Isaac Lab's own report, not repeated by the interpreter
    assert not list(tmp_path.glob("logs/skrl/*/*"))


def test_agent_cfg_and_timesteps_reach_isaaclab(trained):
    """--agent_cfg replaces the registry's agent config and --timesteps sets the length, as on other backends."""
    folder, client, _ = trained
    dumped = min(folder.glob("logs/skrl/*/*/params/agent.yaml"))
    config = yaml.safe_load(dumped.read_text())
    config["agent"]["learning_rate"] = 1.234e-4
    own = folder / "own_agent.yaml"
    own.write_text(yaml.safe_dump(config))
    done = metrictap(folder, *TRAIN, "--agent_cfg", str(own), "--timesteps", "32", "--run_name", "own-config")
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = client.search_runs([client.get_experiment_by_name("Isaac-Cartpole").experiment_id],
                                filter_string="tags.mlflow.runName = 'own-config'")
    assert float(run.data.params["agent.learning_rate"]) == pytest.approx(1.234e-4)
    assert run.data.params["trainer.timesteps"] == "32"
    assert run.data.metrics["iterations"] == 2.0

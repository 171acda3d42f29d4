"""A spool on a full disk: delivery goes on from memory, nothing sent is lost, the training's error stays its own."""

import logging
import subprocess

import pytest
from mlflow import MlflowClient
from skrl_runs import make_runner

from metrictap import MlflowSink, track
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs: a spool of a few thousand points fills it (mounting needs root; CI runs as root)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def stored_points(uri, run_id):
    client = MlflowClient(uri)
    return sum(len(client.get_metric_history(run_id, key)) for key in client.get_run(run_id).data.metrics)


def train_then_raise(runner, tap, error):
    with tap:
        runner.run()
        raise error


def test_full_disk_delivers_from_memory(full_disk, mlflow_server, caplog):
    """With the spool's disk full every point still reaches the server, one warning names the spool and the
    error, and the training's own exception is the one raised."""
    run_id = MlflowClient(mlflow_server.uri).create_run("0").info.run_id
    runner = make_runner("SAC", timesteps=300, write_interval=1)
    witness = MemorySink()
    boom = RuntimeError("training failed")
    tap = track(runner.agent, sink=[MlflowSink(run_id, mlflow_server.uri), witness], every="step", spool=full_disk,
                flush_timeout=120)
    with caplog.at_level(logging.WARNING, logger="metrictap"), pytest.raises(RuntimeError) as info:
        train_then_raise(runner, tap, boom)
    assert info.value is boom
    warnings = [record.message for record in caplog.records if "cannot write the spool" in record.message]
    assert len(warnings) == 1
    assert str(full_disk) in warnings[0]
    assert "No space left on device" in warnings[0]
    sent = sum(len(metrics) for _, metrics in witness.records)
    assert sent > 5000  # more than the disk holds
    assert stored_points(mlflow_server.uri, run_id) == sent
    assert tap.stats.delivered == sent
    assert tap.stats.pending == 0

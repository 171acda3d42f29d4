"""The example notebook runs top to bottom in a real kernel, so it cannot rot."""

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent / "notebooks" / "tracking_skrl.ipynb"


def test_notebook_runs(tmp_path):
    """Every cell executes, and the last one shows the episode reward curve read back from MLflow."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    shutil.copy(NOTEBOOK, tmp_path)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = notebook.cells[-1].outputs
    assert "episode_reward_mean" in outputs[0]["text"]
    assert "eval/episode_reward_mean" in outputs[0]["text"]
    curve = outputs[-1]["data"]["text/plain"]
    assert curve.startswith("[(320,")  # the first Pendulum episodes end at step 200

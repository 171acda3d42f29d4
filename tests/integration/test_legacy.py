"""The seed integration's documented snippets, unchanged, on whichever skrl line is installed."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.skrl

SNIPPET = """
import sys
sys.path.insert(0, {tests!r})
import mlflow
from skrl_runs import make_runner
from metrictap import create_mlflow_logging_wrapper

mlflow.set_tracking_uri({store!r})
mlflow.set_experiment("isaaclab-training")

with mlflow.start_run() as run:
    runner = make_runner("PPO", timesteps=16 * 25)

    basic_metrics = {{"episode_reward_mean", "episode_length_mean", "policy_loss", "value_loss"}}
    wrapper_func = create_mlflow_logging_wrapper(
        agent=runner.agent,
        mlflow_module=mlflow,
        metric_filter=basic_metrics,
    )
    runner.agent._update = wrapper_func
    runner.run()
print(run.info.run_id)
"""


def test_documented_snippet(tmp_path):
    """The snippet from the old documentation logs exactly the filtered canonical names into its run."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(SNIPPET.format(tests=str(Path(__file__).parent.parent / "support"), store=store)))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, check=True)
    run_id = result.stdout.strip().splitlines()[-1]
    client = MlflowClient(store)
    assert set(client.get_run(run_id).data.metrics) == {"episode_reward_mean", "episode_length_mean",
                                                        "policy_loss", "value_loss"}
    assert [m.step for m in client.get_metric_history(run_id, "policy_loss")] == [160, 320, 400]

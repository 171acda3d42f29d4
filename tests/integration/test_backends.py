"""The training command's backends: what runs here for real, and Isaac Lab's path as far as it goes here."""

import argparse
from pathlib import Path

import pytest
from mlflow import MlflowClient
from skrl_runs import SKRL_MAJOR

from metrictap.cli.backends import (
    apply_overrides,
    choose_backend,
    isaaclab3_argv,
    isaaclab3_task,
    isaaclab_major,
    load_agent_config,
)
from metrictap.cli.main import main
from metrictap.errors import UsageError

ISAACLAB_YAML = Path(__file__).parent / "data" / "isaaclab_cartpole_skrl_ppo_cfg.yaml"


def isaaclab_yaml(folder):
    path = folder / "skrl_ppo_cfg.yaml"
    path.write_text(ISAACLAB_YAML.read_text().replace("{input}", "OBSERVATIONS" if SKRL_MAJOR >= 2 else "STATES"))
    return str(path)


def namespace(**values):
    defaults = {"task": "Isaac-Cartpole-v0", "num_envs": None, "seed": None, "max_iterations": None,
                "timesteps": None, "device": None, "checkpoint": None, "algorithm": "PPO", "distributed": False,
                "extra": [], "command": "train"}
    return argparse.Namespace(**{**defaults, **values})


class TestIsaacLabArguments:
    def test_isaaclab3_renames_versioned_tasks(self):
        """Isaac Lab 3.x dropped the -v0 suffix; other ids pass unchanged."""
        assert isaaclab3_task("Isaac-Cartpole-v0") == "Isaac-Cartpole"
        assert isaaclab3_task("Isaac-Velocity-Rough-Anymal-C-v1") == "Isaac-Velocity-Rough-Anymal-C"
        assert isaaclab3_task("Isaac-Cartpole") == "Isaac-Cartpole"

    def test_isaaclab3_argv(self):
        """Our flags become Isaac Lab 3.x's train arguments; --headless is dropped, Hydra overrides pass through."""
        args = namespace(num_envs=512, max_iterations=100, device="cpu", distributed=True,
                         extra=["--headless", "physics=newton_mjwarp"])
        assert isaaclab3_argv(args) == ["--rl_library", "skrl", "--task", "Isaac-Cartpole", "--num_envs", "512",
                                        "--max_iterations", "100", "--device", "cpu", "--algorithm", "PPO",
                                        "--distributed", "physics=newton_mjwarp"]

    def test_isaaclab3_timesteps_become_a_hydra_override(self):
        """Isaac Lab 3 has no --timesteps: it reaches the agent config as agent.trainer.timesteps, after the rest."""
        args = namespace(timesteps=32, extra=["--agent", "skrl_cfg_entry_point"])
        assert isaaclab3_argv(args)[-3:] == ["--agent", "skrl_cfg_entry_point", "agent.trainer.timesteps=32"]

    def test_no_prefix_matching(self, capsys):
        """--agent (Isaac Lab 3's flag) is not taken for --agent_cfg: without Isaac Lab it is an unknown argument."""
        assert main(["train", "--task", "Pendulum-v1", "--agent", "skrl_cfg_entry_point"]) == 2
        assert "unrecognized arguments: --agent skrl_cfg_entry_point" in capsys.readouterr().err

    def test_checkpoint_selectors_need_isaaclab3(self, capsys):
        """--checkpoint latest is Isaac Lab 3's to resolve; here it is refused in one line, not as a missing file."""
        assert main(["train", "--task", "Pendulum-v1", "--checkpoint", "latest"]) == 2
        assert "resolved by Isaac Lab 3" in capsys.readouterr().err

    def test_overrides_follow_isaaclab(self, tmp_path):
        """timesteps = max_iterations x rollouts, logs under logs/skrl/<directory>/<date>_<algorithm>_torch."""
        config = load_agent_config(isaaclab_yaml(tmp_path))
        apply_overrides(config, namespace(max_iterations=150, seed=7), default_directory="unused")
        assert config["trainer"]["timesteps"] == 2400
        assert config["seed"] == 7
        experiment = config["agent"]["experiment"]
        assert experiment["directory"].endswith(str(Path("logs", "skrl", "cartpole")))
        assert experiment["experiment_name"].endswith("_ppo_torch")


class TestBackendChoice:
    def test_without_isaaclab(self):
        """Here Isaac Lab is absent: Isaac tasks fail fast naming what to install and what to try instead."""
        assert isaaclab_major() is None
        assert choose_backend("auto", "Pendulum-v1") == "gymnasium"
        with pytest.raises(UsageError, match=r"pip install 'isaaclab\[skrl\]'.*Pendulum-v1"):
            choose_backend("auto", "Isaac-Cartpole-v0")
        with pytest.raises(UsageError, match="needs Isaac Lab"):
            choose_backend("isaaclab", "Pendulum-v1")

    @pytest.mark.skipif(isaaclab_major() is None, reason="Isaac Lab is not installed (it needs Isaac Sim or a GPU)")
    def test_isaaclab_cartpole(self):
        """With Isaac Lab installed, its Cartpole trains through our command into MLflow."""
        assert main(["train", "--task", "Isaac-Cartpole-v0", "--num_envs", "64", "--max_iterations", "2",
                     "--headless"]) == 0


class TestAgentConfig:
    def test_trains_with_isaaclabs_yaml(self, tmp_path):
        """Isaac Lab's own skrl config file trains a gymnasium task through --agent_cfg."""
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--agent_cfg", isaaclab_yaml(tmp_path),
                     "--max_iterations", "3"]) == 0
        client = MlflowClient(f"sqlite:///{Path('mlflow.db').resolve()}")
        (run,) = client.search_runs([client.get_experiment_by_name("Pendulum-v1").experiment_id])
        assert run.data.params["trainer.timesteps"] == "48"
        assert run.data.params["agent.learning_epochs"] == "8"

    @pytest.mark.parametrize(("text", "message"), [("agent: [1", "is not valid YAML"),
                                                   ("agent: {}\n", "lacks models, trainer"),
                                                   ("- 1\n", "lacks models, agent, trainer")])
    def test_malformed(self, tmp_path, text, message):
        """A file that is not an skrl Runner config names itself and what is missing."""
        path = tmp_path / "agent.yaml"
        path.write_text(text)
        with pytest.raises(UsageError, match=message):
            load_agent_config(str(path))

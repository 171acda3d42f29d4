import sys

import pytest
from children import CHILD, child_command, child_env, run_children
from mlflow import MlflowClient
from mlflow_servers import free_port
from skrl_runs import make_runner

from metrictap import track
from metrictap.tap.ranks import check_ranks, current_rank, rank_prefix
from metrictap.testing import MemorySink


@pytest.fixture(autouse=True)
def _no_rank(monkeypatch):
    for name in ("RANK", "JAX_RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def names_and_counts(uri, run_id):
    client = MlflowClient(uri)
    return {key: len(client.get_metric_history(run_id, key)) for key in client.get_run(run_id).data.metrics}


class TestRank:
    @pytest.mark.parametrize(("variables", "rank"), [({}, 0), ({"RANK": "3"}, 3), ({"LOCAL_RANK": "1"}, 1),
                                                     ({"JAX_RANK": "2"}, 2), ({"RANK": "0", "LOCAL_RANK": "5"}, 0),
                                                     ({"RANK": ""}, 0)])
    def test_from_environment(self, monkeypatch, variables, rank):
        """The rank comes from RANK, then JAX_RANK, then LOCAL_RANK; 0 outside a distributed job."""
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        assert current_rank() == rank

    @pytest.mark.parametrize("ranks", [-1, 1.5, "every", None, True])
    def test_bad_option(self, ranks):
        """ranks= other than an int >= 0 or 'all' is refused with what is accepted."""
        with pytest.raises(ValueError, match="accepted: an int >= 0"):
            check_ranks(ranks)

    def test_prefixes(self):
        """Only the chosen rank emits, unprefixed; with 'all' every rank emits under rank<N>/."""
        assert rank_prefix(0, 0) == ""
        assert rank_prefix(0, 1) is None
        assert rank_prefix(2, 2) == ""
        assert rank_prefix("all", 3) == "rank3/"


class TestGate:
    def test_other_ranks_train_untapped(self, monkeypatch):
        """On rank 1 a default tap patches nothing and emits nothing; ranks=1 emits there; 'all' prefixes the rank."""
        monkeypatch.setenv("RANK", "1")
        runner = make_runner("PPO", timesteps=64)
        quiet, chosen, every = MemorySink(), MemorySink(), MemorySink()
        with track(runner.agent, sink=quiet, every="step") as tap:
            assert not tap.active
            assert "update" not in vars(runner.agent)
            runner.run()
        assert quiet.records == []
        assert tap.stats.points == 0
        with track(runner.agent, sink=chosen, every="step", ranks=1) as tap:
            runner.run()
        assert "policy_loss" in chosen.names
        with track(runner.agent, sink=every, every="step", ranks="all"):
            runner.run()
        assert "rank1/policy_loss" in every.names
        assert all(name.startswith("rank1/") for name in every.names)


@pytest.mark.server
class TestManyWriters:
    def test_four_processes_one_run(self, mlflow_server):
        """Four training processes (RANK 0-3, ranks='all') log into one run on one server at once; nothing is lost."""
        run_id = MlflowClient(mlflow_server.uri).create_run("0").info.run_id
        command = child_command("--tracking_uri", mlflow_server.uri, "--run_id", run_id, "--ranks", "all",
                                "--timesteps", str(16 * 8), "--flush_timeout", "120")
        stats = run_children([command] * 4, [child_env(RANK=str(rank)) for rank in range(4)])
        assert len(stats) == 4
        counts = names_and_counts(mlflow_server.uri, run_id)
        for rank, one in enumerate(stats):
            assert one["pending"] == one["spooled"] == 0, one
            assert one["delivered"] == one["points"] - sum(one["dropped"].values()) > 0
            assert sum(count for name, count in counts.items() if name.startswith(f"rank{rank}/")) == one["delivered"]
            assert counts[f"rank{rank}/policy_loss"] == 8
        assert sum(counts.values()) == sum(one["delivered"] for one in stats)

    def test_torchrun_gloo(self, mlflow_server, tmp_path):
        """Under torchrun with a gloo process group, only rank 0's points reach the run."""
        run_id = MlflowClient(mlflow_server.uri).create_run("0").info.run_id
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                   "127.0.0.1", "--master_port", str(free_port()), str(CHILD), "--torchrun", "--tracking_uri",
                   mlflow_server.uri, "--run_id", run_id, "--timesteps", str(16 * 10), "--spool", str(tmp_path)]
        stats = run_children([command], [child_env()])
        assert len(stats) == 2
        emitted = [one for one in stats if one["points"]]
        assert len(emitted) == 1
        assert [one["updates"] for one in stats if not one["points"]] == [0]  # rank 1 was never tapped
        counts = names_and_counts(mlflow_server.uri, run_id)
        assert counts["policy_loss"] == 10
        assert sum(counts.values()) == emitted[0]["delivered"]
        assert not any(name.startswith("rank") for name in counts)

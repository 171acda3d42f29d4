import pytest

from metrictap.adapting.adapter import Adapter, shipped_adapters
from metrictap.adapting.catalogue import sources
from metrictap.adapting.selection import Selection
from metrictap.cli.main import main
from metrictap.cli.names import markdown


def row(table, name):
    """The cells of one row of the Markdown table."""
    line = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


class TestTable:
    def test_columns_per_framework(self, capsys):
        """`metrictap names` prints one column per shipped adapter and the source of each canonical name in each."""
        assert main(["names"]) == 0
        table = capsys.readouterr().out
        assert table.splitlines()[0] == "| name | rsl_rl | skrl | stable_baselines3 |"
        assert row(table, "policy_loss") == ["`loss_dict/surrogate`", "`Loss / Policy loss`",
                                             "`train/policy_gradient_loss`, `train/policy_loss`, `train/actor_loss`"]
        assert row(table, "episode_reward_mean") == ["tap", "tap", "`rollout/ep_rew_mean`"]
        assert row(table, "fps") == ["tap", "tap", "tap, replaces `time/fps`"]
        assert row(table, "episode_reward") == ["tap", "tap", "—"]

    def test_core_names_lead(self):
        """The table starts with the core names, policy_loss first."""
        assert markdown(shipped_adapters()).splitlines()[2].startswith("| `policy_loss` |")

    @pytest.mark.parametrize("adapter", shipped_adapters(), ids=lambda adapter: adapter.name)
    def test_only_accepts_exactly_the_catalogue(self, adapter):
        """only= accepts every name the catalogue lists for a framework, and refuses one it lists for none."""
        for name in sources(adapter):
            Selection.for_adapter({name.replace("{", "").replace("}", "")}, adapter)
        with pytest.raises(ValueError, match="nothing the"):
            Selection.for_adapter({"no_such_metric"}, adapter)

    def test_without_transition(self):
        """An adapter without a per-step call cannot count env steps, so neither timesteps nor fps is the tap's."""
        adapter = Adapter.from_mapping({"name": "x", "match": {"classes": ["a.B"]}, "update": {"method": "u"}})
        assert sources(adapter) == {name: ["tap"] for name in ("iterations", "epoch_time", "rollout_time",
                                                               "learning_time")}

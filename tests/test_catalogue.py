from metrictap._adapter import Adapter, shipped_adapters
from metrictap._catalogue import markdown, sources
from metrictap._cli import main


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

    def test_every_emitted_name_has_a_row(self):
        """Each name a shipped adapter can emit appears in the table, core names first."""
        adapters = shipped_adapters()
        table = markdown(adapters)
        for adapter in adapters:
            for name in sources(adapter):
                assert f"| `{name}` |" in table
        assert table.splitlines()[2].startswith("| `policy_loss` |")

    def test_without_transition(self):
        """An adapter without a per-step call cannot count env steps, so neither timesteps nor fps is the tap's."""
        adapter = Adapter.from_mapping({"name": "x", "match": {"classes": ["a.B"]}, "update": {"method": "u"}})
        assert sources(adapter) == {name: ["tap"] for name in ("iterations", "epoch_time", "rollout_time",
                                                               "learning_time")}

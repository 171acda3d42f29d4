import pytest

from metrictap.adapting.selection import Selection

CATALOGUE = ("policy_loss", "value_loss", "episode_reward_mean", "q1/{stat}", "{group}/{term}")


class TestSelection:
    def test_everything_without_only(self):
        """Without a filter every name passes."""
        assert Selection(None, CATALOGUE, "skrl").accepts("anything")

    def test_names_select_themselves_and_children(self):
        """A name selects itself and its per-agent or per-statistic children, nothing else."""
        selection = Selection({"policy_loss"}, CATALOGUE, "skrl")
        assert selection.accepts("policy_loss")
        assert selection.accepts("policy_loss/agent_0")
        assert not selection.accepts("policy_loss_2")
        assert not selection.accepts("value_loss")

    def test_globs(self):
        """Glob patterns select every name they match."""
        selection = Selection({"*_loss", "Episode_Reward/*"}, CATALOGUE, "skrl")
        assert selection.accepts("value_loss")
        assert selection.accepts("Episode_Reward/alive")
        assert not selection.accepts("episode_reward_mean")

    def test_covers_names_with_selected_children(self):
        """A name is covered if it or a child of it may pass; a glob with a slash may reach any name's children."""
        selection = Selection({"policy_loss/agent_0", "value_*"}, CATALOGUE, "skrl")
        assert selection.covers("policy_loss")
        assert selection.covers("value_loss")
        assert not selection.covers("episode_reward_mean")
        assert Selection({"q1/*"}, CATALOGUE, "skrl").covers("episode_reward_mean")
        assert Selection(None, CATALOGUE, "skrl").covers("anything")

    def test_typo_suggests(self):
        """A name nothing produces is a ValueError with the closest known name suggested."""
        with pytest.raises(ValueError, match=r"'policy_los'.*did you mean 'policy_loss'"):
            Selection({"policy_los"}, CATALOGUE, "skrl")

    def test_pattern_matching_nothing(self):
        """A pattern that matches nothing producible is rejected too."""
        with pytest.raises(ValueError, match="nothing the skrl adapter"):
            Selection({"zzz*"}, CATALOGUE, "skrl")

    @pytest.mark.parametrize("only", ["policy_loss", [""], [3]])
    def test_shape_errors(self, only):
        """A bare string or non-string entries are TypeErrors that show the right spelling."""
        with pytest.raises(TypeError, match="only="):
            Selection(only, CATALOGUE, "skrl")

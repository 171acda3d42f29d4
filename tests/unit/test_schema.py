"""The adapter schema: closed tables, method references and hook rules, each refusal naming what is accepted."""

import pytest

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.schema import Hook, Key, Match, Tracking, Transition, Update, section
from metrictap.errors import AdapterError


class TestTables:
    def test_unknown_key_names_the_accepted_ones(self):
        """A key the table does not know is refused, with the keys it accepts."""
        with pytest.raises(AdapterError, match=r"unknown keys \['clases'\]; accepted: \['agents'"):
            section(Match, {"clases": ["a.B"]}, "x [match]")

    def test_types_are_checked(self):
        """A list of strings must be strings, a flag a boolean, a scale a number."""
        with pytest.raises(AdapterError, match="must be a string or a list of strings"):
            section(Match, {"classes": [1]}, "x [match]")
        with pytest.raises(AdapterError, match="must be true or false"):
            section(Hook, {"target": "a:b", "name": "n", "mean": "yes"}, "x [[hooks]]")
        with pytest.raises(AdapterError, match="must be a number"):
            section(Key, {"match": "t", "name": "n", "scale": "2"}, "x [[keys]]")

    def test_unknown_section(self):
        """An adapter with a section the schema lacks is refused as a whole."""
        with pytest.raises(AdapterError, match="unknown sections"):
            Adapter.from_mapping({"name": "x", "match": {"classes": ["a.B"]}, "update": {"method": "u"}, "extra": {}})


class TestReferences:
    @pytest.mark.parametrize("reference", ["", "a:", "a.:b", "a:b:c"])
    def test_bad_method_reference(self, reference):
        """A method reference is 'name' or 'path:name'; anything else is refused on load."""
        with pytest.raises(AdapterError, match="method reference"):
            Update(method=(reference,))

    def test_transition_needs_its_done_flags(self):
        """A transition without the argument that flags episode ends is refused."""
        with pytest.raises(AdapterError, match="terminated"):
            Transition(method="step", terminated="")

    def test_tracking_reduction_is_closed(self):
        """Only the named reducers exist."""
        with pytest.raises(AdapterError, match="accepted"):
            Tracking(attribute="data", reduce="median")


class TestHooksAndKeys:
    def test_a_key_renames_or_drops(self):
        """A key rule needs exactly one of name or drop."""
        with pytest.raises(AdapterError, match="exactly one"):
            Key(match="t")
        with pytest.raises(AdapterError, match="exactly one"):
            Key(match="t", name="a", drop="b")

    def test_a_hook_yields_one_kind_of_value(self):
        """A hook yields a name, a tag or arguments: exactly one."""
        with pytest.raises(AdapterError, match="exactly one of 'name', 'tag', 'arguments' or 'stamp'"):
            Hook(target="a:b")

    def test_a_shared_function_counts_only_during_updates(self):
        """A module function is shared by every tap, so it can only be attributed during an update."""
        with pytest.raises(AdapterError, match="during = 'update'"):
            Hook(target="torch.nn.utils:clip_grad_norm_", name="grad_norm", module=True, during="tap")

    def test_shipped_files_validate(self):
        """Every shipped adapter file loads under the closed schema."""
        from metrictap.adapting.adapter import shipped_adapters

        assert {adapter.name for adapter in shipped_adapters()} == {"rsl_rl", "skrl", "stable_baselines3"}

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.utils.validation import _validate_metric_name

from metrictap.adapting.names import MAX_LENGTH, NameRegistry, is_valid, sanitize


class TestSanitize:
    @pytest.mark.parametrize(("key", "name"), [
        ("Reward / Total reward (mean)", "Reward/Total reward/mean"),
        ("Stats / Inference time (ms)", "Stats/Inference time/ms"),
        ("Loss / Policy loss (agent_0)", "Loss/Policy loss/agent_0"),
        ("Loss / Policy loss", "Loss/Policy loss"),
        ("a[0]+b", "a_0_b"),
        ("//a//b/", "a/b"),
        ("./a/../b", "a/b"),
        ("", "_"),
    ])
    def test_rewrites(self, key, name):
        """Rejected keys are rewritten by the documented rules."""
        assert sanitize(key) == name

    @pytest.mark.parametrize("key", ["policy_loss", "Episode_Reward/alive", "Loss/Policy loss", "é/ü_训练"])
    def test_valid_names_are_kept(self, key):
        """A key MLflow accepts keeps its exact name (Isaac Lab's Episode_Reward/<term> included)."""
        assert sanitize(key) == key

    @given(st.text(max_size=400))
    def test_mlflow_accepts_every_result(self, key):
        """Whatever the key, MLflow's own validator accepts the rewritten name."""
        name = sanitize(key)
        assert is_valid(name)
        _validate_metric_name(name)

    def test_long_keys_stay_unique(self):
        """Keys longer than MLflow's limit are cut to fit, with a hash that keeps them apart."""
        first, second = sanitize("x" * 300 + "a"), sanitize("x" * 300 + "b")
        assert len(first) <= MAX_LENGTH
        assert first != second


class TestNameRegistry:
    @given(st.lists(st.text(min_size=1, max_size=30), max_size=40))
    def test_collision_free(self, keys):
        """Distinct keys never share an emitted name, even when their rewrites coincide."""
        registry = NameRegistry()
        claimed = {key: registry.claim(sanitize(key), key) for key in keys}
        assert len(set(claimed.values())) == len(claimed)
        assert all(is_valid(name) for name in claimed.values())

    def test_first_owner_keeps_the_name(self):
        """The first key keeps its name; a later key that rewrites to it gets a hash suffix."""
        registry = NameRegistry()
        assert registry.claim("ab", "ab") == "ab"
        other = registry.claim(sanitize("a(b)"), "a(b)")
        assert other.startswith(("a/b", "ab-"))
        assert registry.claim("ab", "ab") == "ab"

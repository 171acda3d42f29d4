from hypothesis import given
from hypothesis import strategies as st
from mlflow.utils.validation import _validate_param_name

from metrictap.cli.runs import MAX_PARAM_VALUE, flatten


class TestFlatten:
    def test_nested_config(self):
        """Nested config becomes dotted params; classes by name; long values cut to MLflow's limit."""
        params = flatten({"agent": {"rollouts": 16, "experiment": {"directory": "runs"}, "cls": int},
                          "long": "x" * 7000, "empty": {}})
        assert params == {"agent.rollouts": "16", "agent.experiment.directory": "runs", "agent.cls": "int",
                          "long": "x" * MAX_PARAM_VALUE, "empty": "{}"}

    @given(st.recursive(st.dictionaries(st.text(min_size=1, max_size=20), st.integers()),
                        lambda children: st.dictionaries(st.text(min_size=1, max_size=20), children), max_leaves=20))
    def test_names_mlflow_accepts(self, config):
        """Whatever the keys, every param name is one MLflow accepts."""
        for name in flatten(config):
            _validate_param_name(name)

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.utils.validation import _validate_param_name

from metrictap.cli.runs import MAX_PARAM_VALUE, flatten, redact


class TestRedact:
    @pytest.mark.parametrize(("uri", "safe"), [
        ("https://user:s3cret@mlflow.example.com", "https://***@mlflow.example.com"),
        ("http://token@host:5000/path", "http://***@host:5000/path"),
        ("https://host/api?sig=abc&x=1&token=t0k", "https://host/api?sig=***&x=1&token=***"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/x", "azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/x"),
    ])
    def test_credentials_never_shown(self, uri, safe):
        """User info and secret query values are masked; everything else is kept."""
        assert redact(uri) == safe


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

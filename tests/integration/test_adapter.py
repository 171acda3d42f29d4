import importlib.resources
from functools import partial

import mlflow
import pytest
from mlflow import MlflowClient
from rsl_rl_runs import make_runner as make_rsl_rl_runner
from sb3_runs import make_model
from skrl_runs import make_runner as make_skrl_runner

from metrictap import Adapter, AdapterError, UnsupportedTargetError, track
from metrictap.adapting.adapter import find_adapter, shipped_adapters

MINIMAL = {"name": "mine", "match": {"classes": ["test_adapter.Learner"]}, "update": {"method": "learn"}}


class Learner:
    def learn(self) -> None:
        """Stand in for a framework's learning update."""


class TestShippedAdapters:
    def test_every_file_loads(self):
        """Every adapter file shipped in metrictap.adapters parses and validates against the schema."""
        files = [item.name for item in importlib.resources.files("metrictap.adapters").iterdir()
                 if item.name.endswith(".toml")]
        adapters = shipped_adapters()
        assert len(adapters) == len(files) >= 1
        assert len({adapter.name for adapter in adapters}) == len(adapters)

    def test_skrl_tables(self):
        """The skrl adapter names both update methods, the transition method and the tracking lists."""
        skrl = next(adapter for adapter in shipped_adapters() if adapter.name == "skrl")
        assert skrl.update.method == ("update", "_update")
        assert skrl.transition is not None
        assert skrl.transition.method == "record_transition"
        assert skrl.tracking is not None
        assert skrl.tracking.reduce == "suffix"


class TestSchema:
    def test_from_mapping(self):
        """The same schema builds an adapter in code, the escape hatch for unknown frameworks."""
        adapter = Adapter.from_mapping(MINIMAL)
        assert adapter.serves(Learner())
        assert find_adapter(Learner(), adapter) is adapter

    @pytest.mark.parametrize(("data", "message"), [
        ({**MINIMAL, "extra": {}}, "unknown sections"),
        ({**MINIMAL, "update": {"method": "learn", "every": 3}}, r"unknown keys \['every'\]"),
        ({"name": "x", "match": {"classes": ["a"]}}, "lacks the required 'update'"),
        ({**MINIMAL, "keys": [{"match": "a"}]}, "exactly one of 'name' or 'drop'"),
        ({**MINIMAL, "keys": [{"match": "a", "name": "bad(name)"}]}, "not a valid metric name"),
        ({**MINIMAL, "tracking": {"attribute": "x", "reduce": "median"}}, "accepted"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "no_colon"}]}, "path:method"),
        ({**MINIMAL, "keys": [{"match": "a", "name": "b", "scale": "big"}]}, "must be a number"),
        ({**MINIMAL, "keys": [{"match": "a", "name": "b", "reduce": "median"}]}, r"accepted: \['mean'"),
        ({**MINIMAL, "update": {"method": "a:b:c"}}, "not a method reference"),
        ({**MINIMAL, "transition": {"method": "step", "terminated": ""}}, "flags episode ends"),
        ({**MINIMAL, "hooks": [{"name": "h", "tag": "key", "target": "a:b"}]}, "exactly one of 'name', 'tag'"),
        ({**MINIMAL, "hooks": [{"arguments": ["x"], "value": "y", "target": "a:b"}]}, "does not apply"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "a:b", "during": "always"}]}, r"accepted: \['update', 'tap'\]"),
        ({**MINIMAL, "hooks": [{"tag": "k", "target": "a.{agent}:b"}]}, "per-agent target needs 'name'"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "a:b", "instance": "x"}]}, "applies to module hooks"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "m:C.f", "module": True}]}, "needs 'instance'"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "m:f", "module": True, "during": "tap"}]}, "during = 'update'"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "a:b", "parts": {"p": "x"}}]}, "module function hook"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "m:f", "module": True, "parts": ["x"]}]}, "labels to paths"),
        ({**MINIMAL, "hooks": [{"name": "h", "target": "m:f", "module": True, "parts": {"a/b": "x"}}]}, "segment"),
        ({**MINIMAL, "transition": {"method": "step", "begins": "a:b:c"}}, "not a method reference"),
    ])
    def test_rejects_malformed(self, data, message):
        """A malformed adapter is an AdapterError naming the offending key and what is accepted."""
        with pytest.raises(AdapterError, match=message):
            Adapter.from_mapping(data)

    def test_toml_errors(self):
        """Text that is not TOML is reported with its source."""
        with pytest.raises(AdapterError, match=r"mine\.toml is not valid TOML"):
            Adapter.from_toml("name = ", source="mine.toml")


class TestFindAdapter:
    def test_unknown_object(self):
        """An object no adapter serves is a TypeError naming its class and the known frameworks."""
        with pytest.raises(UnsupportedTargetError, match=r"test_adapter\.Learner; known frameworks: .*skrl"):
            find_adapter(Learner())
        assert issubclass(UnsupportedTargetError, TypeError)

    def test_axis_that_is_not_an_int_on_the_target(self):
        """An adapter whose axis path reads no int on the target is refused on entry, naming axis and choices."""
        adapter = Adapter.from_mapping({**MINIMAL, "update": {"method": "learn", "axis": "learn"}})
        with pytest.raises(UnsupportedTargetError, match=r"axis 'learn' is not an int.*'timestep', 'timesteps'"):
            track(Learner(), sink=lambda metrics, step: None, adapter=adapter).start()

    def test_unknown_object_lists_what_to_pass(self):
        """The error names every shipped framework with the object to pass for it."""
        with pytest.raises(UnsupportedTargetError) as info:
            track(Learner(), sink=print)
        for adapter in shipped_adapters():
            assert f"{adapter.name} ({adapter.match.hint})" in str(info.value)
        assert {adapter.name for adapter in shipped_adapters()} == {"skrl", "rsl_rl", "stable_baselines3"}


COMPARED = {"policy_loss", "value_loss", "entropy", "learning_rate", "kl_divergence", "grad_norm", "policy_std",
            "episode_reward_mean", "episode_length_mean", "fps", "rollout_time", "learning_time", "timesteps",
            "iterations"}
GRAD_NORMS = {"skrl": {"grad_norm"}, "rsl_rl": {"grad_norm/actor", "grad_norm/critic"},  # rsl_rl clips them apart
              "stable_baselines3": {"grad_norm"}}


class TestOneExperiment:
    def test_three_frameworks_side_by_side(self, tmp_path):
        """The same five lines log the same canonical names from skrl, rsl_rl and SB3 into one MLflow experiment."""
        skrl, rsl_rl, sb3 = make_skrl_runner("PPO", timesteps=420), make_rsl_rl_runner(), make_model("PPO")
        trainings = {"skrl": (skrl.agent, skrl.run),
                     "rsl_rl": (rsl_rl, partial(rsl_rl.learn, 6)),
                     "stable_baselines3": (sb3, partial(sb3.learn, 768))}
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
        try:
            mlflow.set_experiment("pendulum")
            for framework, (learner, train) in trainings.items():
                with mlflow.start_run(run_name=framework), track(learner, sink=mlflow, every="balanced", only=COMPARED):
                    train()
            experiment = mlflow.get_experiment_by_name("pendulum").experiment_id
        finally:
            mlflow.set_tracking_uri(None)
        client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        runs = client.search_runs([experiment])
        assert sorted(run.info.run_name for run in runs) == sorted(trainings)
        for run in runs:
            name = run.info.run_name
            assert set(run.data.metrics) == COMPARED - {"grad_norm"} | GRAD_NORMS[name], name
            assert run.info.status == "FINISHED"
            rewards = client.get_metric_history(run.info.run_id, "episode_reward_mean")
            assert rewards
            assert all(-2000.0 < point.value < 0.0 for point in rewards)  # Pendulum's returns are negative

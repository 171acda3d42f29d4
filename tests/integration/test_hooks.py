import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from metrictap.adapting.adapter import Adapter
from metrictap.adapting.binding import Binding
from metrictap.adapting.schema import Hook
from metrictap.tap.collector import Collector
from metrictap.tap.hooks import Capture
from metrictap.tap.schedule import parse_every

ADAPTER = Adapter.from_mapping({"name": "calls", "match": {"classes": ["test_hooks.Learner"]},
                                "update": {"method": "learn"}})


class Learner:
    def learn(self) -> None:
        """Stand in for a framework's learning update."""


def collector():
    def fail(kind, error):
        raise error

    return Collector(Binding.resolve(ADAPTER, Learner()), every=parse_every(1), step_axis="timestep",
                     post=lambda _: None, fail=fail)


def log(loss_dict, learning_rate, action_std=None, extras=None):
    """rsl_rl's Logger.log, reduced to the arguments a hook reads."""


def record(key, value, exclude=None):
    """Stable-Baselines3's Logger.record as an instance calls it (without self)."""


class TestCapture:
    def test_arguments_become_tags(self):
        """Listed arguments are tags; a mapping's items are '<argument>/<key>'; a path reads into an argument."""
        hook = Hook(target="logger:log", arguments=("loss_dict", "learning_rate", "action_std", "extras.log"),
                    mean=True)
        sink = collector()
        std = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
        Capture(hook, log).record(sink, ({"value": 2.0, "surrogate": -0.1}, 1e-3), {
            "action_std": std, "extras": {"time_outs": torch.ones(2), "log": {"Episode_Reward/alive": 5.0}}}, None)
        assert sink._tagged.keys() == {"loss_dict/value", "loss_dict/surrogate", "learning_rate", "action_std",
                                       "extras.log/Episode_Reward/alive"}
        assert float(sink._tagged["action_std"][0]) == 2.0
        assert sink._tagged["extras.log/Episode_Reward/alive"] == [5.0]

    def test_absent_arguments_are_skipped(self):
        """An argument that is None, not passed, or lacks the path yields no tag."""
        hook = Hook(target="logger:log", arguments=("action_std", "extras.log"))
        sink = collector()
        Capture(hook, log).record(sink, ({}, 1e-3), {"extras": {"time_outs": 1}}, None)
        assert sink._tagged == {}

    def test_tag_and_value(self):
        """A (tag, value) hook routes each call's value under the tag it names."""
        hook = Hook(target="m:Logger.record", tag="key", value="value", module=True, instance="logger")
        sink = collector()
        capture = Capture(hook, record)
        for key, value in (("train/value_loss", 1.5), ("train/value_loss", 2.5), ("rollout/ep_rew_mean", -3.0)):
            capture.record(sink, (key, value), {}, None)
        assert sink._tagged == {"train/value_loss": [1.5, 2.5], "rollout/ep_rew_mean": [-3.0]}

    def test_named_value(self):
        """A named hook records its argument, or the return value, under its name and agent id, averaged on request."""
        sink = collector()
        Capture(Hook(target="actor:kl", name="kl_divergence", mean=True), log, "left").record(
            sink, (), {}, np.array([0.1, 0.3]))
        assert list(sink._hooks) == ["kl_divergence/left"]
        assert sink._hooks["kl_divergence/left"][0] == pytest.approx(0.2)

    @given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
    def test_tags_keep_every_value_in_order(self, values):
        """Every value a call carries reaches the window, in call order: nothing is sampled away."""
        sink = collector()
        capture = Capture(Hook(target="m:Logger.record", tag="key", value="value", module=True, instance="l"),
                          record)
        for value in values:
            capture.record(sink, ("x", value), {}, None)
        assert sink._tagged == {"x": values}
        assert sink._dirty

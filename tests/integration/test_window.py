import numpy as np
import torch

from metrictap.adapting.routing import Route
from metrictap.emitting.window import Window


class TestWindow:
    def test_reducers(self):
        """Means average every value of the window; min and max routes keep the extreme."""
        window = Window()
        window.add(Route("loss"), [1.0, 2.0])
        window.add(Route("loss"), [6.0])
        window.add(Route("q/min", "min"), [3.0, -1.0])
        window.add(Route("q/max", "max"), [np.float32(5.0), 7])
        assert window.values() == {"loss": 3.0, "q/min": -1.0, "q/max": 7.0}

    def test_factor(self):
        """A route's factor scales each value (milliseconds to seconds, entropy from its loss)."""
        window = Window()
        window.add(Route("t", factor=0.001), [1500.0])
        assert window.values() == {"t": 1.5}

    def test_arrays_and_tensors(self):
        """Multi-element values become name/mean, /std, /min and /max; one-element ones stay scalars."""
        window = Window()
        window.add(Route("a"), [np.array([1.0, 3.0]), np.array([5.0, 7.0])])
        window.add(Route("t"), [torch.tensor([2.0, 4.0])])
        window.add(Route("one"), [torch.tensor([9.0])])
        values = window.values()
        assert values["a/mean"] == 4.0
        assert values["a/min"] == 1.0
        assert values["a/max"] == 7.0
        assert values["a/std"] == 1.0
        assert values["t/std"] == 1.0
        assert values["one"] == 9.0

    def test_nested_mappings(self):
        """Mappings flatten with '/' down to the depth; deeper values are dropped and counted."""
        window = Window(depth=2)
        window.add(Route("info"), [{"a": 1.0, "b": {"c": 2.0, "d": {"e": 3.0}}}])
        assert window.values() == {"info/a": 1.0, "info/b/c": 2.0}
        assert window.dropped["too_deep"] == 1

    def test_non_finite_and_invalid(self):
        """NaN results and values that are not numbers are dropped and counted, not delivered."""
        window = Window()
        window.add(Route("std"), [float("nan")])
        window.add(Route("text"), ["not a number"])
        window.add(Route("none"), [None])
        assert window.values() == {}
        assert window.dropped == {"non_finite": 1, "invalid": 1}

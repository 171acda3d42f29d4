"""The one wrapper every patch goes through, the undo stack, argument reading and the timing hook."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrictap.tap.patching import ArgumentReader, Patches, active, guard, timing


class Agent:
    def update(self, *, timestep: int) -> int:
        """Return the step, as a stand-in for a learning update."""
        return timestep

    def fail(self) -> None:
        """Raise, as an update that breaks."""
        raise KeyError("original")


def recording():
    errors = []
    return errors, lambda kind, exc: errors.append((kind, exc))


class TestGuard:
    def test_original_errors_propagate_unchanged(self):
        """The original's exception reaches the caller as the same object, and the tap's after-step does not run."""
        errors, fail = recording()
        ran = []
        agent, patches = Agent(), Patches()
        patches.method(agent, "fail", guard("update", fail, after=lambda *call: ran.append(call)))
        with pytest.raises(KeyError, match="original") as raised:
            agent.fail()
        assert isinstance(raised.value, KeyError)
        assert ran == []
        assert errors == []

    def test_tap_errors_are_contained(self):
        """An error before or after the original goes to fail(kind, exc); the call still returns its result."""
        errors, fail = recording()
        agent, patches = Agent(), Patches()

        def broken(*_call):
            raise ZeroDivisionError

        patches.method(agent, "update", guard("update", fail, before=broken, after=broken))
        assert agent.update(timestep=7) == 7
        assert [kind for kind, _ in errors] == ["update", "update"]
        assert all(isinstance(exc, ZeroDivisionError) for _, exc in errors)

    def test_strict_fail_raises(self):
        """A fail that raises (strict mode) surfaces the tap's own error to the caller."""
        def strict(_kind, exc):
            raise exc

        agent, patches = Agent(), Patches()
        patches.method(agent, "update", guard("update", strict, after=lambda *_: 1 / 0))
        with pytest.raises(ZeroDivisionError):
            agent.update(timestep=1)

    def test_before_token_reaches_after(self):
        """What before returns is handed to after, with the call's result."""
        seen = []
        agent, patches = Agent(), Patches()
        patches.method(agent, "update", guard("update", recording()[1], before=lambda *_: "token",
                                              after=lambda _i, _a, kwargs, result, token: seen.append(
                                                  (kwargs, result, token))))
        agent.update(timestep=3)
        assert seen == [({"timestep": 3}, 3, "token")]

    def test_updating_is_set_only_during_the_call(self):
        """With updating=, the thread's active collector is that object during the original call only."""
        during = []
        marker = object()

        class Probe:
            def update(self):
                during.append(getattr(active, "collector", None))

        probe, patches = Probe(), Patches()
        patches.method(probe, "update", guard("update", recording()[1], updating=marker))
        probe.update()
        assert during == [marker]
        assert getattr(active, "collector", None) is None


class TestPatches:
    @given(st.lists(st.sampled_from(["update", "fail"]), max_size=6))
    def test_undo_restores_vars_exactly(self, names):
        """After undo the instance's __dict__ equals what it was before, whatever was patched and in which order."""
        agent = Agent()
        agent.own = "kept"
        before = dict(vars(agent))
        patches = Patches()
        for name in dict.fromkeys(names):
            patches.method(agent, name, guard(name, recording()[1]))
        patches.undo()
        patches.undo()
        assert vars(agent) == before

    def test_on_undo_runs_last_in_first_out(self):
        """Callbacks registered with on_undo run when the patches come off, newest first."""
        order, patches = [], Patches()
        patches.on_undo(lambda: order.append(1))
        patches.on_undo(lambda: order.append(2))
        patches.undo()
        assert order == [2, 1]


class TestArgumentReader:
    def test_keyword_position_and_default(self):
        """An argument is read whether passed by keyword or by position, else its default."""
        def function(a, b=5, *, c=9):
            return a, b, c

        assert ArgumentReader(function, "b").read((1, 2), {}) == 2
        assert ArgumentReader(function, "b").read((1,), {"b": 3}) == 3
        assert ArgumentReader(function, "b").read((1,), {}) == 5
        assert ArgumentReader(function, "c").read((1,), {}) == 9


class TestTiming:
    def test_only_wrappers_built_inside_are_timed(self):
        """A wrapper built inside timing() reports its calls' kind and time; one built after it does not."""
        times = []
        agent, patches = Agent(), Patches()
        with timing(lambda kind, seconds: times.append((kind, seconds))):
            patches.method(agent, "update", guard("update", recording()[1]))
        other = Agent()
        patches.method(other, "update", guard("update", recording()[1]))
        agent.update(timestep=1)
        other.update(timestep=1)
        assert [kind for kind, _ in times] == ["update"]
        assert times[0][1] >= 0

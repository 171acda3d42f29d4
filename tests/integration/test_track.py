import logging

import pytest
import torch
import wrapt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skrl_runs import SKRL_MAJOR, make_runner

from metrictap import AlreadyTrackedError, track
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl


UPDATE = "update" if SKRL_MAJOR >= 2 else "_update"


def snapshot(obj):
    """Every attribute of *obj* by identity: equal snapshots mean the exact same objects."""
    return {name: id(value) for name, value in vars(obj).items()}


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("runs"))
    return [make_runner("PPO", timesteps=64, directory=directory),
            make_runner("SAC", timesteps=128, directory=directory, write_interval=32)]


def unpatched(agent):
    """After training (which changes attribute values) the agent holds no wrapper and its methods are the class's."""
    wrappers = (wrapt.ObjectProxy, wrapt.FunctionWrapper)
    assert not [name for name, value in vars(agent).items() if isinstance(value, wrappers)]
    for name in (UPDATE, "record_transition", "write_tracking_data"):
        assert name not in vars(agent)
        assert getattr(agent, name).__func__ is getattr(type(agent), name)
    return True


def state(runners):
    return ([snapshot(runner.agent) for runner in runners], [snapshot(runner.agent.scheduler) for runner in runners
                                                                 if runner.agent.__dict__.get("scheduler")],
            snapshot(torch.nn.utils))


class TestRestore:
    def test_exit_restores_exactly(self, runners):
        """After the block the agent's __dict__ holds exactly the objects it held before, and skrl trains as before."""
        agent = runners[0].agent
        before = state(runners)
        with track(agent, sink=MemorySink()) as tap:
            assert UPDATE in vars(agent)
            assert "record_transition" in vars(agent)
            assert tap.active
        assert state(runners) == before
        assert not tap.active

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(["enter", "exit", "raise", "interrupt"]), st.integers(0, 1)),
                    max_size=12))
    def test_any_sequence_restores(self, runners, operations):
        """Any sequence of entries, exits, exceptions and interrupts on any agents leaves every __dict__ as it was."""
        before = state(runners)
        open_taps = {}
        for operation, index in operations:
            agent = runners[index].agent
            if operation == "enter":
                if index in open_taps:
                    with pytest.raises(AlreadyTrackedError):
                        track(agent, sink=MemorySink()).start()
                else:
                    open_taps[index] = track(agent, sink=MemorySink()).start()
            elif operation == "exit" and index in open_taps:
                open_taps.pop(index).stop()
            elif operation in {"raise", "interrupt"}:
                error = KeyboardInterrupt if operation == "interrupt" else ValueError
                with pytest.raises(error), track(agent, sink=MemorySink()) if index not in open_taps else _Nothing():
                    raise error
        for tap in open_taps.values():
            tap.stop()
        assert state(runners) == before

    def test_nested_on_two_agents(self, runners):
        """A tap nested inside another on a different agent works, and both restore."""
        keys = [set(vars(runner.agent)) for runner in runners]
        first, second = MemorySink(), MemorySink()
        with track(runners[0].agent, sink=first, every="step"), track(runners[1].agent, sink=second, every="step"):
            runners[0].run()
            runners[1].run()
        assert [set(vars(runner.agent)) for runner in runners] == keys
        assert all(unpatched(runner.agent) for runner in runners)
        assert "policy_loss" in first.names
        assert "critic_loss" in second.names

    def test_same_agent_twice(self, runners):
        """Tracking one agent twice at once is refused with a message that says so."""
        agent = runners[0].agent
        with track(agent, sink=MemorySink()), pytest.raises(AlreadyTrackedError, match="already tracked"):
            track(agent, sink=MemorySink()).start()

    def test_repeated_entry(self, runners):
        """The same tap can be entered and left many times."""
        before = state(runners)
        tap = track(runners[0].agent, sink=MemorySink())
        for _ in range(50):
            with tap:
                pass
        assert state(runners) == before


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class TestErrors:
    def test_original_errors_propagate_unchanged(self, runners):
        """An exception raised by skrl's update reaches the caller as the same object, and the agent is restored."""
        agent = runners[0].agent
        before = snapshot(agent)
        boom = RuntimeError("update failed")

        def failing(**kwargs):
            raise boom

        vars(agent)[UPDATE] = failing
        try:
            with pytest.raises(RuntimeError) as info, track(agent, sink=MemorySink()):
                getattr(agent, UPDATE)(timestep=0, timesteps=1)
        finally:
            del vars(agent)[UPDATE]
        assert info.value is boom
        assert snapshot(agent) == before

    def test_sink_errors_never_break_training(self, runners, caplog, monkeypatch):
        """A failing sink is logged once and counted; training completes; strict re-raises on exit."""
        monkeypatch.delenv("METRICTAP_STRICT")
        calls = []

        def broken(metrics, step):
            calls.append(step)
            raise ConnectionError("tracker down")

        with caplog.at_level(logging.WARNING, logger="metrictap"), track(runners[0].agent, sink=broken,
                                                                          every="step") as tap:
            runners[0].run()
        assert len(calls) > 1
        assert sum(tap.stats.errors.values()) == len(calls)
        assert len([r for r in caplog.records if "tracker down" in r.getMessage()]) == 1
        with pytest.raises(ConnectionError), track(runners[0].agent, sink=broken, strict=True):
            runners[0].run()

    def test_tap_errors_are_contained(self, runners, monkeypatch, caplog):
        """An error inside the tap's own collection is counted and logged, and training goes on."""
        monkeypatch.delenv("METRICTAP_STRICT")
        agent = runners[0].agent
        tap = track(agent, sink=MemorySink(), every="step")
        with caplog.at_level(logging.WARNING, logger="metrictap"), tap:
            tap._collector.readers["update.step"] = None  # the tap's own bug, not skrl's
            runners[0].run()
        assert tap.stats.errors.get("update", 0) > 0
        assert any("update error" in record.getMessage() for record in caplog.records)

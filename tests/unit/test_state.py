"""StateReader: only newly tracked values, across frameworks that clear their lists in place or replace them."""

from types import SimpleNamespace

from bindings import bound
from hypothesis import given
from hypothesis import strategies as st

from metrictap import Adapter, track
from metrictap.tap.state import StateReader
from metrictap.testing import TAGS, MemorySink, SyntheticAgent, synthetic_adapter

ADAPTER = Adapter.from_mapping({"name": "lists", "match": {"classes": ["types.SimpleNamespace"]},
                                "update": {"method": "update"},
                                "tracking": {"attribute": "tracking_data", "flush": "write"}})


def read(reader):
    slices = []
    reader.new_tracked(slices)
    return {tag: list(values) for tag, values in slices}


class TestStateReader:
    @given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["keep", "clear", "replace"])), max_size=30))
    def test_every_value_read_once(self, rounds):
        """Whatever is appended between reads is read exactly once, whether lists are cleared, replaced or kept."""
        target = SimpleNamespace(tracking_data={"loss": []})
        reader, appended, seen, counter = StateReader(bound(ADAPTER, target)), [], [], 0
        for count, flush in rounds:
            for _ in range(count):
                target.tracking_data["loss"].append(counter)
                appended.append(counter)
                counter += 1
            seen += read(reader).get("loss", [])
            if flush == "clear":
                target.tracking_data["loss"].clear()
                reader.forget()
            elif flush == "replace":
                target.tracking_data = {"loss": []}
                reader.forget()
        assert seen == appended

    def test_shrunk_list_is_read_from_its_start(self):
        """A list cleared in place without a flush the tap saw is read from its start once it is shorter."""
        target = SimpleNamespace(tracking_data={"loss": [1.0, 2.0, 3.0]})
        reader = StateReader(bound(ADAPTER, target))
        assert read(reader) == {"loss": [1.0, 2.0, 3.0]}
        target.tracking_data["loss"][:] = [4.0]
        assert read(reader) == {"loss": [4.0]}


def test_tap_on_lists_cleared_in_place():
    """A tap on an agent that clears its lists in place every 10 updates delivers every update's values."""
    agent, sink = SyntheticAgent(), MemorySink()
    with track(agent, sink=sink, every="step", adapter=synthetic_adapter()):
        agent.train(0, 35)
    tracked = [name for name in sink.names if "synthetic" in name.lower()]
    assert len(tracked) == len(TAGS)
    assert all(len(sink.history(name)) == 35 for name in tracked)


def test_probe_falls_back_when_its_last_path_goes():
    """A probe whose path stops resolving reads the next one, whichever path resolved the time before."""
    adapter = Adapter.from_mapping({"name": "probed", "match": {"classes": ["types.SimpleNamespace"]},
                                    "update": {"method": "update"},
                                    "probes": [{"name": "learning_rate", "read": ["optimizer.lr", "scheduler.lr"]}]})
    target = SimpleNamespace(scheduler=SimpleNamespace(lr=0.1))
    reader = StateReader(bound(adapter, target))
    assert reader.probe() == {"learning_rate": 0.1}
    target.optimizer = SimpleNamespace(lr=0.2)
    del target.scheduler
    assert reader.probe() == {"learning_rate": 0.2}
    assert reader.probe() == {"learning_rate": 0.2}

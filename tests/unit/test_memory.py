"""The in-memory courier: a bounded backlog that drops the oldest windows and counts them, never retried."""

import time

from metrictap.delivery.memory import MemoryCourier
from metrictap.testing import MemorySink


def test_delivers_each_window_once_in_order():
    """Every window reaches the sink once, in the order it was put."""
    sink, errors = MemorySink(), []
    courier = MemoryCourier(sink, on_error=lambda kind, exc: errors.append(kind))
    courier.thread.start()
    for step in range(5):
        courier.put((step, 0, {"loss": float(step)}))
    courier.finish()
    courier.join(time.monotonic() + 10)
    assert [step for step, _ in sink.records] == [0, 1, 2, 3, 4]
    assert courier.settle(None)
    assert (courier.delivered, errors) == (5, [])


def test_overflow_drops_the_oldest_and_counts_them():
    """Past the backlog the oldest windows are dropped as 'overflow'; what is left is delivered."""
    sink = MemorySink()
    courier = MemoryCourier(sink, on_error=lambda kind, exc: None, backlog=4)
    for step in range(6):
        courier.put((step, 0, {"a": 1.0, "b": 2.0}))
    courier.thread.start()
    courier.finish()
    courier.join(time.monotonic() + 10)
    assert courier.dropped["overflow"] == 8
    assert [step for step, _ in sink.records] == [4, 5]
    assert courier.handed == courier.delivered + sum(courier.dropped.values())


def test_a_failing_sink_costs_only_its_window():
    """A sink that raises loses that window (counted as sink_error) and is not called again for it."""
    calls = []

    class Flaky:
        def log_metrics(self, _metrics, step=None):
            calls.append(step)
            if step == 1:
                raise RuntimeError("down")

    errors = []
    courier = MemoryCourier(Flaky(), on_error=lambda kind, exc: errors.append(kind))
    courier.thread.start()
    for step in range(3):
        courier.put((step, 0, {"loss": 1.0}))
    courier.finish()
    courier.join(time.monotonic() + 10)
    assert calls == [0, 1, 2]
    assert courier.dropped["sink_error"] == 1
    assert len(errors) == 1


def test_settle_before_delivery_counts_the_rest_as_exit_timeout():
    """Settling a courier that has not delivered everything drops the rest as exit_timeout, counted."""
    courier = MemoryCourier(MemorySink(), on_error=lambda kind, exc: None)
    courier.put((0, 0, {"a": 1.0, "b": 2.0}))
    assert not courier.settle(None)
    assert courier.dropped["exit_timeout"] == 2

"""Leaving a tap always finishes, restores what it can, and never replaces the training's own exception."""

import functools
import logging

import mlflow
import pytest
import wrapt
from mlflow import MlflowClient
from mlflow_servers import SilentServer
from skrl_runs import SKRL_MAJOR, make_runner

from metrictap import MlflowSink, track
from metrictap.delivery.spool import Spool
from metrictap.testing import MemorySink

pytestmark = pytest.mark.skrl

UPDATE = "update" if SKRL_MAJOR >= 2 else "_update"


def points_in(sink):
    return sum(len(metrics) for _, metrics in sink.records)


def count_updates(agent):
    """Wrap the agent's update as the seed integration did (a functools.wraps closure); a list that counts calls."""
    calls = []
    original = getattr(agent, UPDATE)

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    setattr(agent, UPDATE, counted)
    return calls


def train_then_raise(runner, tap, error):
    with tap:
        runner.run()
        raise error


class TestOuterWrapper:
    def test_wrapper_over_the_tapped_method(self, caplog):
        """A wrapper placed over the tapped update during the block leaves exit clean: one warning, the rest
        restored, the tap's wrapper inert beneath it, and the agent trackable again."""
        runner = make_runner("PPO", timesteps=64)
        agent = runner.agent
        first = MemorySink()
        with caplog.at_level(logging.WARNING, logger="metrictap"), track(agent, sink=first, every="step") as tap:
            calls = count_updates(agent)
            runner.run()
        warnings = [record for record in caplog.records if "wrapped or replaced while tracked" in record.message]
        assert len(warnings) == 1
        assert "record_transition" not in vars(agent)
        assert not isinstance(vars(agent)[UPDATE], wrapt.FunctionWrapper)
        assert tap.stats.updates == len(calls) > 0
        assert first.records
        second = MemorySink()
        with track(agent, sink=second, every="step") as again:
            runner.run()
        assert again.stats.updates == len(calls) // 2  # the inert wrapper counts nothing: each update once
        assert points_in(second) == again.stats.delivered > 0


class TestFlushTimeout:
    @pytest.mark.parametrize("timeout", [float("inf"), 1e300])
    def test_infinite_waits_for_everything(self, timeout):
        """flush_timeout=inf (or any number beyond what a wait can take) waits until every window is delivered."""
        runner = make_runner("PPO", timesteps=64)
        sink = MemorySink()
        with track(runner.agent, sink=sink, every="step", flush_timeout=timeout) as tap:
            runner.run()
        assert len(sink.records) == tap.stats.windows > 0
        assert tap.stats.pending == 0

    def test_infinite_keeps_the_training_exception(self):
        """With flush_timeout=inf the exception the training raised is the one the caller sees."""
        runner = make_runner("PPO", timesteps=64)
        boom = RuntimeError("training failed")
        sink = MemorySink()
        with pytest.raises(RuntimeError) as info:
            train_then_raise(runner, track(runner.agent, sink=sink, every="step", flush_timeout=float("inf")), boom)
        assert info.value is boom
        assert sink.records

    def test_zero_leaves_everything_in_the_spool(self):
        """flush_timeout=0 does not wait, and every point not delivered is in the spool, counted as pending."""
        runner = make_runner("SAC", timesteps=300, write_interval=1)
        with SilentServer() as server:
            sink = MlflowSink("0" * 32, server.uri, timeout=1.0)
            with track(runner.agent, sink=sink, every="step", flush_timeout=0, strict=False) as tap:
                runner.run()
            stats = tap.stats
        assert stats.delivered == 0
        assert "exit_timeout" not in stats.dropped
        assert Spool.open(stats.spool).count() == stats.spooled == stats.pending > 0


@pytest.mark.usefixtures("tracking_store")
class TestFailedEntry:
    def test_failed_entry_ends_the_run_it_started(self):
        """An entry that fails after the tap started a run ends that run, leaves no run active, patches nothing."""
        runner = make_runner("PPO", timesteps=32)
        before = set(vars(runner.agent))
        with pytest.raises(OSError, match="spool="):
            track(runner.agent, sink=mlflow, spool="/proc/metrictap-cannot-write-here").start()
        assert mlflow.active_run() is None
        assert set(vars(runner.agent)) == before
        experiment = mlflow.get_experiment_by_name("metrictap-tests").experiment_id
        latest = MlflowClient().search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=1)[0]
        assert latest.info.status == "FAILED"
        with mlflow.start_run():
            pass

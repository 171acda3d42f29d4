import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from metrictap.errors import RejectedPointsError
from metrictap.sinks import MlflowSink, Point
from metrictap.sinks.mlflow_sqlite import ROWS_PER_STATEMENT, SqliteWriter

points = st.builds(Point, st.sampled_from(["loss", "reward/mean", "fps"]),
                   st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
                   st.integers(-3, 3), st.integers(0, 3))
batches = st.lists(st.lists(points, min_size=1, max_size=12), min_size=1, max_size=4)


def _read_back(client: MlflowClient, run_id: str) -> tuple[dict[str, list[tuple[int, int, float]]], dict[str, float]]:
    """Every key's history (sorted, NaN as a string so that it compares equal) and the run's latest values."""
    def plain(value: float) -> float | str:
        return "nan" if math.isnan(value) else value

    latest = client.get_run(run_id).data.metrics
    history = {key: sorted(((m.step, m.timestamp, plain(m.value)) for m in client.get_metric_history(run_id, key)),
                           key=repr) for key in latest}
    return history, {key: plain(value) for key, value in latest.items()}


def _writer(client: MlflowClient, run_id: str) -> SqliteWriter:
    writer = SqliteWriter.for_store(client._tracking_client.store, run_id)
    assert writer is not None
    return writer


class TestSameAsLogBatch:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(batches=batches)
    def test_reads_back_as_log_batch(self, tracking_store, batches):
        """Any batches, with duplicates and non-finite values, read back exactly as MLflow's log_batch stores them."""
        client = MlflowClient(tracking_store)
        experiment = client.get_experiment_by_name("metrictap-tests").experiment_id
        fast, reference = client.create_run(experiment).info.run_id, client.create_run(experiment).info.run_id
        writer = _writer(client, fast)
        for batch in batches:
            writer.write(batch)
            client.log_batch(reference, [Metric(p.name, p.value, p.timestamp_ms, p.step) for p in batch])
        assert _read_back(client, fast) == _read_back(client, reference)

    def test_batches_larger_than_one_statement(self, tracking_store):
        """A batch spanning several insert statements, with more keys than one upsert holds, reads back as log_batch."""
        client = MlflowClient(tracking_store)
        experiment = client.get_experiment_by_name("metrictap-tests").experiment_id
        fast, reference = client.create_run(experiment).info.run_id, client.create_run(experiment).info.run_id
        keys = ROWS_PER_STATEMENT + 40
        batch = [Point(f"k{index % keys}", float(index), index // keys, 1000 - index) for index in range(3 * keys)]
        _writer(client, fast).write(batch)
        client.log_batch(reference, [Metric(p.name, p.value, p.timestamp_ms, p.step) for p in batch])
        history, latest = _read_back(client, fast)
        assert len(latest) == keys
        assert sum(map(len, history.values())) == 3 * keys
        assert (history, latest) == _read_back(client, reference)

    def test_a_tie_keeps_the_first(self, tracking_store):
        """A later point equal in step, time and stored value (NaN is stored as 0) leaves the latest value alone."""
        client = MlflowClient(tracking_store)
        experiment = client.get_experiment_by_name("metrictap-tests").experiment_id
        fast, reference = client.create_run(experiment).info.run_id, client.create_run(experiment).info.run_id
        writer = _writer(client, fast)
        for value in (math.nan, 0.0):
            writer.write([Point("loss", value, 3, 1000)])
            client.log_batch(reference, [Metric("loss", value, 1000, 3)])
        assert _read_back(client, fast) == _read_back(client, reference)
        assert math.isnan(client.get_run(fast).data.metrics["loss"])

    def test_resent_batch_is_stored_once(self, tracking_store):
        """A batch sent again (its delivery was not marked before a crash) adds no second copy of any point."""
        client = MlflowClient(tracking_store)
        run_id = client.create_run(client.get_experiment_by_name("metrictap-tests").experiment_id).info.run_id
        batch = [Point("loss", 0.5, step, 1000 + step) for step in range(5)]
        writer = _writer(client, run_id)
        writer.write(batch)
        writer.write(batch)
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1, 2, 3, 4]


class TestRefusals:
    def test_refused_as_log_batch_refuses(self, tracking_store):
        """A bad name or value is a RejectedPointsError; a deleted or missing run is an error naming the run."""
        client = MlflowClient(tracking_store)
        run_id = client.create_run(client.get_experiment_by_name("metrictap-tests").experiment_id).info.run_id
        sink = MlflowSink(run_id, tracking_store)
        with pytest.raises(RejectedPointsError, match="Names may only contain"):
            sink.log_points([Point("ok", 1.0, 1, 1), Point("a(b)", 1.0, 1, 1)])
        with pytest.raises(RejectedPointsError, match="exceeds the maximum length of 250"):
            sink.log_points([Point("x" * 251, 1.0, 1, 1)])
        with pytest.raises(RejectedPointsError, match="'text'"):
            sink.log_points([Point("ok", "text", 1, 1)])  # type: ignore[arg-type]
        assert client.get_run(run_id).data.metrics == {}
        client.delete_run(run_id)
        with pytest.raises(MlflowException, match=f"{run_id} must be in the 'active' state") as deleted:
            sink.log_points([Point("a", 1.0, 1, 1)])
        assert not isinstance(deleted.value, RejectedPointsError)
        with pytest.raises(MlflowException, match=r"0{32} not found"):
            MlflowSink("0" * 32, tracking_store).log_points([Point("a", 1.0, 1, 1)])

    def test_other_stores_use_log_batch(self, mlflow_server):
        """Only a sqlite store is written directly: a server is reached through its REST API."""
        client = MlflowClient(mlflow_server.uri)
        assert SqliteWriter.for_store(client._tracking_client.store, "r") is None

import http.server
import math
import os
import sys
import threading
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow_servers import SilentServer, free_port
from skrl_runs import make_runner

from metrictap import MlflowSink, Sink, track
from metrictap.errors import RejectedPointsError, ServerError
from metrictap.sinks import CallableSink, Point, check_sinks
from metrictap.testing import MemorySink


def history(run_id, name):
    return [(m.step, m.value) for m in MlflowClient().get_metric_history(run_id, name)]


class TestCheckSinks:
    def test_accepted(self):
        """The mlflow module, sink objects and callables are accepted; lists fan out."""
        memory = MemorySink()
        sinks = check_sinks([mlflow, memory, print])
        assert sinks[0] is mlflow
        assert sinks[1] is memory
        assert isinstance(sinks[2], CallableSink)
        assert isinstance(mlflow, Sink)

    @pytest.mark.parametrize(("sink", "message"), [(42, "has no log_metrics"), (MemorySink, "pass an instance"),
                                                   ([], "is empty")])
    def test_rejected(self, sink, message):
        """Anything else is a TypeError naming it and listing what a sink may be."""
        with pytest.raises(TypeError, match=message) as info:
            check_sinks(sink)
        assert "the mlflow module" in str(info.value)

    def test_mlflow_sink_arguments(self):
        """MlflowSink refuses a missing run id and batch sizes outside MLflow's limit."""
        with pytest.raises(ValueError, match="run id"):
            MlflowSink("")
        with pytest.raises(ValueError, match="1 to 1000"):
            MlflowSink("abc", batch_size=1001)


class TestMlflowSink:
    def test_batches_read_back(self, tracking_store):
        """Points logged through MlflowSink are in the store, in requests of at most batch_size metrics."""
        with mlflow.start_run() as run:
            sink = MlflowSink(run.info.run_id, tracking_store, batch_size=7)
            sink.log_points([Point(f"m{i % 3}", float(i), i, 1000 + i) for i in range(20)])
            sink.log_metrics({"x": 1.5}, step=3)
        assert history(run.info.run_id, "m0") == [(i, float(i)) for i in range(0, 20, 3)]
        assert history(run.info.run_id, "x") == [(3, 1.5)]

    @pytest.mark.usefixtures("tracking_store")
    def test_module_binds_the_active_run(self):
        """sink=mlflow logs into the run active at entry, from the emitter thread, one point per emission."""
        runner = make_runner("PPO", timesteps=16 * 12)
        with mlflow.start_run() as run, track(runner.agent, sink=mlflow, every="step",
                                              only={"policy_loss", "episode_reward_mean"}) as tap:
            runner.run()
        assert tap.stats.delivered == tap.stats.points - sum(tap.stats.dropped.values())
        losses = history(run.info.run_id, "policy_loss")
        assert [step for step, _ in losses] == [16 * i for i in range(1, 13)]
        assert set(MlflowClient().get_run(run.info.run_id).data.metrics) == {"policy_loss"}
        assert mlflow.active_run() is None
        assert threading.active_count() >= 1


class TestFanOut:
    def test_failing_sink_does_not_stop_others(self, monkeypatch):
        """With several sinks, one that fails loses only its own deliveries."""
        monkeypatch.delenv("METRICTAP_STRICT")
        runner = make_runner("PPO", timesteps=64)
        memory = MemorySink()

        def broken(metrics, step):
            raise RuntimeError(step)

        with track(runner.agent, sink=[broken, memory], every="step") as tap:
            runner.run()
        assert [step for step, _ in memory.records] == [16, 32, 48, 64]
        assert tap.stats.errors == {"sink broken": 4}


class _Throttling(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(429)
        self.send_header("Retry-After", "7")
        self.end_headers()
        self.wfile.write(b"slow down")

    def log_message(self, *args):
        pass


@pytest.mark.server
class TestBoundedRequests:
    def test_refused_connection_fails_fast(self, monkeypatch):
        """A server that is down fails a request at once: MLflow's process-wide retries are neither used nor changed."""
        monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
        before = dict(os.environ)
        sink = MlflowSink("r", f"http://127.0.0.1:{free_port()}")
        started = time.monotonic()
        with pytest.raises(MlflowException, match=r"Connection refused|Max retries"):
            sink.log_points([Point("loss", 1.0, 1, 1)])
        assert time.monotonic() - started < 5  # MLflow's own defaults block for about 4 minutes
        assert dict(os.environ) == before

    def test_hung_server_times_out(self):
        """A request to a server that never answers gives up after the sink's timeout."""
        with SilentServer() as silent:
            sink = MlflowSink("r", silent.uri, timeout=0.5)
            started = time.monotonic()
            with pytest.raises(MlflowException, match=r"timeout|timed out"):
                sink.log_points([Point("loss", 1.0, 1, 1)])
            assert time.monotonic() - started < 0.5 + 3

    def test_throttled(self):
        """A 429 is a ServerError carrying the server's Retry-After, to be retried, not a refusal of the points."""
        server = http.server.HTTPServer(("127.0.0.1", 0), _Throttling)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with pytest.raises(ServerError) as info:
                MlflowSink("r", f"http://127.0.0.1:{server.server_address[1]}").log_points([Point("a", 1.0, 1, 1)])
        finally:
            server.shutdown()
            server.server_close()
        assert (info.value.status, info.value.retry_after) == (429, 7.0)
        assert not isinstance(info.value, RejectedPointsError)

    def test_refusals_by_cause(self, mlflow_server):
        """Over REST a bad point is a RejectedPointsError; a deleted or missing run is not, so its points are kept."""
        client = MlflowClient(mlflow_server.uri)
        run_id = client.create_run("0").info.run_id
        sink = MlflowSink(run_id, mlflow_server.uri)
        with pytest.raises(RejectedPointsError, match="Names may only contain"):
            sink.log_points([Point("ok", 1.0, 1, 1), Point("a(b)", 1.0, 1, 1)])
        sink.log_points([Point("nan", math.nan, 1, 1), Point("inf", math.inf, 1, 1), Point("ninf", -math.inf, 1, 1)])
        values = client.get_run(run_id).data.metrics
        assert math.isnan(values["nan"])
        assert values["inf"] == sys.float_info.max
        assert values["ninf"] == -sys.float_info.max
        with pytest.raises(ServerError, match="404"):
            MlflowSink("0" * 32, mlflow_server.uri).log_points([Point("a", 1.0, 1, 1)])
        client.delete_run(run_id)
        with pytest.raises(ServerError, match="active"):
            sink.log_points([Point("a", 1.0, 1, 1)])

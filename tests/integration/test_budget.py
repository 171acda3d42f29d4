"""Request budgets against a loopback MLflow endpoint of our own that answers bursts with 429, as managed stores do."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from collections.abc import Iterator

import pytest

from metrictap import MlflowSink, track
from metrictap.sinks.budget import RequestBudget, store_defaults
from metrictap.testing import SyntheticAgent, synthetic_adapter

LIMIT = 20  # requests a second the server accepts
ITERATIONS = 40  # of the synthetic agent: about 25 points per window
BATCH = 25  # points per request, so about one request per window
AZURE_ML = ("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/g/providers/"
            "Microsoft.MachineLearningServices/workspaces/w")


class ThrottlingStore(http.server.ThreadingHTTPServer):
    """MLflow's log-batch endpoint that accepts at most LIMIT requests in any second; the rest get 429."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.accepted: deque[float] = deque()
        self.refused = 0
        self.points: dict[str, list[tuple[str, int, float]]] = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def admit(self, body: dict[str, object]) -> bool:
        now = time.monotonic()
        with self.lock:
            recent = sum(1 for stamp in self.accepted if stamp > now - 1.0)
            if recent >= LIMIT:
                self.refused += 1
                return False
            self.accepted.append(now)
            self.points.setdefault(str(body["run_id"]), []).extend(
                (metric["key"], metric["step"], metric["value"]) for metric in body["metrics"])  # type: ignore[attr-defined]
            return True


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ThrottlingStore

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.admit(body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")
        else:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "too many requests"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def store() -> Iterator[ThrottlingStore]:
    server = ThrottlingStore()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


def train_two_runs(store: ThrottlingStore, tmp_path, rate: float | None):
    """Two taps, each on its own run of the same host, trained at once: the stats of both."""
    taps, agents = [], [SyntheticAgent(), SyntheticAgent()]
    for index, agent in enumerate(agents):
        sink = MlflowSink(f"run{index}", store.uri, batch_size=BATCH, max_requests_per_second=rate)
        taps.append(track(agent, sink=sink, every="step", adapter=synthetic_adapter(), spool=tmp_path / str(index),
                          flush_timeout=60, strict=False).start())
    for timestep in range(ITERATIONS):
        for agent in agents:
            agent.train(timestep, timestep + 1)
    for tap in taps:
        tap.stop()
    return [tap.stats for tap in taps]


@pytest.mark.server
class TestBudget:
    def test_without_a_budget_the_server_throttles(self, store, tmp_path):
        """The server does enforce its limit: unbudgeted delivery of two runs draws 429s (and still delivers all)."""
        stats = train_two_runs(store, tmp_path, rate=None)
        assert store.refused > 0
        assert [len(store.points[f"run{index}"]) for index in range(2)] == [item.points for item in stats]

    def test_a_shared_budget_stays_under_the_limit(self, store, tmp_path):
        """Two runs to one host share one budget under the limit: no 429, every point arrives, the wait is counted."""
        stats = train_two_runs(store, tmp_path, rate=LIMIT * 0.75)
        assert store.refused == 0
        for index, item in enumerate(stats):
            assert item.delivered == item.points == len(store.points[f"run{index}"])
            assert item.errors == {}
        requests = len(store.accepted)
        assert requests >= ITERATIONS  # one request per window or more
        stamps = list(store.accepted)
        assert max(sum(1 for other in stamps if stamp <= other < stamp + 1.0) for stamp in stamps) <= LIMIT * 0.75 + 1
        assert sum(item.throttled for item in stats) > 0.5 * requests / (LIMIT * 0.75)


class TestDefaults:
    @pytest.mark.parametrize(("uri", "batch", "rate"), [
        ("databricks", 1000, 40.0),
        ("databricks://my-profile", 1000, 40.0),
        ("https://adb-123.4.azuredatabricks.net", 1000, 40.0),
        (AZURE_ML, 250, None),
        ("http://127.0.0.1:5000", 1000, None),
        ("sqlite:///mlflow.db", 1000, None),
    ])
    def test_store_kinds(self, uri, batch, rate):
        """Each known store kind gets its documented batch size and a request budget under its limit."""
        sink = MlflowSink("r", uri)
        assert (sink.batch_size, sink.max_requests_per_second) == (batch, rate)

    def test_environment_names_the_store(self, monkeypatch):
        """Without a tracking_uri the sink reads the store kind from MLFLOW_TRACKING_URI, as MLflow resolves it."""
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
        assert MlflowSink("r").max_requests_per_second == 40.0
        assert store_defaults("databricks").kind == "databricks"

    def test_explicit_values_win(self):
        """A given batch size or budget overrides the store's default."""
        sink = MlflowSink("r", "databricks", batch_size=100, max_requests_per_second=5)
        assert (sink.batch_size, sink.max_requests_per_second) == (100, 5.0)
        assert MlflowSink("r", "databricks", max_requests_per_second=None).max_requests_per_second is None

    @pytest.mark.parametrize("rate", [0, -1, "fast", float("inf"), True])
    def test_bad_budget_names_what_was_given(self, rate):
        """A budget that is not a positive number, None or 'auto' fails naming the value and what is accepted."""
        with pytest.raises(ValueError, match=r"max_requests_per_second=.*accepted: a number > 0, None"):
            MlflowSink("r", "databricks", max_requests_per_second=rate)

    def test_slots_are_evenly_spaced(self):
        """A budget of 50 a second spaces ten requests over about 0.18 s, whatever the callers' threads."""
        budget = RequestBudget(50.0)
        stamps: list[float] = []
        threads = [threading.Thread(target=lambda: (budget.take(), stamps.append(time.monotonic())))
                   for _ in range(10)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - started >= 9 / 50

"""The MLflow sink: one run, ``log_batch`` requests within a time budget, and the MLflow internals it needs.

This is the one module of metrictap that reaches into MLflow beyond its public client: the REST
helper it sends through (so that MLflow's process-wide retries never hold delivery, nor a tap's
entry and exit: :class:`RunRequests`), the fluent API's run stack (so that a run can be made
active or let go without a request), and, through
:mod:`metrictap.sinks.mlflow_sqlite`, the tables of a sqlite store.

Imported where used, not at module level: ``mlflow``, ``metrictap.sinks``, ``metrictap.credentials``,
``email.utils``; so that ``import
metrictap`` and ``metrictap --help`` stay light and never load a framework, MLflow or a part of
metrictap that the call does not need.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metrictap.errors import RejectedPointsError, ServerError
from metrictap.sinks.budget import AUTO, RequestBudget, budget_for, check_rate, store_defaults
from metrictap.sinks.protocol import Point

if TYPE_CHECKING:
    from metrictap.sinks.mlflow_sqlite import SqliteWriter


MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch request
LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"  # MLflow's documented REST endpoints
RUNS = "/api/2.0/mlflow/runs/"
EXPERIMENTS = "/api/2.0/mlflow/experiments/"
RUN_REQUEST_TIMEOUT = 5.0  # seconds one request to create, read or end a run may take
CHECK_TIMEOUT = 2.0  # seconds an entry waits to learn whether an MlflowSink's run exists
INT64 = 2**63
TOO_MANY_REQUESTS = 429


class MlflowSink:
    """Logs to one MLflow run through ``log_batch``, many windows per request, within a time budget per request.

    Against an ``http(s)://`` server (and stores built on MLflow's REST store, such as Azure ML's
    and Databricks'), a request is sent once, with MLflow's own authentication and header
    plugins, and waits at most ``timeout`` seconds: retrying is the tap's job, so that MLflow's
    process-wide retry settings (7 retries, 120 s timeouts by default) never hold delivery for
    minutes and are never changed. A sqlite store gets the rows ``log_batch`` would write, by a
    path ten times faster (:mod:`metrictap.sinks.mlflow_sqlite`); other stores (a database server, a
    folder) are called through ``MlflowClient.log_batch``.

    Args:
        run_id: the run to log into.
        tracking_uri: the store or server; None means MLflow's default resolution
            (``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
        batch_size: metrics per request; MLflow's limit is 1000, Azure ML documents 250. None
            (the default) picks by store: 250 for Azure ML, else 1000.
        timeout: seconds one request to a server may take.
        max_requests_per_second: requests a second this process sends to the server's host, over
            all its sinks to that host (:mod:`metrictap.sinks.budget`); ``"auto"`` (the
            default) picks by store: 40 for Databricks, else no limit; None: no limit. The
            seconds delivery waited for it add up in :attr:`budget_waited`.

    The store kind is read from *tracking_uri*, else ``MLFLOW_TRACKING_URI``.

    """

    def __init__(self, run_id: str, tracking_uri: str | None = None, *, batch_size: int | None = None,
                 timeout: float = 10.0, max_requests_per_second: float | str | None = AUTO) -> None:
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"MlflowSink needs a run id string, got {run_id!r}")
        defaults = store_defaults(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", ""))
        batch_size = defaults.batch_size if batch_size is None else batch_size
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size={batch_size!r}; accepted: an int from 1 to 1000, or None (by store)")
        if not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout={timeout!r}; accepted: a number of seconds > 0")
        self.run_id, self.tracking_uri, self.batch_size, self.timeout = run_id, tracking_uri, batch_size, timeout
        self.max_requests_per_second = (defaults.requests_per_second if max_requests_per_second == AUTO
                                        else check_rate(max_requests_per_second))
        self.budget_waited = 0.0
        self._budget: RequestBudget | None = None
        self._client: Any = None
        self._rest: Any = None
        self._writer: SqliteWriter | None = None

    @classmethod
    def for_active_run(cls, *, batch_size: int | None = None) -> MlflowSink:
        """A sink bound to the run active in the calling thread (the caller must have started one)."""
        import mlflow

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("MlflowSink.for_active_run() needs an active run: call it inside mlflow.start_run()")
        return cls(run.info.run_id, mlflow.get_tracking_uri(), batch_size=batch_size)

    def __repr__(self) -> str:
        return f"MlflowSink(run_id={self.run_id!r}, tracking_uri={self.tracking_uri!r})"

    def resolved_uri(self) -> str:
        """The tracking URI this sink writes to, resolved as MLflow resolves it."""
        if self.tracking_uri is not None:
            return self.tracking_uri
        import mlflow

        return str(mlflow.get_tracking_uri())

    def check_run(self, timeout: float = CHECK_TIMEOUT) -> None:
        """Refuse a run id the store says does not exist; a store that does not answer within *timeout* passes.

        Points for a run that does not exist would be refused one request at a time, for ever; a
        server that is away, though, is what the spool is for.
        """
        from metrictap.credentials import scrub

        try:
            RunRequests(self.resolved_uri(), timeout=timeout).get(self.run_id)
        except Exception as exc:  # noqa: BLE001 - only the store's own "no such run" refuses the entry
            if getattr(exc, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
                return
            raise ValueError(f"MlflowSink(run_id={self.run_id!r}): {scrub(self.resolved_uri())} has no such run; "
                             "accepted: the id of an existing run (create one with mlflow.start_run() or "
                             "MlflowClient().create_run(experiment_id))") from None

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log one window now (the :class:`Sink` protocol)."""
        now = time.time_ns() // 1_000_000
        self.log_points([Point(name, value, step or 0, now) for name, value in metrics.items()])

    def log_points(self, points: Sequence[Point], *, timeout: float | None = None) -> None:
        """Log *points* in requests of at most ``batch_size`` metrics, each waiting at most *timeout* seconds.

        Raises :class:`RejectedPointsError` when the store refuses the points themselves;
        any other exception means the request may succeed later.
        """
        if self._client is None:
            from mlflow import MlflowClient
            from mlflow.store.tracking.rest_store import RestStore

            from metrictap.sinks.mlflow_sqlite import SqliteWriter

            self._client = MlflowClient(self.tracking_uri)
            store = getattr(getattr(self._client, "_tracking_client", None), "store", None)
            self._rest = store if isinstance(store, RestStore) else None
            if self._rest is not None:
                self._budget = budget_for(self.resolved_uri(), self.max_requests_per_second)
            self._writer = SqliteWriter.for_store(store, self.run_id)
        for start in range(0, len(points), self.batch_size):
            chunk = points[start : start + self.batch_size]
            _check_numbers(chunk)
            if self._rest is not None:
                self._post(chunk, self.timeout if timeout is None else min(timeout, self.timeout))
            else:
                self._log_batch(chunk)

    def _post(self, points: Sequence[Point], timeout: float) -> None:
        from mlflow.utils import rest_utils

        http_request: Any = rest_utils.http_request
        body = {"run_id": self.run_id, "metrics": [{"key": name, "value": _json_number(value), "timestamp": stamp,
                                                    "step": step} for name, value, step, stamp in points]}
        if self._budget is not None:
            self.budget_waited += self._budget.take(timeout)
        response = http_request(self._rest.get_host_creds(), LOG_BATCH, "POST", max_retries=0, backoff_factor=0,
                                retry_codes=frozenset(), timeout=timeout, json=body)
        if response.status_code == 200:  # noqa: PLR2004 - HTTP OK
            return
        try:
            message = str(response.json().get("message", response.text))
        except ValueError:
            message = response.text[:500]
        if response.status_code == 400 and self.run_id not in message:  # noqa: PLR2004 - a bad point, not a bad run
            raise RejectedPointsError(message)
        wait = retry_after(response.headers.get("Retry-After", ""))
        if response.status_code == TOO_MANY_REQUESTS and self._budget is not None:
            self._budget.hold(wait or 1.0)  # every sink to this host waits, not only this one
        raise ServerError(response.status_code, message, wait)

    def _log_batch(self, points: Sequence[Point]) -> None:
        from mlflow.entities import Metric
        from mlflow.exceptions import MlflowException

        try:
            if self._writer is not None:
                self._writer.write(points)
            else:
                self._client.log_batch(self.run_id, synchronous=True, metrics=[
                    Metric(point.name, point.value, point.timestamp_ms, point.step) for point in points])
        except MlflowException as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE" and self.run_id not in exc.message:
                raise RejectedPointsError(exc.message) from exc
            raise
        except (TypeError, ValueError, OverflowError) as exc:  # the client converts values before any I/O
            raise RejectedPointsError(str(exc)) from exc


def _check_numbers(points: Sequence[Point]) -> None:
    """Refuse steps and times no store can hold before sending: sqlite reports them as an internal error."""
    for point in points:
        if not (-INT64 <= point.step < INT64 and 0 <= point.timestamp_ms < INT64):
            raise RejectedPointsError(f"{point.name!r} at step {point.step}, time {point.timestamp_ms}: steps must be "
                                      "64-bit integers and times 64-bit integers >= 0")


def _json_number(value: float) -> float | str:
    """*value* as MLflow's JSON encodes a double: non-finite values are the strings protobuf's JSON mapping uses."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def forget_active_run() -> None:
    """Pop the calling thread's active MLflow run as ``mlflow.end_run`` does, without its network call.

    Used when the server did not answer before the exit deadline: ``end_run`` would then retry
    for minutes. The run's end is written to the spool instead, and ``metrictap replay`` applies it.
    """
    from mlflow.tracking import fluent

    stack: Any = fluent._active_run_stack  # noqa: SLF001 - MLflow offers no way to end a run without a request
    runs = stack.get() if hasattr(stack, "get") else stack  # a thread-local in MLflow 3, a plain list in older lines
    if runs:
        runs.pop()
    os.environ.pop("MLFLOW_RUN_ID", None)  # as end_run does: the next start_run must not resume this run


def retry_after(header: str) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: an integer or an HTTP date (a decimal counts its integer part)."""
    text = header.strip()
    if not text:
        return None
    whole = text.partition(".")[0]
    if whole.isdigit():
        return float(whole)
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RunRequests:
    """Creates, reads and ends runs; against a server each request is sent once and waits at most *timeout* seconds.

    MLflow's client would retry each for minutes (7 tries, 120 s timeouts); a tap's entry and exit
    must not wait that long on a tracker. Other stores (sqlite, a folder) are local and go through
    ``MlflowClient``.
    """

    def __init__(self, tracking_uri: str, *, timeout: float = RUN_REQUEST_TIMEOUT) -> None:
        from mlflow import MlflowClient
        from mlflow.store.tracking.rest_store import RestStore

        self.tracking_uri, self.timeout = tracking_uri, timeout
        self._client = MlflowClient(tracking_uri)
        store = getattr(getattr(self._client, "_tracking_client", None), "store", None)
        self._rest = store if isinstance(store, RestStore) else None

    def create(self, experiment_id: str, *, run_name: str | None = None, tags: dict[str, str] | None = None) -> Any:
        """A new RUNNING run (an ``mlflow.entities.Run``) in *experiment_id*."""
        import time

        tags = tags or {}
        if self._rest is None:
            return self._client.create_run(experiment_id, tags=tags, run_name=run_name)
        from mlflow.protos.service_pb2 import CreateRun

        body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": time.time_ns() // 1_000_000,
                                "user_id": tags.get("mlflow.user", ""),
                                "tags": [{"key": key, "value": value} for key, value in tags.items()]}
        if run_name:
            body["run_name"] = run_name
        return self._run(self._call(RUNS + "create", "POST", body, CreateRun.Response()).run)

    def get(self, run_id: str) -> Any:
        """The run *run_id*; an ``MlflowException`` (``RESOURCE_DOES_NOT_EXIST``) when there is none."""
        if self._rest is None:
            return self._client.get_run(run_id)
        from mlflow.protos.service_pb2 import GetRun

        return self._run(self._call(RUNS + "get", "GET", {"run_id": run_id}, GetRun.Response()).run)

    def end(self, run_id: str, status: str, end_time_ms: int | None = None) -> None:
        """Set the run's end *status* (FINISHED, FAILED, KILLED), without MLflow's "View run ... at URL" line."""
        import time

        end_time_ms = time.time_ns() // 1_000_000 if end_time_ms is None else end_time_ms
        if self._rest is None:
            self._client.set_terminated(run_id, status, end_time_ms)
            return
        from mlflow.protos.service_pb2 import UpdateRun

        self._call(RUNS + "update", "POST", {"run_id": run_id, "status": status, "end_time": end_time_ms},
                   UpdateRun.Response())

    def experiment(self, name: str) -> str:
        """The id of the experiment *name*, created if it does not exist yet (as ``MLFLOW_EXPERIMENT_NAME`` asks)."""
        if self._rest is None:
            found = self._client.get_experiment_by_name(name)
            return str(found.experiment_id if found else self._client.create_experiment(name))
        from mlflow.exceptions import MlflowException
        from mlflow.protos.service_pb2 import CreateExperiment, GetExperimentByName

        try:
            answer = self._call(EXPERIMENTS + "get-by-name", "GET", {"experiment_name": name},
                                GetExperimentByName.Response())
            return str(answer.experiment.experiment_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        created = self._call(EXPERIMENTS + "create", "POST", {"name": name}, CreateExperiment.Response())
        return str(created.experiment_id)

    def _call(self, path: str, method: str, body: dict[str, Any], response: Any) -> Any:
        from mlflow.utils import proto_json_utils, rest_utils

        http_request: Any = rest_utils.http_request
        parse_dict: Any = proto_json_utils.parse_dict
        rest: Any = self._rest
        sent = {"params" if method == "GET" else "json": body}
        answer = http_request(rest.get_host_creds(), path, method, max_retries=0, backoff_factor=0,
                              retry_codes=frozenset(), timeout=self.timeout, **sent)
        answer = rest_utils.verify_rest_response(answer, path)
        parse_dict(answer.json(), response)
        return response

    @staticmethod
    def _run(proto: Any) -> Any:
        from mlflow.entities import Run

        return Run.from_proto(proto)


def current_experiment_id(requests: RunRequests) -> str:
    """The experiment ``mlflow.start_run()`` would use in this thread, any lookup by name through *requests*.

    ``mlflow.set_experiment``'s choice first, then ``MLFLOW_EXPERIMENT_NAME`` (found or created by
    one bounded request each: MLflow's own lookup retries for minutes), ``MLFLOW_EXPERIMENT_ID``,
    then MLflow's default (``0``, or a notebook's experiment on Databricks).
    """
    import os

    from mlflow.tracking import fluent
    from mlflow.tracking.default_experiment import registry

    active: Any = fluent._active_experiment_id  # noqa: SLF001 - set by mlflow.set_experiment
    if active:
        return str(active)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        return requests.experiment(name)
    return os.environ.get("MLFLOW_EXPERIMENT_ID") or str(registry.get_experiment_id() or "0")


def activate_run(run: Any) -> None:
    """Make *run* the calling thread's active run, as ``mlflow.start_run`` does, without its requests."""
    from mlflow.tracking import fluent

    stack: Any = fluent._active_run_stack  # noqa: SLF001 - MLflow offers no way to start a run within a time limit
    runs = stack.get() if hasattr(stack, "get") else stack
    active: Any = fluent.ActiveRun
    runs.append(active(run))

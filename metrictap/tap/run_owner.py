"""The one owner of the MLflow runs metrictap starts: a tap's (sink ``mlflow``, no run active) or ``metrictap train``'s.

A run it started ends when its owner does: FINISHED, FAILED on an exception, KILLED on Ctrl-C. A
run the caller started is left as it is. Every request goes through
:class:`~metrictap.sinks.mlflow.RunRequests`, sent once and bounded by a few seconds, so that
neither entry nor exit waits minutes on a tracker that is down or hung: a server that does not
answer on entry is refused at once with a message that says what to do, and a run that cannot be
ended on exit has its end status written to a spool, from which ``metrictap replay`` sets it.

Imported where used, not at module level: ``mlflow``, ``metrictap.credentials``,
``metrictap.delivery.spool``, ``time``; so that ``import metrictap`` and ``metrictap --help`` stay
light and never load a framework, MLflow or a part of metrictap that the call does not need.
"""

from __future__ import annotations

import logging
from typing import Any

from metrictap.errors import TrackerUnavailableError
from metrictap.sinks.mlflow import MlflowSink, RunRequests, activate_run, current_experiment_id, forget_active_run

logger = logging.getLogger("metrictap")


class RunOwner:
    """Starts a run only when asked, and ends only the run it started."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self._requests: RunRequests | None = None
        self._active = False  # whether the run is on MLflow's fluent active-run stack of this thread

    def sink_for(self, module: Any) -> MlflowSink:
        """A sink for the run active in *module* (``mlflow``), started here, and made active, if there is none."""
        if module.active_run() is not None:
            return MlflowSink.for_active_run()
        from mlflow.tracking.context.registry import resolve_tags

        uri = str(module.get_tracking_uri())
        run = self.start(uri, None, tags=resolve_tags(), caller="track(sink=mlflow)")
        activate_run(run)
        self._active = True
        return MlflowSink(self.run_id or "", uri)

    def start(self, tracking_uri: str, experiment_id: str | None, *, experiment_name: str | None = None,
              run_name: str | None = None, tags: dict[str, str] | None = None, caller: str = "metrictap") -> Any:
        """Create the run (an ``mlflow.entities.Run``), or raise :class:`TrackerUnavailableError` within seconds.

        The experiment is *experiment_id*, else the one named *experiment_name* (created if need
        be), else the one ``mlflow.start_run()`` would choose; every lookup is one bounded request.
        """
        from metrictap.credentials import scrub

        requests = RunRequests(tracking_uri)
        try:
            if not experiment_id:
                experiment_id = (requests.experiment(experiment_name) if experiment_name
                                 else current_experiment_id(requests))
            run = requests.create(experiment_id, run_name=run_name, tags=tags)
        except Exception as exc:
            answered = type(exc).__name__ == "RestException"  # the server refused the request itself
            advice = ("Check the experiment (mlflow.set_experiment) and the server's log" if answered else
                      "Start the tracking server and try again; or create the run yourself once it answers and "
                      "log with MlflowSink(run_id, tracking_uri), whose points wait in the spool while the server "
                      "is away")
            where = experiment_id or repr(experiment_name or "MLFLOW_EXPERIMENT_NAME")
            raise TrackerUnavailableError(
                f"{caller}: could not start an MLflow run at {scrub(tracking_uri)} (tried: create a run in experiment "
                f"{where}, one request of at most {requests.timeout:g} s each): {_reason(exc)}. {advice}"
            ) from exc
        self._requests, self.run_id = requests, run.info.run_id
        return run

    def adopt(self, tracking_uri: str, run_id: str) -> None:
        """Own an existing run (one ``metrictap train --resume`` continues), so that :meth:`close` ends it."""
        self._requests, self.run_id = RunRequests(tracking_uri), run_id

    def final_state(self, exc_type: type[BaseException] | None) -> tuple[str, str] | None:
        """The owned run's id and the status a block that ended with *exc_type* gives it; None if none is owned."""
        if self.run_id is None:
            return None
        return self.run_id, status_for(exc_type)

    def end(self, exc_type: type[BaseException] | None, *, delivered: bool, spool_folder: str | None = None) -> None:
        """End the owned run as a block that ended with *exc_type* should; see :meth:`close`."""
        self.close(status_for(exc_type), delivered=delivered, spool_folder=spool_folder)

    def close(self, status: str, *, delivered: bool = True, spool_folder: str | None = None) -> None:
        """Set the owned run's end *status* within seconds; when points are still undelivered, their spool has it.

        When the server does not take the status in time, it is written to a spool of its own in
        *spool_folder*, and one warning says how ``metrictap replay`` sets it.
        """
        run_id, requests, self.run_id = self.run_id, self._requests, None
        if self._active:
            forget_active_run()
            self._active = False
        if run_id is None or requests is None or not delivered:
            return
        try:
            requests.end(run_id, status)
        except Exception as exc:  # noqa: BLE001 - the status waits in a spool; leaving must not wait on the server
            _leave_status(requests.tracking_uri, run_id, status, spool_folder, exc)

    def abandon(self) -> None:
        """The tap's entry failed: end the run it started (FAILED), so that no run of it stays active or RUNNING."""
        try:
            self.end(RuntimeError, delivered=True)
        except Exception:  # the entry's own error is the one to raise
            logger.warning("metrictap: could not end the run started by a failed entry", exc_info=True)


def status_for(exc_type: type[BaseException] | None) -> str:
    """FINISHED, KILLED for Ctrl-C (and a scheduler's SIGTERM turned into it), FAILED for any other exception."""
    if exc_type is None:
        return "FINISHED"
    return "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"


def _leave_status(uri: str, run_id: str, status: str, folder: str | None, error: BaseException) -> None:
    from metrictap.credentials import scrub

    if folder is None:
        logger.warning("metrictap: could not end run %s at %s (%s); it stays RUNNING (no spool folder was given "
                       "to keep the status for replay)", run_id, scrub(uri), _reason(error))
        return
    import time

    from metrictap.delivery.spool import Spool

    spool = Spool.create(folder, run_id=run_id, tracking_uri=uri, owned=True)
    try:
        spool.end_run(status, time.time_ns() // 1_000_000)
    finally:
        spool.close()
    logger.warning("metrictap: could not end run %s at %s (%s); its status %s waits in %s: set it with "
                   "metrictap replay %s", run_id, scrub(uri), _reason(error), status, spool.path, spool.path)


def _reason(error: BaseException) -> str:
    """What went wrong, in a few words where the message says (refused, no answer), without any credential."""
    from metrictap.credentials import scrub_text

    text = str(error).strip()
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "no answer in time"
    return scrub_text(text.splitlines()[0][:300] if text else type(error).__name__)

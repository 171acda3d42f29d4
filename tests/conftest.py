"""Shared fixtures: strict taps, skrl runs in a temporary folder, and one real MLflow server for the session."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from mlflow_servers import MlflowServer


@pytest.fixture(autouse=True, scope="session")
def _skrl_logs_to_stderr() -> None:
    """skrl binds its log handler to the sys.stderr of the moment it is imported, which pytest replaces per test."""
    import skrl  # noqa: F401, PLC0415

    for handler in logging.getLogger("skrl").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.__stderr__)


@pytest.fixture(autouse=True)
def _strict_taps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors inside the tap fail the test instead of being logged and counted."""
    monkeypatch.setenv("METRICTAP_STRICT", "1")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test writes skrl runs and MLflow stores into its own folder, never the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # mlflow.set_experiment() sets it for the process


@pytest.fixture(scope="module")
def tracking_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real sqlite MLflow store set as the tracking URI for one module, experiment ``metrictap-tests`` active."""
    import mlflow  # noqa: PLC0415 - only modules that use it pay its import

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("metrictap-tests")
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server --workers 1`` on 127.0.0.1 for the session; tests that kill it start it again."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()

"""Fixtures every test shares: strict taps and a folder of its own; real MLflow stores and servers for those that ask.

Nothing here imports skrl, MLflow or torch at collection: the unit tests run without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mlflow_servers import MlflowServer


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
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("metrictap-tests")
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server --workers 1`` on 127.0.0.1 for the session; tests that kill it start it again."""
    from mlflow_servers import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()

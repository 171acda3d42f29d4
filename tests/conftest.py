"""Shared fixtures: every tap in this suite runs strict, and skrl writes its runs into a temporary folder."""

from __future__ import annotations

import pytest


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

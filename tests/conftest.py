"""Shared fixtures: every tap in this suite runs strict, and skrl writes its runs into a temporary folder."""

from __future__ import annotations

import logging
import sys

import pytest


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

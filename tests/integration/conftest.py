"""Integration tests train real frameworks: skrl's log output must survive pytest's per-test stderr."""

from __future__ import annotations

import logging
import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def _skrl_logs_to_stderr() -> None:
    """skrl binds its log handler to the sys.stderr of the moment it is imported, which pytest replaces per test."""
    import skrl  # noqa: F401

    for handler in logging.getLogger("skrl").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.__stderr__)

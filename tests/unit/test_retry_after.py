"""Retry-After in both forms HTTP allows: seconds (a decimal counts its integer part) and an HTTP date."""

import email.utils
import time

import pytest

from metrictap.sinks.mlflow import retry_after


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("2.5", 2.0), (" 7 ", 7.0), ("", None), ("soon", None)])
def test_seconds(header, seconds):
    """An integer is honoured, a decimal by its integer part; an empty or unreadable header means no wish."""
    assert retry_after(header) == seconds


def test_http_date():
    """A date asks to wait until then: about the seconds between now and that moment."""
    header = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after(header) <= 31

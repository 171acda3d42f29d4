"""Request budgets: how many requests a second one process sends to one tracking host, shared by its sinks.

Managed MLflow services throttle per workspace, not per run: Databricks allows about 47
``log-batch`` requests a second per workspace, and Azure ML answers bursts with 429. A process
that logs several runs (several taps, ``ranks="all"`` into one run, a training and its
evaluation) must therefore stay under the limit *together*, so every :class:`MlflowSink` to one
host draws from one :class:`RequestBudget`. The budget spaces requests evenly (no bursts: a
burst is what the service counts), and a 429 with ``Retry-After`` holds every sink of the host,
not only the one that was told.

Defaults per store kind (:func:`store_defaults`), read from the tracking URI without importing
MLflow: Databricks 40 requests a second (under the documented 47, leaving room for the run's
other calls); Azure ML 250 metrics per request, its documented limit, and no request limit
(its 429s are honoured); every other store neither.
"""

from __future__ import annotations

import math
import threading
import time
from typing import NamedTuple
from urllib.parse import urlparse

DATABRICKS_REQUESTS_PER_SECOND = 40.0
AZURE_ML_BATCH = 250
DATABRICKS_HOSTS = (".azuredatabricks.net", ".cloud.databricks.com", ".gcp.databricks.com")
AUTO = "auto"
LONGEST_HOLD = 60.0  # seconds: the longest Retry-After honoured, as the couriers' own retries cap it


class StoreDefaults(NamedTuple):
    """What a store kind implies for a sink that was not told otherwise."""

    kind: str
    batch_size: int
    requests_per_second: float | None


def store_defaults(tracking_uri: str) -> StoreDefaults:
    """The kind of store *tracking_uri* names, with its default batch size and request budget."""
    parsed = urlparse(tracking_uri)
    host = (parsed.hostname or "").lower()
    if tracking_uri == "databricks" or parsed.scheme.startswith("databricks") or host.endswith(DATABRICKS_HOSTS):
        return StoreDefaults("databricks", 1000, DATABRICKS_REQUESTS_PER_SECOND)
    if parsed.scheme == "azureml" or host.endswith(".api.azureml.ms"):
        return StoreDefaults("azureml", AZURE_ML_BATCH, None)
    return StoreDefaults("other", 1000, None)


def check_rate(rate: object) -> float | None:
    """``max_requests_per_second`` as given (a number > 0 or None), or a ValueError naming it."""
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"max_requests_per_second={rate!r}; accepted: a number > 0, None (no limit), or "
                         f"{AUTO!r} (the store's default: {DATABRICKS_REQUESTS_PER_SECOND:g} for Databricks, "
                         "else no limit)")
    return float(rate)



def host_key(tracking_uri: str) -> str:
    """What requests are counted against: the URI's scheme and host (a Databricks profile counts as a host)."""
    parsed = urlparse(tracking_uri)
    return f"{parsed.scheme}://{parsed.netloc or parsed.path}"


class RequestBudget:
    """Evenly spaced request slots for one host, shared by every sink of this process that sends there.

    The rate is the lowest any of its sinks asked for; None means no spacing, only the holds
    that 429 answers impose.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = 0.0  # time.monotonic() of the next free slot

    def lower(self, rate: float | None) -> None:
        """Apply *rate* too: the budget keeps the lower of the two."""
        with self._lock:
            if rate is not None and (self.rate is None or rate < self.rate):
                self.rate = rate

    def take(self, limit: float | None = None) -> float:
        """Wait for the next slot; the seconds waited.

        A :class:`TimeoutError` (which delivery retries) where the next slot lies more than *limit*
        seconds ahead: a request must not wait past its own time budget, nor the tap's exit deadline.
        """
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            if limit is not None and start - now > limit:
                raise TimeoutError(f"the request budget of this host has no slot within {limit:g} s")
            self._next = start + (1.0 / self.rate if self.rate else 0.0)
        wait = start - now
        if wait > 0:
            time.sleep(wait)
        return wait

    def hold(self, seconds: float) -> None:
        """No slot for anyone in the next *seconds* (the server said so), at most ``LONGEST_HOLD``."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + min(seconds, LONGEST_HOLD))


_budgets: dict[str, RequestBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(tracking_uri: str, rate: float | None) -> RequestBudget:
    """The process's budget for *tracking_uri*'s host, created on first use and lowered to *rate*."""
    key = host_key(tracking_uri)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = RequestBudget(rate)
        else:
            budget.lower(rate)
    return budget

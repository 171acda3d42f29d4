"""Every exception metrictap defines, each a subclass of the builtin it refines.

::

    TypeError
     └── UnsupportedTargetError   no adapter knows the object given to track()
    RuntimeError
     └── AlreadyTrackedError      the object is tracked by another active tap
    ValueError
     ├── AdapterError             an adapter file or Adapter is malformed
     ├── SpoolError               a file that is not a spool, or one another process delivers
     └── RejectedPointsError      the store refused points for what they are (delivery isolates and drops them)
    ConnectionError
     └── ServerError              the server answered with an error that may pass (delivery retries)
    Exception
     └── UsageError               a command-line mistake: one line on stderr, exit status 2

The first three are raised on entry into a tap. Errors inside the tap while training runs are
never raised (unless ``strict=True``): they are logged once per kind on the ``metrictap`` logger
and counted in :attr:`~metrictap.Tap.stats`.
"""

from __future__ import annotations


class UnsupportedTargetError(TypeError):
    """No adapter knows the object given to :func:`~metrictap.track`."""


class AlreadyTrackedError(RuntimeError):
    """The object is already tracked by another active :class:`~metrictap.Tap`."""


class AdapterError(ValueError):
    """An adapter file or :class:`~metrictap.Adapter` is malformed."""


class SpoolError(ValueError):
    """A file that is not a spool, or a spool another process is delivering."""


class RejectedPointsError(ValueError):
    """The store refused a request for what its points are (a bad name, value, step or time): resending cannot help."""


class ServerError(ConnectionError):
    """The server answered with an error status that may pass (throttling, a restart, a proxy error)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.retry_after = status, retry_after


class TrackerUnavailableError(ConnectionError):
    """The tracking server did not answer a request the tap's entry needs (starting its run, checking a run id)."""


class UsageError(Exception):
    """A mistake in what the user asked of a ``metrictap`` command: reported in one line, exit status 2."""

"""The exceptions metrictap raises on entry, each a subclass of the builtin it refines.

Errors inside the tap while training runs are never raised (unless ``strict=True``): they are
logged once per kind on the ``metrictap`` logger and counted in :attr:`Tap.stats`.
"""

from __future__ import annotations


class UnsupportedTargetError(TypeError):
    """No adapter knows the object given to :func:`~metrictap.track`."""


class AlreadyTrackedError(RuntimeError):
    """The object is already tracked by another active :class:`~metrictap.Tap`."""


class AdapterError(ValueError):
    """An adapter file or :class:`~metrictap.Adapter` is malformed."""

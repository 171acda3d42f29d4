"""The tap itself: patch on entry, observe the training thread's calls, restore exactly on exit.

:mod:`~metrictap.tap.track` holds :func:`~metrictap.track` and :class:`~metrictap.Tap` (the
lifecycle), :mod:`~metrictap.tap.options` the validated keyword options, :mod:`~metrictap.tap.patching`
the one wrapper every patch goes through and its undo, :mod:`~metrictap.tap.collector` the
training-thread half (what is copied, when windows close), :mod:`~metrictap.tap.hooks` the calls
adapters ask to observe, :mod:`~metrictap.tap.state` the values read off the target,
:mod:`~metrictap.tap.schedule` when windows close, :mod:`~metrictap.tap.stats` what a tap reports,
:mod:`~metrictap.tap.ranks` which process of a distributed job emits, and
:mod:`~metrictap.tap.run_owner` the MLflow run a tap starts itself.
"""

"""``metrictap bench``: what a tap costs a real training, as ratios against no tap in the same process.

:mod:`~metrictap.bench.command` is the command; :mod:`~metrictap.bench.workloads` the trainings,
:mod:`~metrictap.bench.variants` the ways of observing them, :mod:`~metrictap.bench.rounds` the
interleaved rounds, :mod:`~metrictap.bench.stopwatch` the training-thread timing (through the one
timing hook of :mod:`metrictap.tap.patching`), :mod:`~metrictap.bench.footprint` the measures
without skrl, :mod:`~metrictap.bench.report` the table. It uses the library only through its
public API and that hook.
"""

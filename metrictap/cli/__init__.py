"""The ``metrictap`` command line: :mod:`~metrictap.cli.main` dispatches to one module per command.

``train``/``eval`` (:mod:`~metrictap.cli.train`, with :mod:`~metrictap.cli.backends`,
:mod:`~metrictap.cli.presets` and :mod:`~metrictap.cli.runs`), ``replay``
(:mod:`~metrictap.cli.replay`), ``names`` (:mod:`~metrictap.cli.names`); ``bench`` lives in
:mod:`metrictap.bench`.
"""

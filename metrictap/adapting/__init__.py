"""The adapter layer: what a framework's objects look like to a tap, as data.

:mod:`~metrictap.adapting.adapter` loads the TOML files of ``metrictap.adapters`` (the repository's
top-level ``adapters/`` folder, installed under that name so that nothing called ``adapters`` lands at
the top of site-packages) into :class:`~metrictap.Adapter`, validated by
:mod:`~metrictap.adapting.schema`; :mod:`~metrictap.adapting.binding` resolves one adapter against
one target, once per activation; :mod:`~metrictap.adapting.paths` reads dotted paths;
:mod:`~metrictap.adapting.routing` maps framework tags to canonical names, which
:mod:`~metrictap.adapting.names` keeps valid; :mod:`~metrictap.adapting.catalogue` lists every name an
adapter can produce, for ``only=`` (:mod:`~metrictap.adapting.selection`) and ``metrictap names``.
"""

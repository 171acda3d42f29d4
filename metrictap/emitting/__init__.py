"""The emitter thread: closed windows in, named and reduced values out, to one courier per sink.

:mod:`~metrictap.emitting.messages` is what the training thread hands over;
:mod:`~metrictap.emitting.emitter` the thread; :mod:`~metrictap.emitting.window` the reduction of
one window's values; :mod:`~metrictap.emitting.episodes` the tap's own episode accounting.
"""

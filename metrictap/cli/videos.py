"""Videos into the run as the training writes them, each once it is complete.

gymnasium's ``RecordVideo`` (and Isaac Lab's ``--video``, which uses it) writes
``rl-video-step-<N>.mp4`` into the run's ``videos/`` folder, ``N`` being the env step the clip
starts at, while training goes on. A thread here looks at that folder every few seconds and
uploads a file into the run's ``videos/`` artifacts once its size and time have stayed the same
over two looks (an encoder still writing it changes both); when training ends, everything left
goes. The uploads themselves run on the session's uploader thread, so training never waits.
"""

from __future__ import annotations

import glob
import os
import threading

from metrictap.cli.runs import Uploader

POLL_SECONDS = 2.0
EXTENSIONS = (".mp4", ".gif", ".webm")


class VideoWatcher:
    """Watches *folder* (and below) from a thread and hands each complete video to *uploader*."""

    def __init__(self, folder: str, uploader: Uploader, poll: float = POLL_SECONDS) -> None:
        self.folder, self._uploader, self._poll = folder, uploader, poll
        self._seen: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrictap-videos", daemon=True)

    def __enter__(self) -> VideoWatcher:  # noqa: PYI034 - not meant to be subclassed
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching and upload every video there is now (the writer has closed them)."""
        self._stop.set()
        self._thread.join()
        self._scan(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self._scan(final=False)

    def _scan(self, *, final: bool) -> None:
        paths = sorted(path for path in glob.glob(os.path.join(self.folder, "**", "*"), recursive=True)
                       if path.endswith(EXTENSIONS))
        for path in paths:
            try:
                status = os.stat(path)
            except FileNotFoundError:  # removed between the listing and now
                continue
            shape = (status.st_size, status.st_mtime_ns)
            if final or self._seen.get(path) == shape:
                self._uploader.upload(path, "videos")
            self._seen[path] = shape

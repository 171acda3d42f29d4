"""Spool files: every point is written ahead to local disk before it is sent, and marked once delivered.

One file per sink and activation. The first line is a JSON header naming the run (its tracking
URI stripped of credentials, and its id) and the byte offset up to which points are delivered;
that number is padded to a fixed width, so marking progress rewrites it in place with one
``pwrite`` and the line stays valid JSON. Every further line is one point ``[name, value, step,
timestamp_ms]``, except an optional last object that records how the run should end. Lines are
appended whole; a line cut short by a crash is ignored, so the file is always readable.

Imported where used, not at module level: ``fcntl``; so that ``import metrictap`` and ``metrictap
--help`` stay light and never load a framework, MLflow or a part of metrictap that the call does not
need.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from pathlib import Path

from metrictap.credentials import scrub
from metrictap.errors import SpoolError
from metrictap.sinks.protocol import Point

FORMAT = "metrictap-spool/1"
SUFFIX = ".spool"
_LEAD = '{"delivered": '
_WIDTH = 20
_CHUNK = 1 << 16
_PIECE = 1 << 16  # bytes per piece of a flush: below glibc's mmap threshold (128 KiB), see Spool.flush
_PIECES = 1024  # pieces per writev call (Linux's IOV_MAX)
_serial = itertools.count()
_writev = hasattr(os, "writev")  # not on Windows


class Spool:
    """One spool file: appended by the emitter thread, read and marked by one delivery thread."""

    def __init__(self, path: str, header: dict[str, object], *, writable: bool) -> None:
        self.path, self.header = path, header
        self._reader = os.open(path, os.O_RDWR)
        self._writer = os.open(path, os.O_WRONLY | os.O_APPEND) if writable else -1
        self._buffer: list[str] = []
        self._heads: dict[str, str] = {}
        self.buffered = 0
        self.delivered = int(header["delivered"])  # type: ignore[call-overload]
        self.skipped: dict[int, str] = {}  # byte offset of each line read that is not a point -> why

    @classmethod
    def create(cls, directory: str | os.PathLike[str], *, run_id: str, tracking_uri: str, owned: bool = False) -> Spool:
        """A new, empty spool for *run_id* in *directory* (created if missing).

        *owned* records that metrictap started the run and so must end it: a spool that says so
        but holds no end status was left by a process that died, and replay ends the run KILLED.
        """
        folder = Path(directory).resolve()  # the exit warning names it: absolute, so it can be found from anywhere
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"metrictap-{run_id}-{stamp}-{os.getpid()}-{next(_serial)}{SUFFIX}"
        rest = json.dumps({"format": FORMAT, "run_id": run_id, "tracking_uri": scrub(tracking_uri),
                           "created": stamp, "pid": os.getpid(), "owned": owned})[1:]
        first = len(_LEAD) + _WIDTH + 2 + len(rest.encode()) + 1
        line = f"{_LEAD}{first:<{_WIDTH}d}, {rest}\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return cls(str(path), json.loads(line), writable=True)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Spool:
        """An existing spool, for replay; a :class:`SpoolError` if *path* is not one."""
        with Path(path).open("rb") as file:
            line = file.readline(4096)
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT or not line.startswith(_LEAD.encode()):
            raise SpoolError(f"{os.fspath(path)!r} is not a metrictap spool (its first line is not a {FORMAT} header)")
        mark, size = header.get("delivered"), os.stat(path).st_size
        if type(mark) is not int or not len(line) <= mark <= size:
            raise SpoolError(f"{os.fspath(path)!r}: its header's delivered mark is {mark!r}, not a byte offset between "
                             f"the end of the header ({len(line)}) and the end of the file ({size}): the file "
                             "was cut short or edited; nothing was sent, since what was delivered cannot be known")
        if not isinstance(header.get("run_id"), str) or not isinstance(header.get("tracking_uri"), str):
            raise SpoolError(f"{os.fspath(path)!r}: its header names no run_id and tracking_uri strings")
        return cls(os.fspath(path), header, writable=False)

    @property
    def run_id(self) -> str:
        """The run the points were collected for."""
        return str(self.header["run_id"])

    @property
    def owned(self) -> bool:
        """Whether metrictap started the run, and so is the one to end it."""
        return self.header.get("owned") is True

    @property
    def tracking_uri(self) -> str:
        """Where that run lives, without credentials."""
        return str(self.header["tracking_uri"])

    def append(self, points: list[Point]) -> None:
        """Buffer *points*; nothing reaches the file before :meth:`flush`.

        Each line is formatted directly, with each name's JSON encoded once per spool: this runs
        for every point a tap collects, and ``json.dumps`` per point cost three times as much.
        """
        heads, isfinite = self._heads, math.isfinite
        lines = []
        for name, value, step, timestamp_ms in points:
            head = heads.get(name)
            if head is None:
                head = heads[name] = f"[{json.dumps(name)}, "
            number = repr(float(value)) if isfinite(value) else json.dumps(value)
            lines.append(f"{head}{number}, {int(step)}, {int(timestamp_ms)}]\n")
        self._buffer.append("".join(lines))
        self.buffered += len(points)

    def flush(self) -> int:
        """Hand the buffered points to the OS, in one system call where it can; the number of points written.

        The buffer goes out as pieces of about ``_PIECE`` bytes, never joined whole: a second's
        worth of points is tens of MB when the emitter catches up on a backlog, and freeing one
        allocation that large raises glibc's mmap threshold (up to 32 MB), after which such
        buffers come from the heap and the process keeps their memory.
        """
        size = os.fstat(self._writer).st_size
        try:
            written = self._write_out()
        except OSError:
            os.ftruncate(self._writer, size)  # no piece of a line stays behind: the file holds whole lines only
            raise
        self._buffer, self.buffered = [], 0
        return written

    def unwritten(self) -> list[Point]:
        """The buffered points, taken out of the buffer: after a failed :meth:`flush`, what did not reach the file."""
        lines = "".join(self._buffer).splitlines()
        self._buffer, self.buffered = [], 0
        return [Point(str(name), float(value), int(step), int(stamp))
                for name, value, step, stamp in json.loads("[" + ",".join(lines) + "]")]

    def _write_out(self) -> int:
        pieces: list[bytes] = []
        piece: list[str] = []
        size = 0
        for text in self._buffer:
            piece.append(text)
            size += len(text)
            if size >= _PIECE:
                pieces.append("".join(piece).encode())
                piece, size = [], 0
        if piece:
            pieces.append("".join(piece).encode())
        while pieces:  # one call per _PIECES pieces: each call releases the GIL, and the emitter waits to get it back
            written = os.writev(self._writer, pieces[:_PIECES]) if _writev else os.write(self._writer, pieces[0])
            done = 0
            while done < len(pieces) and written >= len(pieces[done]):
                written -= len(pieces[done])
                done += 1
            pieces = pieces[done:]
            if written:
                pieces[0] = pieces[0][written:]
        return self.buffered

    def read(self, offset: int, limit: int) -> tuple[list[Point], list[int]]:
        """Up to *limit* whole points from byte *offset*, with the offset just after each of them.

        A line that is not a point (garbage, a flipped byte, wrong types) is skipped and kept in
        :attr:`skipped` with its reason; the points around it are read as usual.
        """
        points: list[Point] = []
        ends: list[int] = []
        while len(points) < limit:
            chunk = os.pread(self._reader, _CHUNK, offset)
            lines = chunk.split(b"\n")[:-1]  # the last piece has no newline: not written whole yet
            if not lines:  # names are at most 250 characters: a line is far shorter than a chunk
                break
            taken = lines[: limit - len(points)]
            try:
                items = json.loads(b"[" + b",".join(taken) + b"]")  # one parse for the chunk, not one per line
            except ValueError:
                items = None
            if not isinstance(items, list) or len(items) != len(taken):  # a bad line: parse them one by one
                items = [_parse(line) for line in taken]
            for line, item in zip(taken, items, strict=True):
                start, offset = offset, offset + len(line) + 1
                point = _point(item)
                if isinstance(point, Point):
                    points.append(point)
                    ends.append(offset)
                elif point:
                    self.skipped[start] = point
        return points, ends

    def line_numbers(self, offsets: list[int]) -> list[int]:
        """The 1-based numbers of the lines starting at byte *offsets*, read from the path (the spool may be closed)."""
        with Path(self.path).open("rb") as file:
            data = file.read(max(offsets, default=0))
        return [data.count(b"\n", 0, offset) + 1 for offset in offsets]

    def count(self) -> int:
        """How many points lie beyond the delivered offset."""
        total, offset = 0, self.delivered
        while True:
            points, ends = self.read(offset, 10_000)
            if not points:
                return total
            total, offset = total + len(points), ends[-1]

    def mark(self, offset: int) -> None:
        """Record that everything before byte *offset* is delivered (or dropped as invalid)."""
        os.pwrite(self._reader, f"{offset:<{_WIDTH}d}".encode(), len(_LEAD))
        self.delivered = offset

    def lock(self) -> None:
        """Claim the spool for this process's delivery; a :class:`SpoolError` if another process holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        try:
            fcntl.flock(self._reader, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpoolError(f"{self.path!r} is being delivered by another process (pid {self.header.get('pid')}); "
                             "wait for it to finish") from None

    def end_run(self, status: str, end_time_ms: int) -> None:
        """Append how the run ends, for replay to apply once every point before it is delivered."""
        self._buffer.append(json.dumps({"end_run": status, "end_time": end_time_ms}) + "\n")
        self.flush()

    def run_end(self) -> tuple[str, int] | None:
        """The status and end time recorded by :meth:`end_run`, if any."""
        size = os.fstat(self._reader).st_size
        tail = os.pread(self._reader, 4096, max(0, size - 4096)).rstrip(b"\n").rpartition(b"\n")[2]
        item = json.loads(tail) if tail.startswith(b'{"end_run"') else None
        return (str(item["end_run"]), int(item["end_time"])) if item else None

    def remains(self) -> bool:
        """Whether any point lies beyond the delivered offset."""
        return bool(self.read(self.delivered, 1)[0])

    def close(self, *, remove: bool = False) -> None:
        """Release the file, deleting it if *remove*."""
        for fd in (self._writer, self._reader):
            if fd >= 0:
                os.close(fd)
        self._writer = self._reader = -1
        if remove:
            Path(self.path).unlink(missing_ok=True)


_NOT_JSON = object()


def _parse(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return _NOT_JSON


def _point(item: object) -> Point | str:  # noqa: PLR0911 - one reason for each way a line can be wrong
    """The point a parsed line holds; otherwise why it is not one (empty for the run's end record)."""
    if item is _NOT_JSON:
        return "not JSON"
    if isinstance(item, dict):
        return "" if "end_run" in item else "an object that is not a run's end record"
    if not isinstance(item, list) or len(item) != 4:  # noqa: PLR2004 - name, value, step, time
        return "not a [name, value, step, time] point"
    name, value, step, stamp = item
    if not isinstance(name, str) or not name:
        return f"name {name!r} is not a string"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"value {value!r} is not a number"
    if isinstance(step, bool) or not isinstance(step, int) or isinstance(stamp, bool) or not isinstance(stamp, int):
        return f"step {step!r} and time {stamp!r} are not both integers"
    return Point(name, float(value), step, stamp)

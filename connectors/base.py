"""Abstract pieces of the connectors: the metric sink and its typed errors.

A sink has ``setup()`` (connects and probes; nothing connects in ``__init__``), ``add(points)`` and
``flush()``. ``flush`` either makes every added point durable (in the store, or spooled to disk to
be delivered later) or raises; it never drops a batch silently.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Iterable

from connectors.lineprotocol import encode
from streams.metrics import MetricPoint

log = logging.getLogger("opswatch.sink")


class SinkError(RuntimeError):
    """The store refused or failed a write."""


class SinkBackpressure(SinkError):
    """The store asked us to slow down (HTTP 429/503); the stream should pause ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


def to_line(p: MetricPoint) -> str:
    """InfluxDB line protocol for one point, nanosecond precision."""
    return encode(p) or ""


class MetricSink(abc.ABC):
    def __init__(self) -> None:
        self._batch: list[MetricPoint] = []
        self.points_written = 0
        self.write_errors = 0

    def setup(self) -> None:
        """Connect and probe; raise with a clear message if the store is unreachable."""

    def add(self, points: Iterable[MetricPoint]) -> None:
        self._batch.extend(points)

    def pending(self) -> int:
        return len(self._batch)

    def flush(self) -> int:
        """Write everything added so far; return how many points were written."""
        if not self._batch:
            return 0
        batch = self._batch
        t0 = time.perf_counter()
        try:
            self._write(batch)
        finally:
            self._batch = []
        self.points_written += len(batch)
        times = [p.time for p in batch]
        log.info("%s wrote %d points (%s .. %s) in %.1f ms", type(self).__name__, len(batch),
                 min(times).isoformat(), max(times).isoformat(), (time.perf_counter() - t0) * 1000)
        return len(batch)

    @abc.abstractmethod
    def _write(self, batch: list[MetricPoint]) -> None: ...

    def maintain(self) -> None:
        """Periodic housekeeping with no new points (e.g. deliver what was spooled)."""

    def close(self) -> None:
        pass

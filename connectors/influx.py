"""InfluxDB sink on influxdb-client's v2 write API (works with InfluxDB 2.x/3.x and VictoriaMetrics).

Batches are written synchronously so the caller knows when they are durable, and only then commits
its Kafka offsets. A failed batch is retried ``max_retries`` times with backoff; if the store still
refuses, the batch is spooled to ``spool_dir`` as a line-protocol file and ``flush`` returns
normally, and every later flush first re-sends the spool (oldest first) before new points. Nothing
is dropped: a point is in the store, or in the spool (a batch the store refuses as invalid, HTTP 4xx,
is spooled too and logged as an error, for a person to look at). While the store is known to be down, batches go straight to the spool and the store is probed again
every ``probe_every_s``, so an outage costs no time per batch and memory stays bounded (the spool is
on disk). HTTP 429/503 that outlast the retries raise
``SinkBackpressure`` carrying ``retry_after`` once the batch is spooled, so the stream can pause.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from connectors.base import MetricSink, SinkBackpressure, SinkError
from connectors.lineprotocol import encode_batch
from streams.metrics import MetricPoint

log = logging.getLogger("opswatch.influx")


class InfluxSink(MetricSink):
    def __init__(self, url: str, token: str, org: str, bucket: str, *, timeout_ms: int = 10_000,
                 max_retries: int = 3, backoff_s: float = 0.5, spool_dir: Path | str = ".opswatch/spool",
                 probe_every_s: float = 5.0):
        super().__init__()
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http:// or https:// URL; got {url!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries!r}")
        self.url, self.org, self.bucket = url, org, bucket
        self._token = token
        self.timeout_ms, self.max_retries, self.backoff_s = timeout_ms, max_retries, backoff_s
        self.spool_dir = Path(spool_dir)
        self._client: InfluxDBClient | None = None
        self._write_api = None
        self.spooled_points = 0
        self.probe_every_s = probe_every_s
        self._down_until = 0.0  # while the store is known down, batches go straight to the spool

    def setup(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._client = InfluxDBClient(url=self.url, token=self._token or "unused", org=self.org,
                                      timeout=self.timeout_ms, enable_gzip=False)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _post(self, lines: str) -> None:
        assert self._write_api is not None, "call setup() first"
        self._write_api.write(bucket=self.bucket, org=self.org, record=lines,
                              write_precision=WritePrecision.NS)

    def _send_with_retries(self, lines: str) -> None:
        delay = self.backoff_s
        for attempt in range(self.max_retries + 1):
            try:
                self._post(lines)
                return
            except ApiException as exc:
                status = exc.status or 0
                if status in (400, 401, 403, 404, 413, 422):
                    raise SinkError(f"InfluxDB at {self.url} refused the batch: HTTP {status} {exc.body!r}") from exc
                err: Exception = exc
                retry_after = float((exc.headers or {}).get("Retry-After", delay) or delay)
            except Exception as exc:  # connection refused, timeout
                err, retry_after = exc, delay
            if attempt < self.max_retries:
                time.sleep(min(retry_after, 30.0))
                delay *= 2
        raise err

    def _replay_spool(self) -> None:
        for f in sorted(self.spool_dir.glob("*.lp")):
            self._send_with_retries(f.read_text(encoding="utf-8"))
            n = sum(1 for line in f.read_text(encoding="utf-8").splitlines() if line)
            f.unlink()
            self.spooled_points -= n
            self.points_written += n
            log.warning("delivered %d spooled points from %s", n, f.name)

    def maintain(self) -> None:
        if self.spool_files() and time.monotonic() >= self._down_until:
            try:
                self._replay_spool()
            except Exception as exc:
                self._down_until = time.monotonic() + self.probe_every_s
                log.warning("store still unreachable (%s); %d points wait in %s", exc, self.spooled_points,
                            self.spool_dir)

    def spool_files(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.lp"))

    def _write(self, batch: list[MetricPoint]) -> None:
        lines = encode_batch(batch)
        try:
            if time.monotonic() < self._down_until:
                raise ConnectionError("store down (waiting to probe again)")
            if self.spool_files():
                self._replay_spool()
            self._send_with_retries(lines)
        except Exception as exc:  # refused, unreachable or overloaded: spool, never drop
            if not isinstance(exc, ConnectionError) or "waiting to probe" not in str(exc):
                self.write_errors += 1
                self._down_until = time.monotonic() + self.probe_every_s
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.lp"
            path = self.spool_dir / name
            tmp = path.with_suffix(".tmp")
            tmp.write_text(lines + "\n", encoding="utf-8")
            tmp.rename(path)
            self.spooled_points += len(batch)
            self.points_written -= len(batch)  # flush() adds them back; they are not in the store yet
            log.error("InfluxDB write failed after %d retries (%s); spooled %d points to %s",
                      self.max_retries, exc, len(batch), path)
            status = getattr(exc, "status", None)
            if status in (429, 503):
                raise SinkBackpressure(f"InfluxDB at {self.url} is overloaded (HTTP {status})",
                                       retry_after=self.backoff_s) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

"""The local file store: metric points as InfluxDB line protocol appended to a file.

Used when no InfluxDB is configured (``OPSWATCH_INFLUX__URL`` unset), so the demo runs with no
external service. The file can later be loaded into InfluxDB with ``influx write -f FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from connectors.base import MetricSink
from connectors.lineprotocol import encode_batch
from streams.metrics import MetricPoint


class LineProtocolFile(MetricSink):
    def __init__(self, path: Path | str):
        super().__init__()
        self.path = Path(path)

    def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)

    def _write(self, batch: list[MetricPoint]) -> None:
        data = encode_batch(batch) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def count_points(path: Path | str) -> int:
    p = Path(path)
    if not p.exists():
        return 0
    with open(p, "rb") as f:
        return sum(1 for line in f if line.strip())

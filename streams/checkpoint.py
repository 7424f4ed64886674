"""Checkpoints of the core's state, so a restarted worker resumes where it stopped.

The worker saves the core's snapshot (detectors, incidents, watches, and the last input offset it
processed per partition) after every batch, before the batch's offsets are acked. A worker killed
at any moment restarts from its last checkpoint; messages Kafka delivers again that the checkpoint
already covers are skipped by offset, so no event is counted twice and an open incident stays open
(and is not paged again). Writes are atomic: temp file, fsync, rename.

State is per worker (``OPSWATCH_WORKER__DATA_DIR``): give each worker its own persistent volume
(the Kubernetes StatefulSet does).
"""

from __future__ import annotations

import os
from pathlib import Path


class Checkpoint:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.saves = 0
        self.last_bytes = 0

    def save(self, blob: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.saves += 1
        self.last_bytes = len(blob)

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

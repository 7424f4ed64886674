"""Checkpoints of the core's state, so a restarted worker resumes where it stopped.

The worker saves the core's state after every batch, before the batch's offsets are acked: the
incidents, the watches and the last input offset processed per partition, every batch; the
detectors (the bulk of the bytes) at most every ``detectors_every_s`` seconds. A restored detector
may have missed the last seconds of samples, which does not matter to a detector; incidents and
offsets are never behind. A worker killed
at any moment restarts from its last checkpoint; messages Kafka delivers again that the checkpoint
already covers are skipped by offset, so no event is counted twice and an open incident stays open
(and is not paged again). Writes are atomic: temp file, fsync, rename.

State is per worker (``OPSWATCH_WORKER__DATA_DIR``): give each worker its own persistent volume
(the Kubernetes StatefulSet does).
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _atomic_write(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class Checkpoint:
    def __init__(self, path: Path | str, detectors_every_s: float = 30.0):
        self.path = Path(path)
        self.detectors_path = self.path.with_suffix(self.path.suffix + ".detectors")
        self.detectors_every_s = detectors_every_s
        self._detectors_saved_at = -float("inf")
        self.saves = 0
        self.last_bytes = 0

    def save_core(self, core) -> None:
        """Save after a batch: the small state always, the detectors when they are due."""
        now = time.monotonic()
        if now - self._detectors_saved_at >= self.detectors_every_s:
            _atomic_write(self.detectors_path, core.snapshot_detectors())
            self._detectors_saved_at = now
        blob = core.snapshot(detectors=False)
        _atomic_write(self.path, blob)
        self.saves += 1
        self.last_bytes = len(blob)

    def restore_core(self, core) -> bool:
        blob = _read(self.path)
        if blob is None:
            return False
        core.restore(blob, _read(self.detectors_path))
        return True

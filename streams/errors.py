"""The one error policy of the pipeline, and the dead-letter record.

Bad data never stops the worker: a message that cannot be decoded, an event that fails validation,
or an event whose processing raised, becomes a ``DeadLetter`` naming the stage, the reason, where it
came from (``topic[partition]@offset``) and carrying the raw bytes, and goes to
``opswatch.deadletter``. Only ``ErrorPolicy.STOP`` (for tests and debugging) re-raises.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson


class ErrorPolicy(enum.Enum):
    DEADLETTER = "deadletter"
    STOP = "stop"


class ProcessingError(RuntimeError):
    """Raised only under ``ErrorPolicy.STOP``; the message says what, where, expected and got."""


@dataclass(slots=True)
class DeadLetter:
    stage: str  # "decode", "validate" or "process"
    reason: str
    source: str  # "kafka", "mqtt", "http"
    topic: str | None
    partition: int | None
    offset: int | None
    key: bytes | None
    raw: bytes | None
    index: int | None = None  # item index inside a gateway batch
    item: Any = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def where(self) -> str:
        w = f"{self.topic}[{self.partition}]@{self.offset}" if self.topic else self.source
        return w if self.index is None else f"{w} item {self.index}"

    def to_record(self) -> dict:
        raw_text: str | None = None
        raw_b64: str | None = None
        if self.raw is not None:
            try:
                raw_text = self.raw.decode("utf-8")
            except UnicodeDecodeError:
                raw_b64 = base64.b64encode(self.raw).decode()
        return {
            "stage": self.stage,
            "reason": self.reason,
            "where": self.where,
            "source": self.source,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "index": self.index,
            "item": self.item,
            "raw": raw_text,
            "raw_b64": raw_b64,
            "at": self.at.isoformat(),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_record(), default=str, option=orjson.OPT_SERIALIZE_NUMPY)

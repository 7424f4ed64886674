"""Run the processing core over a list and collect the output into lists (Bytewax-style helpers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from streams.core import OperationsCore
from streams.records import CoreOutput, RawMessage

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def msg(doc: dict | bytes, offset: int = 0, topic: str = "opswatch.test") -> RawMessage:
    value = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return RawMessage(value, topic, 0, offset, b"k")


def run_flow(docs: list, core: OperationsCore | None = None, batch: int = 50,
             start_offset: int = 0) -> tuple[CoreOutput, OperationsCore]:
    core = core or OperationsCore()
    out = CoreOutput()
    msgs = [msg(d, start_offset + i) for i, d in enumerate(docs)]
    for i in range(0, len(msgs), batch):
        out.extend(core.process(msgs[i:i + batch]))
    return out, core


def fridge(minute: float, temp: float, fridge_id: str = "F1", site: str = "S1", **kw) -> dict:
    return {"kind": "cold_chain", "site": site, "fridge": fridge_id, "temp_c": temp, "ts": at(minute), **kw}


def vehicle(minute: float, speed: float, vid: str = "V1", lat: float = 51.5, lon: float = -0.1, **kw) -> dict:
    return {"kind": "vehicle", "vehicle": vid, "depot": "D1", "lat": lat, "lon": lon, "speed_kmh": speed,
            "engine_temp_c": 90.0, "ts": at(minute), **kw}


def normal_fridge_day(minutes: int = 240, fridge_id: str = "F1", site: str = "S1") -> list[dict]:
    import math
    return [fridge(m, 4.0 + 0.8 * math.sin(2 * math.pi * m / 30), fridge_id, site) for m in range(minutes)]

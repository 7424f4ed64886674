"""Fast InfluxDB line protocol for opswatch's metric points, with influxdb-client's escaping rules.

influxdb-client's ``Point`` costs about 10 us a point, which is most of a batch's write time; this
encoder uses the same escaping tables (imported from influxdb-client, not rewritten) and caches the
escaped tag strings, which repeat for every point of a series. Every field is written as a float,
so a field never changes type between points (InfluxDB refuses that). The test suite checks the
output is byte-identical to influxdb-client's for float fields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from influxdb_client.client.write.point import _ESCAPE_KEY, _ESCAPE_MEASUREMENT

from streams.metrics import MetricPoint

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_tag_cache: dict[tuple[str, str], str] = {}


def _tag(key: str, value: str) -> str:
    hit = _tag_cache.get((key, value))
    if hit is None:
        v = value.translate(_ESCAPE_KEY)
        if v.endswith("\\"):
            v += " "
        hit = f",{key.translate(_ESCAPE_KEY)}={v}" if key and v else ""
        if len(_tag_cache) < 1_000_000:
            _tag_cache[(key, value)] = hit
    return hit


def _number(v: float) -> str | None:
    v = float(v)
    if not math.isfinite(v):
        return None
    s = repr(v)
    return s[:-2] if s.endswith(".0") else s


def encode(p: MetricPoint) -> str | None:
    """One line, or None when the point has no finite field (it would not be valid)."""
    fields = []
    for k in sorted(p.fields):
        s = _number(p.fields[k])
        if s is not None:
            fields.append(f"{k.translate(_ESCAPE_KEY)}={s}")
    if not fields:
        return None
    tags = "".join(_tag(k, p.tags[k]) for k in sorted(p.tags))
    ns = (p.time - EPOCH) // _US * 1000
    return f"{p.measurement.translate(_ESCAPE_MEASUREMENT)}{tags} {','.join(fields)} {ns}"


def encode_batch(points: list[MetricPoint]) -> str:
    lines = [line for line in map(encode, points) if line is not None]
    return "\n".join(lines)

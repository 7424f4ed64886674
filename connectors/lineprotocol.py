"""Fast InfluxDB line protocol for opswatch's metric points, with influxdb-client's escaping rules.

influxdb-client's ``Point`` costs about 10 us a point, which is most of a batch's write time; this
encoder uses the same escaping tables (imported from influxdb-client, not rewritten) and caches the
escaped tag strings, which repeat for every point of a series. Every field is written as a float,
so a field never changes type between points (InfluxDB refuses that). The test suite checks the
output is byte-identical to influxdb-client's for float fields.
"""

from __future__ import annotations

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


_prefix_cache: dict[tuple, str] = {}
_field_order_cache: dict[tuple, tuple] = {}
_CACHE_MAX = 1_000_000
_last_time: list = [None, 0]  # consecutive points of one event share its time


def _prefix(measurement: str, tags: dict[str, str]) -> str:
    """``measurement,tag=v,...`` of one series (tags sorted, as influxdb-client writes them), cached."""
    key = (measurement, tuple(tags.items()))
    hit = _prefix_cache.get(key)
    if hit is None:
        hit = measurement.translate(_ESCAPE_MEASUREMENT) + "".join(_tag(k, tags[k]) for k in sorted(tags))
        if len(_prefix_cache) < _CACHE_MAX:
            _prefix_cache[key] = hit
    return hit


def encode(p: MetricPoint) -> str | None:
    """One line, or None when the point has no finite field (it would not be valid)."""
    fields = p.fields
    names = tuple(fields)
    order = _field_order_cache.get(names)
    if order is None:
        order = _field_order_cache[names] = tuple((k, k.translate(_ESCAPE_KEY) + "=") for k in sorted(names))
    parts = []
    for k, escaped in order:
        v = float(fields[k])
        if v - v == 0.0:  # finite (inf - inf and nan - nan are nan)
            s = repr(v)
            parts.append(escaped + (s[:-2] if s.endswith(".0") else s))
    if not parts:
        return None
    t = p.time
    if t is _last_time[0]:
        ns = _last_time[1]
    else:
        ns = (t - EPOCH) // _US * 1000
        _last_time[0], _last_time[1] = t, ns
    return f"{_prefix(p.measurement, p.tags)} {','.join(parts)} {ns}"


def encode_batch(points: list[MetricPoint]) -> str:
    lines = [line for line in map(encode, points) if line is not None]
    return "\n".join(lines)

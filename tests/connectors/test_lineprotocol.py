"""The fast line-protocol encoder writes exactly what influxdb-client's Point writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from connectors.lineprotocol import encode
from streams.metrics import MetricPoint

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def reference(p: MetricPoint) -> str:
    pt = Point(p.measurement)
    for k, v in p.tags.items():
        pt.tag(k, v)
    for k, v in p.fields.items():
        pt.field(k, float(v))
    pt.time(p.time, WritePrecision.NS)
    return pt.to_line_protocol()


@settings(max_examples=400, deadline=None)
@given(tags=st.dictionaries(names, names, max_size=4), fields=st.dictionaries(names, finite, min_size=1, max_size=4),
       micros=st.integers(0, 4_000_000_000_000_000))
def test_same_bytes_as_influxdb_client(tags, fields, micros):
    p = MetricPoint("cold_chain", tags, fields, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros))
    assert encode(p) == reference(p)


def test_ints_and_bools_are_written_as_floats_and_non_finite_fields_dropped():
    t = datetime(2026, 3, 2, tzinfo=UTC)
    p = MetricPoint("stock", {"site": "S 1", "sku": "a,b"}, {"on_hand": 12, "days_of_cover": float("inf")}, t)
    assert encode(p) == f"stock,site=S\\ 1,sku=a\\,b on_hand=12 {int(t.timestamp()) * 10**9}"
    assert encode(MetricPoint("stock", {}, {"x": float("nan")}, t)) is None

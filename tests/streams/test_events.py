"""Event schemas: valid events parse, anything else becomes a reason, never an exception."""

from __future__ import annotations

from datetime import UTC

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.events import ColdChainReading, parse_message
from tests.flows import fridge

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)


def test_timestamps_become_utc_and_units_are_in_names():
    events, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"ts": "2026-03-02T10:00:00+02:00"}))
    assert errors == []
    ev = events[0]
    assert isinstance(ev, ColdChainReading) and ev.ts.tzinfo == UTC and ev.ts.hour == 8
    assert ev.entity == "F1" and ev.location == "S1"


def test_naive_timestamp_is_refused():
    _, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"ts": "2026-03-02T10:00:00"}))
    assert "timezone" in errors[0].reason


def test_far_past_and_future_are_refused():
    for ts in ("1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z"):
        _, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"ts": ts}))
        assert errors and "ts" in errors[0].reason


def test_batch_items_fail_alone():
    batch = {"kind": "batch", "events": [fridge(0, 4.0), fridge(1, "warm"), fridge(2, 5.0)]}
    events, errors = parse_message(orjson.dumps(batch))
    assert len(events) == 2 and [e.index for e in errors] == [1]
    assert "temp_c" in errors[0].reason and "'warm'" in errors[0].reason


def test_huge_message_is_refused_unparsed():
    events, errors = parse_message(b"[" + b"1," * 600_000 + b"1]")
    assert events == [] and "too large" in errors[0].reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(orjson.dumps))
def test_arbitrary_input_never_raises(raw):
    events, errors = parse_message(raw)
    assert len(events) + len(errors) >= 1
    assert all(e.reason for e in errors)


def test_true_or_false_is_not_a_temperature():
    _, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"temp_c": False}))
    assert errors and "not true/false" in errors[0].reason


def test_true_or_false_is_not_a_humidity_either_but_a_numeric_string_still_is_a_number():
    _, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"humidity_pct": True}))
    assert errors and "humidity_pct" in errors[0].reason and "not true/false" in errors[0].reason
    events, errors = parse_message(orjson.dumps(fridge(0, "4.5") | {"humidity_pct": " 40 "}))
    assert errors == [] and (events[0].temp_c, events[0].humidity_pct) == (4.5, 40.0)


def test_timestamps_near_the_bounds_are_judged_in_utc():
    for ts, ok in (("1999-12-31T23:30:00-01:00", True), ("2000-01-01T00:30:00+01:00", False),
                   ("2099-12-31T23:30:00+01:00", True), ("2099-12-31T23:30:00-01:00", False)):
        events, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"ts": ts}))
        assert bool(events) is ok and all(e.ts.tzinfo is UTC for e in events), ts


def test_timestamp_at_the_ends_of_the_calendar_is_refused_not_raised():
    for ts in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):  # astimezone would overflow
        events, errors = parse_message(orjson.dumps(fridge(0, 4.0) | {"ts": ts}))
        assert events == [] and "ts" in errors[0].reason and "between 2000 and 2100" in errors[0].reason

"""Disruptions line up with their ground truth, and malformed messages are refused and counted."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from simulators import FridgeFailure, GroundTruth, Simulation, StockoutSpike, SupplierLate, TruckBreakdown, World
from simulators.scenarios import CORRUPTIONS, corrupt_message, default_disruptions
from streams.events import (
    ColdChainReading,
    ShipmentStatus,
    StockLevel,
    StockMovement,
    VehicleTelemetry,
    parse_message,
)
from tests.simulators import LIVE, run_day, simulation

KINDS = {"cold_chain_excursion", "vehicle_stopped", "stockout_risk", "supplier_late"}


def truth(sim, kind: str) -> GroundTruth:
    (gt,) = [g for g in sim.ground_truth if g.kind == kind]
    return gt


@pytest.mark.parametrize("hours", [3.0, 10.0])
def test_default_disruptions_are_staggered_inside_the_live_part(hours):
    duration = timedelta(hours=hours)
    ds = default_disruptions(LIVE, duration)
    assert [type(d) for d in ds] == [FridgeFailure, TruckBreakdown, StockoutSpike, SupplierLate]
    starts = [d.start for d in ds]
    assert starts == sorted(starts) and len(set(starts)) == 4
    for d in ds:
        assert LIVE + 0.14 * duration <= d.start <= LIVE + 0.26 * duration
        assert d.end <= LIVE + 0.66 * duration
    assert ds[1].end - ds[1].start >= timedelta(minutes=25)


def test_disruption_arguments_are_checked():
    with pytest.raises(ValueError, match="end must be after start"):
        FridgeFailure(start=LIVE, end=LIVE)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        TruckBreakdown(start=datetime(2026, 1, 1), end=LIVE)
    with pytest.raises(KeyError, match="no vehicle 'van-9'"):
        TruckBreakdown(start=LIVE, end=LIVE + timedelta(hours=1), vehicle="van-9").bind(World.generate())
    with pytest.raises(ValueError, match="call bind"):
        _ = FridgeFailure(start=LIVE, end=LIVE + timedelta(hours=1)).entity


@pytest.fixture(scope="module", params=[10.0, 3.0], ids=["10h", "3h"])
def disrupted(request):
    return run_day(live_hours=request.param, tail_hours=4.0)


def test_ground_truth_names_each_incident_kind_once(disrupted):
    sim, _, _ = disrupted
    assert sorted(g.kind for g in sim.ground_truth) == sorted(KINDS)
    assert truth(sim, "cold_chain_excursion").entity in {f.id for f in sim.world.fridges}
    assert truth(sim, "vehicle_stopped").entity in {v.id for v in sim.world.vehicles}
    store, _, sku = truth(sim, "stockout_risk").entity.partition(":")
    assert store in {s.id for s in sim.world.stores} and sku in {k.id for k in sim.world.skus}
    assert all(g.start >= LIVE and g.end > g.start and g.site for g in sim.ground_truth)


def test_failing_fridge_crosses_the_limit_only_inside_its_window(disrupted):
    sim, _, events = disrupted
    gt = truth(sim, "cold_chain_excursion")
    readings = [e for e in events if isinstance(e, ColdChainReading)]
    inside = [r.temp_c for r in readings if r.fridge == gt.entity and gt.covers(r.ts)]
    assert max(inside) > 8.0
    assert max(r.temp_c for r in readings if not (r.fridge == gt.entity and gt.covers(r.ts))) < 7.0
    first_10_min = gt.start + timedelta(minutes=10)
    climb = [r.temp_c for r in readings if r.fridge == gt.entity and gt.start <= r.ts < first_10_min]
    slope = (climb[-1] - climb[0]) / (len(climb) - 1)
    assert 0.25 <= slope <= 0.55
    after = [r.temp_c for r in readings if r.fridge == gt.entity and gt.end <= r.ts < gt.end + timedelta(minutes=30)]
    assert after and max(after) < 5.0  # recovered within the ground truth's 10 minutes


def test_broken_truck_stands_still_with_its_stops_for_the_whole_window(disrupted):
    sim, _, events = disrupted
    gt = truth(sim, "vehicle_stopped")
    tele = [e for e in events if isinstance(e, VehicleTelemetry) and e.vehicle == gt.entity and gt.covers(e.ts)]
    assert (gt.end - gt.start) >= timedelta(minutes=25)
    assert len(tele) >= 25 and all(e.speed_kmh == 0 for e in tele)
    assert len({e.stops_remaining for e in tele}) == 1 and tele[0].stops_remaining > 0
    assert len({(e.lat, e.lon) for e in tele}) == 1
    assert tele[0].engine_on and not tele[-1].engine_on
    after = [e for e in events if isinstance(e, VehicleTelemetry) and e.vehicle == gt.entity
             and gt.end <= e.ts < gt.end + timedelta(minutes=20)]
    assert any(e.speed_kmh > 0 for e in after)  # repaired, carries on


@pytest.mark.parametrize("local_hour", [6.5, 19.5, 20.1, 0.5, 3.5])
def test_a_breakdown_at_any_hour_is_a_van_stopped_with_drops_to_do(local_hour):
    start = LIVE + timedelta(hours=(local_hour - 12.5) % 24 - 6)  # the run starts at 06:30 local
    sim = Simulation(World.generate(), LIVE - timedelta(hours=6),
                     disruptions=[TruckBreakdown(start=start, end=start + timedelta(minutes=40))], live_start=LIVE)
    gt = sim.ground_truth[0]
    tele = [e for m in sim.messages_between(gt.start, gt.end) for e in parse_message(m.value)[0]
            if isinstance(e, VehicleTelemetry) and e.vehicle == gt.entity]
    assert len(tele) == 40
    assert all(e.speed_kmh == 0 and e.stops_remaining == tele[0].stops_remaining > 0 for e in tele)


def test_stockout_store_runs_down_in_its_window_and_is_restocked(disrupted):
    sim, _, events = disrupted
    gt = truth(sim, "stockout_risk")
    store, _, sku = gt.entity.partition(":")
    levels = [e for e in events if isinstance(e, StockLevel) and e.site == store and e.sku == sku]
    inside = [e.on_hand for e in levels if gt.covers(e.ts)]
    assert min(inside) <= max(2, 0.1 * inside[0])
    assert not any(e.reason == "receipt" for e in events
                   if isinstance(e, StockMovement) and e.site == store and e.sku == sku
                   and gt.start <= e.ts < gt.end - timedelta(minutes=1))
    after = [e.on_hand for e in levels if e.ts >= gt.end]
    assert after[0] >= sim.world.shelf(store, sku).order_up_to


def test_late_shipment_is_delayed_past_its_promise_then_delivered(disrupted):
    sim, _, events = disrupted
    gt = truth(sim, "supplier_late")
    ships = [e for e in events if isinstance(e, ShipmentStatus) and e.shipment == gt.entity]
    inside = [s for s in ships if gt.covers(s.ts)]
    assert inside and all(s.status == "delayed" and s.eta - s.promised_at >= timedelta(hours=2) for s in inside)
    assert all(s.status != "delayed" for s in ships if not gt.covers(s.ts))
    assert [s.status for s in ships if s.ts >= gt.end][:1] == ["delivered"]
    assert inside[0].alternate_supplier


# -- malformed messages -------------------------------------------------------------------

SAMPLES = {
    "cold_chain": {"kind": "cold_chain", "site": "s", "fridge": "f", "temp_c": 3.0, "ts": "2026-03-02T08:00:00Z"},
    "vehicle": {"kind": "vehicle", "vehicle": "v", "lat": 51.0, "lon": 3.0, "speed_kmh": 30.0,
                "ts": "2026-03-02T08:00:00Z"},
    "pos_sale": {"kind": "pos_sale", "store": "s", "sku": "k", "quantity": 1, "unit_price": 1.0,
                 "ts": "2026-03-02T08:00:00Z"},
    "stock_level": {"kind": "stock_level", "site": "s", "sku": "k", "on_hand": 3, "ts": "2026-03-02T08:00:00Z"},
    "stock_movement": {"kind": "stock_movement", "site": "s", "sku": "k", "quantity": 3, "reason": "receipt",
                       "ts": "2026-03-02T08:00:00Z"},
    "shipment": {"kind": "shipment", "shipment": "p", "supplier": "a", "destination": "w", "status": "ordered",
                 "promised_at": "2026-03-03T08:00:00Z", "quantity": 5, "ts": "2026-03-02T08:00:00Z"},
}


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_corruption_of_every_kind_is_refused(kind, how):
    assert parse_message(orjson.dumps(SAMPLES[kind]))[1] == []
    value, good, bad = corrupt_message([SAMPLES[kind]], None, random.Random(1), how)
    events, errors = parse_message(value)
    assert (events, len(errors), good, bad) == ([], 1, 0, 1)
    value, good, bad = corrupt_message([SAMPLES[kind]] * 3, "gw-1", random.Random(2), how)
    events, errors = parse_message(value)
    assert (len(events), len(errors)) == (good, bad) == ((0, 1) if how == "bad_json" else (2, 1))


def test_malformed_every_n_counts_add_up():
    sim = simulation(malformed_every=7, live_duration=timedelta(hours=2), fridges_per_site=2)
    msgs = sim.messages_between(sim.start, LIVE + timedelta(hours=2))
    clean = simulation(malformed_every=0, live_duration=timedelta(hours=2), fridges_per_site=2).messages_between(
        sim.start, LIVE + timedelta(hours=2))
    assert len(msgs) == len(clean)
    bad = [i for i, m in enumerate(msgs) if m.malformed]
    assert bad == list(range(6, len(msgs), 7))
    valid = errors = 0
    for m in msgs:
        evs, errs = parse_message(m.value)
        assert (len(evs), len(errs)) == (m.events, m.malformed)
        valid += len(evs)
        errors += len(errs)
    assert errors == len(bad) == sum(m.malformed for m in msgs)
    assert valid == sum(m.events for m in msgs)
    # a batch that lost one reading still delivers the others
    assert any(m.malformed and m.events for m in msgs)
    # the world itself is not changed by a bad message: the clean messages are untouched
    assert [m.value for i, m in enumerate(msgs) if not m.malformed] == [
        c.value for i, c in enumerate(clean) if not msgs[i].malformed]


def test_dates_of_ground_truth_are_utc():
    sim = simulation()
    assert all(g.start.tzinfo is not None and g.start.utcoffset() == UTC.utcoffset(None) for g in sim.ground_truth)


# -- the monitor's own view ---------------------------------------------------------------


def _incidents_opened(msgs) -> set[tuple[str, str]]:
    from streams.core import OperationsCore
    from streams.records import CoreOutput, RawMessage

    core, out = OperationsCore(), CoreOutput()
    raw = [RawMessage(m.value, f"opswatch.{m.topic}", 0, i, m.key) for i, m in enumerate(msgs)]
    for i in range(0, len(raw), 500):
        out.extend(core.process(raw[i:i + 500]))
    return {(c.incident.kind, c.incident.entity) for c in out.incidents if c.state == "open"}


def test_the_processing_core_opens_exactly_the_ground_truth(disrupted):
    sim, msgs, _ = disrupted
    assert _incidents_opened(msgs) == {(g.kind, g.entity) for g in sim.ground_truth}


def test_the_processing_core_finds_nothing_in_two_normal_days():
    sim = simulation(seed=21, disruptions=False)
    assert _incidents_opened(sim.messages_between(sim.start, sim.start + timedelta(days=2))) == set()

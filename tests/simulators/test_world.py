"""The world and its normal day: shaped like a real business, and never looking like an incident."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import time

import pytest

from simulators import World
from simulators.clock import BusinessClock
from streams.events import (
    ColdChainReading,
    PosSale,
    ShipmentStatus,
    StockLevel,
    StockMovement,
    VehicleTelemetry,
    parse_message,
)
from tests.simulators import LIVE, run_day


def test_generate_is_deterministic_and_sized_as_asked():
    a, b = World.generate(seed=3, stores=4, vehicles=2, fridges_per_site=2, skus=6), World.generate(
        seed=3, stores=4, vehicles=2, fridges_per_site=2, skus=6)
    assert a == b
    assert len(a.stores) == 4 and a.warehouse.id == "wh-1"
    assert len(a.vehicles) == 2 and len(a.skus) == 6
    assert len(a.fridges) == 2 * 5
    ids = [x.id for x in (*a.sites, *a.fridges, *a.vehicles, *a.skus, *a.suppliers)]
    assert len(ids) == len(set(ids))
    assert World.generate(seed=4) != World.generate(seed=5)


def test_generate_refuses_bad_sizes_naming_the_argument():
    with pytest.raises(ValueError, match="stores must be an int >= 1; got 0"):
        World.generate(stores=0)
    with pytest.raises(ValueError, match="skus"):
        World.generate(skus=-1)


def test_business_clock_anchors_an_instant_to_a_local_time():
    clock = BusinessClock.anchored(LIVE, time(12, 30))
    assert clock.local(LIVE).strftime("%H:%M:%S") == "12:30:00"
    assert math.isclose(clock.hour(LIVE), 12.5)


@pytest.fixture(scope="module")
def quiet_day():
    """A full business day and the following night with no disruptions."""
    return run_day(disruptions=False, live_hours=10.0, tail_hours=14.0)


def test_fridges_stay_cool_and_door_bumps_recover(quiet_day):
    sim, _, events = quiet_day
    readings = [e for e in events if isinstance(e, ColdChainReading)]
    assert len(readings) == len(sim.world.fridges) * 30 * 60  # one per fridge per minute
    assert max(r.temp_c for r in readings) < 7.0
    # below limit minus the monitor's early-warning margin whenever the door is shut
    assert max(r.temp_c for r in readings if not r.door_open) < 5.0
    assert 1.5 < min(r.temp_c for r in readings)
    assert all(40 <= r.humidity_pct <= 70 and r.limit_c == 8.0 for r in readings)
    doors = [r for r in readings if r.door_open]
    assert 2 * len(sim.world.fridges) <= len(doors) <= 2 * 12 * len(sim.world.fridges)


def test_vans_drive_routes_by_day_and_park_at_night(quiet_day):
    sim, _, events = quiet_day
    tele = sorted((e for e in events if isinstance(e, VehicleTelemetry)), key=lambda e: e.ts)
    stopped_since: dict[str, object] = {}
    longest = 0.0
    for e in tele:
        assert e.capacity_free > 0
        if e.speed_kmh == 0 and e.stops_remaining > 0:
            since = stopped_since.setdefault(e.vehicle, e.ts)
            longest = max(longest, (e.ts - since).total_seconds() / 60)
        else:
            stopped_since.pop(e.vehicle, None)
        if e.engine_on:
            assert 85 <= e.engine_temp_c <= 95
    assert longest <= 10.0
    moving = [e for e in tele if e.speed_kmh > 0]
    assert moving and all(20 <= e.speed_kmh <= 70 for e in moving)
    night = [e for e in tele if 1 <= sim.clock.hour(e.ts) < 4]
    assert night and all(e.speed_kmh == 0 and not e.engine_on and e.stops_remaining == 0 for e in night)
    depot = sim.world.warehouse
    assert all(abs(e.lat - depot.lat) < 1e-5 and abs(e.lon - depot.lon) < 1e-5 for e in night)
    live = [e for e in tele if 12.5 <= sim.clock.hour(e.ts) < 18]
    assert all(e.stops_remaining > 0 and e.route for e in live)  # the demo's live part has vans out


def test_sales_follow_the_day_and_shelves_keep_cover(quiet_day):
    sim, _, events = quiet_day
    sales = [e for e in events if isinstance(e, PosSale)]
    by_hour = defaultdict(int)
    for s in sales:
        assert 1 <= s.quantity <= 3
        by_hour[int(sim.clock.hour(s.ts))] += s.quantity
    assert all(by_hour[h] == 0 for h in (0, 1, 2, 3, 4, 5, 22, 23))
    assert by_hour[17] > by_hour[7] and by_hour[12] > by_hour[7]
    # the monitor's cover: on hand / exponentially decayed sales rate (tau 2 h), at each count
    tau_h, rate, rate_ts, worst = 2.0, defaultdict(float), {}, math.inf
    for e in sorted((e for e in events if isinstance(e, (PosSale, StockLevel))), key=lambda e: e.ts):
        key = (e.store, e.sku) if isinstance(e, PosSale) else (e.site, e.sku)
        if key in rate_ts:
            rate[key] *= math.exp(-(e.ts - rate_ts[key]).total_seconds() / 3600 / tau_h)
        rate_ts[key] = e.ts
        if isinstance(e, PosSale):
            rate[key] += e.quantity / tau_h
        elif rate[key] > 0:
            worst = min(worst, e.on_hand / rate[key] / e.lead_time_h)
    assert worst > 2.0


def test_stock_counts_every_15_minutes_with_site_details(quiet_day):
    sim, _, events = quiet_day
    levels = [e for e in events if isinstance(e, StockLevel)]
    assert len(levels) == len(sim.world.sites) * len(sim.world.skus) * 30 * 4
    wh = [e for e in levels if e.site == sim.world.warehouse.id]
    stores = [e for e in levels if e.site != sim.world.warehouse.id]
    for sku in sim.world.skus:
        assert min(e.on_hand for e in wh if e.sku == sku.id) > 3 * max(e.on_hand for e in stores if e.sku == sku.id)
    assert {e.lead_time_h for e in wh} == {48.0} and {e.lead_time_h for e in stores} == {2.0}
    assert all(e.lat is not None and e.cold_capacity_free is not None for e in levels)
    assert {e.sku for e in levels if e.chilled} == {k.id for k in sim.world.skus if k.chilled}
    receipts = [e for e in events if isinstance(e, StockMovement) and e.reason == "receipt"]
    assert receipts  # vans top the shelves up


def test_normal_shipments_are_on_time_with_an_alternate(quiet_day):
    _, _, events = quiet_day
    ships = [e for e in events if isinstance(e, ShipmentStatus)]
    assert len({s.shipment for s in ships}) >= 3
    assert all(s.eta <= s.promised_at and s.status != "delayed" and s.alternate_supplier for s in ships)
    assert {"in_transit", "delivered", "ordered"} <= {s.status for s in ships}


def test_presets_scale_from_a_corner_shop_to_a_regional_chain():
    shop, regional = World.preset("corner_shop"), World.preset("regional")
    assert (len(shop.stores), len(shop.vehicles)) == (1, 1)
    assert len(regional.sites) == 301 and len(regional.fridges) == 1204 and len(regional.vehicles) == 60
    assert regional.fridge("store-300-fridge-4").site == "store-300" and len(regional.fridges_at("store-7")) == 4
    assert World.preset("regional") == regional  # deterministic at scale too
    with pytest.raises(ValueError, match="preset must be one of corner_shop, small, chain, regional; got 'huge'"):
        World.preset("huge")


def test_weekly_seasonality_and_promotions_shape_demand():
    from datetime import timedelta

    from simulators import Simulation
    from simulators.world import WEEKDAY_DEMAND

    w = World.generate(seed=7, promotions=1)
    (promo,) = w.promotions
    assert set(promo.weekdays) <= {4, 5, 6} and 1.3 <= promo.uplift <= 1.6
    assert w.demand_factor(promo.sku, 5) == pytest.approx(WEEKDAY_DEMAND[5] * promo.uplift)
    assert w.demand_factor(promo.sku, 0) == 1.0 and World.generate(seed=7, promotions=0).promotions == ()
    # the same opening hours on a Monday and on the Saturday after (promotion running): more sales
    from simulators.backtest import ORIGIN  # local midnight of Monday 2 March

    def sold(day_offset: int, sku: str) -> int:
        day = ORIGIN + timedelta(days=day_offset)
        sim = Simulation(w, day + timedelta(hours=6.5), live_start=day + timedelta(hours=12.5))
        assert sim.clock.local(sim.start).weekday() == day_offset
        return sum(e.quantity for m in sim.messages_between(sim.start, sim.start + timedelta(hours=12))
                   if m.topic == "pos" for e in parse_message(m.value)[0] if e.sku == sku)

    assert sold(5, promo.sku) > 1.5 * sold(0, promo.sku)

"""Scenario files and the library: checked keys, composition, and ground truth that matches the events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulators import Simulation, World
from simulators.backtest import ORIGIN
from simulators.library import LIBRARY_YAML, ScenarioError, library, load_scenario, parse_scenario, resolve
from simulators.scenarios import DISRUPTIONS, PosOutage, RegionalClosure, SiteSilent
from streams.events import ColdChainReading, PosSale, ShipmentStatus, StockLevel, VehicleTelemetry, parse_message

INCIDENT_KINDS = {"cold_chain_excursion", "vehicle_stopped", "stockout_risk", "demand_spike", "supplier_late",
                  "device_silent", "site_silent"}


def test_a_scenario_file_builds_real_disruptions_from_local_midnight():
    sc = parse_scenario("""
name: drill
tail: 2h
disruptions:
  - {kind: fridge_failure, target: store-1-fridge-2, start: 1d14h30m, duration: 40m}
  - {kind: stockout, target: "store-2:sku-bread", start: 1d15h, duration: 2h}
  - {kind: route_delay, target: {vehicle: van-1}, start: 90, duration: 1h, params: {max_speed_kmh: 1}}
""")
    ff, so, rd = sc.disruptions(ORIGIN)
    assert (ff.fridge, ff.start, ff.end) == ("store-1-fridge-2", ORIGIN + timedelta(days=1, hours=14, minutes=30),
                                             ORIGIN + timedelta(days=1, hours=15, minutes=10))
    assert (so.store, so.sku) == ("store-2", "sku-bread")
    assert (rd.vehicle, rd.max_speed_kmh, rd.start) == ("van-1", 1.0, ORIGIN + timedelta(minutes=90))
    assert sc.end() == timedelta(days=1, hours=19)


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\ndisruptions: [{kind: fridge_failure, start: 2pm, duration: 1h}]",
     r"f.yaml: disruptions\[0\].start: a duration like 1d14h30m; got '2pm'"),
    ("name: x\ndisruptions: [{kind: fridge_failure, start: 1h, duration: 1h}, {kind: flood, start: 1h, duration: 1h}]",
     r"f.yaml: disruptions\[1\].kind: one of fridge_failure, .*; got 'flood'"),
    ("name: x\ndisruptions: [{kind: fridge_failure, start: 1h, duration: 1h, when: now}]",
     r"f.yaml: disruptions\[0\].when: Extra inputs are not permitted"),
    ("name: x\ndisruptions: [{kind: fridge_failure, start: 1h, duration: 0m}]",
     r"f.yaml: disruptions\[0\].duration: a positive duration"),
    ("name: x\ndisruptions: [{kind: sensor_drift, start: 1h, duration: 1h, params: {drift: 2}}]",
     r"f.yaml: disruptions\[0\].params.drift: one of \['drift_c_per_h', 'fridge'\]; got 'drift'"),
    ("name: x\ndisruptions: [{kind: sensor_drift, start: 1h, duration: 1h, params: {drift_c_per_h: 0}}]",
     r"f.yaml: disruptions\[0\]: SensorDrift.drift_c_per_h must be non-zero"),
    ("name: x\ndisruptions: [{kind: stockout, target: store-1, start: 1h, duration: 1h}]",
     r"f.yaml: disruptions\[0\].target: store:sku or auto; got 'store-1'"),
    ("name: x\ninclude: [nowhere]", r"scenario must be a library name .*; got 'nowhere'"),
    ("name: [x", r"f.yaml: not valid YAML"),
])
def test_a_bad_scenario_file_names_the_key_path_expected_and_got(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "f.yaml")


def test_scenarios_compose_by_include_and_by_addition(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\ntail: 6h\ninclude: [fridge_failure, supplier_delay]\n"
                    "disruptions: [{kind: site_silent, target: store-2, start: 1d20h, duration: 30m}]\n")
    sc = load_scenario(mine)
    assert [s.kind for s in sc.specs] == ["fridge_failure", "supplier_delay", "site_silent"]
    assert sc.tail == timedelta(hours=6) and sc.source == str(mine)
    both = load_scenario("fridge_failure") + load_scenario("route_delay")
    assert [s.kind for s in both.specs] == ["fridge_failure", "route_delay"]
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"name: loop\ninclude: [{loop}]\n")
    with pytest.raises(ScenarioError, match="includes itself"):
        load_scenario(loop)
    assert [s.name for s in resolve(["all"])] == list(LIBRARY_YAML)


def test_the_library_covers_every_disruption_kind_with_incident_kinds_the_core_opens():
    world = World.preset("small")
    kinds = set()
    for sc in library():
        for d in sc.disruptions(ORIGIN):
            kinds.add(d.name)
            for g in d.bind(world).ground_truths(world):
                assert g.kind in INCIDENT_KINDS | {"sensor_fault"}
                assert g.disruption == d.name and g.site
    assert kinds == set(DISRUPTIONS)


def _around(disruption, world: World, before=timedelta(hours=2), after=timedelta(hours=1)):
    """Simulate only around one disruption (the local clock as in a backtest), parsed."""
    start = disruption.start - before
    sim = Simulation(world, start, seed=7, disruptions=[disruption], live_start=ORIGIN + timedelta(hours=12.5))
    msgs = sim.messages_between(start, disruption.end + after)
    return sim, msgs, [e for m in msgs for e in parse_message(m.value)[0]]


@pytest.fixture(scope="module")
def world():
    return World.preset("small")


@pytest.mark.parametrize("name", [n for n in LIBRARY_YAML if n != "bad_day"])
def test_every_library_scenario_s_ground_truth_lines_up_with_its_events(name, world):
    (d,) = load_scenario(name).disruptions(ORIGIN - timedelta(days=1))  # day one's hours, no warm-up needed
    sim, msgs, events = _around(d, world)
    gts = sim.ground_truth
    g = gts[0]
    inside = lambda e: g.start <= e.ts < g.end  # noqa: E731
    if name in ("fridge_failure", "door_left_open"):
        temps = [e for e in events if isinstance(e, ColdChainReading) and e.fridge == g.entity]
        assert max(e.temp_c for e in temps if inside(e)) > 8.0
        assert max(e.temp_c for e in temps if not g.covers(e.ts)) < 7.0
        assert all(e.door_open for e in temps if d.active(e.ts)) == (name == "door_left_open")
    elif name in ("truck_breakdown", "route_delay"):
        tele = [e for e in events if isinstance(e, VehicleTelemetry) and e.vehicle == g.entity and inside(e)]
        assert len(tele) == (g.end - g.start) / timedelta(minutes=1)
        assert all(e.speed_kmh < 3 and e.stops_remaining > 0 for e in tele)
        after = [e for e in events if isinstance(e, VehicleTelemetry) and e.vehicle == g.entity and e.ts >= g.end]
        assert any(e.speed_kmh > 10 for e in after)
    elif name == "pos_outage":
        sales = [e for e in events if isinstance(e, PosSale) and e.store == g.site]
        assert sales and not any(e.till == g.entity for e in sales if inside(e))
        assert any(e.till == g.entity for e in sales if not inside(e))
        assert any(inside(e) for e in sales)  # the other till takes the customers
    elif name in ("demand_spike", "stockout"):
        store, _, sku = g.entity.partition(":")
        sold = lambda a, b: sum(e.quantity for e in events  # noqa: E731
                                if isinstance(e, PosSale) and e.store == store and e.sku == sku and a <= e.ts < b)
        hour = timedelta(hours=1)
        assert sold(g.start, g.start + hour) > 3 * max(1, sold(g.start - hour, g.start))
    elif name == "supplier_delay":
        ships = [e for e in events if isinstance(e, ShipmentStatus) and e.shipment == g.entity]
        assert {e.status for e in ships if inside(e)} == {"delayed"}
        assert "delayed" not in {e.status for e in ships if not inside(e)}
    elif name in ("sensor_stuck", "sensor_drift"):
        temps = [e for e in events if isinstance(e, ColdChainReading) and e.fridge == g.entity and inside(e)]
        if name == "sensor_stuck":
            assert len({e.temp_c for e in temps}) == 1
        else:
            assert temps[-1].temp_c - temps[0].temp_c > 4.0
        assert g.kind == "sensor_fault" and g.metric == "temp_c"
    elif name in ("site_silent", "regional_closure"):
        closed = {x.entity for x in gts}
        assert closed and all(x.kind == "site_silent" for x in gts)
        site_of = lambda e: getattr(e, "site", None) or getattr(e, "store", None)  # noqa: E731
        assert not any(site_of(e) in closed for e in events if inside(e))
        assert {site_of(e) for e in events if e.ts >= g.end} >= closed
        assert any(inside(e) and isinstance(e, VehicleTelemetry) for e in events)  # vans still talk
    else:  # pragma: no cover
        pytest.fail(f"no check for {name}")


def test_a_network_outage_hides_trade_that_a_closure_stops(world):
    t = ORIGIN + timedelta(hours=11)
    store = world.stores[0].id
    level = lambda events: [e.on_hand for e in events  # noqa: E731
                            if isinstance(e, StockLevel) and e.site == store and e.sku == world.skus[0].id]
    _, _, silent = _around(SiteSilent(start=t, end=t + timedelta(hours=2), site=store), world, after=timedelta(0))
    _, _, closed = _around(RegionalClosure(start=t, end=t + timedelta(hours=2), site=store, radius_km=0),
                           world, after=timedelta(0))
    # same history up to the outage; then the open shop keeps selling (unseen), the closed one does not
    assert level(silent)[:8] == level(closed)[:8]
    sim, _, _ = _around(SiteSilent(start=t, end=t + timedelta(hours=2), site=store), world,
                        after=timedelta(minutes=1))
    end_silent = sim._processes[2].stock.on_hand[(store, world.skus[0].id)]
    sim2, _, _ = _around(RegionalClosure(start=t, end=t + timedelta(hours=2), site=store, radius_km=0), world,
                         after=timedelta(minutes=1))
    assert end_silent < sim2._processes[2].stock.on_hand[(store, world.skus[0].id)]


def test_a_till_outage_of_every_till_loses_the_store_s_sales(world):
    t = ORIGIN + timedelta(hours=11)
    store = world.stores[0].id
    outages = [PosOutage(start=t, end=t + timedelta(hours=1), till=k) for k in world.tills_at(store)]
    sim = Simulation(world, t - timedelta(hours=1), disruptions=outages, live_start=ORIGIN + timedelta(hours=12.5))
    events = [e for m in sim.messages_between(sim.start, t + timedelta(hours=2)) for e in parse_message(m.value)[0]]
    sales = [e for e in events if isinstance(e, PosSale) and e.store == store]
    assert not any(t <= e.ts < t + timedelta(hours=1) for e in sales)
    assert any(e.ts >= t + timedelta(hours=1) for e in sales)
    with pytest.raises(KeyError, match="no till 'store-1-till-9'"):
        PosOutage(start=t, end=t + timedelta(hours=1), till="store-1-till-9").bind(world)


def test_the_documented_example_scenario_loads():
    from pathlib import Path

    sc = load_scenario(Path(__file__).parents[2] / "simulators" / "docs" / "backtest-scenario-example.yaml")
    assert [s.kind for s in sc.specs] == ["supplier_delay", "fridge_failure", "route_delay", "sensor_drift"]
    world = World.preset("small")
    assert [d.bind(world).entity for d in sc.disruptions(ORIGIN)][1:] == ["wh-1-coldroom-1", "van-3",
                                                                           "store-2-fridge-2"]

"""The processing core in memory: validate -> detect -> incident -> rule, and the error policy."""

from __future__ import annotations

import pickle

import pytest

from streams.core import OperationsCore
from streams.errors import ErrorPolicy, ProcessingError
from tests.flows import at, fridge, normal_fridge_day, run_flow, vehicle


def kinds(out, state="open"):
    return [(c.incident.kind, c.incident.entity) for c in out.incidents if c.state == state]


def test_normal_fridge_opens_nothing_and_writes_points():
    out, _ = run_flow(normal_fridge_day(300))
    assert out.processed == 300
    assert out.incidents == []
    measurements = {p.measurement for p in out.points}
    assert {"cold_chain", "anomaly", "pipeline"} - measurements == {"pipeline"}  # pipeline is the edge's
    assert sum(p.measurement == "cold_chain" for p in out.points) == 300


def test_failing_fridge_opens_one_incident_and_resolves_it():
    docs = normal_fridge_day(240)
    docs += [fridge(240 + i, 4.0 + 0.4 * i) for i in range(40)]  # compressor stops: +0.4 C/min
    docs += [fridge(280 + i, 4.0) for i in range(30)]  # repaired
    out, _ = run_flow(docs)
    assert kinds(out) == [("cold_chain_excursion", "F1")]
    assert kinds(out, "resolved") == [("cold_chain_excursion", "F1")]
    opened = next(c for c in out.incidents if c.state == "open")
    # the limit of 8 C is crossed at minute 251; two readings above it open the incident at the latest
    assert opened.ts.isoformat() <= at(252)
    assert opened.record()["evidence"]["limit_c"] == 8.0


def test_door_opening_alone_is_not_an_excursion():
    docs = normal_fridge_day(240)
    docs += [fridge(240, 5.5, door_open=True), fridge(241, 6.0, door_open=True), fridge(242, 5.0), fridge(243, 4.5)]
    docs += [fridge(244 + i, 4.0) for i in range(20)]
    out, _ = run_flow(docs)
    assert out.incidents == []


def test_vehicle_stopped_on_route_opens_after_max_stop_and_resolves_when_moving():
    docs = [vehicle(m, 40.0, stops_remaining=8, capacity_free=5) for m in range(30)]
    docs += [vehicle(30 + m, 0.0, stops_remaining=8, capacity_free=5) for m in range(8)]  # a delivery stop
    docs += [vehicle(38 + m, 35.0, stops_remaining=7, capacity_free=5) for m in range(10)]
    out, _ = run_flow(docs)
    assert out.incidents == []
    docs2 = [vehicle(48 + m, 0.0, stops_remaining=7, capacity_free=5) for m in range(30)]
    docs2 += [vehicle(78 + m, 30.0, stops_remaining=7, capacity_free=5) for m in range(3)]
    # a second, moving vehicle with capacity nearby takes the stops
    docs2 += [vehicle(60, 30.0, vid="V2", lat=51.52, lon=-0.12, stops_remaining=3, capacity_free=10)]
    docs2.sort(key=lambda d: d["ts"])
    out2, _ = run_flow(docs + docs2)
    assert kinds(out2) == [("vehicle_stopped", "V1")]
    assert kinds(out2, "resolved") == [("vehicle_stopped", "V1")]
    rec = [r for r in out2.recommendations if r.kind == "delivery_reassignment"]
    assert len(rec) == 1 and rec[0].quantity == 7 and rec[0].to_site == "V2"


def _stock(minute, site, on_hand, lat, lon, sku="MILK", **kw):
    return {"kind": "stock_level", "site": site, "sku": sku, "on_hand": on_hand, "lead_time_h": 12,
            "lat": lat, "lon": lon, "ts": at(minute), **kw}


def _sale(minute, store, qty, sku="MILK"):
    return {"kind": "pos_sale", "store": store, "sku": sku, "quantity": qty, "unit_price": 1.2, "ts": at(minute)}


def test_stockout_risk_recommends_transfer_from_site_with_most_cover():
    docs = [_stock(0, "WH", 5000, 51.50, -0.10), _stock(0, "S2", 400, 51.60, -0.20),
            _stock(0, "S1", 300, 51.51, -0.11)]
    # S1 sells 30 units/h for 4 h: 300 on hand covers ~10 h < 12 h lead time once the rate is known
    for m in range(0, 240, 2):
        docs.append(_sale(m, "S1", 1))
    docs.append(_stock(240, "S1", 180, 51.51, -0.11))
    out, _ = run_flow(docs)
    assert kinds(out) == [("stockout_risk", "S1:MILK")]
    rec = [r for r in out.recommendations if r.kind == "stock_transfer"]
    assert len(rec) == 1
    r = rec[0]
    assert r.from_site == "WH" and r.to_site == "S1"
    assert r.quantity and r.quantity > 0
    # judged at the sale that tips cover under the lead time, before the next count
    assert r.by is not None and 180 <= r.evidence["on_hand"] < 300
    assert r.evidence["observed_cover_h"] < 12


def test_supplier_late_recommends_switch():
    doc = {"kind": "shipment", "shipment": "PO-1", "supplier": "ACME", "destination": "WH",
           "status": "delayed", "promised_at": at(60), "eta": at(300), "sku": "MILK", "quantity": 400,
           "alternate_supplier": "BETA", "ts": at(0)}
    out, _ = run_flow([doc])
    assert kinds(out) == [("supplier_late", "PO-1")]
    assert [(r.kind, r.to_site, r.quantity) for r in out.recommendations] == [("supplier_switch", "WH", 400.0)]


def test_bad_input_is_dead_lettered_with_reason_and_source_and_nothing_else_lost():
    batch = {"kind": "batch", "gateway": "G1", "events": [fridge(0, 4.0), {"kind": "cold_chain", "temp_c": 3},
                                                          fridge(1, float("nan"))]}
    docs = [b"{not json", fridge(0, 4.0, fridge_id="F9"), batch, b"", {"kind": "teleport", "ts": at(0)}]
    out, _ = run_flow(docs)
    assert out.processed == 2  # F9 and the first batch item
    reasons = [(d.stage, d.index, d.reason) for d in out.deadletters]
    assert len(reasons) == 5
    assert reasons[0][0] == "decode" and "malformed JSON" in reasons[0][2]
    assert reasons[1][:2] == ("validate", 1) and "site" in reasons[1][2] and "Field required" in reasons[1][2]
    assert out.deadletters[0].where == "opswatch.test[0]@0"
    assert out.deadletters[1].where == "opswatch.test[0]@2 item 1"
    assert any("teleport" in r[2] or "tag" in r[2] for r in reasons)
    rec = out.deadletters[0].to_record()
    assert rec["raw"] == "{not json" and rec["offset"] == 0


def test_processing_error_is_dead_lettered_and_the_batch_goes_on(monkeypatch):
    core = OperationsCore()

    def boom(ev, emit):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(core.ops.fleet, "handle", boom)
    out, _ = run_flow([vehicle(0, 10), fridge(0, 4.0)], core=core)
    assert out.processed == 1
    assert [d.stage for d in out.deadletters] == ["process"]
    assert "ZeroDivisionError" in out.deadletters[0].reason and "V1" in out.deadletters[0].reason


def test_stop_policy_raises_with_where():
    core = OperationsCore(error_policy=ErrorPolicy.STOP)
    with pytest.raises(ProcessingError, match=r"opswatch.test\[0\]@0"):
        run_flow([b"{"], core=core)


def test_state_snapshot_restores_open_incidents_and_detectors():
    docs = normal_fridge_day(240) + [fridge(240 + i, 4.0 + 0.5 * i) for i in range(20)]
    _, core = run_flow(docs)
    assert core.incidents.get("cold_chain_excursion", "F1") is not None
    blob = core.snapshot()
    fresh = OperationsCore()
    fresh.restore(blob)
    tail = [fridge(260 + i, 4.0) for i in range(10)]
    a, _ = run_flow(tail, core=core, start_offset=len(docs))
    b, _ = run_flow(tail, core=fresh, start_offset=len(docs))
    assert [c.record() for c in a.incidents] == [c.record() for c in b.incidents]
    assert kinds(a, "resolved") == [("cold_chain_excursion", "F1")]
    assert a.incidents and not kinds(a)  # resolved, not re-opened
    assert pickle.loads(blob)


def test_messages_redelivered_after_a_restart_are_skipped_by_offset():
    docs = normal_fridge_day(100)
    first, core = run_flow(docs[:60])
    restored = OperationsCore()
    restored.restore(core.snapshot())
    # Kafka redelivers from the last committed offset (40), the checkpoint already covers up to 59
    again, _ = run_flow(docs[40:], core=restored, start_offset=40)
    assert again.processed == 40 and restored.replayed_skipped == 20
    assert sum(p.measurement == "cold_chain" for p in again.points) == 40


def test_demand_spike_is_info_and_recommends_a_bigger_earlier_order():
    docs = [_stock(0, "S1", 5000, 51.5, -0.1)]
    docs += [_sale(m, "S1", 1) for m in range(0, 30 * 60, 30)]  # 2/h for 30 h: the baseline
    docs += [_sale(30 * 60 + m, "S1", 5) for m in range(0, 90, 3)]  # 100/h for 90 min
    out, _ = run_flow(docs)
    spikes = [c for c in out.incidents if c.incident.kind == "demand_spike"]
    assert [c.state for c in spikes] == ["open"] and spikes[0].incident.severity == "info"
    assert spikes[0].ts.isoformat() > at(30 * 60)  # not during the steady baseline
    rec = [r for r in out.recommendations if r.kind == "reorder"]
    assert len(rec) == 1 and rec[0].quantity > 0 and rec[0].to_site == "S1"
    assert not [c for c in out.incidents if c.incident.kind == "stockout_risk"]  # plenty of stock


def test_idle_entities_are_evicted_unless_an_incident_is_open():
    from datetime import timedelta

    from streams.playbook import Playbook, StateConfig
    from tests.flows import T0

    core = OperationsCore(playbook=Playbook(state=StateConfig(evict_after_h=1)))
    docs = normal_fridge_day(60, "F1") + normal_fridge_day(60, "F2") + [fridge(60 + i, 9 + i, "F2") for i in range(5)]
    run_flow(docs, core=core)
    assert core.incidents.get("cold_chain_excursion", "F2") is not None
    core.tick(T0 + timedelta(hours=3))
    assert "F1" not in core.last_seen and "F1" not in core.ops.coldchain.fridges
    assert not [k for k in core.detectors.detectors if k[0] == "F1"]
    assert "F2" in core.ops.coldchain.fridges  # its excursion is still open
    assert core.evicted == 1

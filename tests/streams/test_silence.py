"""Devices and sites that go quiet, judged on the clock passed to ``tick``."""

from __future__ import annotations

from datetime import timedelta

from streams.core import OperationsCore
from tests.flows import T0, fridge, run_flow, vehicle


def _changes(out, state="open"):
    return [(c.incident.kind, c.incident.entity) for c in out.incidents if c.state == state]


def _two_sites(minutes=60):
    docs = []
    for m in range(minutes):
        docs += [fridge(m, 4.0, "F1", "S1"), fridge(m, 4.0, "F2", "S1"), fridge(m, 4.0, "F3", "S2"),
                 vehicle(m, 30.0, "V1")]
    return docs


def test_one_quiet_device_is_one_incident_and_resolves_when_it_talks_again():
    _, core = run_flow(_two_sites())
    later = _two_sites(70)[240:]  # minutes 60..69: F1 says nothing
    later = [d for d in later if d.get("fridge") != "F1"]
    out, _ = run_flow(later, core=core, start_offset=10_000)
    # F1 usually reports every 60 s: silent after 10 usual intervals (600 s > min_silent_s 300 s)
    assert core.tick(T0 + timedelta(minutes=68)).incidents == []
    t = core.tick(T0 + timedelta(minutes=70, seconds=30))
    assert _changes(t) == [("device_silent", "F1")]
    assert t.incidents[0].record()["evidence"]["expected_max_silent_s"] == 600
    back, _ = run_flow([fridge(71, 4.0, "F1", "S1")], core=core, start_offset=20_000)
    assert _changes(back, "resolved") == [("device_silent", "F1")]


def test_a_whole_site_going_silent_is_one_site_incident_not_one_per_sensor():
    _, core = run_flow(_two_sites())
    t = core.tick(T0 + timedelta(minutes=75))
    # S1's two fridges correlate into one site incident; S2 (one device) and V1 are devices
    assert sorted(_changes(t)) == [("device_silent", "F3"), ("device_silent", "V1"), ("site_silent", "S1")]
    site = next(c for c in t.incidents if c.incident.kind == "site_silent")
    assert site.incident.severity == "critical" and site.record()["evidence"]["devices"] == ["F1", "F2"]
    again = core.tick(T0 + timedelta(minutes=80))
    assert again.incidents == []  # deduplicated


def test_restart_does_not_call_everything_silent():
    _, core = run_flow(_two_sites())
    fresh = OperationsCore()
    fresh.restore(core.snapshot())
    fresh.silence.rebase(T0 + timedelta(minutes=200))
    assert fresh.tick(T0 + timedelta(minutes=202)).incidents == []

"""Backtests: the same scenario through the real core gives the same, honest numbers every time."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer import Typer
from typer.testing import CliRunner

from simulators.backtest import GRACE, ORIGIN, simulate_scenario, summarise, table
from simulators.cli import register
from simulators.library import parse_scenario

#: A short night-time run: a fridge fails, a store goes silent, a till is down (unseen by the core).
SHORT = """
name: short
description: three faults in the small hours
tail: 1h
disruptions:
  - {kind: fridge_failure, target: store-1-fridge-1, start: 2h, duration: 30m}
  - {kind: site_silent, target: store-3, start: 2h30m, duration: 30m}
  - {kind: pos_outage, target: store-2-till-1, start: 2h, duration: 1h}
"""


@pytest.fixture(scope="module")
def short_run():
    return simulate_scenario(parse_scenario(SHORT), seed=7)


def test_detections_delays_and_misses_are_scored_against_the_ground_truth(short_run):
    v = {x.truth.disruption: x for x in short_run.verdicts}
    ff = v["fridge_failure"]
    assert ff.detected and ff.signal == "incident" and 0 < ff.delay_s <= 15 * 60
    assert ff.incident_id.startswith("cold_chain_excursion:store-1-fridge-1:")
    assert ff.truth.start <= ff.detected_at < ff.truth.end
    ss = v["site_silent"]
    assert ss.detected and ss.incident_id.startswith("site_silent:store-3:") and ss.delay_s <= 15 * 60
    po = v["pos_outage"]  # the core does not watch tills: reported as missed, not faked
    assert not po.detected and po.detected_at is None and po.delay_s is None
    assert short_run.false_incidents == []
    assert short_run.end == ORIGIN + timedelta(hours=4)


def test_the_summary_is_per_disruption_kind_and_counts_false_incidents_per_entity_day(short_run):
    s = summarise([short_run], seed=7, preset="small")
    assert s["by_disruption"]["pos_outage"] | {} == s["by_disruption"]["pos_outage"]
    assert s["by_disruption"]["pos_outage"]["detected"] == 0 and s["by_disruption"]["pos_outage"]["missed"] == 1
    assert s["by_disruption"]["fridge_failure"]["detection_rate"] == 1.0
    assert s["false_incidents_by_kind"]["cold_chain_excursion"] == {
        "false_incidents": 0, "entity_days": round(8 * 4 / 24, 2), "per_entity_per_day": 0.0}
    assert s["grace_min"] == GRACE.total_seconds() / 60
    md = table(s)
    assert "| pos_outage | device_silent | 0/1 (missed) | - |" in md
    json.dumps(s)  # plain JSON


def test_a_labelled_recording_backtests_and_unlabelled_incidents_count_as_false(tmp_path):
    from simulators import Simulation, World
    from simulators.recording import simulation_records, write_records

    scenario = parse_scenario(SHORT)
    sim = Simulation(World.preset("small"), ORIGIN, seed=7, disruptions=scenario.disruptions(ORIGIN),
                     live_start=ORIGIN + timedelta(hours=12.5))
    write_records(tmp_path / "night.jsonl.gz", simulation_records(sim, ORIGIN, ORIGIN + timedelta(hours=4)))
    fridge = next(g for g in sim.ground_truth if g.kind == "cold_chain_excursion")
    # only the fridge failure is labelled: the silent site's incident has nothing to explain it
    (tmp_path / "labels.json").write_text(json.dumps([{"entity": fridge.entity, "kind": fridge.kind,
                                                       "start": fridge.start.isoformat(),
                                                       "end": fridge.end.isoformat()}]))
    app = Typer()
    register(app)
    result = CliRunner().invoke(app, ["backtest", "--recording", str(tmp_path / "night.jsonl.gz"), "--labels",
                                      str(tmp_path / "labels.json"), "--json", str(tmp_path / "r.json")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["by_disruption"]["cold_chain_excursion"]["detected"] == 1
    assert [(f["kind"], f["entity"]) for f in doc["runs"][0]["false_incidents"]] == [("site_silent", "store-3")]


def test_same_seed_same_numbers_other_seed_other_run(short_run):
    again = simulate_scenario(parse_scenario(SHORT), seed=7)
    assert summarise([again], 7, "small") == summarise([short_run], 7, "small")
    other = simulate_scenario(parse_scenario(SHORT), seed=8)
    assert _run_numbers(other) != _run_numbers(short_run)


def _run_numbers(run):
    return summarise([run])["runs"][0]["ground_truth"]


def test_the_cli_writes_the_report_and_the_json(tmp_path):
    app = Typer()
    register(app)
    (tmp_path / "short.yaml").write_text(SHORT)
    args = ["backtest", "--scenario", str(tmp_path / "short.yaml"), "--seed", "7",
            "--report", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["by_disruption"]["fridge_failure"]["detected"] == 1 and doc["runs"][0]["scenario"] == "short"
    html = (tmp_path / "r.html").read_text()
    assert html.count("plotly-graph-div") >= 3 and "MISSED" in html and "Per disruption kind" in html
    first = (tmp_path / "r.json").read_bytes()
    CliRunner().invoke(app, args, catch_exceptions=False)
    assert (tmp_path / "r.json").read_bytes() == first
    bad = CliRunner().invoke(app, ["backtest", "--scenario", "nowhere"])
    assert bad.exit_code == 2 and "scenario must be a library name" in bad.output

"""The main job: ``opswatch demo --duration 90 --summary s.json`` with metrics to a real store.

Checks the bar of the foundation and paging issues: exit 0; processed + dead-lettered = produced; the three injected disruption
kinds (fridge failing, truck stopping, store heading for stockout) appear as incidents on the right
entities; recommendations carry quantities; metric points were written and can be read back from
the store (VictoriaMetrics behind the InfluxDB v2 write API); a real Alertmanager got one firing and
one resolved notification per injected disruption and no other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.deploy.test_dashboards import all_targets, committed, parse_select
from tests.servers import victoria_export, victoria_names

pytestmark = pytest.mark.servers


def test_demo_run_detects_injected_disruptions(victoria, oncall, tmp_path):
    summary = tmp_path / "s.json"
    env = {**os.environ, "OPSWATCH_INFLUX__URL": f"http://127.0.0.1:{victoria.port}",
           "OPSWATCH_ALERTMANAGER__URL": oncall.url,
           "OPSWATCH_INFLUX__BUCKET": "demo", "OPSWATCH_INFLUX__TOKEN": "demo-token"}
    run = subprocess.run([sys.executable, "-m", "streams.cli", "demo", "--duration", "90", "--summary",
                          str(summary), "--workdir", str(tmp_path / "demo")],
                         env=env, capture_output=True, text=True, timeout=420)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    s = json.loads(summary.read_text())
    print(json.dumps({k: s[k] for k in ("events_produced", "events_processed", "events_deadlettered",
                                        "metric_points_written")}))
    assert s["events_processed"] + s["events_deadlettered"] == s["events_produced"]
    assert s["events_deadlettered"] == s["events_malformed_produced"] > 0
    assert s["metric_points_written"] > s["events_processed"]
    truth = {(g["kind"], g["entity"]) for g in s["ground_truth"]}
    found = {(i["kind"], i["entity"]) for i in s["incidents"]}
    for kind in ("cold_chain_excursion", "vehicle_stopped", "stockout_risk"):
        assert any(k == kind for k, _ in truth), f"the simulator injected no {kind}"
        assert {t for t in truth if t[0] == kind} <= found, f"{kind} not detected: {found}"
    rec_kinds = {r["kind"]: r for r in s["recommendations"]}
    for kind in ("stock_transfer", "delivery_reassignment", "chilled_stock_move"):
        assert rec_kinds[kind]["quantity"] and rec_kinds[kind]["quantity"] > 0
    # the on-call phone got one firing and one resolved page per injected disruption, nothing else
    import time
    time.sleep(3)
    pages: dict[str, list[str]] = {}
    for status, iid in oncall.receiver.notifications():
        pages.setdefault(iid, []).append(status)
    paged = {(iid.split(":")[0], iid.split(":", 1)[1].rsplit(":", 1)[0]) for iid in pages}
    assert paged == truth, pages
    assert all(v == ["firing", "resolved"] for v in pages.values()), pages
    # the run's points can be read back from the store
    temps = victoria_export(victoria.port, '{__name__="cold_chain_temp_c"}')
    assert sum(len(x["values"]) for x in temps) > 100
    incidents = victoria_export(victoria.port, '{__name__="incident_open"}')
    assert {x["metric"]["kind"] for x in incidents} >= {"cold_chain_excursion", "vehicle_stopped", "stockout_risk"}
    assert "demo-token" not in run.stdout + run.stderr

    # every (measurement, field) a dashboard queries is one this run wrote
    written = victoria_names(victoria.port)
    queried = {(m, f) for board in committed() for _, target in all_targets(board)
               for m, fields, _ in [parse_select(target["query"])] for f in fields}
    missing = sorted(f"{m}_{f}" for m, f in queried if f"{m}_{f}" not in written)
    assert not missing, f"dashboards query series the demo never wrote: {missing}"

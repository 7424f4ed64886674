"""The YAML playbook: checked strictly, and it really changes incidents, rules and paging."""

from __future__ import annotations

import pytest

from streams.core import OperationsCore
from streams.playbook import load_playbook
from streams.settings import ConfigurationError
from tests.flows import at, run_flow, vehicle


def _write(tmp_path, text):
    p = tmp_path / "playbook.yaml"
    p.write_text(text)
    return p


def test_bad_playbook_names_file_path_expected_and_got(tmp_path):
    p = _write(tmp_path, "watches:\n  fleet: {max_stop_min: -5}\nrules:\n  stock_transfer: {enabeld: false}\n")
    with pytest.raises(ConfigurationError) as err:
        load_playbook(p)
    msg = str(err.value)
    assert str(p) in msg
    assert "watches.fleet.max_stop_min: expected Input should be greater than 0; got -5" in msg
    assert "rules.stock_transfer.enabeld" in msg and "Extra inputs are not permitted" in msg


def test_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="no such file"):
        load_playbook(tmp_path / "nope.yaml")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_playbook(_write(tmp_path, "rules: [unclosed"))


def _stopped_truck():
    docs = [vehicle(m, 40.0, stops_remaining=8, capacity_free=5) for m in range(10)]
    docs += [vehicle(10 + m, 0.0, stops_remaining=8, capacity_free=5) for m in range(12)]
    docs += [vehicle(21, 30.0, vid="V2", lat=51.52, stops_remaining=3, capacity_free=10)]
    return sorted(docs, key=lambda d: d["ts"])


def test_playbook_parameters_change_when_incidents_open_and_which_rules_run(tmp_path):
    default, _ = run_flow(_stopped_truck())
    assert default.incidents == []  # 11 min stopped: under the default 15 min
    pb = load_playbook(_write(tmp_path, "watches:\n  fleet: {max_stop_min: 8}\n"
                                        "rules:\n  delivery_reassignment: {enabled: false}\n"))
    out, _ = run_flow(_stopped_truck(), core=OperationsCore(playbook=pb))
    assert [c.incident.kind for c in out.incidents] == ["vehicle_stopped"]
    assert out.recommendations == []


def test_maintenance_window_marks_incidents_silenced_and_survives_a_restart(tmp_path):
    pb = load_playbook(_write(tmp_path, f"watches:\n  fleet: {{max_stop_min: 8}}\nmaintenance:\n"
                                        f"  - {{entity: V1, start: '{at(0)}', end: '{at(60)}', reason: workshop}}\n"))
    core = OperationsCore(playbook=pb)
    out, _ = run_flow(_stopped_truck(), core=core)
    assert out.incidents[0].record()["silenced"] == "workshop"
    restored = OperationsCore(playbook=pb)
    restored.restore(core.snapshot())
    assert restored.incidents.silencer is not None


def test_handlers_must_be_importable(tmp_path):
    pb = load_playbook(_write(tmp_path, "handlers: ['json:dumps']\n"))
    import json
    assert pb.load_handlers() == [json.dumps]
    bad = load_playbook(_write(tmp_path, "handlers: ['nowhere.module:apply']\n"))
    with pytest.raises(ConfigurationError, match="cannot load 'nowhere.module:apply'"):
        bad.load_handlers()

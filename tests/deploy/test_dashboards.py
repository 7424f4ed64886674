"""The committed dashboards query only what the worker writes (streams/metrics.py MEASUREMENTS).

The queries are parsed back from the JSON text with a parser of their own here, not with the
builder that made them, so a builder bug cannot hide a schema mismatch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streams.dashboards import dashboards
from streams.dashboards.base import FieldExpr, Select, SchemaError, tag_values
from streams.metrics import MEASUREMENTS

ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = ROOT / "deploy" / "grafana" / "dashboards"
LAYOUT_DIR = ROOT / "deploy" / "grafana" / "layout"

SELECT_RE = re.compile(r'^SELECT (?P<cols>.+?) FROM "(?P<m>\w+)"(?: WHERE (?P<where>.+?))?'
                       r'(?: GROUP BY (?P<group>.+?))?(?: LIMIT \d+)?$')
FIELD_CALL_RE = re.compile(r'(\w+)\("(\w+)"(?:, [\d.]+)?\)')
TAG_FILTER_RE = re.compile(r'"(\w+)" (=~|!~) /')
FIELD_FILTER_RE = re.compile(r'"(\w+)" (=|!=|>=|<=|>|<) [\d.]+')
SHOW_RE = re.compile(r'^SHOW TAG VALUES FROM "(\w+)" WITH KEY = "(\w+)"$')


def parse_select(query: str) -> tuple[str, set[str], set[str]]:
    """(measurement, fields, tags) of one InfluxQL SELECT as the dashboards write them."""
    m = SELECT_RE.match(query)
    assert m, f"not a SELECT this test can read: {query}"
    fields = {f for _, f in FIELD_CALL_RE.findall(m["cols"])}
    assert fields, f"no field selected: {query}"
    tags: set[str] = set()
    where = m["where"] or ""
    assert where.startswith("$timeFilter"), f"query not bounded by the time picker: {query}"
    tags |= {t for t, _ in TAG_FILTER_RE.findall(where)}
    fields |= {f for f, _ in FIELD_FILTER_RE.findall(TAG_FILTER_RE.sub("", where))}
    for part in (m["group"] or "").split(", "):
        part = part.split(" fill(")[0].strip()
        if part.startswith('"'):
            tags.add(part.strip('"'))
        else:
            assert part == "" or part.startswith("time("), f"unexpected GROUP BY {part!r}: {query}"
    return m["m"], fields, tags


def committed() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(BOARDS_DIR.glob("*.json"))]


def all_targets(board: dict):
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def test_at_least_six_dashboards_are_committed_and_match_the_code():
    files = committed()
    assert len(files) >= 6
    generated = {d["uid"]: d for d in dashboards()}
    assert {d["uid"] for d in files} == set(generated)
    for board in files:
        assert board == generated[board["uid"]], (
            f"deploy/grafana/dashboards/{board['uid']}.json is stale: run python -m streams.dashboards")


@pytest.mark.parametrize("board", committed(), ids=lambda b: b["uid"])
def test_every_query_uses_only_declared_measurements_fields_and_tags(board):
    seen = 0
    for panel, target in all_targets(board):
        measurement, fields, tags = parse_select(target["query"])
        spec = MEASUREMENTS.get(measurement)
        where = f"{board['uid']} panel {panel['id']} {panel['title']!r}"
        assert spec is not None, f"{where}: unknown measurement {measurement!r}"
        assert fields <= set(spec.fields), f"{where}: fields {sorted(fields - set(spec.fields))} not in {measurement}"
        assert tags <= set(spec.tags), f"{where}: tags {sorted(tags - set(spec.tags))} not in {measurement}"
        assert target["rawQuery"] is True and target["datasource"]["type"] == "influxdb"
        seen += 1
    assert seen >= 4, f"{board['uid']} has only {seen} queries"


@pytest.mark.parametrize("board", committed(), ids=lambda b: b["uid"])
def test_variables_come_from_declared_tags_and_every_used_variable_is_defined(board):
    defined = {}
    for var in board.get("templating", {}).get("list", []):
        m = SHOW_RE.match(var["query"])
        assert m, f"{board['uid']} variable {var['name']}: {var['query']!r}"
        measurement, tag = m.groups()
        assert tag in MEASUREMENTS[measurement].tags
        defined[var["name"]] = var
        assert var["includeAll"] and var["allValue"] == ".*"
    used = {v for _, t in all_targets(board) for v in re.findall(r"\$(\w+)\$/", t["query"])}
    assert used <= set(defined), f"{board['uid']} uses undefined variables {used - set(defined)}"
    assert used == set(defined), f"{board['uid']} defines variables it never uses {set(defined) - used}"


def test_site_vehicle_and_sku_variables_exist():
    names = {v["name"] for b in committed() for v in b.get("templating", {}).get("list", [])}
    assert {"site", "vehicle", "sku"} <= names


@pytest.mark.parametrize("board", committed(), ids=lambda b: b["uid"])
def test_grid_layout_fits_and_panels_do_not_overlap(board):
    cells: dict[tuple[int, int], int] = {}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in board["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{p['title']} is wider than the grid"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = p["id"]


def test_operations_overview_has_incidents_recommendations_and_a_map():
    board = next(b for b in committed() if b["uid"] == "opswatch-overview")
    by_measurement = {parse_select(t["query"])[0]: p["type"] for p, t in all_targets(board)}
    assert by_measurement["incident"] in ("stat", "table", "timeseries")
    assert "recommendation" in by_measurement
    geo = [p for p in board["panels"] if p["type"] == "geomap"]
    assert geo and {"lat", "lon"} <= parse_select(geo[0]["targets"][0]["query"])[1]


def test_pipeline_dashboard_covers_throughput_deadletters_and_write_errors():
    board = next(b for b in committed() if b["uid"] == "opswatch-pipeline")
    fields = {f for _, t in all_targets(board) for f in parse_select(t["query"])[1]}
    assert {"events", "deadletters", "write_errors", "batch_ms"} <= fields


def test_builder_refuses_what_the_worker_does_not_write():
    with pytest.raises(SchemaError, match="measurement must be one of"):
        Select("fridges", [FieldExpr("mean", "temp_c")])
    with pytest.raises(SchemaError, match="fields must be among"):
        Select("vehicle", [FieldExpr("mean", "speed_mph")])
    with pytest.raises(SchemaError, match="tags must be among"):
        Select("vehicle", [FieldExpr("mean", "speed_kmh")], group_by=("driver",))
    with pytest.raises(SchemaError, match="variable tag"):
        tag_values("sales", "site")


def test_parser_reads_what_the_builder_writes():
    q = Select("pipeline", [FieldExpr("percentile", "batch_ms", arg=95),
                            FieldExpr("sum", "events", divide_by=60, alias="eps")],
               where_vars={"worker": "w"}, where_fields={"write_errors": (">", 0)},
               group_by=("stage",), interval="1m").render()
    assert parse_select(q) == ("pipeline", {"batch_ms", "events", "write_errors"}, {"worker", "stage"})


def test_every_dashboard_has_a_layout_picture():
    for board in committed():
        png = LAYOUT_DIR / f"{board['uid']}.png"
        assert png.is_file(), f"missing {png}: run python -m streams.dashboards with matplotlib installed"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_layout_renderer_draws_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from streams.dashboards.layout import render

    out = render(committed()[0], tmp_path / "board.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

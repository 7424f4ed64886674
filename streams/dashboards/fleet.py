"""Fleet: where the vehicles are, how fast, how much fuel, how hot the engines run."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, filtered, new_dashboard
from streams.dashboards.overview import open_incidents
from streams.dashboards.panels import (
    filter_rows, gauge_bars, merge_series, organize, position_map, row, table_of, time_series,
)
from streams.settings import DetectorSettings

UID = "opswatch-fleet"
TITLE = "Fleet"
VARIABLES = ("site", "vehicle")


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Vehicle positions, speed, fuel and engine temperature.",
                          ["fleet"], VARIABLES, ds)
    where = filtered("vehicle", VARIABLES)
    board.with_row(row("Now"))
    board.with_panel(position_map(
        "Vehicle positions",
        [(Select("vehicle", [F("last", "lat", "lat"), F("last", "lon", "lon"),
                             F("last", "speed_kmh", "speed_kmh"), F("last", "fuel_pct", "fuel_pct")],
                 where_vars=where, group_by=("vehicle", "depot")), "vehicles")],
        ds, w=14, h=12))
    board.with_panel(gauge_bars(
        "Fuel left",
        [(Select("vehicle", [F("last", "fuel_pct")], where_vars=where, group_by=("vehicle",)),
          "$tag_vehicle")],
        ds, unit="percent", w=10, h=12,
        thresholds=[(None, "red"), (15, "orange"), (30, "green")]))
    board.with_row(row("Trends"))
    board.with_panel(time_series(
        "Speed",
        [(Select("vehicle", [F("mean", "speed_kmh")], where_vars=where, group_by=("vehicle",),
                 interval="$__interval"), "$tag_vehicle")],
        ds, unit="velocitykmh", w=12, h=8))
    board.with_panel(time_series(
        "Engine temperature",
        [(Select("vehicle", [F("max", "engine_temp_c")], where_vars=where, group_by=("vehicle",),
                 interval="$__interval"), "$tag_vehicle")],
        ds, unit="celsius", w=12, h=8, thresholds=[(None, "green"), (105, "red")]))
    board.with_panel(table_of(
        "Open fleet incidents", [open_incidents({"kind": "^vehicle"})], ds, w=24, h=8,
        transformations=[merge_series(), filter_rows("open", 1), organize(["Time", "open"])]))
    return Board(UID, TITLE, board)

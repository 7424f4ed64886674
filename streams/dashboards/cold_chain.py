"""Cold chain: fridge and cold-room temperatures against their safe limit, doors, and excursions."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, filtered, new_dashboard
from streams.dashboards.overview import open_incidents
from streams.dashboards.panels import (
    filter_rows, merge_series, organize, row, table_of, time_series, timeline,
)
from streams.events import ColdChainReading
from streams.settings import DetectorSettings

UID = "opswatch-cold-chain"
TITLE = "Cold chain"
VARIABLES = ("site",)
#: The default safe limit of chilled goods; a reading may carry its own limit.
LIMIT_C = ColdChainReading.model_fields["limit_c"].default


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Fridge and cold-room temperature, humidity, doors and excursions.",
                          ["cold-chain"], VARIABLES, ds)
    where = filtered("cold_chain", VARIABLES)
    board.with_row(row("Temperature"))
    board.with_panel(time_series(
        "Temperature per fridge",
        [(Select("cold_chain", [F("mean", "temp_c")], where_vars=where, group_by=("site", "fridge"),
                 interval="$__interval"), "$tag_site / $tag_fridge")],
        ds, unit="celsius", w=24, h=9, thresholds=[(None, "green"), (LIMIT_C, "red")],
        description=f"Dashed line: the default safe limit of {LIMIT_C:g} °C."))
    board.with_panel(time_series(
        "Humidity",
        [(Select("cold_chain", [F("mean", "humidity_pct")], where_vars=where,
                 group_by=("site", "fridge"), interval="$__interval"), "$tag_site / $tag_fridge")],
        ds, unit="percent", w=12, h=8, min_val=0, max_val=100))
    board.with_panel(timeline(
        "Door open",
        [(Select("cold_chain", [F("max", "door_open")], where_vars=where, group_by=("site", "fridge"),
                 interval="1m"), "$tag_site / $tag_fridge")],
        ds, w=12, h=8))
    board.with_row(row("Detectors and incidents"))
    board.with_panel(time_series(
        "Anomaly likelihood per fridge",
        [(Select("anomaly", [F("max", "score")], where_vars=filtered("anomaly", VARIABLES),
                 where_tags={"entity_kind": "^cold_chain$"}, group_by=("entity", "metric"),
                 interval="$__interval"), "$tag_entity $tag_metric")],
        ds, unit="percentunit", w=12, h=8, min_val=0, max_val=1,
        thresholds=[(None, "green"), (detector.effective_threshold(), "red")]))
    board.with_panel(table_of(
        "Open cold-chain incidents", [open_incidents({"kind": "^cold_chain"})], ds, w=12, h=8,
        transformations=[merge_series(), filter_rows("open", 1), organize(["Time", "open"])]))
    return Board(UID, TITLE, board)

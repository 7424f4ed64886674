"""Detector health: likelihood scores against the threshold, value vs expected, incidents per entity."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, filtered, new_dashboard
from streams.dashboards.panels import big_number, row, time_series
from streams.settings import DetectorSettings

UID = "opswatch-detectors"
TITLE = "Detector health"
VARIABLES = ("site",)


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Detector likelihoods, thresholds and incidents per entity.",
                          ["detectors"], VARIABLES, ds)
    anomaly = filtered("anomaly", VARIABLES)
    incident = filtered("incident", VARIABLES)
    board.with_row(row("Scores"))
    board.with_panel(big_number(
        "Points over threshold in range",
        [Select("anomaly", [F("count", "score")], where_vars=anomaly,
                where_fields={"score": (">=", detector.effective_threshold())})],
        ds, calc="sum", thresholds=[(None, "green"), (1, "orange")]))
    board.with_panel(big_number(
        "Incidents opened in range",
        [Select("incident", [F("count", "open")], where_vars=incident, where_fields={"open": ("=", 1)})],
        ds, calc="sum", thresholds=[(None, "green"), (1, "orange")]))
    board.with_panel(big_number(
        "Longest incident",
        [Select("incident", [F("max", "duration_s")], where_vars=incident)],
        ds, calc="max", unit="s", thresholds=[(None, "green"), (3600, "orange")]))
    board.with_panel(big_number(
        "Highest likelihood", [Select("anomaly", [F("max", "score")], where_vars=anomaly)], ds, calc="max",
        unit="percentunit", thresholds=[(None, "green"), (detector.effective_threshold(), "red")],
        description="Highest likelihood in range; red once it crosses the detector threshold."))
    board.with_panel(time_series(
        "Anomaly likelihood",
        [(Select("anomaly", [F("max", "score")], where_vars=anomaly,
                 group_by=("entity_kind", "entity", "metric"), interval="$__interval"),
          "$tag_entity_kind $tag_entity $tag_metric")],
        ds, unit="percentunit", w=24, h=9, min_val=0, max_val=1,
        thresholds=[(None, "green"), (detector.clear_threshold, "orange"), (detector.effective_threshold(), "red")],
        description=(f"Dashed lines: clear below {detector.clear_threshold:g}, "
                     f"anomalous at {detector.effective_threshold():g}.")))
    board.with_panel(time_series(
        "Value and expected",
        [(Select("anomaly", [F("mean", "value")], where_vars=anomaly, group_by=("entity", "metric"),
                 interval="$__interval"), "$tag_entity $tag_metric"),
         (Select("anomaly", [F("mean", "expected")], where_vars=anomaly,
                 group_by=("entity", "metric"), interval="$__interval"),
          "$tag_entity $tag_metric expected")],
        ds, w=24, h=9))
    board.with_row(row("Incidents"))
    board.with_panel(time_series(
        "Incidents per entity per day",
        [(Select("incident", [F("count", "open")], where_vars=incident,
                 where_fields={"open": ("=", 1)}, group_by=("entity",), interval="1d"),
          "$tag_entity")],
        ds, w=12, h=9, bars=True))
    board.with_panel(time_series(
        "Incident duration by kind",
        [(Select("incident", [F("max", "duration_s")], where_vars=incident, group_by=("kind",),
                 interval="$__interval"), "$tag_kind")],
        ds, unit="s", w=12, h=9))
    return Board(UID, TITLE, board)

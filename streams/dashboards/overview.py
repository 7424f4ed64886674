"""Operations overview: what is wrong right now, what opswatch recommends, and where the vans are."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, filtered, new_dashboard
from streams.dashboards.panels import (
    big_number, filter_rows, merge_series, organize, position_map, row, table_of, time_series,
)
from streams.settings import DetectorSettings

UID = "opswatch-overview"
TITLE = "Operations overview"
VARIABLES = ("site",)
INCIDENT_KEY = ("kind", "entity", "site", "severity")


def open_incidents(where_tags: dict[str, str] | None = None) -> Select:
    """The last state of every incident series; rows with open == 1 are the open ones."""
    return Select("incident", [F("last", "open", "open"), F("last", "severity_level", "level"),
                               F("last", "duration_s", "duration_s")],
                  where_vars=filtered("incident", VARIABLES), where_tags=where_tags or {},
                  group_by=INCIDENT_KEY)


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Open incidents, recommended actions and vehicle positions.",
                          ["overview"], VARIABLES, ds)
    open_only = [merge_series(), filter_rows("open", 1)]
    board.with_row(row("Now"))
    board.with_panel(big_number("Open incidents", [open_incidents()], ds, calc="count", fields="open",
                                table_format=True, transformations=open_only,
                                thresholds=[(None, "green"), (1, "orange")]))
    board.with_panel(big_number("Critical incidents open",
                                [open_incidents({"severity": "^critical$"})], ds, calc="count",
                                fields="open", table_format=True, transformations=open_only,
                                thresholds=[(None, "green"), (1, "red")]))
    board.with_panel(big_number("Recommendations in range",
                                [Select("recommendation", [F("count", "quantity")])], ds, calc="sum",
                                thresholds=[(None, "blue")]))
    board.with_panel(big_number("Dead letters in range",
                                [Select("pipeline", [F("sum", "deadletters")])], ds, calc="sum",
                                thresholds=[(None, "green"), (1, "orange")]))
    board.with_row(row("Incidents and actions"))
    board.with_panel(table_of("Open incidents", [open_incidents()], ds, w=12, h=10,
                              transformations=[*open_only, organize(["Time", "open"])],
                              description="Incidents whose last point has open=1, worst first."))
    board.with_panel(table_of(
        "Recommended actions",
        [Select("recommendation", [F("last", "quantity", "quantity"), F("last", "benefit", "benefit")],
                group_by=("kind", "entity", "from_site", "to_site"))],
        ds, w=12, h=10, transformations=[merge_series()],
        description="Stock transfers and re-routes proposed by the reallocation rules."))
    board.with_row(row("Where"))
    board.with_panel(position_map(
        "Vehicles",
        [(Select("vehicle", [F("last", "lat", "lat"), F("last", "lon", "lon"),
                             F("last", "speed_kmh", "speed_kmh")],
                 where_vars=filtered("vehicle", VARIABLES), group_by=("vehicle",)), "vehicles")],
        ds, w=12, h=12, description="Last reported position of every vehicle."))
    board.with_panel(time_series(
        "Incidents opened per hour",
        [(Select("incident", [F("count", "open")], where_vars=filtered("incident", VARIABLES),
                 where_fields={"open": ("=", 1)}, group_by=("severity",), interval="1h"),
          "$tag_severity")],
        ds, w=12, h=12, bars=True))
    return Board(UID, TITLE, board)

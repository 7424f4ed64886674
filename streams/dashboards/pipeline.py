"""Pipeline health: throughput, dead letters, write errors and batch latency of the workers."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, new_dashboard
from streams.dashboards.panels import big_number, row, time_series
from streams.metrics import MEASUREMENTS
from streams.settings import DetectorSettings

UID = "opswatch-pipeline"
TITLE = "Pipeline health"
#: Shown only once the worker writes it (see the report to the lead): consumer lag per worker.
CONSUMER_LAG_FIELD = "consumer_lag"


def per_second(field: str, group: str) -> tuple[Select, str]:
    # A fixed one-minute bucket divided by 60 gives a rate whatever the zoom level.
    return (Select("pipeline", [F("sum", field, divide_by=60)], group_by=(group,), interval="1m"),
            f"$tag_{group}")


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Events per second, consumer lag, dead letters, write errors.",
                          ["pipeline"], (), ds)
    board.with_row(row("In range"))
    board.with_panel(big_number("Events", [Select("pipeline", [F("sum", "events")])], ds, calc="sum",
                                thresholds=[(None, "blue")]))
    board.with_panel(big_number("Points written", [Select("pipeline", [F("sum", "points_written")])],
                                ds, calc="sum", thresholds=[(None, "blue")]))
    board.with_panel(big_number("Dead letters", [Select("pipeline", [F("sum", "deadletters")])], ds,
                                calc="sum", thresholds=[(None, "green"), (1, "orange")]))
    board.with_panel(big_number("Write errors", [Select("pipeline", [F("sum", "write_errors")])], ds,
                                calc="sum", thresholds=[(None, "green"), (1, "red")]))
    board.with_row(row("Throughput"))
    board.with_panel(time_series("Events per second", [per_second("events", "worker")], ds,
                                 unit="eps", w=12, h=8))
    board.with_panel(time_series("Points written per second", [per_second("points_written", "worker")],
                                 ds, unit="wps", w=12, h=8))
    if CONSUMER_LAG_FIELD in MEASUREMENTS["pipeline"].fields:
        board.with_panel(time_series(
            "Consumer lag",
            [(Select("pipeline", [F("max", CONSUMER_LAG_FIELD)], group_by=("worker",),
                     interval="$__interval"), "$tag_worker")],
            ds, w=24, h=8))
    board.with_row(row("Errors and latency"))
    board.with_panel(time_series(
        "Dead letters per minute",
        [(Select("pipeline", [F("sum", "deadletters")], group_by=("stage",), interval="1m"),
          "$tag_stage")], ds, w=8, h=8, bars=True))
    board.with_panel(time_series(
        "Write errors per minute",
        [(Select("pipeline", [F("sum", "write_errors")], group_by=("worker",), interval="1m"),
          "$tag_worker")], ds, w=8, h=8, bars=True, thresholds=[(None, "green"), (1, "red")]))
    board.with_panel(time_series(
        "Batch time p95",
        [(Select("pipeline", [F("percentile", "batch_ms", arg=95)], group_by=("stage",),
                 interval="1m"), "$tag_stage")], ds, unit="ms", w=8, h=8))
    return Board(UID, TITLE, board)

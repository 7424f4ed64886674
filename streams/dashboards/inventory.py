"""Inventory and sales: stock on hand, days of cover, sales, supplier delays and proposed transfers."""

from __future__ import annotations

from streams.dashboards.base import Board, FieldExpr as F, Select, filtered, new_dashboard
from streams.dashboards.panels import gauge_bars, merge_series, row, table_of, time_series
from streams.settings import DetectorSettings

UID = "opswatch-inventory"
TITLE = "Inventory and sales"
VARIABLES = ("site", "sku")


def build(ds: str, detector: DetectorSettings) -> Board:
    board = new_dashboard(UID, TITLE, "Stock on hand, days of cover, sales and supplier shipments.",
                          ["inventory", "sales"], VARIABLES, ds)
    stock = filtered("stock", VARIABLES)
    sales = filtered("sales", VARIABLES)
    board.with_row(row("Stock"))
    board.with_panel(time_series(
        "Stock on hand",
        [(Select("stock", [F("last", "on_hand")], where_vars=stock, group_by=("site", "sku"),
                 interval="$__interval", fill="previous"), "$tag_site / $tag_sku")],
        ds, w=12, h=9))
    board.with_panel(gauge_bars(
        "Days of cover",
        [(Select("stock", [F("last", "days_of_cover")], where_vars=stock, group_by=("site", "sku")),
          "$tag_site / $tag_sku")],
        ds, unit="d", w=12, h=9, thresholds=[(None, "red"), (2, "orange"), (5, "green")]))
    board.with_row(row("Sales"))
    board.with_panel(time_series(
        "Units sold per hour",
        [(Select("sales", [F("sum", "quantity")], where_vars=sales, group_by=("store",),
                 interval="1h"), "$tag_store")],
        ds, w=12, h=8, bars=True))
    board.with_panel(time_series(
        "Revenue per hour",
        [(Select("sales", [F("sum", "revenue")], where_vars=sales, group_by=("store",),
                 interval="1h"), "$tag_store")],
        ds, unit="currencyEUR", w=12, h=8, bars=True))
    board.with_row(row("Supply"))
    board.with_panel(time_series(
        "Shipment delay",
        [(Select("shipment", [F("max", "delay_min")], group_by=("supplier",),
                 interval="$__interval"), "$tag_supplier")],
        ds, unit="m", w=12, h=8, thresholds=[(None, "green"), (60, "orange")]))
    board.with_panel(table_of(
        "Proposed stock transfers",
        [Select("recommendation", [F("last", "quantity", "quantity"), F("last", "benefit", "benefit")],
                where_tags={"kind": "stock|supplier"}, group_by=("entity", "from_site", "to_site"))],
        ds, w=12, h=8, transformations=[merge_series()]))
    return Board(UID, TITLE, board)

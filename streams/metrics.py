"""The metric schema: every measurement, tag and field the worker writes to the time-series store.

This is the single source of truth for dashboards and alert rules (``deploy/grafana``): the core
builds points only through ``point()``, which refuses anything not declared here, and the
dashboard tests check every query against ``MEASUREMENTS``. Field units live in field names.

Where this sits in the flow: ... -> incident -> rule -> **sink** (points go to InfluxDB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    doc: str

    @property
    def tagset(self) -> frozenset[str]:
        return _TAGSETS[self.name]

    @property
    def fieldset(self) -> frozenset[str]:
        return _FIELDSETS[self.name]


MEASUREMENTS: dict[str, Measurement] = {
    m.name: m
    for m in (
        Measurement("cold_chain", ("site", "fridge"),
                    ("temp_c", "humidity_pct", "door_open"),
                    "Fridge and cold-room sensor readings."),
        Measurement("vehicle", ("vehicle", "depot"),
                    ("speed_kmh", "fuel_pct", "engine_temp_c", "lat", "lon"),
                    "Vehicle telemetry."),
        Measurement("sales", ("store", "sku"),
                    ("quantity", "revenue"),
                    "Point-of-sale sales, one point per sale."),
        Measurement("stock", ("site", "sku"),
                    ("on_hand", "days_of_cover", "lat", "lon"),
                    "Stock on hand per site and SKU, days of cover at the current sales rate, site position."),
        Measurement("shipment", ("shipment", "supplier", "destination"),
                    ("delay_min", "status_code"),
                    "Shipment status updates; delay against the promised arrival."),
        Measurement("anomaly", ("entity_kind", "entity", "metric", "site"),
                    ("score", "value", "expected"),
                    "Detector likelihood in [0, 1] per entity and metric, with expected value."),
        Measurement("incident", ("kind", "entity", "site", "severity"),
                    ("open", "severity_level", "duration_s"),
                    "Incident state: open=1 while open, 0 on the resolving point. The severity tag is "
                    "the severity at opening (so one incident is one series); severity_level follows "
                    "escalation (1 info, 2 warning, 3 critical)."),
        Measurement("recommendation", ("kind", "entity", "from_site", "to_site"),
                    ("quantity", "benefit"),
                    "Reallocation recommendations made by the rules."),
        Measurement("pipeline", ("worker", "stage"),
                    ("events", "deadletters", "points_written", "write_errors", "batch_ms", "consumer_lag"),
                    "Pipeline health, one point per processed batch; consumer_lag is the messages "
                    "behind the partition's high-water mark after the batch."),
    )
}


_TAGSETS = {m.name: frozenset(m.tags) for m in MEASUREMENTS.values()}
_FIELDSETS = {m.name: frozenset(m.fields) for m in MEASUREMENTS.values()}


@dataclass(slots=True)
class MetricPoint:
    """One point for the time-series store, keyed by (measurement, tags, time) so replays overwrite."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float]
    time: datetime

    def series_key(self) -> tuple:
        return (self.measurement, tuple(sorted(self.tags.items())))


def point(measurement: str, tags: dict[str, str], fields: dict[str, float | int | bool | None],
          time: datetime) -> MetricPoint:
    """Build a point, dropping None tags and fields; an undeclared measurement, tag or field is a bug.

    Values are kept as given (the encoder writes every field as a float), because this runs twice
    per event on the hot path.
    """
    tagset = _TAGSETS.get(measurement)
    if tagset is None:
        raise KeyError(f"measurement must be one of {sorted(MEASUREMENTS)}; got {measurement!r}")
    if not (tags.keys() <= tagset and fields.keys() <= _FIELDSETS[measurement]):
        bad_tags = set(tags) - tagset
        bad_fields = set(fields) - _FIELDSETS[measurement]
        raise KeyError(f"{measurement}: undeclared tags {sorted(bad_tags)} / fields {sorted(bad_fields)}")
    if None in tags.values():
        tags = {k: v for k, v in tags.items() if v is not None}
    if None in fields.values():
        fields = {k: v for k, v in fields.items() if v is not None}
    return MetricPoint(measurement, tags, fields, time)

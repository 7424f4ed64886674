"""The pieces every opswatch dashboard is made of: InfluxQL queries built from the metric schema.

A panel never holds a hand-written query. It asks ``Select`` for one, naming a measurement, the
fields it aggregates and the tags it filters and groups by; ``Select`` refuses anything that is not
in ``streams.metrics.MEASUREMENTS``, so a dashboard cannot ask for a series the worker never writes.
The tests parse the emitted text back (``FROM "<measurement>"``, the selected fields, the tags) and
check it against the same schema, so the two sides cannot drift apart.

InfluxQL runs on InfluxDB 1.x, on 2.x through a DBRP mapping of the bucket, and on 3.x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dashboard_model

from streams.metrics import MEASUREMENTS

DATASOURCE_TYPE = "influxdb"
DEFAULT_DATASOURCE_UID = "opswatch-influxdb"

#: Grafana's dashboard template variables: variable name -> the tag it filters, per measurement.
#: ``site`` also stands for a store's till data and a vehicle's depot, so one picker drives a page.
VARIABLE_TAGS: dict[str, dict[str, str]] = {
    "site": {"cold_chain": "site", "stock": "site", "anomaly": "site", "incident": "site",
             "sales": "store", "vehicle": "depot"},
    "vehicle": {"vehicle": "vehicle"},
    "sku": {"stock": "sku", "sales": "sku"},
}

AGGREGATES = frozenset({"mean", "last", "max", "min", "sum", "count", "median", "percentile",
                        "first", "spread", "stddev"})


class SchemaError(KeyError):
    """A dashboard or alert asked for a measurement, field or tag the worker does not write."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def datasource_ref(uid: str = DEFAULT_DATASOURCE_UID) -> dashboard_model.DataSourceRef:
    return dashboard_model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=uid)


@dataclass(frozen=True)
class FieldExpr:
    """One selected column: ``agg("field")`` with optional extra arguments, scale and alias."""

    agg: str
    field: str
    alias: str | None = None
    arg: float | None = None      # percentile("batch_ms", 95)
    divide_by: float | None = None  # sum("events") / 60 for a per-second rate

    def render(self) -> str:
        inner = f'"{self.field}"' if self.arg is None else f'"{self.field}", {self.arg:g}'
        text = f"{self.agg}({inner})"
        if self.divide_by is not None:
            text += f" / {self.divide_by:g}"
        return text + (f' AS "{self.alias}"' if self.alias else "")


@dataclass
class Select:
    """An InfluxQL ``SELECT`` over one declared measurement.

    >>> q = Select("cold_chain", [FieldExpr("mean", "temp_c")], where_vars={"site": "site"},
    ...            group_by=("fridge",), interval="$__interval")
    >>> q.render()
    'SELECT mean("temp_c") FROM "cold_chain" WHERE $timeFilter AND "site" =~ /^$site$/ GROUP BY time($__interval), "fridge" fill(none)'
    >>> Select("cold_chain", [FieldExpr("mean", "temp_f")]).render()
    Traceback (most recent call last):
    ...
    streams.dashboards.base.SchemaError: cold_chain: fields must be among ['door_open', 'humidity_pct', 'temp_c']; got ['temp_f']
    """

    measurement: str
    fields: list[FieldExpr]
    where_vars: dict[str, str] = field(default_factory=dict)   # tag -> dashboard variable
    where_tags: dict[str, str] = field(default_factory=dict)   # tag -> regex, e.g. kind =~ /^cold_chain/
    where_not_tags: dict[str, str] = field(default_factory=dict)  # tag -> regex it must not match
    where_fields: dict[str, tuple[str, float]] = field(default_factory=dict)  # open: ("=", 1)
    group_by: tuple[str, ...] = ()
    interval: str | None = None
    fill: str | None = "none"
    limit: int | None = None

    def __post_init__(self) -> None:
        spec = MEASUREMENTS.get(self.measurement)
        if spec is None:
            raise SchemaError(f"measurement must be one of {sorted(MEASUREMENTS)}; got {self.measurement!r}")
        selected = {f.field for f in self.fields} | set(self.where_fields)
        bad_fields = sorted(selected - set(spec.fields))
        if bad_fields:
            raise SchemaError(f"{self.measurement}: fields must be among {sorted(spec.fields)}; got {bad_fields}")
        tags = set(self.where_vars) | set(self.where_tags) | set(self.where_not_tags) | set(self.group_by)
        bad_tags = sorted(tags - set(spec.tags))
        if bad_tags:
            raise SchemaError(f"{self.measurement}: tags must be among {sorted(spec.tags)}; got {bad_tags}")
        bad_ops = sorted(op for op, _ in self.where_fields.values() if op not in ("=", "!=", ">", ">=", "<", "<="))
        if bad_ops:
            raise SchemaError(f"field comparison must be one of =, !=, >, >=, <, <=; got {bad_ops}")
        bad_aggs = sorted({f.agg for f in self.fields} - AGGREGATES)
        if bad_aggs:
            raise SchemaError(f"aggregate must be one of {sorted(AGGREGATES)}; got {bad_aggs}")
        if not self.fields:
            raise SchemaError(f"{self.measurement}: a query selects at least one field; got none")

    def render(self) -> str:
        conds = ["$timeFilter"]
        conds += [f'"{tag}" =~ /^${var}$/' for tag, var in self.where_vars.items()]
        conds += [f'"{tag}" =~ /{regex}/' for tag, regex in self.where_tags.items()]
        conds += [f'"{tag}" !~ /{regex}/' for tag, regex in self.where_not_tags.items()]
        conds += [f'"{name}" {op} {value:g}' for name, (op, value) in self.where_fields.items()]
        text = f'SELECT {", ".join(f.render() for f in self.fields)} FROM "{self.measurement}" WHERE {" AND ".join(conds)}'
        groups = ([f"time({self.interval})"] if self.interval else []) + [f'"{t}"' for t in self.group_by]
        if groups:
            text += " GROUP BY " + ", ".join(groups)
            if self.interval and self.fill:
                text += f" fill({self.fill})"
        if self.limit:
            text += f" LIMIT {self.limit}"
        return text


def filtered(measurement: str, variables: tuple[str, ...]) -> dict[str, str]:
    """The ``where_vars`` for a measurement: each dashboard variable that maps to one of its tags."""
    out = {}
    for var in variables:
        tag = VARIABLE_TAGS.get(var, {}).get(measurement)
        if tag is not None:
            out[tag] = var
    return out


def tag_values(measurement: str, tag: str) -> str:
    """The InfluxQL behind a template variable; the tag must be declared on the measurement."""
    spec = MEASUREMENTS.get(measurement)
    if spec is None or tag not in spec.tags:
        raise SchemaError(f"{measurement}: variable tag must be among {sorted(spec.tags) if spec else []}; got {tag!r}")
    return f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{tag}"'


class InfluxQLQuery(cogvariants.Dataquery):
    """The InfluxDB data source's query model in raw InfluxQL mode, as Grafana stores it."""

    def __init__(self, ref_id: str, query: str, result_format: str, datasource_uid: str,
                 alias: str | None = None, hide: bool = False) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.datasource_uid = datasource_uid
        self.alias = alias
        self.hide = hide

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "refId": self.ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": self.datasource_uid},
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        if self.hide:
            out["hide"] = True
        return out


class Target(cogbuilder.Builder[InfluxQLQuery]):
    """Builder for a panel or alert query from a ``Select``, in the grafana-foundation-sdk style."""

    def __init__(self, select: Select, ref_id: str = "A", table: bool = False,
                 alias: str | None = None, datasource_uid: str = DEFAULT_DATASOURCE_UID) -> None:
        self.select = select
        self._query = InfluxQLQuery(ref_id, select.render(), "table" if table else "time_series",
                                    datasource_uid, alias)

    def build(self) -> InfluxQLQuery:
        return self._query


def query_variable(name: str, measurement: str, tag: str, label: str,
                   datasource_uid: str = DEFAULT_DATASOURCE_UID) -> dashboard_builder.QueryVariable:
    query = tag_values(measurement, tag)
    return (dashboard_builder.QueryVariable(name)
            .label(label)
            .datasource(datasource_ref(datasource_uid))
            .query(query)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(dashboard_model.VariableOption(selected=True, text="All", value="$__all"))
            .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC))


#: Template variables by name: the measurement and tag their values come from.
VARIABLE_SOURCES: dict[str, tuple[str, str, str]] = {
    "site": ("stock", "site", "Site"),
    "vehicle": ("vehicle", "vehicle", "Vehicle"),
    "sku": ("stock", "sku", "SKU"),
}


@dataclass(frozen=True)
class Board:
    """What a dashboard module hands back: its builder and where it goes on disk."""

    uid: str
    title: str
    builder: dashboard_builder.Dashboard


def new_dashboard(uid: str, title: str, description: str, tags: list[str],
                  variables: tuple[str, ...], datasource_uid: str) -> dashboard_builder.Dashboard:
    board = (dashboard_builder.Dashboard(title)
             .uid(uid)
             .description(description)
             .tags(["opswatch", *tags])
             .timezone("utc")
             .time("now-6h", "now")
             .refresh("30s")
             .readonly()
             .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR))
    for name in variables:
        measurement, tag, label = VARIABLE_SOURCES[name]
        board.with_variable(query_variable(name, measurement, tag, label, datasource_uid))
    for other_uid, other_title in BOARD_LINKS:
        if other_uid != uid:
            board.link(dashboard_builder.DashboardLink(other_title)
                       .type(dashboard_model.DashboardLinkType.LINK)
                       .url(f"/d/{other_uid}")
                       .keep_time(True)
                       .include_vars(True))
    return board


#: Every dashboard, for the link bar at the top of each one: (uid, title).
BOARD_LINKS: tuple[tuple[str, str], ...] = (
    ("opswatch-overview", "Operations overview"),
    ("opswatch-cold-chain", "Cold chain"),
    ("opswatch-fleet", "Fleet"),
    ("opswatch-inventory", "Inventory and sales"),
    ("opswatch-detectors", "Detector health"),
    ("opswatch-pipeline", "Pipeline health"),
)


def number_panels(panels: list[dict]) -> list[dict]:
    """Give every panel a stable id, in layout order, so links like ``viewPanel=3`` keep working."""
    for i, panel in enumerate(panels, start=1):
        panel["id"] = i
    return panels

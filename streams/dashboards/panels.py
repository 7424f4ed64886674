"""Panel shapes the opswatch dashboards reuse, each fed by ``Select`` queries from ``base``.

Every helper takes the data source uid so one set of dashboards can point at whichever InfluxDB
data source ``OPSWATCH_GRAFANA__DATASOURCE_UID`` names.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import (
    bargauge,
    common as common_builder,
    dashboard as dashboard_builder,
    geomap,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

from streams.dashboards.base import Select, Target, datasource_ref

Query = Select | tuple[Select, str]  # a query, optionally with a legend alias


def _targets(panel, queries: list[Query], ds: str, table_format: bool = False):
    panel.datasource(datasource_ref(ds))
    for i, q in enumerate(queries):
        select, alias = (q if isinstance(q, tuple) else (q, None))
        panel.with_target(Target(select, ref_id=chr(ord("A") + i), table=table_format,
                                 alias=alias, datasource_uid=ds))
    return panel


def _thresholds(steps: list[tuple[float | None, str]]) -> dashboard_builder.ThresholdsConfig:
    return (dashboard_builder.ThresholdsConfig()
            .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
            .steps([dashboard_model.Threshold(value=v, color=c) for v, c in steps]))


def _legend() -> common_builder.VizLegendOptions:
    return (common_builder.VizLegendOptions()
            .display_mode(common_model.LegendDisplayMode.LIST)
            .placement(common_model.LegendPlacement.BOTTOM)
            .show_legend(True))


def time_series(title: str, queries: list[Query], ds: str, *, unit: str = "short", w: int = 12,
                h: int = 8, description: str = "", bars: bool = False,
                thresholds: list[tuple[float | None, str]] | None = None,
                min_val: float | None = None, max_val: float | None = None):
    panel = (timeseries.Panel().title(title).description(description).unit(unit).span(w).height(h)
             .legend(_legend())
             .draw_style(common_model.GraphDrawStyle.BARS if bars else common_model.GraphDrawStyle.LINE)
             .fill_opacity(60 if bars else 10)
             .line_width(1))
    if thresholds:
        panel.thresholds(_thresholds(thresholds)).thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common_model.GraphTresholdsStyleMode.DASHED))
    if min_val is not None:
        panel.min(min_val)
    if max_val is not None:
        panel.max(max_val)
    return _targets(panel, queries, ds)


def big_number(title: str, queries: list[Query], ds: str, *, calc: str = "lastNotNull",
               unit: str = "short", w: int = 6, h: int = 4, description: str = "",
               thresholds: list[tuple[float | None, str]] | None = None,
               table_format: bool = False, transformations: list | None = None,
               fields: str = ""):
    panel = (stat.Panel().title(title).description(description).unit(unit).span(w).height(h)
             .graph_mode(common_model.BigValueGraphMode.NONE)
             .color_mode(common_model.BigValueColorMode.BACKGROUND)
             .reduce_options(common_builder.ReduceDataOptions().calcs([calc]).values(False)
                             .fields(fields)))
    if thresholds:
        panel.thresholds(_thresholds(thresholds))
    for t in transformations or []:
        panel.with_transformation(t)
    return _targets(panel, queries, ds, table_format)


def table_of(title: str, queries: list[Query], ds: str, *, w: int = 12, h: int = 8,
             description: str = "", transformations: list | None = None, unit: str = "short"):
    panel = table.Panel().title(title).description(description).span(w).height(h).unit(unit)
    for t in transformations or []:
        panel.with_transformation(t)
    return _targets(panel, queries, ds, table_format=True)


def timeline(title: str, queries: list[Query], ds: str, *, w: int = 12, h: int = 8,
             description: str = ""):
    panel = (statetimeline.Panel().title(title).description(description).span(w).height(h)
             .show_value(common_model.VisibilityMode.NEVER)
             .merge_values(True)
             .thresholds(_thresholds([(None, "green"), (1, "red")])))
    return _targets(panel, queries, ds)


def gauge_bars(title: str, queries: list[Query], ds: str, *, unit: str = "short", w: int = 12,
               h: int = 8, description: str = "",
               thresholds: list[tuple[float | None, str]] | None = None):
    panel = (bargauge.Panel().title(title).description(description).unit(unit).span(w).height(h)
             .orientation(common_model.VizOrientation.HORIZONTAL)
             .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
             .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    if thresholds:
        panel.thresholds(_thresholds(thresholds))
    return _targets(panel, queries, ds)


def position_map(title: str, queries: list[Query], ds: str, *, w: int = 12, h: int = 12,
                 description: str = "", lat_field: str = "lat", lon_field: str = "lon"):
    """A geomap with one marker layer per query; each query returns lat/lon columns as a table."""
    layers = []
    for q in queries:
        select, name = (q if isinstance(q, tuple) else (q, select_name(q)))
        layers.append(common_builder.MapLayerOptions()
                      .type("markers")
                      .name(name)
                      .location(common_builder.FrameGeometrySource()
                                .mode(common_model.FrameGeometrySourceMode.COORDS)
                                .latitude(lat_field)
                                .longitude(lon_field))
                      .tooltip(True)
                      .config({"showLegend": True, "style": {"size": {"fixed": 6},
                                                             "color": {"fixed": "dark-green"}}}))
    panel = (geomap.Panel().title(title).description(description).span(w).height(h)
             .view(geomap.MapViewConfig().id("fit").all_layers(True).zoom(10))
             .basemap(common_builder.MapLayerOptions().type("default").name("Basemap"))
             .layers(layers)
             .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
             .with_transformation(merge_series()))  # one row per vehicle, one frame per layer
    return _targets(panel, queries, ds, table_format=True)


def select_name(q: Query) -> str:
    select = q[0] if isinstance(q, tuple) else q
    return select.measurement


def row(title: str) -> dashboard_builder.Row:
    return dashboard_builder.Row(title)


def filter_rows(field: str, value: float) -> dashboard_model.DataTransformerConfig:
    """Keep only table rows whose ``field`` equals ``value`` (open incidents: ``open`` == 1)."""
    return dashboard_model.DataTransformerConfig(id_val="filterByValue", options={
        "type": "include", "match": "all",
        "filters": [{"fieldName": field, "config": {"id": "equal", "options": {"value": value}}}],
    })


def merge_series() -> dashboard_model.DataTransformerConfig:
    """Join grouped InfluxQL series into one table (one row per tag set)."""
    return dashboard_model.DataTransformerConfig(id_val="merge", options={})


def organize(exclude: list[str]) -> dashboard_model.DataTransformerConfig:
    return dashboard_model.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {name: True for name in exclude}})

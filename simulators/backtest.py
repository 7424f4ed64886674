"""Backtests: labelled scenarios (or recordings) through the same processing core, scored honestly.

Where this sits in the flow: **source** (simulator or recording) -> validate -> detect -> incident ->
rule -> sink (here: a scorecard instead of Kafka). Nothing is mocked: each scenario's world is
simulated minute by minute, its messages go through ``OperationsCore.process`` as raw bytes and
``OperationsCore.tick`` runs on the simulated clock every minute, exactly as in the worker.

Scoring, per ground-truth entry (entity, kind, start, end):

- **detected** when the core *opens* an incident of that kind on that entity between ``start`` and
  ``end + GRACE``; the **delay** is from ``start`` to the open (the moment someone is told, after
  the incident book's hysteresis). ``sensor_fault`` has no incident kind: it counts as detected at
  the first anomaly score at or above the core's threshold on that entity and metric, or the
  first incident of any kind on that entity, in the window.
- other incidents opened on the disrupted entity (or, for a silent site, on anything at that site)
  inside the window are **related** (a stockout spike is also a demand spike): neither detections
  nor false alarms, but listed.
  Door-open readings are not counted (the core ignores them too), and anomaly episodes outside
  any disruption give the false-alarm rate of that signal.
- every other incident opened in the run is **false**. Rates are per entity per day: false
  incidents of a kind / (entities of that kind x simulated days).
- **recommendations** are those the rules made for the detecting or related incidents.

A missed disruption is reported as missed. The figures are deterministic for a seed: no wall
clock enters them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulators.base import GroundTruth
from simulators.library import Scenario
from simulators.producer import Simulation
from simulators.world import PRESETS, World

#: Local midnight of the first simulated day (the business clock is anchored so local == UTC).
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
#: A detection this long after the end of the disruption still counts (silence needs time to show).
GRACE = timedelta(minutes=30)
#: Series plotted around each ground truth.
PLOT_BEFORE, PLOT_AFTER = timedelta(hours=3), timedelta(hours=2)
ANOMALY_EPISODE_GAP = timedelta(minutes=30)


@dataclass
class Series:
    """One plotted line: timestamps and values."""

    name: str
    ts: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class IncidentSpan:
    incident_id: str
    kind: str
    entity: str
    site: str | None
    opened: datetime  # when the core opened it (the change time)
    first_active: datetime
    resolved: datetime | None = None
    recommendations: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    truth: GroundTruth
    detected: bool
    detected_at: datetime | None
    signal: str | None  # "incident", "anomaly" or None
    incident_id: str | None
    related: list[str]
    recommendations: list[str]

    @property
    def delay_s(self) -> float | None:
        return None if self.detected_at is None else (self.detected_at - self.truth.start).total_seconds()


@dataclass
class RunResult:
    """One scenario run: its ground truth, verdicts, incidents, false alarms and plotted series."""

    name: str
    description: str
    start: datetime
    end: datetime
    verdicts: list[Verdict]
    incidents: list[IncidentSpan]
    false_incidents: list[IncidentSpan]
    false_anomaly_episodes: int
    entities: dict[str, int]  # incident kind -> how many entities could have it
    series: dict[str, dict[str, Series]]  # ground-truth key -> {series name: Series}
    messages: int
    deadletters: int

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _truth_key(g: GroundTruth) -> str:
    return f"{g.disruption or g.kind}:{g.entity}:{g.start.isoformat()}"


class _Collector:
    """Keeps, from the core's output, only the points the report plots around the ground truth."""

    def __init__(self, truths: Sequence[GroundTruth], world: World | None, threshold: float):
        self.threshold = threshold
        self.series: dict[str, dict[str, Series]] = {_truth_key(g): {} for g in truths}
        self.wants: dict[tuple, list[tuple[str, str, datetime, datetime]]] = defaultdict(list)
        self.sales_by_store: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.silent_sites: dict[str, list[str]] = defaultdict(list)
        self.anomalies: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        self.door_open: dict[str, bool] = {}
        for g in truths:
            key, lo, hi = _truth_key(g), g.start - PLOT_BEFORE, (g.end or g.start) + PLOT_AFTER

            def want(sel: tuple, name: str, key=key, lo=lo, hi=hi) -> None:
                self.wants[sel].append((key, name, lo, hi))

            if g.kind in ("cold_chain_excursion", "sensor_fault"):
                want(("cold_chain", g.entity, "temp_c"), "temp_c (reported)")
                want(("anomaly", g.entity, "temp_c"), "anomaly score")
            elif g.kind == "vehicle_stopped":
                want(("vehicle", g.entity, "speed_kmh"), "speed_kmh")
                want(("anomaly", g.entity, "engine_temp_c"), "anomaly score")
            elif g.kind in ("stockout_risk", "demand_spike"):
                want(("stock", g.entity, "on_hand"), "on_hand")
                want(("sales", g.entity, "quantity"), "units sold per 15 min")
            elif g.kind == "supplier_late":
                want(("shipment", g.entity, "delay_min"), "delay_min")
            elif g.kind == "device_silent" and g.site:
                want(("sales_store", g.site, "quantity"), f"units sold per 15 min at {g.site}")
            elif g.kind == "site_silent":
                for f in world.fridges_at(g.entity) if world is not None else ():
                    want(("cold_chain", f.id, "temp_c"), f"{f.id} temp_c")
                want(("sales_store", g.entity, "quantity"), "units sold per 15 min")

    def add(self, points: Iterable) -> None:
        wants, thr = self.wants, self.threshold
        for p in points:
            m, tags = p.measurement, p.tags
            if m == "anomaly":
                # a door-open reading is never evidence (the core ignores it the same way)
                if p.fields.get("score", 0.0) >= thr and not (
                        tags["metric"] == "temp_c" and self.door_open.get(tags["entity"], False)):
                    self.anomalies[(tags["entity"], tags["metric"])].append(p.time)
                sel = ("anomaly", tags["entity"], tags["metric"])
                self._put(sel, p, "score")
            elif m == "cold_chain":
                self.door_open[tags["fridge"]] = bool(p.fields.get("door_open"))
                self._put(("cold_chain", tags["fridge"], "temp_c"), p, "temp_c")
            elif m == "vehicle":
                self._put(("vehicle", tags["vehicle"], "speed_kmh"), p, "speed_kmh")
            elif m == "stock":
                self._put(("stock", f"{tags['site']}:{tags['sku']}", "on_hand"), p, "on_hand")
            elif m == "sales":
                self._put(("sales", f"{tags['store']}:{tags['sku']}", "quantity"), p, "quantity", bucket=True)
                self._put(("sales_store", tags["store"], "quantity"), p, "quantity", bucket=True)
            elif m == "shipment":
                self._put(("shipment", tags["shipment"], "delay_min"), p, "delay_min")

    def _put(self, sel: tuple, p, fieldname: str, bucket: bool = False) -> None:
        targets = self.wants.get(sel)
        if not targets:
            return
        v = p.fields.get(fieldname)
        if v is None:
            return
        for key, name, lo, hi in targets:
            if not lo <= p.time < hi:
                continue
            s = self.series[key].setdefault(name, Series(name))
            if bucket:  # counts per 15 minutes: a sale is a point, the reader wants a rate
                t = p.time.replace(minute=p.time.minute - p.time.minute % 15, second=0, microsecond=0)
                if s.ts and s.ts[-1] == t:
                    s.values[-1] += float(v)
                else:
                    s.ts.append(t)
                    s.values.append(float(v))
            else:
                s.ts.append(p.time)
                s.values.append(float(v))


def run_messages(name: str, description: str, batches: Iterable[tuple[datetime, list]], truths: list[GroundTruth],
                 world: World | None, start: datetime, end: datetime, core=None,
                 entities: dict[str, int] | None = None, on_minute: Callable[[datetime], None] | None = None
                 ) -> RunResult:
    """Run ``(minute_end, [RawMessage])`` batches through the core, ticking at each minute end."""
    from streams.core import OperationsCore

    core = core or OperationsCore()
    collector = _Collector(truths, world, core.threshold)
    spans: dict[str, IncidentSpan] = {}
    order: list[IncidentSpan] = []
    messages = deadletters = 0
    for minute_end, raw in batches:
        messages += len(raw)
        for out in (core.process(raw), core.tick(minute_end)):
            deadletters += len(out.deadletters)
            collector.add(out.points)
            for ch in out.incidents:
                inc = ch.incident
                if ch.state == "open":
                    span = IncidentSpan(inc.incident_id, inc.kind, inc.entity, inc.site, ch.ts, inc.opened_at)
                    spans[inc.incident_id] = span
                    order.append(span)
                elif ch.state == "resolved" and inc.incident_id in spans:
                    spans[inc.incident_id].resolved = ch.ts
            for rec in out.recommendations:
                if rec.incident_id in spans:
                    spans[rec.incident_id].recommendations.append(rec.kind)
        if on_minute is not None:
            on_minute(minute_end)
    verdicts, explained = _score(truths, order, collector)
    false = [s for s in order if s.incident_id not in explained]
    false_anomalies = _false_anomaly_episodes(collector.anomalies, truths)
    if entities is None:
        entities = _entities(world, core) if world is not None else {}
    return RunResult(name, description, start, end, verdicts, order, false, false_anomalies, entities,
                     collector.series, messages, deadletters)


def _entities(world: World, core) -> dict[str, int]:
    shelves = len(world.stores) * len(world.skus)
    return {"cold_chain_excursion": len(world.fridges), "sensor_fault": len(world.fridges),
            "vehicle_stopped": len(world.vehicles), "stockout_risk": shelves, "demand_spike": shelves,
            "supplier_late": max(1, len(core.ops.suppliers.shipments)),
            "device_silent": len(world.fridges) + len(world.vehicles) + 2 * len(world.stores),
            "site_silent": len(world.sites)}


def _score(truths: Sequence[GroundTruth], incidents: Sequence[IncidentSpan], collector: _Collector
           ) -> tuple[list[Verdict], set[str]]:
    verdicts, explained = [], set()
    for g in truths:
        lo, hi = g.start, (g.end or datetime.max.replace(tzinfo=UTC)) + GRACE
        inside = [s for s in incidents if lo <= s.opened < hi]
        hits = [s for s in inside if s.kind == g.kind and s.entity == g.entity]
        related = [s for s in inside if s not in hits and (
            s.entity == g.entity or s.entity.startswith(f"{g.entity}:")
            or (g.kind == "site_silent" and s.site == g.entity))]
        detected_at, signal, incident = None, None, None
        if hits:
            detected_at, signal, incident = hits[0].opened, "incident", hits[0].incident_id
        if g.kind == "sensor_fault":
            scores = [t for t in collector.anomalies.get((g.entity, g.metric or ""), []) if lo <= t < hi]
            if scores:
                detected_at, signal = scores[0], "anomaly"
            if related and (detected_at is None or related[0].opened < detected_at):
                detected_at, signal, incident = related[0].opened, "incident", related[0].incident_id
        recs = sorted(r for s in hits + related for r in s.recommendations)
        explained.update(s.incident_id for s in hits + related)
        verdicts.append(Verdict(g, detected_at is not None, detected_at, signal, incident,
                                [s.incident_id for s in related], recs))
    return verdicts, explained


def _false_anomaly_episodes(anomalies: dict[tuple[str, str], list[datetime]], truths: Sequence[GroundTruth]) -> int:
    """Fridge temperature anomaly episodes (scores >= threshold, 30 min apart) outside any disruption
    on that fridge: the false-alarm rate of the signal ``sensor_fault`` is judged by."""
    n = 0
    for (entity, metric), times in anomalies.items():
        if metric != "temp_c":
            continue
        windows = [(g.start, (g.end or g.start) + GRACE) for g in truths if g.entity == entity]
        last = None
        for t in times:
            if any(lo <= t < hi for lo, hi in windows):
                continue
            if last is None or t - last > ANOMALY_EPISODE_GAP:
                n += 1
            last = t
    return n


def simulate_scenario(scenario: Scenario, seed: int = 7, preset: str = "small", world: World | None = None,
                      on_minute: Callable[[datetime], None] | None = None) -> RunResult:
    """Simulate ``scenario`` from local midnight of day one and run it through a fresh core."""
    from streams.records import RawMessage

    world = world or World.preset(preset, seed=seed)
    sim = Simulation(world, ORIGIN, seed=seed, disruptions=scenario.disruptions(ORIGIN),
                     live_start=ORIGIN + timedelta(hours=12, minutes=30))
    end = ORIGIN + scenario.end()
    offsets: dict[str, int] = defaultdict(int)

    def batches() -> Iterable[tuple[datetime, list]]:
        t = ORIGIN
        while t < end:
            t1 = min(t + timedelta(minutes=60), end)
            by_minute: dict[datetime, list] = defaultdict(list)
            for m in sim.messages_between(t, t1):
                topic = f"opswatch.{m.topic}"
                by_minute[m.ts.replace(second=0, microsecond=0)].append(
                    RawMessage(m.value, topic, 0, offsets[topic], m.key))
                offsets[topic] += 1
            minute = t
            while minute < t1:
                yield minute + timedelta(minutes=1), by_minute.get(minute, [])
                minute += timedelta(minutes=1)
            t = t1

    return run_messages(scenario.name, scenario.description, batches(), list(sim.ground_truth), world, ORIGIN, end,
                        on_minute=on_minute)


# --------------------------------------------------------------------------------------------
# Summaries


def summarise(runs: Sequence[RunResult], seed: int | None = None, preset: str | None = None) -> dict:
    """The machine-readable result: per run, per disruption kind, per incident kind. Deterministic."""
    by_disruption: dict[str, dict] = {}
    rows: dict[str, list[Verdict]] = defaultdict(list)
    for run in runs:
        for v in run.verdicts:
            rows[v.truth.disruption or v.truth.kind].append(v)
    false_by_kind: dict[str, dict] = {}
    for kind in sorted({k for r in runs for k in r.entities} | {s.kind for r in runs for s in r.false_incidents}):
        n = sum(1 for r in runs for s in r.false_incidents if s.kind == kind)
        entity_days = sum(r.entities.get(kind, 0) * r.days for r in runs)
        false_by_kind[kind] = {"false_incidents": n, "entity_days": round(entity_days, 2),
                               "per_entity_per_day": round(n / entity_days, 4) if entity_days else None}
    fridge_days = sum(r.entities.get("sensor_fault", 0) * r.days for r in runs)
    n_anom = sum(r.false_anomaly_episodes for r in runs)
    false_by_kind["sensor_fault"] = {
        "false_incidents": n_anom, "entity_days": round(fridge_days, 2),
        "per_entity_per_day": round(n_anom / fridge_days, 4) if fridge_days else None,
        "note": "temperature anomaly episodes (score >= threshold) outside any disruption of that fridge"}
    for name in sorted(rows):
        vs = rows[name]
        delays = [v.delay_s / 60 for v in vs if v.delay_s is not None]
        kind = vs[0].truth.kind
        by_disruption[name] = {
            "incident_kind": kind, "disruptions": len(vs), "detected": sum(v.detected for v in vs),
            "missed": sum(not v.detected for v in vs),
            "detection_rate": round(sum(v.detected for v in vs) / len(vs), 3),
            "median_delay_min": round(statistics.median(delays), 1) if delays else None,
            "max_delay_min": round(max(delays), 1) if delays else None,
            "signal": sorted({v.signal for v in vs if v.signal}),
            "false_incidents_per_entity_per_day": false_by_kind.get(kind, {}).get("per_entity_per_day"),
            "related_incidents": sum(len(v.related) for v in vs),
            "recommendations": sum(len(v.recommendations) for v in vs),
            "recommendation_kinds": sorted({r for v in vs for r in v.recommendations}),
        }
    return {
        "seed": seed, "preset": preset, "grace_min": GRACE.total_seconds() / 60,
        "by_disruption": by_disruption,
        "false_incidents_by_kind": false_by_kind,
        "runs": [_run_json(r) for r in runs],
    }


def _run_json(r: RunResult) -> dict:
    return {
        "scenario": r.name, "description": r.description, "start": r.start.isoformat(), "end": r.end.isoformat(),
        "messages": r.messages, "deadletters": r.deadletters,
        "ground_truth": [{
            "disruption": v.truth.disruption, "kind": v.truth.kind, "entity": v.truth.entity, "site": v.truth.site,
            "start": v.truth.start.isoformat(), "end": v.truth.end.isoformat() if v.truth.end else None,
            "detected": v.detected, "signal": v.signal, "incident_id": v.incident_id,
            "detected_at": v.detected_at.isoformat() if v.detected_at else None,
            "delay_min": round(v.delay_s / 60, 1) if v.delay_s is not None else None,
            "related_incidents": v.related, "recommendations": v.recommendations,
        } for v in r.verdicts],
        "false_incidents": [{"kind": s.kind, "entity": s.entity, "opened": s.opened.isoformat(),
                             "incident_id": s.incident_id} for s in r.false_incidents],
        "false_anomaly_episodes": r.false_anomaly_episodes,
    }


def table(summary: dict) -> str:
    """The per-disruption table as Markdown (for the README and the terminal)."""
    lines = ["| disruption | incident kind | detected | median delay (min) | false incidents / entity / day "
             "| related incidents | recommendations |", "|---|---|---|---|---|---|---|"]
    for name, row in summary["by_disruption"].items():
        delay = "-" if row["median_delay_min"] is None else f"{row['median_delay_min']:g}"
        fr = row["false_incidents_per_entity_per_day"]
        lines.append(f"| {name} | {row['incident_kind']} | {row['detected']}/{row['disruptions']}"
                     f"{' (missed)' if row['detected'] == 0 else ''} | {delay} | "
                     f"{'-' if fr is None else f'{fr:.4f}'} | {row['related_incidents']} | {row['recommendations']} |")
    return "\n".join(lines)


__all__ = ["GRACE", "ORIGIN", "RunResult", "Verdict", "run_messages", "simulate_scenario", "summarise", "table",
           "PRESETS"]

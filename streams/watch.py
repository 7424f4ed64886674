"""The base of the domain watches: each watches one kind of operation and reports conditions.

A watch receives validated events of its kinds, updates its own state, writes the event's metric
points, scores metrics with the per-entity detectors and tells the incident book whether its
condition holds. It never talks to Kafka or the store.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime

from streams.detection import EntityDetectors, Score
from streams.events import Event
from streams.incidents import IncidentBook, IncidentChange, Severity
from streams.metrics import MetricPoint, point


@dataclass
class Emit:
    """Collects what handling one batch produced."""

    detectors: EntityDetectors
    incidents: IncidentBook
    points: list[MetricPoint] = field(default_factory=list)
    changes: list[IncidentChange] = field(default_factory=list)

    def point(self, measurement: str, tags: dict, fields: dict, ts: datetime) -> None:
        self.points.append(point(measurement, tags, fields, ts))

    def score(self, entity_kind: str, entity: str, site: str | None, metric: str,
              value: float | None, ts: datetime) -> Score | None:
        s = self.detectors.score(entity, metric, value, ts)
        if s is not None:
            self.point("anomaly", {"entity_kind": entity_kind, "entity": entity, "metric": metric,
                                   "site": site}, {"score": s.score, "value": s.value,
                                                   "expected": s.expected}, ts)
        return s

    def observe(self, kind: str, entity: str, ts: datetime, active: bool, *, site: str | None,
                severity: Severity = "warning", summary: str = "", evidence: dict | None = None) -> None:
        change = self.incidents.observe(kind, entity, ts, active, site=site, severity=severity,
                                        summary=summary, evidence=evidence)
        if change is not None:
            inc = change.incident
            self.changes.append(change)
            duration = ((inc.resolved_at or ts) - inc.opened_at).total_seconds()
            # the severity tag stays the opening one: one incident, one series
            self.point("incident", {"kind": kind, "entity": entity, "site": site,
                                    "severity": inc.opened_severity},
                       {"open": 0 if change.state == "resolved" else 1,
                        "severity_level": {"info": 1, "warning": 2, "critical": 3}[inc.severity],
                        "duration_s": duration}, ts)


class Watch(abc.ABC):
    #: event kinds this watch handles
    kinds: tuple[str, ...] = ()

    @abc.abstractmethod
    def handle(self, event: Event, emit: Emit) -> None: ...

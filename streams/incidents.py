"""Incidents: turning detections into one open/update/resolve story per entity and kind.

Where this sits in the flow: source -> validate -> detect -> **incident** -> rule -> sink.

A detection is an observation that a condition holds (or not) for an entity at an event time. The
``IncidentBook`` deduplicates by (kind, entity), needs ``min_active`` consecutive active
observations to open and ``min_clear`` consecutive clear ones to resolve (hysteresis, so a noisy
signal does not flap), and lets severity rise while open. All times are event times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SEVERITY_LEVELS = {"info": 1, "warning": 2, "critical": 3}
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """How many consecutive observations open and resolve an incident of one kind."""

    min_active: int = 2
    min_clear: int = 3


@dataclass(slots=True)
class Incident:
    incident_id: str
    kind: str
    entity: str
    site: str | None
    severity: Severity
    opened_at: datetime
    last_seen: datetime
    summary: str
    evidence: dict
    resolved_at: datetime | None = None
    opened_severity: Severity | None = None
    silenced: str | None = None  # the maintenance window or silence that covers it, if any

    def __post_init__(self) -> None:
        if self.opened_severity is None:
            self.opened_severity = self.severity

    def record(self, state: str, ts: datetime) -> dict:
        return {
            "incident_id": self.incident_id,
            "state": state,
            "kind": self.kind,
            "entity": self.entity,
            "site": self.site,
            "severity": self.severity,
            "opened_severity": self.opened_severity,
            "silenced": self.silenced,
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "ts": ts.isoformat(),
            "summary": self.summary,
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class _Track:
    active_run: int = 0
    clear_run: int = 0
    first_active: datetime | None = None


@dataclass(slots=True)
class IncidentChange:
    """One step of an incident's story; its record is frozen when the step happens."""

    state: Literal["open", "update", "resolved"]
    incident: Incident
    ts: datetime
    _record: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._record = self.incident.record(self.state, self.ts)

    def record(self) -> dict:
        return self._record


def incident_id(kind: str, entity: str, opened_at: datetime) -> str:
    digest = hashlib.blake2s(f"{kind}|{entity}|{opened_at.isoformat()}".encode(), digest_size=6)
    return f"{kind}:{entity}:{digest.hexdigest()}"


@dataclass
class IncidentBook:
    """Open incidents and the hysteresis counters behind them; pickles with the core."""

    policies: dict[str, IncidentPolicy] = field(default_factory=dict)
    default_policy: IncidentPolicy = field(default_factory=IncidentPolicy)
    open: dict[tuple[str, str], Incident] = field(default_factory=dict)
    #: (kind, entity, site, ts) -> reason when a maintenance window covers it; such incidents are not paged
    silencer: Callable[[str, str, str | None, datetime], str | None] | None = None
    _tracks: dict[tuple[str, str], _Track] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("open", "*,entity"), ("_tracks", "*,entity"))

    def observe(self, kind: str, entity: str, ts: datetime, active: bool, *, site: str | None = None,
                severity: Severity = "warning", summary: str = "", evidence: dict | None = None
                ) -> IncidentChange | None:
        key = (kind, entity)
        policy = self.policies.get(kind, self.default_policy)
        track = self._tracks.get(key)
        if track is None:
            if not active:
                return None  # nothing to remember for a quiet entity
            track = self._tracks[key] = _Track()
        inc = self.open.get(key)
        if active:
            track.clear_run = 0
            track.active_run += 1
            if track.first_active is None:
                track.first_active = ts
            if inc is None:
                if track.active_run >= policy.min_active:
                    inc = Incident(incident_id(kind, entity, track.first_active), kind, entity, site,
                                   severity, track.first_active, ts, summary, evidence or {})
                    if self.silencer is not None:
                        inc.silenced = self.silencer(kind, entity, site, ts)
                    self.open[key] = inc
                    return IncidentChange("open", inc, ts)
                return None
            inc.last_seen = ts
            inc.evidence = evidence or inc.evidence
            if SEVERITY_LEVELS[severity] > SEVERITY_LEVELS[inc.severity]:
                inc.severity = severity
                inc.summary = summary or inc.summary
                return IncidentChange("update", inc, ts)
            return None
        track.active_run = 0
        track.first_active = None
        if inc is None:
            del self._tracks[key]
            return None
        track.clear_run += 1
        if track.clear_run >= policy.min_clear:
            inc.resolved_at = ts
            del self.open[key]
            del self._tracks[key]
            return IncidentChange("resolved", inc, ts)
        return None

    def get(self, kind: str, entity: str) -> Incident | None:
        return self.open.get((kind, entity))

    def forget(self, entities: set[str]) -> None:
        """Drop hysteresis counters of entities that are being evicted (never open incidents)."""
        for key in [k for k in self._tracks if k[1] in entities and k not in self.open]:
            del self._tracks[key]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["silencer"] = None  # configuration, not state: set again from the playbook
        return state

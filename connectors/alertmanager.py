"""Paging through Prometheus Alertmanager's API v2: one alert per incident, resolved when it ends.

Where this sits in the flow: ... -> incident -> rule -> **sink** (the on-call phone).

Each incident becomes one alert whose labels identify it (``alertname``, ``kind``, ``entity``,
``site``, ``severity`` at opening, ``team``, ``incident_id``); labels never change while it is open,
so Alertmanager sees one alert and notifies once. The annotations carry the text a person needs:
what, where, since when, the evidence (observed vs expected) and the recommended action.
Alertmanager forgets an alert that is not re-sent within its ``resolve_timeout``, so open alerts
are re-sent every ``resend_s``; a resolved incident is sent once more with ``endsAt``. Re-sending
the same alert never pages twice: Alertmanager deduplicates by labels, which is also why a worker
that restarts (and re-sends its open incidents) adds no notification.

Times: ``startsAt`` and ``endsAt`` are wall-clock (this is the edge, it may read a clock); the
incident's event-time ``opened_at`` is in the annotations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import urllib3

from connectors.base import SinkError
from streams.incidents import SEVERITY_LEVELS, IncidentChange
from streams.records import Recommendation

log = logging.getLogger("opswatch.alertmanager")

TEAMS = {"cold_chain_excursion": "cold-chain", "vehicle_stopped": "fleet", "stockout_risk": "inventory",
         "demand_spike": "inventory", "supplier_late": "inventory", "site_silent": "operations",
         "device_silent": "operations"}


def alertname(kind: str) -> str:
    return "".join(p.capitalize() for p in kind.split("_"))


def _fmt_evidence(evidence: dict) -> str:
    observed = {k.removeprefix("observed_"): v for k, v in evidence.items() if k.startswith("observed_")}
    expected = {k.removeprefix("expected_"): v for k, v in evidence.items() if k.startswith("expected_")}
    parts = [f"observed {k}={v}" for k, v in observed.items()] + [f"expected {k}={v}" for k, v in expected.items()]
    return "; ".join(parts)


def alert_for(record: dict, recommendations: list[dict], *, ends_at: datetime | None,
              dashboard_url: str | None = None, now: datetime) -> dict:
    """The Alertmanager v2 alert of one incident record (see ``Incident.record``)."""
    labels = {"alertname": alertname(record["kind"]), "kind": record["kind"], "entity": record["entity"],
              "site": record.get("site") or "", "severity": record.get("opened_severity") or record["severity"],
              "team": TEAMS.get(record["kind"], "operations"), "incident_id": record["incident_id"],
              "source": "opswatch"}
    action = "; ".join(r["action"] + (f" (by {r['by']})" if r.get("by") else "") for r in recommendations)
    description = (f"{record['summary']}. Where: {record['entity']} at {record.get('site') or '?'}. "
                   f"Since: {record['opened_at']}. Evidence: {_fmt_evidence(record['evidence'])}."
                   + (f" Recommended: {action}." if action else ""))
    ann = {"summary": record["summary"], "description": description, "since": record["opened_at"],
           "current_severity": record["severity"], "recommended_action": action or "none"}
    if dashboard_url:
        ann["dashboard"] = dashboard_url
    alert = {"labels": labels, "annotations": ann, "startsAt": now.isoformat(),
             "generatorURL": dashboard_url or "http://opswatch/incidents"}
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


class AlertmanagerPager:
    """Keeps the open alerts and sends them to Alertmanager; ``flush`` returns when accepted."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, resend_s: float = 60.0,
                 min_severity: str = "warning", dashboard_url: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_retries: int = 5):
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http:// or https:// URL; got {url!r}")
        if min_severity not in SEVERITY_LEVELS:
            raise ValueError(f"min_severity must be one of {sorted(SEVERITY_LEVELS)}; got {min_severity!r}")
        self.url = url.rstrip("/")
        self.timeout_s, self.resend_s, self.min_severity = timeout_s, resend_s, min_severity
        self.dashboard_url, self.clock, self.max_retries = dashboard_url, clock, max_retries
        self.open: dict[str, dict] = {}  # incident_id -> alert (as last sent)
        self._outbox: list[dict] = []
        self._last_resend = 0.0
        self._http: urllib3.PoolManager | None = None
        self.sent = 0
        self.last_latencies: list[float] = []

    def setup(self) -> None:
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=self.timeout_s), retries=False)

    def add(self, changes: list[IncidentChange], recommendations: list[Recommendation]) -> None:
        now = self.clock()
        recs: dict[str, list[dict]] = {}
        for r in recommendations:
            recs.setdefault(r.incident_id, []).append(r.record())
        for ch in changes:
            rec = ch.record()
            iid = rec["incident_id"]
            if ch.state == "resolved":
                alert = self.open.pop(iid, None)
                if alert is not None:
                    self._outbox.append({**alert, "endsAt": now.isoformat()})
                continue
            if rec.get("silenced"):
                continue
            opened_sev = rec.get("opened_severity") or rec["severity"]
            if SEVERITY_LEVELS[opened_sev] < SEVERITY_LEVELS[self.min_severity]:
                continue
            prev = self.open.get(iid)
            alert = alert_for(rec, recs.get(iid, []), ends_at=None, dashboard_url=self.dashboard_url, now=now)
            if prev is not None:  # keep the first startsAt and any recommendation already given
                alert["startsAt"] = prev["startsAt"]
                if alert["annotations"]["recommended_action"] == "none":
                    alert["annotations"]["recommended_action"] = prev["annotations"]["recommended_action"]
                    alert["annotations"]["description"] = prev["annotations"]["description"]
            self.open[iid] = alert
            self._outbox.append(alert)

    def restore(self, open_records: list[dict]) -> None:
        """After a restart: re-adopt the incidents that are still open (sent again, paged once)."""
        now = self.clock()
        for rec in open_records:
            if rec["incident_id"] not in self.open and not rec.get("silenced") and \
                    SEVERITY_LEVELS[rec.get("opened_severity") or rec["severity"]] >= SEVERITY_LEVELS[self.min_severity]:
                self.open[rec["incident_id"]] = alert_for(rec, [], ends_at=None,
                                                          dashboard_url=self.dashboard_url, now=now)
        self._last_resend = 0.0

    def due(self) -> bool:
        return bool(self._outbox) or (bool(self.open) and time.monotonic() - self._last_resend >= self.resend_s)

    def flush(self) -> int:
        """Send pending alerts (and re-send open ones when due); raise SinkError if not accepted."""
        batch, self._outbox = self._outbox, []
        if self.open and time.monotonic() - self._last_resend >= self.resend_s:
            ids = {a["labels"]["incident_id"] for a in batch}
            batch += [a for iid, a in self.open.items() if iid not in ids]
            self._last_resend = time.monotonic()
        if not batch:
            return 0
        try:
            self._post(batch)
        except Exception:
            self._outbox = batch + self._outbox  # keep them for the next flush
            raise
        self.sent += len(batch)
        return len(batch)

    def _post(self, alerts: list[dict]) -> None:
        assert self._http is not None, "call setup() first"
        body = orjson.dumps(alerts)
        delay, last = 0.2, None
        for attempt in range(self.max_retries + 1):
            t0 = time.perf_counter()
            try:
                r = self._http.request("POST", f"{self.url}/api/v2/alerts", body=body,
                                       headers={"Content-Type": "application/json"})
                if r.status == 200:
                    self.last_latencies.append(time.perf_counter() - t0)
                    return
                if r.status == 400:
                    raise SinkError(f"Alertmanager at {self.url} refused the alerts: HTTP 400 {r.data[:300]!r}")
                last = SinkError(f"Alertmanager at {self.url}: HTTP {r.status}")
            except SinkError:
                raise
            except Exception as exc:
                last = exc
            if attempt < self.max_retries:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise SinkError(f"Alertmanager at {self.url} unreachable after {self.max_retries + 1} tries: {last}")

    def close(self) -> None:
        if self._http is not None:
            self._http.clear()

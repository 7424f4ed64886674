"""Silence watch: devices and sites that stop sending (``device_silent``, ``site_silent``).

The next event may never come, so this is judged on a clock the edge passes in (``tick(now)``):
wall-clock time in the worker, event time in replays. Each device's usual interval between
arrivals is learned (exponentially weighted); a device is silent when nothing has arrived for
``max(min_silent_s, interval_factor x usual interval)``. When every device of a site with at least
``site_min_devices`` devices is silent, that is one ``site_silent`` incident for the site, not one
per sensor (correlation), and the per-device incidents of that site are resolved into it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from streams.watch import Emit

DEVICE_KIND = "device_silent"
SITE_KIND = "site_silent"


@dataclass(slots=True)
class Heartbeat:
    site: str | None
    device_kind: str
    last: datetime
    interval_s: float | None = None


@dataclass
class SilenceWatch:
    min_silent_s: float = 300.0
    interval_factor: float = 10.0
    site_min_devices: int = 2
    devices: dict[str, Heartbeat] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("devices", "entity"),)

    def seen(self, device: str, device_kind: str, site: str | None, arrived: datetime, emit: Emit) -> None:
        hb = self.devices.get(device)
        if hb is None:
            self.devices[device] = Heartbeat(site, device_kind, arrived)
            return
        gap = (arrived - hb.last).total_seconds()
        if gap > 0:
            hb.interval_s = gap if hb.interval_s is None else 0.9 * hb.interval_s + 0.1 * gap
            hb.last = arrived
        hb.site = site
        if emit.incidents.get(DEVICE_KIND, device) is not None:
            emit.observe(DEVICE_KIND, device, arrived, False, site=site)
        if site is not None and emit.incidents.get(SITE_KIND, site) is not None:
            emit.observe(SITE_KIND, site, arrived, False, site=site)

    def rebase(self, now: datetime) -> None:
        """After a restart: the worker was away, not the devices; count silence from now."""
        for hb in self.devices.values():
            if hb.last < now:
                hb.last = now

    def limit_s(self, hb: Heartbeat) -> float:
        return max(self.min_silent_s, self.interval_factor * (hb.interval_s or 0.0))

    def tick(self, now: datetime, emit: Emit) -> None:
        silent: dict[str | None, list[str]] = defaultdict(list)
        per_site: dict[str | None, int] = defaultdict(int)
        for device, hb in self.devices.items():
            per_site[hb.site] += 1
            if (now - hb.last).total_seconds() > self.limit_s(hb):
                silent[hb.site].append(device)
        for site, devices in silent.items():
            whole_site = site is not None and per_site[site] >= self.site_min_devices and \
                len(devices) == per_site[site]
            if whole_site:
                last = max(self.devices[d].last for d in devices)
                emit.observe(SITE_KIND, site, now, True, site=site, severity="critical",
                             summary=f"Site {site} has gone silent: none of its {len(devices)} devices has "
                                     f"reported since {last.isoformat()}",
                             evidence={"observed_silent_s": round((now - last).total_seconds()),
                                       "expected_max_silent_s": round(min(self.limit_s(self.devices[d])
                                                                          for d in devices)),
                                       "devices": sorted(devices)})
                for d in devices:  # correlated into the site incident
                    if emit.incidents.get(DEVICE_KIND, d) is not None:
                        emit.observe(DEVICE_KIND, d, now, False, site=site)
                continue
            for d in devices:
                hb = self.devices[d]
                emit.observe(DEVICE_KIND, d, now, True, site=site, severity="warning",
                             summary=f"{hb.device_kind} {d} at {site or '?'} has not reported since "
                                     f"{hb.last.isoformat()}",
                             evidence={"observed_silent_s": round((now - hb.last).total_seconds()),
                                       "expected_max_silent_s": round(self.limit_s(hb))})

    def evict(self, entities: set[str]) -> None:
        for e in entities & self.devices.keys():
            del self.devices[e]

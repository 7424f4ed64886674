"""Cold-chain watch: fridges and cold rooms drifting warm (``cold_chain_excursion``).

An excursion is active when the temperature is above the goods' limit, or, as an early warning
before the goods are harmed, when the fridge (door shut) is within ``early_margin_c`` of the limit
and at least ``early_rise_c`` above what the detector expected: the expectation it had at a warm
onset it flagged within the last ``onset_memory_min`` (it flags an onset once and then stays quiet,
so the watch remembers it), or else its current expectation. Door-open readings never
count on their own: a door opens every day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from streams.events import ColdChainReading
from streams.watch import Emit, Watch

KIND = "cold_chain_excursion"


@dataclass
class FridgeState:
    site: str
    limit_c: float
    temp_c: float
    above_since: datetime | None = None
    warm_onset: datetime | None = None
    warm_expected: float | None = None


@dataclass
class ColdChainWatch(Watch):
    kinds = ("cold_chain",)
    early_margin_c: float = 3.0
    early_rise_c: float = 1.0
    onset_memory_min: float = 60.0
    fridges: dict[str, FridgeState] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("fridges", "entity"),)

    def handle(self, ev: ColdChainReading, emit: Emit) -> None:
        # the hot path of a busy site: locals, and the incident text only when there is an incident
        fridge, site, temp, limit, ts, door_open = ev.fridge, ev.site, ev.temp_c, ev.limit_c, ev.ts, ev.door_open
        emit.point("cold_chain", {"site": site, "fridge": fridge},
                   {"temp_c": temp, "humidity_pct": ev.humidity_pct, "door_open": int(door_open)}, ts)
        s = emit.score("fridge", fridge, site, "temp_c", temp, ts)
        s_expected = s.expected if s is not None else None
        st = self.fridges.get(fridge)
        if st is None:
            st = self.fridges[fridge] = FridgeState(site, limit, temp)
        else:
            st.site, st.limit_c, st.temp_c = site, limit, temp
        above = temp > limit
        if not above:
            st.above_since = None
        elif st.above_since is None:
            st.above_since = ts
        if (s is not None and s.score >= emit.detectors.threshold and not door_open
                and s_expected is not None and temp > s_expected):
            st.warm_onset, st.warm_expected = ts, s_expected
        if st.warm_onset is not None and (ts - st.warm_onset).total_seconds() > self.onset_memory_min * 60:
            st.warm_onset = st.warm_expected = None
        # the detector's onset, or simply well above what it expects now (its onset may have been
        # spent on something else: it stays quiet for a while after it fires)
        reference = st.warm_expected if st.warm_onset is not None else s_expected
        warm_anomaly = (reference is not None and not door_open
                        and temp >= reference + self.early_rise_c
                        and temp > limit - self.early_margin_c)
        if not warm_anomaly and not above and st.warm_onset is not None and temp < st.warm_expected + 0.5:
            st.warm_onset = st.warm_expected = None  # back to normal: the onset is spent
        if not (above or warm_anomaly):
            emit.observe(KIND, fridge, ts, False, site=site)  # text and evidence only matter when active
            return
        expected = st.warm_expected if st.warm_expected is not None else s_expected
        minutes_above = (ts - st.above_since).total_seconds() / 60 if st.above_since else 0.0
        emit.observe(
            KIND, fridge, ts, True, site=site,
            severity="critical" if above else "warning",
            summary=(f"Fridge {fridge} at {site} is {temp:.1f} °C "
                     f"(limit {limit:.1f} °C"
                     + (f", expected about {expected:.1f} °C" if expected is not None else "") + ")"),
            evidence={"observed_temp_c": temp, "expected_temp_c": expected, "limit_c": limit,
                      "score": s.score if s else None, "minutes_above_limit": minutes_above},
        )

    def evict(self, entities: set[str]) -> None:
        for e in entities & self.fridges.keys():
            del self.fridges[e]

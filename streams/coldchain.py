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

    def handle(self, ev: ColdChainReading, emit: Emit) -> None:
        emit.point("cold_chain", {"site": ev.site, "fridge": ev.fridge},
                   {"temp_c": ev.temp_c, "humidity_pct": ev.humidity_pct, "door_open": int(ev.door_open)},
                   ev.ts)
        s = emit.score("fridge", ev.fridge, ev.site, "temp_c", ev.temp_c, ev.ts)
        st = self.fridges.get(ev.fridge)
        if st is None:
            st = self.fridges[ev.fridge] = FridgeState(ev.site, ev.limit_c, ev.temp_c)
        st.site, st.limit_c, st.temp_c = ev.site, ev.limit_c, ev.temp_c
        above = ev.temp_c > ev.limit_c
        if above and st.above_since is None:
            st.above_since = ev.ts
        elif not above:
            st.above_since = None
        if (s is not None and s.score >= emit.detectors.threshold and not ev.door_open
                and s.expected is not None and ev.temp_c > s.expected):
            st.warm_onset, st.warm_expected = ev.ts, s.expected
        if st.warm_onset is not None and (ev.ts - st.warm_onset).total_seconds() > self.onset_memory_min * 60:
            st.warm_onset = st.warm_expected = None
        # the detector's onset, or simply well above what it expects now (its onset may have been
        # spent on something else: it stays quiet for a while after it fires)
        reference = st.warm_expected if st.warm_onset is not None else (s.expected if s is not None else None)
        warm_anomaly = (reference is not None and not ev.door_open
                        and ev.temp_c >= reference + self.early_rise_c
                        and ev.temp_c > ev.limit_c - self.early_margin_c)
        if not warm_anomaly and not above and st.warm_onset is not None and ev.temp_c < st.warm_expected + 0.5:
            st.warm_onset = st.warm_expected = None  # back to normal: the onset is spent
        active = above or warm_anomaly
        expected = st.warm_expected if st.warm_expected is not None else (s.expected if s is not None else None)
        minutes_above = (ev.ts - st.above_since).total_seconds() / 60 if st.above_since else 0.0
        emit.observe(
            KIND, ev.fridge, ev.ts, active, site=ev.site,
            severity="critical" if above else "warning",
            summary=(f"Fridge {ev.fridge} at {ev.site} is {ev.temp_c:.1f} °C "
                     f"(limit {ev.limit_c:.1f} °C"
                     + (f", expected about {expected:.1f} °C" if expected is not None else "") + ")"),
            evidence={"observed_temp_c": ev.temp_c, "expected_temp_c": expected, "limit_c": ev.limit_c,
                      "score": s.score if s else None, "minutes_above_limit": minutes_above},
        )

    def evict(self, entities: set[str]) -> None:
        for e in entities & self.fridges.keys():
            del self.fridges[e]

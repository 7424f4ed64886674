"""The processing core: pure and synchronous, batch in and batch out.

Flow: source -> **validate -> detect -> incident -> rule** -> sink.

``OperationsCore.process(messages)`` decodes and validates each message (gateway batches become
many events), routes each event to the watch for its kind (which scores it with the per-entity
detectors and reports conditions to the incident book), runs the reallocation rules on incidents
that opened, and returns metric points, incident changes, recommendations and dead letters. It does
no I/O and reads no clock, so the Faust agents, replay, backtests and benchmarks all run this same
code. Its whole state pickles (``snapshot``/``restore``).
"""

from __future__ import annotations

import pickle
from datetime import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from detectors import Detector, default_detector
from detectors.registry import DEFAULT_THRESHOLD
from streams.coldchain import ColdChainWatch
from streams.detection import EntityDetectors
from streams.errors import DeadLetter, ErrorPolicy, ProcessingError
from streams.events import Event, parse_message
from streams.fleet import FleetWatch
from streams.incidents import IncidentBook, IncidentPolicy
from streams.inventory import InventoryWatch
from streams.playbook import Playbook
from streams.records import CoreOutput, RawMessage
from streams.rules import Operations, RuleBook
from streams.silence import SilenceWatch
from streams.suppliers import SupplierWatch
from streams.watch import Emit, Watch

#: which event kinds come from devices that report on a schedule (for silence detection)
DEVICE_KINDS = {"cold_chain": "fridge", "vehicle": "vehicle"}


@dataclass
class OperationsCore:
    detector_factory: Callable[[], Detector] = default_detector
    threshold: float = DEFAULT_THRESHOLD
    error_policy: ErrorPolicy = ErrorPolicy.DEADLETTER
    playbook: Playbook = field(default_factory=Playbook)

    def __post_init__(self) -> None:
        pb, w = self.playbook, self.playbook.watches
        self.rules = RuleBook.from_playbook(pb)
        self.detectors = EntityDetectors(self.detector_factory, self.threshold)
        self.incidents = IncidentBook(
            policies={k: IncidentPolicy(r.min_active, r.min_clear) for k, r in pb.incidents.items()},
            silencer=pb.maintenance_for if pb.maintenance else None)
        self.ops = Operations(ColdChainWatch(early_margin_c=w.cold_chain.early_margin_c),
                              FleetWatch(max_stop_min=w.fleet.max_stop_min, moving_kmh=w.fleet.moving_kmh),
                              InventoryWatch(rate_tau_h=w.inventory.rate_tau_h,
                                             clear_leadtimes=w.inventory.clear_leadtimes,
                                             spike_ratio=w.inventory.spike_ratio,
                                             spike_min_per_h=w.inventory.spike_min_per_h),
                              SupplierWatch(grace_min=w.suppliers.grace_min))
        self.silence = SilenceWatch(w.silence.min_silent_s, w.silence.interval_factor, w.silence.site_min_devices)
        #: last input offset processed per (topic, partition): replays after a restart are skipped
        self.offsets: dict[tuple[str, int], int] = {}
        #: last time each entity was heard from (the edge's clock), for evicting idle state
        self.last_seen: dict[str, datetime] = {}
        self.evicted = 0
        self.replayed_skipped = 0
        self._routes: dict[str, Watch] = {}
        for watch in (self.ops.coldchain, self.ops.fleet, self.ops.inventory, self.ops.suppliers):
            for kind in watch.kinds:
                self._routes[kind] = watch

    # -- the two entry points -------------------------------------------------------------------
    def process(self, messages: Iterable[RawMessage], now: datetime | None = None) -> CoreOutput:
        """Decode, validate and process a batch of raw messages.

        ``now`` is when the batch arrived (the edge's clock; None: each event's own time), used only
        to know when devices were last heard from.
        """
        out = CoreOutput()
        events: list[tuple[Event, RawMessage]] = []
        offsets = self.offsets
        for msg in messages:
            if msg.offset is not None and msg.topic is not None:
                tp = (msg.topic, msg.partition or 0)
                if msg.offset <= offsets.get(tp, -1):
                    self.replayed_skipped += 1  # already in this state (redelivered after a restart)
                    continue
                offsets[tp] = msg.offset
            evs, errors = parse_message(msg.value)
            for err in errors:
                self._fail(out, msg, "decode" if err.index is None and err.item is None else "validate",
                           err.reason, err.index, err.item)
            events.extend((ev, msg) for ev in evs)
        self._handle(events, out, now)
        return out

    def process_events(self, events: Iterable[Event], now: datetime | None = None) -> CoreOutput:
        """Process already-validated events (replay, backtests, the HTTP edge)."""
        out = CoreOutput()
        self._handle([(ev, None) for ev in events], out, now)
        return out

    def tick(self, now: datetime) -> CoreOutput:
        """Judge what depends on time passing with no events: devices and sites gone silent."""
        out = CoreOutput()
        emit = Emit(self.detectors, self.incidents)
        self.silence.tick(now, emit)
        self._evict_idle(now)
        self._rules(emit, 0, out)
        out.incidents.extend(emit.changes)
        out.points.extend(emit.points)
        return out

    def _evict_idle(self, now: datetime) -> None:
        """Bounded state: forget entities idle longer than the playbook's ``state.evict_after_h``,
        unless one of their incidents is still open."""
        horizon = self.playbook.state.evict_after_h * 3600
        idle = [e for e, t in self.last_seen.items() if (now - t).total_seconds() > horizon]
        if not idle:
            return
        busy = {entity for (_, entity) in self.incidents.open}
        gone = {e for e in idle if e not in busy}
        if not gone:
            return
        self.detectors.evict(gone)
        for watch in (self.ops.coldchain, self.ops.fleet, self.ops.inventory, self.ops.suppliers, self.silence):
            watch.evict(gone)
        self.incidents.forget(gone)
        for e in gone:
            del self.last_seen[e]
        self.evicted += len(gone)

    def _rules(self, emit: Emit, first_change: int, out: CoreOutput) -> None:
        # rules see the world as it is at the change, not at the end of the batch
        for change in emit.changes[first_change:]:
            for rec in self.rules.recommend(change, self.ops):
                out.recommendations.append(rec)
                emit.point("recommendation", {"kind": rec.kind, "entity": rec.entity,
                                              "from_site": rec.from_site, "to_site": rec.to_site},
                           {"quantity": rec.quantity, "benefit": 1.0}, change.ts)

    # -- internals ------------------------------------------------------------------------------
    def _handle(self, events: list[tuple[Event, RawMessage | None]], out: CoreOutput,
                now: datetime | None = None) -> None:
        emit = Emit(self.detectors, self.incidents)
        for ev, msg in events:
            n_points, n_changes = len(emit.points), len(emit.changes)
            try:
                self._routes[ev.kind].handle(ev, emit)
                self.last_seen[ev.entity] = now or ev.ts
                device_kind = DEVICE_KINDS.get(ev.kind)
                if device_kind is not None:
                    self.silence.seen(ev.entity, device_kind, ev.location, now or ev.ts, emit)
                self._rules(emit, n_changes, out)
            except Exception as exc:  # one place decides: dead-letter or stop
                del emit.points[n_points:], emit.changes[n_changes:]
                reason = f"{type(exc).__name__}: {exc} while processing {ev.kind} for {ev.entity}"
                raw = msg.value if msg is not None else ev.model_dump_json().encode()
                self._fail(out, msg or RawMessage(raw, source="core"), "process", reason, None,
                           ev.model_dump(mode="json"))
                continue
            out.processed += 1
        out.incidents.extend(emit.changes)
        out.points.extend(emit.points)

    def _fail(self, out: CoreOutput, msg: RawMessage, stage: str, reason: str, index, item) -> None:
        dl = DeadLetter(stage=stage, reason=reason, source=msg.source, topic=msg.topic,
                        partition=msg.partition, offset=msg.offset, key=msg.key, raw=msg.value,
                        index=index, item=item)
        if self.error_policy is ErrorPolicy.STOP:
            raise ProcessingError(f"{stage} failed at {dl.where}: {reason}")
        out.deadletters.append(dl)

    # -- state ----------------------------------------------------------------------------------
    def snapshot(self, detectors: bool = True) -> bytes:
        """The whole state, or (``detectors=False``) all but the detectors: the part that must never
        lag behind the offsets (incidents, watches, offsets) and is small."""
        state = (self.detectors if detectors else None, self.incidents, self.ops, self.silence, self.offsets,
                 self.last_seen)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def snapshot_detectors(self) -> bytes:
        return pickle.dumps(self.detectors, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes, detectors_blob: bytes | None = None) -> None:
        detectors, self.incidents, self.ops, self.silence, self.offsets, self.last_seen = pickle.loads(blob)
        if detectors is None and detectors_blob is not None:
            detectors = pickle.loads(detectors_blob)
        if detectors is not None:
            self.detectors = detectors
        self.incidents.silencer = self.playbook.maintenance_for if self.playbook.maintenance else None

    def open_incidents(self) -> list[dict]:
        return [inc.record("open", inc.last_seen) for inc in self.incidents.open.values()]

"""The processing core: pure and synchronous, batch in and batch out.

Flow: source -> **validate -> detect -> incident -> rule** -> sink.

``OperationsCore.process(messages)`` decodes and validates each message (gateway batches become
many events), routes each event to the watch for its kind (which scores it with the per-entity
detectors and reports conditions to the incident book), runs the reallocation rules on incidents
that opened, and returns metric points, incident changes, recommendations and dead letters. It does
no I/O and reads no clock, so the Faust agents, replay, backtests and benchmarks all run this same
code. Its whole state pickles (``snapshot``/``restore``); it declares its per-entity dicts
(``keyed_state``) and records which entities change (``take_changes``), so a checkpoint saves only
what a batch touched (``streams.checkpoint``).
"""

from __future__ import annotations

import pickle
from datetime import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from detectors import Detector, default_detector
from detectors.registry import DEFAULT_THRESHOLD
from streams.checkpoint import Keyed
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
class _TouchEmit(Emit):
    """An ``Emit`` that records the entities whose incidents and detectors it touched (checkpoints)."""

    touched: set = field(default_factory=set)
    touched_detectors: set = field(default_factory=set)

    def observe(self, kind, entity, ts, active, **kw) -> None:
        self.touched.add(entity)
        super().observe(kind, entity, ts, active, **kw)

    def score(self, entity_kind, entity, site, metric, value, ts):
        self.touched_detectors.add(entity)
        return super().score(entity_kind, entity, site, metric, value, ts)


@dataclass
class OperationsCore:
    #: entities (and sites) whose state changed since ``take_changes``; None: not recorded
    _dirty = None
    _dirty_detectors = None

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
            if errors:
                for err in errors:
                    self._fail(out, msg, "decode" if err.index is None and err.item is None else "validate",
                               err.reason, err.index, err.item)
            if len(evs) == 1:  # the common case: one reading per message
                events.append((evs[0], msg))
            else:
                events.extend([(ev, msg) for ev in evs])
        if self._dirty is not None:
            self._touch([ev for ev, _ in events])
        self._handle(events, out, now)
        return out

    def process_events(self, events: Iterable[Event], now: datetime | None = None) -> CoreOutput:
        """Process already-validated events (replay, backtests, the HTTP edge)."""
        out = CoreOutput()
        batch = [(ev, None) for ev in events]
        if self._dirty is not None:
            self._touch([ev for ev, _ in batch])
        self._handle(batch, out, now)
        return out

    def tick(self, now: datetime) -> CoreOutput:
        """Judge what depends on time passing with no events: devices and sites gone silent."""
        out = CoreOutput()
        emit = Emit(self.detectors, self.incidents) if self._dirty is None else \
            _TouchEmit(self.detectors, self.incidents, touched=self._dirty, touched_detectors=self._dirty_detectors)
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
        if self._dirty is not None:
            self._dirty |= gone
            self._dirty_detectors |= gone
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
        points, changes, routes, last_seen, seen = emit.points, emit.changes, self._routes, self.last_seen, \
            self.silence.seen
        processed = 0
        for ev, msg in events:
            n_points, n_changes = len(points), len(changes)
            try:
                kind = ev.kind
                routes[kind].handle(ev, emit)
                entity = ev.entity
                last_seen[entity] = arrived = now or ev.ts
                device_kind = DEVICE_KINDS.get(kind)
                if device_kind is not None:
                    seen(entity, device_kind, ev.location, arrived, emit)
                if len(changes) > n_changes:
                    self._rules(emit, n_changes, out)
            except Exception as exc:  # one place decides: dead-letter or stop
                del emit.points[n_points:], emit.changes[n_changes:]
                reason = f"{type(exc).__name__}: {exc} while processing {ev.kind} for {ev.entity}"
                raw = msg.value if msg is not None else ev.model_dump_json().encode()
                self._fail(out, msg or RawMessage(raw, source="core"), "process", reason, None,
                           ev.model_dump(mode="json"))
                continue
            processed += 1
        out.processed += processed
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
    def _stateful(self, incidents=None, ops=None, silence=None) -> tuple:
        """The parts with per-entity state, by name (each declares its ``keyed_state``)."""
        incidents = self.incidents if incidents is None else incidents
        ops = self.ops if ops is None else ops
        silence = self.silence if silence is None else silence
        return (("incidents", incidents), ("coldchain", ops.coldchain), ("fleet", ops.fleet),
                ("inventory", ops.inventory), ("suppliers", ops.suppliers), ("silence", silence))

    def keyed_state(self) -> list[tuple[str, dict, str]]:
        """Every dict of per-entity state: (name, the dict, how its keys name their entity)."""
        out = [("last_seen", self.last_seen, "entity")]
        for name, part in self._stateful():
            for attr, form in part.keyed_state:
                out.append((f"{name}.{attr}", getattr(part, attr), form))
        return out

    def known_parts(self, name: str) -> set:
        """What the keys of the pair forms are known to hold beside the entity (the incident kinds)."""
        return set(self.incidents.policies) if name.startswith("incidents.") else set()

    def all_entities(self) -> set[str]:
        out: set[str] = set()
        for name, d, form in self.keyed_state():
            k = Keyed(name, form)
            out.update(k.entity(key) for key in d)
        out.update(e for e, _ in self.detectors.detectors)
        return out

    def track_changes(self) -> None:
        """Record from now on which entities change (``take_changes``), for incremental checkpoints."""
        if self._dirty is None:
            self._dirty, self._dirty_detectors = set(), set()

    def take_changes(self) -> tuple[set[str], set[str]]:
        """The entities (and sites) whose state, and whose detectors, changed since the last call."""
        changed = self._dirty, self._dirty_detectors
        self._dirty, self._dirty_detectors = set(), set()
        return changed

    def untake_changes(self, dirty: set[str], dirty_detectors: set[str]) -> None:
        """Give back changes taken but not saved."""
        self._dirty |= dirty
        self._dirty_detectors |= dirty_detectors

    def _touch(self, events) -> None:
        entities = {ev.entity for ev in events}
        self._dirty |= entities
        self._dirty_detectors |= entities
        self._dirty |= {ev.location for ev in events}
        self._dirty.discard(None)

    def load_state(self, items: Iterable[tuple[str, object, object]], offsets: dict, detectors: dict | None) -> None:
        """Replace the state in place with (dict name, key, value) items, offsets and detectors (None: keep)."""
        dicts = {name: d for name, d, _ in self.keyed_state()}
        for d in dicts.values():
            d.clear()
        for name, key, value in items:
            d = dicts.get(name)
            if d is not None:  # (None: a dict this version no longer has)
                d[key] = value
        self.offsets.clear()
        self.offsets.update(offsets)
        if detectors is not None:
            self.detectors.detectors.clear()
            self.detectors.detectors.update(detectors)
        self.incidents.silencer = self.playbook.maintenance_for if self.playbook.maintenance else None

    def snapshot(self, detectors: bool = True) -> bytes:
        """The whole state in one pickle, or (``detectors=False``) all but the detectors."""
        state = (self.detectors if detectors else None, self.incidents, self.ops, self.silence, self.offsets,
                 self.last_seen)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def snapshot_detectors(self) -> bytes:
        return pickle.dumps(self.detectors, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes, detectors_blob: bytes | None = None) -> None:
        """Restore a ``snapshot`` in place: the state from it, the configuration from this core's playbook."""
        detectors, incidents, ops, silence, offsets, last_seen = pickle.loads(blob)
        if detectors is None and detectors_blob is not None:
            detectors = pickle.loads(detectors_blob)
        items = [("last_seen", e, t) for e, t in last_seen.items()]
        for name, part in self._stateful(incidents, ops, silence):
            for attr, _ in part.keyed_state:
                items.extend((f"{name}.{attr}", k, v) for k, v in getattr(part, attr).items())
        self.load_state(items, offsets, detectors.detectors if detectors is not None else None)

    def open_incidents(self) -> list[dict]:
        return [inc.record("open", inc.last_seen) for inc in self.incidents.open.values()]

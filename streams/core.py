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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from detectors import Detector, default_detector
from streams.coldchain import ColdChainWatch
from streams.detection import EntityDetectors
from streams.errors import DeadLetter, ErrorPolicy, ProcessingError
from streams.events import Event, parse_message
from streams.fleet import FleetWatch
from streams.incidents import IncidentBook, IncidentPolicy
from streams.inventory import InventoryWatch
from streams.records import CoreOutput, RawMessage
from streams.rules import Operations, RuleBook
from streams.suppliers import SupplierWatch
from streams.watch import Emit, Watch

INCIDENT_POLICIES = {
    "cold_chain_excursion": IncidentPolicy(min_active=2, min_clear=5),
    "vehicle_stopped": IncidentPolicy(min_active=1, min_clear=2),
    "stockout_risk": IncidentPolicy(min_active=1, min_clear=2),
    "supplier_late": IncidentPolicy(min_active=1, min_clear=1),
}


@dataclass
class OperationsCore:
    detector_factory: Callable[[], Detector] = default_detector
    threshold: float = 0.99
    error_policy: ErrorPolicy = ErrorPolicy.DEADLETTER
    rules: RuleBook = field(default_factory=RuleBook.default)

    def __post_init__(self) -> None:
        self.detectors = EntityDetectors(self.detector_factory, self.threshold)
        self.incidents = IncidentBook(policies=dict(INCIDENT_POLICIES))
        self.ops = Operations(ColdChainWatch(), FleetWatch(), InventoryWatch(), SupplierWatch())
        #: last input offset processed per (topic, partition): replays after a restart are skipped
        self.offsets: dict[tuple[str, int], int] = {}
        self.replayed_skipped = 0
        self._routes: dict[str, Watch] = {}
        for watch in (self.ops.coldchain, self.ops.fleet, self.ops.inventory, self.ops.suppliers):
            for kind in watch.kinds:
                self._routes[kind] = watch

    # -- the two entry points -------------------------------------------------------------------
    def process(self, messages: Iterable[RawMessage]) -> CoreOutput:
        """Decode, validate and process a batch of raw messages."""
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
        self._handle(events, out)
        return out

    def process_events(self, events: Iterable[Event]) -> CoreOutput:
        """Process already-validated events (replay, backtests, the HTTP edge)."""
        out = CoreOutput()
        self._handle([(ev, None) for ev in events], out)
        return out

    # -- internals ------------------------------------------------------------------------------
    def _handle(self, events: list[tuple[Event, RawMessage | None]], out: CoreOutput) -> None:
        emit = Emit(self.detectors, self.incidents)
        for ev, msg in events:
            n_points, n_changes = len(emit.points), len(emit.changes)
            try:
                self._routes[ev.kind].handle(ev, emit)
                # rules see the world as it is at the change, not at the end of the batch
                for change in emit.changes[n_changes:]:
                    for rec in self.rules.recommend(change, self.ops):
                        out.recommendations.append(rec)
                        emit.point("recommendation", {"kind": rec.kind, "entity": rec.entity,
                                                      "from_site": rec.from_site, "to_site": rec.to_site},
                                   {"quantity": rec.quantity, "benefit": 1.0}, change.ts)
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
    def snapshot(self) -> bytes:
        state = (self.detectors, self.incidents, self.ops, self.offsets)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes) -> None:
        self.detectors, self.incidents, self.ops, self.offsets = pickle.loads(blob)

    def open_incidents(self) -> list[dict]:
        return [inc.record("open", inc.last_seen) for inc in self.incidents.open.values()]

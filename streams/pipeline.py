"""The edge between a transport and the core: runs a batch through the core and delivers the output.

Flow: source -> [core: validate -> detect -> incident -> rule] -> **sink**.

``BatchPipeline`` is transport-agnostic: give it an ``Outbox`` that knows how to send records to
the output topics (Faust topics in the worker, lists in tests) and a metric sink. It returns only
when the batch's outputs are durable, so the caller may then commit the input offsets.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from connectors.alertmanager import AlertmanagerPager
from connectors.base import MetricSink, SinkBackpressure, SinkError
from streams.checkpoint import Checkpoint
from streams.core import OperationsCore
from streams.metrics import point
from streams.records import CoreOutput, RawMessage
from streams.topics import DEADLETTER, INCIDENTS, RECOMMENDATIONS

log = logging.getLogger("opswatch.pipeline")


def tune_gc_for_streaming(gen0: int = 50_000) -> None:
    """Collect young garbage every ``gen0`` allocations instead of every 700, and exempt what exists
    now (libraries, restored state) from collection.

    A batch allocates tens of thousands of short-lived containers (points, their tags and fields);
    at the default threshold the collector runs dozens of times per batch and walks the detectors'
    long-lived state each time, which cost about a sixth of the core's time. The worker calls this
    at start; the in-process benchmark calls it too, so the two are measured alike.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0, 20, 100)


class Outbox(abc.ABC):
    @abc.abstractmethod
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    async def flush(self) -> None:
        pass


@dataclass
class ListOutbox(Outbox):
    """Collects records in memory (tests, in-process runs)."""

    records: dict[str, list[tuple[bytes | None, bytes]]] = field(default_factory=dict)

    async def send(self, topic, key, value):
        self.records.setdefault(topic, []).append((key, value))


@dataclass
class PipelineStats:
    batches: int = 0
    messages: int = 0
    processed: int = 0
    deadlettered: int = 0
    points_written: int = 0
    write_errors: int = 0
    incidents: Counter = field(default_factory=Counter)
    recommendations: int = 0
    pages_sent: int = 0
    page_errors: int = 0
    checkpoint_errors: int = 0
    handler_errors: int = 0
    batch_ms: deque = field(default_factory=lambda: deque(maxlen=10_000))
    checkpoint_ms: deque = field(default_factory=lambda: deque(maxlen=10_000))  # each save's own time
    first_batch_at: float | None = None  # wall clock (time.time()) when the first batch came in
    last_batch_at: float | None = None  # wall clock when the latest batch was done

    def as_dict(self) -> dict:
        return {"batches": self.batches, "messages": self.messages, "processed": self.processed,
                "deadlettered": self.deadlettered, "points_written": self.points_written,
                "write_errors": self.write_errors, "incidents": dict(self.incidents),
                "recommendations": self.recommendations, "pages_sent": self.pages_sent,
                "page_errors": self.page_errors, "checkpoint_errors": self.checkpoint_errors,
                "handler_errors": self.handler_errors,
                "batch_ms_p50": _pct(self.batch_ms, 50), "batch_ms_p99": _pct(self.batch_ms, 99),
                "checkpoint_ms_p50": _pct(self.checkpoint_ms, 50), "checkpoint_ms_p99": _pct(self.checkpoint_ms, 99),
                "first_batch_at": self.first_batch_at, "last_batch_at": self.last_batch_at}


def _pct(values, q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 2)


def _dumps(obj: dict) -> bytes:
    return orjson.dumps(obj, default=str)


class BatchPipeline:
    def __init__(self, core: OperationsCore, sink: MetricSink, outbox: Outbox, *, worker: str = "worker-1",
                 topic_prefix: str = "opswatch", pager: AlertmanagerPager | None = None,
                 checkpoint: Checkpoint | None = None, handlers: list | None = None):
        self.core, self.sink, self.outbox = core, sink, outbox
        self.pager, self.checkpoint = pager, checkpoint
        self.handlers = handlers or []  # plug-ins that apply recommendations (playbook "handlers")
        if checkpoint is not None and checkpoint.restore_core(core):
            core.silence.rebase(datetime.now(UTC))
            log.warning("restored state from %s: %d open incidents, offsets %s", checkpoint.path,
                        len(core.incidents.open), core.offsets)
        if pager is not None:
            pager.restore(core.open_incidents())
        self.worker = worker
        self.topics = {n: f"{topic_prefix}.{n}" for n in (INCIDENTS, RECOMMENDATIONS, DEADLETTER)}
        self.stats = PipelineStats()
        self._lock = asyncio.Lock()
        self._in_flight = False
        self.listeners: list = []  # callables(CoreOutput), e.g. a live view

    async def handle(self, messages: list[RawMessage], stage: str = "core", lag: int | None = None) -> CoreOutput:
        t0 = time.perf_counter()
        if self.stats.first_batch_at is None:
            self.stats.first_batch_at = time.time()
        async with self._lock:  # the core and the sink are not shared between concurrent batches
            self._in_flight = True  # the core is ahead of what is durable until deliver returns
            out = self.core.process(messages, now=datetime.now(UTC))
            await self.deliver(out, stage, len(messages), t0, lag)
            self._in_flight = False
        return out

    def save_on_shutdown(self) -> bool:
        """At a clean stop, write the detectors still waiting for their paced save as well, so a
        restart relearns nothing; not when a batch was cut off half way (the last checkpoint stands
        then, and the batch is read again). True when it saved."""
        if self.checkpoint is None or self._in_flight:
            return False
        self.checkpoint.save_core(self.core, flush_detectors=True)
        return True

    async def deliver(self, out: CoreOutput, stage: str, n_messages: int, t0: float,
                      lag: int | None = None) -> None:
        for ch in out.incidents:
            await self.outbox.send(self.topics[INCIDENTS], ch.incident.entity.encode(), _dumps(ch.record()))
        for rec in out.recommendations:
            await self.outbox.send(self.topics[RECOMMENDATIONS], rec.entity.encode(), _dumps(rec.record()))
        for dl in out.deadletters:
            await self.outbox.send(self.topics[DEADLETTER], dl.key, dl.to_bytes())
        await self.outbox.flush()
        points = out.points
        written_before = self.sink.points_written
        self.sink.add(points)
        self.sink.add([point("pipeline", {"worker": self.worker, "stage": stage},
                             {"events": out.processed, "deadletters": len(out.deadletters),
                              "points_written": len(points) + 1, "write_errors": self.sink.write_errors,
                              "batch_ms": (time.perf_counter() - t0) * 1000, "consumer_lag": lag},
                             datetime.now(UTC))])
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.sink.flush)
        except SinkBackpressure as exc:  # the points are spooled; pause the stream as asked
            log.warning("%s; pausing %.1f s", exc, exc.retry_after)
            await asyncio.sleep(exc.retry_after)
        if self.pager is not None:
            self.pager.add(out.incidents, out.recommendations)
            await self.flush_pages()
        if self.checkpoint is not None:
            try:
                tc = time.perf_counter()
                self.checkpoint.save_core(self.core)  # incremental: costs what the batch touched
                self.stats.checkpoint_ms.append((time.perf_counter() - tc) * 1000)
            except Exception:  # a restart would replay more; the stream goes on
                self.stats.checkpoint_errors += 1
                log.exception("checkpoint failed")
        s = self.stats
        s.batch_ms.append((time.perf_counter() - t0) * 1000)
        s.last_batch_at = time.time()
        s.batches += 1
        s.messages += n_messages
        s.processed += out.processed
        s.deadlettered += len(out.deadletters)
        s.points_written += self.sink.points_written - written_before
        s.write_errors = self.sink.write_errors
        s.recommendations += len(out.recommendations)
        for ch in out.incidents:
            if ch.state == "open":
                s.incidents[ch.incident.kind] += 1
        for listener in self.listeners:
            listener(out)
        for rec in out.recommendations:
            for handler in self.handlers:
                try:
                    handler(rec.record())
                except Exception:  # a plug-in's failure is its own; the stream goes on
                    self.stats.handler_errors += 1
                    log.exception("recommendation handler %r failed on %s", handler, rec.recommendation_id)

    def rollback(self) -> None:
        """Return the core to its last checkpoint (after a batch failed half way)."""
        if self.checkpoint is not None and self.checkpoint.restore_core(self.core):
            log.warning("rolled back to the checkpoint: offsets %s", self.core.offsets)
            self._in_flight = False

    async def flush_pages(self) -> None:
        """Send due pages; a pager outage is logged and retried, never fatal to the stream."""
        if self.pager is None or not self.pager.due():
            return
        try:
            n = await asyncio.get_running_loop().run_in_executor(None, self.pager.flush)
            self.stats.pages_sent += n
        except SinkError as exc:
            self.stats.page_errors += 1
            log.error("paging failed, will retry: %s", exc)

    async def tick(self) -> None:
        """Periodic work on wall-clock time: silent devices and sites, re-sending open pages."""
        t0 = time.perf_counter()
        async with self._lock:
            self._in_flight = True
            out = self.core.tick(datetime.now(UTC))
            if out.incidents or out.recommendations:
                await self.deliver(out, "tick", 0, t0)
            self._in_flight = False
            await self.flush_pages()
            await asyncio.get_running_loop().run_in_executor(None, self.sink.maintain)

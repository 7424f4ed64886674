"""The Faust app: thin agents that move bytes between Kafka and the processing core.

Flow: Kafka input topics -> agent (batches of raw messages) -> ``BatchPipeline`` (the core) ->
``opswatch.incidents`` / ``opswatch.recommendations`` / ``opswatch.deadletter`` and the metric sink.

Faust is kept at this edge: nothing outside this module imports it, so the worker could move to
another stream framework by rewriting this file. Agents read raw bytes (``value_serializer="raw"``)
in batches with ``take_events``; Faust acks a batch's offsets only after the agent has asked for the
next one, that is after the pipeline has made the outputs durable (at-least-once).

The worker's web server also serves:
- ``POST /pos/sales/``: POS webhooks (one event or a gateway batch, JSON), validated with the same
  schemas; valid events go to the POS topic, invalid ones to the dead-letter topic, 202/400 back.
- ``GET /opswatch/stats/``: counters of this worker (processed, dead-lettered, points, incidents).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import faust
from faust.web import Request, Response, View

from connectors.alertmanager import AlertmanagerPager
from connectors.base import MetricSink
from connectors.filestore import LineProtocolFile
from connectors.influx import InfluxSink
from connectors.kafka import ensure_topics
import detectors
from detectors import make_detector
from streams.checkpoint import Checkpoint
from streams.core import OperationsCore
from streams.errors import DeadLetter
from streams.events import dumps, parse_message
from streams.pipeline import BatchPipeline, Outbox
from streams.playbook import load_playbook
from streams.records import RawMessage
from streams.settings import Settings
from streams.topics import DEADLETTER, INPUT_TOPICS, output_topic, topic_for

log = logging.getLogger("opswatch.worker")


def _set_fetch_wait(ms: int) -> None:
    """Faust hard-codes aiokafka's ``fetch_max_wait_ms=1500``. Apache Kafka answers a fetch as soon as
    data arrives, so that is only a ceiling there; a broker that holds every fetch for the full wait
    (the local Tansu broker does) would add 1.5 s to every page. Make the ceiling a setting."""
    import aiokafka
    from faust.transport.drivers import aiokafka as faust_driver

    base = getattr(aiokafka.AIOKafkaConsumer, "_opswatch_base", aiokafka.AIOKafkaConsumer)

    class Consumer(base):  # type: ignore[misc, valid-type]
        _opswatch_base = base

        def __init__(self, *topics, **kwargs):
            kwargs["fetch_max_wait_ms"] = ms
            super().__init__(*topics, **kwargs)

    faust_driver.aiokafka.AIOKafkaConsumer = Consumer


def make_sink(settings: Settings) -> MetricSink:
    inf = settings.influx
    if inf.url:
        return InfluxSink(inf.url, inf.token.get_secret_value(), inf.org, inf.bucket,
                          timeout_ms=inf.timeout_ms, max_retries=inf.max_retries, spool_dir=inf.spool_dir)
    return LineProtocolFile(inf.file_store)


def make_pager(settings: Settings) -> AlertmanagerPager | None:
    am = settings.alertmanager
    if not am.url:
        return None
    return AlertmanagerPager(am.url, timeout_s=am.timeout_s, resend_s=am.resend_s, min_severity=am.min_severity,
                             dashboard_url=f"{settings.grafana.url}/d/opswatch-overview")


def make_core(settings: Settings) -> OperationsCore:
    name = settings.detector.detector_name()
    make_detector(name)  # fail at start-up on an unknown name
    return OperationsCore(detector_factory=partial(make_detector, name),
                          threshold=settings.detector.effective_threshold(),
                          playbook=load_playbook(settings.rules.playbook))


def _credentials(settings: Settings):
    """Faust's broker credentials, exactly as the security protocol says: SSL is TLS alone, SASL_SSL is
    TLS and SASL, SASL_PLAINTEXT is SASL alone (the TLS context is the one every client shares)."""
    from connectors.kafka import sasl_password, ssl_context, uses_sasl

    k = settings.kafka
    ctx = ssl_context(k)
    if uses_sasl(k):
        return faust.SASLCredentials(username=k.sasl_username, password=sasl_password(k), ssl_context=ctx,
                                     mechanism=k.sasl_mechanism)
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


class FaustOutbox(Outbox):
    def __init__(self, app: faust.App, topic_names: list[str]):
        self._topics = {name: app.topic(name, value_serializer="raw", key_serializer="raw")
                        for name in topic_names}
        self._pending: list = []

    async def send(self, topic, key, value):
        self._pending.append(await self._topics[topic].send(key=key, value=value))

    async def flush(self):
        # wait until the broker has every output record before the input offsets can be acked
        pending, self._pending = self._pending, []
        for fut in pending:
            await fut


def create_app(settings: Settings, *, sink: MetricSink | None = None) -> faust.App:
    k, w = settings.kafka, settings.worker
    ensure_topics(k)
    _set_fetch_wait(w.fetch_max_wait_ms)
    app = faust.App(
        w.app_id,
        broker=[f"kafka://{s}" for s in k.servers()],
        broker_credentials=_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        web_port=w.web_port,
        web_bind=w.web_host,
        web_host=w.web_host,
        datadir=str(w.data_dir),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=w.rebalance_timeout_s,
        broker_session_timeout=w.session_timeout_s,
        broker_heartbeat_interval=min(3.0, w.session_timeout_s / 3),
        store="memory://",
    )
    out_names = [output_topic(n, k.topic_prefix) for n in ("incidents", "recommendations", DEADLETTER)]
    sink = sink or make_sink(settings)
    pager = make_pager(settings)
    if pager is not None:
        pager.setup()
    core = make_core(settings)
    if not detectors.COMPILED:
        log.warning("the detectors run as plain Python (several times slower): reinstall opswatch where a C "
                    "compiler is at hand (`pip install -e .`) to compile them")
    pipeline = BatchPipeline(core, sink, FaustOutbox(app, out_names), worker=w.name,
                             topic_prefix=k.topic_prefix, pager=pager,
                             checkpoint=Checkpoint(w.data_dir / f"{w.name}.checkpoint",
                                                   detectors_every_s=w.detector_checkpoint_s)
                             if w.checkpoint else None,
                             handlers=core.playbook.load_handlers())
    app.opswatch_pipeline = pipeline  # type: ignore[attr-defined]

    sink.setup()

    @app.on_before_shutdown.connect
    async def save_detectors_on_shutdown(app, **kwargs) -> None:  # noqa: ARG001
        if pipeline.save_on_shutdown():
            log.info("saved the checkpoint with every detector before stopping")

    @app.timer(interval=w.tick_s)
    async def tick():
        await pipeline.tick()

    inputs = [f"{k.topic_prefix}.{suffix}" for suffix in sorted(set(INPUT_TOPICS.values()))]
    if w.consumer == "agents":
        for topic_name in inputs:
            _make_agent(app, pipeline, topic_name, topic_name.rsplit(".", 1)[-1], w.batch_max, w.batch_within_s)
    else:
        _make_batch_consumer(app, pipeline, settings, inputs)

    pos_topic = app.topic(topic_for("pos_sale", k.topic_prefix), value_serializer="raw", key_serializer="raw")
    dead_topic = app.topic(output_topic(DEADLETTER, k.topic_prefix), value_serializer="raw",
                           key_serializer="raw")

    @app.page("/pos/sales/")
    class PosWebhook(View):
        """POS tills post sales here; the same schemas validate them as on Kafka."""

        async def post(self, request: Request) -> Response:
            body = await request.read()
            events, errors = parse_message(body)
            for ev in events:
                await pos_topic.send(key=ev.entity.encode(), value=dumps(ev))
            for err in errors:
                dl = DeadLetter(stage="validate" if err.item is not None else "decode", reason=err.reason,
                                source="http", topic=None, partition=None, offset=None, key=None, raw=body,
                                index=err.index, item=err.item)
                await dead_topic.send(key=None, value=dl.to_bytes())
            status = 202 if events else 400
            return self.json({"accepted": len(events),
                              "rejected": [{"index": e.index, "reason": e.reason} for e in errors]},
                             status=status)

    @app.page("/opswatch/stats/")
    class Stats(View):
        async def get(self, request: Request) -> Response:  # noqa: ARG002
            return self.json(pipeline.stats.as_dict())

    return app


def _lag(app: faust.App, events) -> int | None:
    """Messages behind the high-water mark, summed over the batch's partitions."""
    last: dict = {}
    for e in events:
        tp = e.message.tp
        last[tp] = max(last.get(tp, -1), e.message.offset)
    try:
        return sum(max(app.consumer.highwater(tp) - off - 1, 0) for tp, off in last.items())
    except Exception:  # highwater unknown before the first fetch response
        return None


def _aiokafka_config(settings: Settings) -> dict:
    """The batch consumer's aiokafka connection options, the same security as Faust's own clients."""
    from connectors.kafka import sasl_password, ssl_context, uses_sasl

    k = settings.kafka
    cfg: dict = {"bootstrap_servers": k.servers(), "security_protocol": k.security_protocol}
    ctx = ssl_context(k)
    if ctx is not None:
        cfg["ssl_context"] = ctx
    if uses_sasl(k):
        cfg["sasl_mechanism"] = k.sasl_mechanism
        cfg["sasl_plain_username"] = k.sasl_username
        cfg["sasl_plain_password"] = sasl_password(k)
    return cfg


def _make_batch_consumer(app: faust.App, pipeline: BatchPipeline, settings: Settings, topics: list[str]) -> None:
    """Consume the input topics in batches with aiokafka's ``getmany``, inside the Faust app.

    A Faust agent costs about 200 us per message; this path hands whole fetches to the core. Offsets
    are committed only after the batch's outputs are durable and its checkpoint is written, and on
    every assignment each partition is moved to the offset after the checkpoint's, so a restart
    neither skips nor re-applies an event.
    """
    w = settings.worker

    @app.task
    async def consume_batches() -> None:
        backoff = 0.5
        while True:  # the broker may go away and come back: reconnect by ourselves
            try:
                await _consume(w, settings, topics, pipeline)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, coordinator gone, ...: never fatal to the worker
                log.warning("input consumer stopped (%s: %s); reconnecting in %.1f s", type(exc).__name__, exc,
                            backoff)
                # a batch may have been half delivered: go back to the last durable state, whose
                # offsets the consumer seeks to, so the batch is processed again in full
                pipeline.rollback()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


async def _consume(w, settings: Settings, topics: list[str], pipeline: BatchPipeline) -> None:
    import aiokafka
    from aiokafka import ConsumerRebalanceListener

    core = pipeline.core

    class SeekToCheckpoint(ConsumerRebalanceListener):
        def __init__(self, consumer):
            self.consumer = consumer

        async def on_partitions_revoked(self, revoked):
            pass

        async def on_partitions_assigned(self, assigned):
            ends = await self.consumer.end_offsets(list(assigned)) if assigned else {}
            for tp in assigned:
                last = core.offsets.get((tp.topic, tp.partition))
                if last is None:
                    continue
                if last >= ends.get(tp, last + 1):
                    # the partition ends before our checkpoint: the topic was deleted and created again
                    # (or a broker lost its data); start it afresh rather than skip its new messages
                    log.warning("%s[%d] ends at %s, before the checkpoint's offset %d: reading it from the start",
                                tp.topic, tp.partition, ends.get(tp), last)
                    del core.offsets[(tp.topic, tp.partition)]
                    continue
                self.consumer.seek(tp, last + 1)

    consumer = aiokafka.AIOKafkaConsumer(
        **_aiokafka_config(settings), group_id=f"{w.app_id}-core", client_id=f"{w.app_id}-{w.name}",
        enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=w.fetch_max_wait_ms,
        max_poll_records=w.batch_max, session_timeout_ms=int(w.session_timeout_s * 1000),
        rebalance_timeout_ms=int(w.rebalance_timeout_s * 1000),
        heartbeat_interval_ms=int(min(3.0, w.session_timeout_s / 3) * 1000),
        max_partition_fetch_bytes=4 * 1024 * 1024)
    consumer.subscribe(topics, listener=SeekToCheckpoint(consumer))
    await consumer.start()
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=int(w.batch_within_s * 1000), max_records=w.batch_max)
            if not fetched:
                continue
            msgs = [RawMessage(r.value, r.topic, r.partition, r.offset, r.key)
                    for records in fetched.values() for r in records]
            ends = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
            lag = 0
            for tp, end in ends.items():
                hw = consumer.highwater(tp)
                lag += max((hw or end) - end, 0)
            await pipeline.handle(msgs, stage="batch", lag=lag)
            await consumer.commit(ends)
    finally:
        await consumer.stop()


def _make_agent(app: faust.App, pipeline: BatchPipeline, topic_name: str, suffix: str, batch_max: int,
                within_s: float) -> None:
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")

    async def watch(stream):
        async for events in stream.take_events(batch_max, within=within_s):
            msgs = [RawMessage(e.message.value, e.message.topic, e.message.partition, e.message.offset,
                               e.message.key) for e in events]
            await pipeline.handle(msgs, stage=suffix, lag=_lag(app, events))

    watch.__name__ = f"watch_{suffix}"
    watch.__qualname__ = watch.__name__
    app.agent(topic, name=f"opswatch.watch.{suffix}")(watch)



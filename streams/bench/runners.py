"""Consumers measured by ``opswatch bench throughput``, each run in its own process.

``python -m streams.bench.runners KIND BOOTSTRAP TOPIC N OUT`` consumes N messages from the start of
TOPIC and writes ``{"count", "first", "last", "peak_rss_kb"}`` to OUT (times from ``time.time()``,
first and last message), then exits. KIND is ``faust`` (a bare per-message agent that does
nothing), ``quix`` (a bare Quix Streams app that does nothing) or ``aiokafka`` (raw aiokafka
``getmany`` with orjson decoding: the ceiling).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time


def peak_rss_kb(pid: int | str = "self") -> int | None:
    """A process's peak RSS in KiB (VmHWM; for this process ru_maxrss would include the parent's,
    inherited at fork, so it is only the fallback where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if pid == "self" else None


def _done(out: str, count: int, first: float, last: float) -> None:
    with open(out, "w") as f:
        json.dump({"count": count, "first": first, "last": last, "peak_rss_kb": peak_rss_kb()}, f)
    os._exit(0)


def run_faust(bootstrap: str, topic: str, n: int, out: str) -> None:
    import faust

    app = faust.App(f"bench-faust-{os.getpid()}", broker=f"kafka://{bootstrap}", value_serializer="raw",
                    web_enabled=False, topic_allow_declare=False, consumer_auto_offset_reset="earliest",
                    broker_rebalance_timeout=3, broker_session_timeout=10, broker_heartbeat_interval=3,
                    datadir=f"/tmp/bench-faust-{os.getpid()}", store="memory://")
    source = app.topic(topic, value_serializer="raw")
    state = {"count": 0, "first": 0.0}

    @app.agent(source)
    async def count(stream):
        async for _ in stream:
            state["count"] += 1
            if state["count"] == 1:
                state["first"] = time.time()
            if state["count"] >= n:
                _done(out, state["count"], state["first"], time.time())

    sys.argv = [sys.argv[0], "worker", "-l", "error"]
    app.main()


def run_quix(bootstrap: str, topic: str, n: int, out: str) -> None:
    from quixstreams import Application

    app = Application(broker_address=bootstrap, consumer_group=f"bench-quix-{os.getpid()}",
                      auto_offset_reset="earliest", auto_create_topics=False, use_changelog_topics=False)
    sdf = app.dataframe(app.topic(topic, value_deserializer="bytes"))
    state = {"count": 0, "first": 0.0}

    def count(_value):
        state["count"] += 1
        if state["count"] == 1:
            state["first"] = time.time()
        if state["count"] >= n:
            _done(out, state["count"], state["first"], time.time())

    sdf.update(count)
    app.run()


def run_aiokafka(bootstrap: str, topic: str, n: int, out: str) -> None:
    import aiokafka
    import orjson

    async def main():
        c = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-aiokafka-{os.getpid()}",
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      fetch_max_wait_ms=100, max_partition_fetch_bytes=4 * 1024 * 1024)
        await c.start()
        count, first = 0, 0.0
        while count < n:
            batches = await c.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for r in records:
                    orjson.loads(r.value)
                    count += 1
                    if count == 1:
                        first = time.time()
        _done(out, count, first, time.time())

    asyncio.run(main())


if __name__ == "__main__":
    kind, bootstrap, topic, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    {"faust": run_faust, "quix": run_quix, "aiokafka": run_aiokafka}[kind](bootstrap, topic, n, out)

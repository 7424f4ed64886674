"""``opswatch bench throughput``: the worker end to end against its baselines, in one run.

Starts the local broker, loads one fixed stream (default 200,000 cold-chain readings from 2,000
fridges, one reading per message, keyed by fridge), then measures on that same topic, each from
the first message to the last:
- a bare per-message Faust agent that does nothing (the baseline),
- a bare Quix Streams app that does nothing (the peer; ``pip install 'opswatch[bench]'``),
- raw aiokafka ``getmany`` with orjson decoding (the ceiling),
- the in-process core alone (decode, validate, detect, incidents, rules, metric points),
- the opswatch worker end to end with the default detectors and the time-series write (the local
  line-protocol file, fsynced per batch; or InfluxDB with ``--influx-url``).
Reports events/s, the worker's batch processing time p50/p99, peak memory, and the two ratios the
goal is set on: worker / bare Faust (goal >= 5) and worker / in-process core (goal >= 0.5).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from kafka import KafkaProducer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import detectors
from connectors.broker import LocalBroker
from connectors.kafka import ensure_topics
from streams.bench.runners import peak_rss_kb
from streams.local_worker import LocalWorker
from streams.settings import KafkaSettings

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def make_stream(readings: int, entities: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of every reading: fridges in turn, one simulated minute per round."""
    out = []
    for i in range(readings):
        f, minute = i % entities, i // entities
        temp = 4.0 + 0.8 * ((minute * 7 + f) % 11) / 11
        out.append((b"F%d" % f, orjson.dumps({"kind": "cold_chain", "site": f"S{f % 100}", "fridge": f"F{f}",
                                               "temp_c": round(temp, 2),
                                               "ts": (T0 + timedelta(minutes=minute)).isoformat()})))
    return out


def _run_runner(kind: str, bootstrap: str, topic: str, n: int, workdir: Path, timeout: float) -> dict | None:
    out = workdir / f"{kind}.json"
    proc = subprocess.run([sys.executable, "-m", "streams.bench.runners", kind, bootstrap, topic, str(n), str(out)],
                          capture_output=True, text=True, timeout=timeout)
    if not out.exists():
        return {"error": (proc.stderr or proc.stdout)[-400:]}
    r = json.loads(out.read_text())
    r["events_per_s"] = r["count"] / max(r["last"] - r["first"], 1e-9)
    return r


def _run_core(stream: list[tuple[bytes, bytes]], topic: str, batch: int = 2000) -> dict:
    """In this process; its memory figure is what the core's state and one batch's output add."""
    import tracemalloc

    from streams.core import OperationsCore
    from streams.records import RawMessage

    from streams.pipeline import tune_gc_for_streaming

    msgs = [RawMessage(v, topic, 0, i, k) for i, (k, v) in enumerate(stream)]
    tune_gc_for_streaming()  # as the worker does
    core = OperationsCore()
    tracemalloc.start()
    probe = OperationsCore()
    for i in range(0, len(msgs), batch * 10):
        probe.process(msgs[i:i + batch])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del probe
    t0 = time.perf_counter()
    times = []
    for i in range(0, len(msgs), batch):
        tb = time.perf_counter()
        core.process(msgs[i:i + batch])
        times.append((time.perf_counter() - tb) * 1000)
    dt = time.perf_counter() - t0
    times.sort()
    return {"count": len(msgs), "events_per_s": len(msgs) / dt, "batch_ms_p50": times[len(times) // 2],
            "batch_ms_p99": times[min(len(times) - 1, int(len(times) * 0.99))],
            "peak_rss_kb": None, "core_peak_alloc_kb": peak // 1024}


def _run_worker(bootstrap: str, prefix: str, n: int, workdir: Path, influx_url: str | None, timeout: float) -> dict:
    settings = {"OPSWATCH_WORKER__BATCH_MAX": "5000", "OPSWATCH_INFLUX__FILE_STORE": str(workdir / "metrics.lp")}
    if influx_url:
        settings["OPSWATCH_INFLUX__URL"] = influx_url
    worker = LocalWorker(bootstrap, f"{prefix}-worker", workdir / "worker", workdir / "worker.log", loglevel="warn",
                         settings={"OPSWATCH_KAFKA__TOPIC_PREFIX": prefix, **settings})
    worker.env.pop("OPSWATCH_ALERTMANAGER__URL", None)
    worker.start()
    try:
        deadline = time.monotonic() + timeout
        stats: dict = {}
        while time.monotonic() < deadline:
            time.sleep(0.25)  # the worker times its own batches: asking rarely keeps it undisturbed
            try:
                stats = worker.stats(timeout=30)
            except OSError:  # the worker is busy with a long batch or checkpoint: ask again
                continue
            if stats["processed"] + stats["deadlettered"] >= n:
                break
        else:
            raise RuntimeError(f"worker processed {stats.get('processed')} of {n}; see {workdir / 'worker.log'}")
        first, last = stats["first_batch_at"], stats["last_batch_at"]
        hwm = peak_rss_kb(worker.pid)
    finally:
        worker.stop(30)
    return {"count": n, "events_per_s": n / (last - first), "batch_ms_p50": stats["batch_ms_p50"],
            "batch_ms_p99": stats["batch_ms_p99"], "peak_rss_kb": hwm, "points_written": stats["points_written"]}


def run_throughput_bench(readings: int = 200_000, entities: int = 2_000, partitions: int = 4,
                         influx_url: str | None = None, skip: tuple[str, ...] = (), console: Console | None = None,
                         out: Path | None = None, timeout: float = 900) -> dict:
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="opswatch-bench-throughput-"))
    stream = make_stream(readings, entities)
    results: dict[str, dict] = {}
    with LocalBroker(log_path=workdir / "broker.log") as broker:
        prefix = "bench"
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=partitions)
        ensure_topics(settings)
        topic = f"{prefix}.coldchain"
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"loading {readings:,} readings", total=readings)
            for i, (k, v) in enumerate(stream):
                producer.send(topic, key=k, value=v)
                if i % 5000 == 0:
                    progress.update(task, completed=i)
            producer.flush()
        producer.close()
        steps = [("bare Faust agent", "faust"), ("bare Quix Streams app", "quix"), ("aiokafka + orjson", "aiokafka"),
                 ("in-process core", "core"), ("opswatch worker", "worker")]
        for label, kind in steps:
            if kind in skip:
                continue
            console.print(f"measuring {label} ...")
            if kind == "core":
                results[kind] = _run_core(stream, topic)
            elif kind == "worker":
                results[kind] = _run_worker(broker.bootstrap, prefix, readings, workdir, influx_url, timeout)
            else:
                if kind == "quix":
                    try:
                        import quixstreams  # noqa: F401
                    except ImportError:
                        results[kind] = {"error": "not installed: pip install 'opswatch[bench]'"}
                        continue
                results[kind] = _run_runner(kind, broker.bootstrap, topic, readings, workdir, timeout)
    table = Table(title=f"{readings:,} readings from {entities:,} entities, {partitions} partitions, one process each")
    for col in ("", "events/s", "batch p50 ms", "batch p99 ms", "peak RSS MB", "note"):
        table.add_column(col, justify="right" if col not in ("", "note") else "left")
    labels = dict((k, label) for label, k in steps)
    for kind, r in results.items():
        if "error" in r:
            table.add_row(labels[kind], "-", "-", "-", "-", r["error"][:60])
            continue
        rss = r.get("peak_rss_kb")
        table.add_row(labels[kind], f"{r['events_per_s']:,.0f}",
                      f"{r['batch_ms_p50']:.1f}" if r.get("batch_ms_p50") is not None else "",
                      f"{r['batch_ms_p99']:.1f}" if r.get("batch_ms_p99") is not None else "",
                      f"{rss / 1024:.0f}" if rss else "",
                      f"core state + batch: {r['core_peak_alloc_kb'] / 1024:.0f} MB allocated"
                      if r.get("core_peak_alloc_kb") else "")
    console.print(table)
    ratios = {}
    w = results.get("worker", {}).get("events_per_s")
    for base, goal in (("faust", 5.0), ("core", 0.5), ("quix", 1.0)):
        b = results.get(base, {}).get("events_per_s")
        if w and b:
            ratios[f"worker/{base}"] = round(w / b, 2)
            console.print(f"worker / {labels[base]}: [bold]{w / b:.2f}x[/] (goal >= {goal})")
    # the worker's detectors are compiled when the package was installed with a C compiler at hand
    console.print("detectors: " + ("compiled" if detectors.COMPILED else
                                   "[bold red]plain Python[/] (slower: `pip install -e .` with a C compiler)"))
    summary = {"readings": readings, "entities": entities, "partitions": partitions, "results": results,
               "ratios": ratios, "detectors_compiled": detectors.COMPILED}
    if out:
        out.write_text(json.dumps(summary, indent=2, default=str))
    return summary

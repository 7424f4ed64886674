"""``opswatch bench paging``: how long from the event that crosses the line to a page in Alertmanager.

Everything real and on this machine: the local broker, the Faust worker (a child process), and
Prometheus Alertmanager (Debian's ``prometheus-alertmanager``). First the worker's maximum rate is
measured on a burst of normal fridge readings; then normal traffic runs at half that rate while
fridges are made to cross their limit one after another. For each, latency = the moment
Alertmanager lists the alert (polled every few ms) minus the moment the crossing reading was
produced. Reported: p50, p99, max, and the loads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table

from connectors.broker import LocalBroker, free_port, wait_for_port
from connectors.kafka import ensure_topics
from streams.local_worker import LocalWorker
from streams.settings import KafkaSettings

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def _reading(fridge: int, minute: int, temp: float) -> bytes:
    return orjson.dumps({"kind": "cold_chain", "site": f"S{fridge % 50}", "fridge": f"F{fridge}",
                         "temp_c": temp, "ts": (T0 + timedelta(minutes=minute)).isoformat()})


def _stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/opswatch/stats/", timeout=5) as r:
        return json.loads(r.read())


def _alerts(am_port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{am_port}/api/v2/alerts", timeout=5) as r:
        return {a["labels"]["entity"] for a in json.loads(r.read())}


def _start_alertmanager(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise SystemExit("bench paging needs Alertmanager: sudo apt-get install prometheus-alertmanager")
    port = free_port()
    conf = workdir / "am.yml"
    conf.write_text("route: {receiver: 'null', group_by: ['incident_id'], group_wait: 0s}\n"
                    "receivers: [{name: 'null'}]\n")
    proc = subprocess.Popen([binary, f"--config.file={conf}", f"--storage.path={workdir / 'am'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for_port("127.0.0.1", port, 30)
    return proc, port


def run_paging_bench(fridges: int = 1000, burst: int = 60_000, crossings: int = 40, console: Console | None = None,
                     out: Path | None = None) -> dict:
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="opswatch-bench-paging-"))
    broker = LocalBroker(log_path=workdir / "broker.log").start()
    am, am_port = _start_alertmanager(workdir)
    prefix = "benchpage"
    ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=4))
    worker = LocalWorker(broker.bootstrap, prefix, workdir / "worker", workdir / "worker.log", loglevel="warn",
                         settings={"OPSWATCH_KAFKA__PARTITIONS": "4", "OPSWATCH_WORKER__BATCH_WITHIN_S": "0.02",
                                   "OPSWATCH_ALERTMANAGER__URL": f"http://127.0.0.1:{am_port}",
                                   "OPSWATCH_INFLUX__FILE_STORE": str(workdir / "m.lp")})
    topic = f"{prefix}.coldchain"
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, linger_ms=2)
    try:
        worker.start()
        web = worker.web_port
        # warm-up: every fridge known, detectors past their first samples
        minute = 0
        for minute in range(3):
            for f in range(fridges):
                producer.send(topic, key=b"F%d" % f, value=_reading(f, minute, 4.0))
        producer.flush()
        _wait_processed(web, 3 * fridges)
        # maximum rate: a burst as fast as the worker takes it
        base = _stats(web)["processed"]
        t0 = time.perf_counter()
        n = 0
        while n < burst:
            minute += 1
            for f in range(fridges):
                producer.send(topic, key=b"F%d" % f, value=_reading(f, minute, 4.0 + 0.1 * (f % 5)))
            n += fridges
        producer.flush()
        _wait_processed(web, base + n)
        max_eps = n / (time.perf_counter() - t0)
        console.print(f"worker maximum: {max_eps:,.0f} events/s")
        # half load, with crossings
        rate = max_eps / 2
        latencies = []
        batch = max(1, int(rate / 50))  # 50 sends a second
        next_cross = time.perf_counter() + 1.0
        crossed = 0
        pending: dict[str, float] = {}
        f = 0
        t_start = time.perf_counter()
        sent = 0
        while crossed < crossings or pending:
            now = time.perf_counter()
            due = int((now - t_start) * rate) - sent
            for _ in range(max(0, min(due, batch))):
                fid = f % fridges
                if fid == 0:
                    minute += 1
                producer.send(topic, key=b"F%d" % fid, value=_reading(fid, minute, 4.0))
                f += 1
                sent += 1
            if crossed < crossings and now >= next_cross:
                victim = fridges + crossed  # a fresh fridge: two readings above the limit open an incident
                producer.send(topic, key=b"F%d" % victim, value=_reading(victim, minute, 11.0))
                producer.flush()
                producer.send(topic, key=b"F%d" % victim, value=_reading(victim, minute + 1, 11.5))
                producer.flush()
                pending[f"F{victim}"] = time.perf_counter()
                crossed += 1
                next_cross = now + 0.5
            if pending:
                seen = _alerts(am_port)
                t_seen = time.perf_counter()
                for ent in [e for e in pending if e in seen]:
                    latencies.append(t_seen - pending.pop(ent))
                if pending and time.perf_counter() - min(pending.values()) > 30:
                    raise RuntimeError(f"no page after 30 s for {sorted(pending)}; see {workdir}/worker.log")
            time.sleep(0.003)
        actual_rate = sent / (time.perf_counter() - t_start)
    finally:
        producer.close()
        worker.stop()
        am.terminate()
        am.wait(10)
        broker.stop()
    lat = np.array(latencies) * 1000
    result = {"max_events_per_s": round(max_eps), "load_events_per_s": round(actual_rate),
              "pages": len(latencies), "p50_ms": round(float(np.percentile(lat, 50)), 1),
              "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(lat.max()), 1)}
    table = Table(title="event that crosses the line -> alert accepted by Alertmanager")
    for k in result:
        table.add_column(k)
    table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in result.values()])
    console.print(table)
    if out:
        out.write_text(json.dumps(result, indent=2))
    return result


def _wait_processed(port: int, want: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = _stats(port)
        if s["processed"] + s["deadlettered"] >= want:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the worker processed {s['processed']} of {want} in {timeout}s")

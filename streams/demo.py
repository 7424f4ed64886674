"""``opswatch demo``: the whole pipeline on one machine with no external service.

Starts the local Kafka-protocol broker (Tansu) on a free loopback port, creates the topics, starts
the Faust worker as a child process, runs the simulator (with disruptions and a few malformed
messages), and shows incidents and recommendations live as they arrive on their topics. With
``--duration`` it stops by itself, waits until the worker has accounted for every produced event
(processed or dead-lettered), and writes a JSON summary.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from kafka import KafkaConsumer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from connectors.broker import LocalBroker
from connectors.filestore import count_points
from connectors.kafka import client_config, ensure_topics
from streams.local_worker import LocalWorker
from streams.settings import Settings
from streams.topics import DEADLETTER, INCIDENTS, RECOMMENDATIONS, output_topic

MALFORMED_EVERY = 40


@dataclass
class Feed:
    """What the demo has seen on the output topics."""

    incidents: dict[str, dict] = field(default_factory=dict)  # incident_id -> latest record (+opened)
    recommendations: list[dict] = field(default_factory=list)
    deadletters: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _follow(settings: Settings, feed: Feed, stop: threading.Event, on_record) -> None:
    prefix = settings.kafka.topic_prefix
    topics = [output_topic(t, prefix) for t in (INCIDENTS, RECOMMENDATIONS, DEADLETTER)]
    consumer = KafkaConsumer(*topics, **client_config(settings.kafka), auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=300)
    try:
        while not stop.is_set():
            for msg in consumer:
                rec = orjson.loads(msg.value)
                kind = msg.topic.rsplit(".", 1)[-1]
                with feed.lock:
                    if kind == INCIDENTS:
                        prev = feed.incidents.get(rec["incident_id"], {})
                        feed.incidents[rec["incident_id"]] = {**prev, **rec}
                    elif kind == RECOMMENDATIONS:
                        feed.recommendations.append(rec)
                    else:
                        feed.deadletters += 1
                on_record(kind, rec)
                if stop.is_set():
                    break
    finally:
        consumer.close()


def _stats(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/opswatch/stats/", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


def _view(feed: Feed, produced: int, stats: dict | None) -> Group:
    inc = Table(title="Incidents", expand=True)
    for col in ("state", "kind", "entity", "severity", "since", "summary"):
        inc.add_column(col, overflow="fold")
    with feed.lock:
        for r in sorted(feed.incidents.values(), key=lambda r: r["opened_at"])[-12:]:
            style = "green" if r["state"] == "resolved" else "red"
            inc.add_row(f"[{style}]{r['state']}[/]", r["kind"], r["entity"], r["severity"],
                        r["opened_at"][11:19], r["summary"])
        rec = Table(title="Recommendations", expand=True)
        for col in ("kind", "action", "by", "benefit"):
            rec.add_column(col, overflow="fold")
        for r in feed.recommendations[-8:]:
            rec.add_row(r["kind"], r["action"], (r.get("by") or "")[11:16], r["benefit"])
    s = stats or {}
    line = (f"produced {produced}  processed {s.get('processed', '?')}  dead-lettered "
            f"{s.get('deadlettered', '?')}  metric points {s.get('points_written', '?')}")
    return Group(line, inc, rec)


def run_demo(settings: Settings, *, duration: float | None, summary_path: Path | None, speed: float = 60.0,
             seed: int = 7, workdir: Path = Path(".opswatch/demo"), console: Console | None = None) -> int:
    from simulators import run_simulation

    console = console or Console()
    workdir.mkdir(parents=True, exist_ok=True)
    lp_file = workdir / "metrics.lp"
    if lp_file.exists():
        lp_file.unlink()
    broker = LocalBroker(log_path=workdir / "broker.log").start()
    settings = settings.model_copy(deep=True)
    settings.kafka.bootstrap_servers = broker.bootstrap
    settings.kafka.partitions = min(settings.kafka.partitions, 4)
    worker = LocalWorker(broker.bootstrap, settings.kafka.topic_prefix, workdir / "worker", workdir / "worker.log",
                         loglevel="warn", settings={
                             "OPSWATCH_WORKER__APP_ID": settings.worker.app_id,
                             "OPSWATCH_KAFKA__PARTITIONS": str(settings.kafka.partitions),
                             "OPSWATCH_WORKER__BATCH_WITHIN_S": "0.1",
                             "OPSWATCH_INFLUX__FILE_STORE": str(lp_file),
                             "OPSWATCH_INFLUX__SPOOL_DIR": str(workdir / "spool")})
    web_port = worker.web_port
    target = settings.influx.url or str(lp_file)
    console.print(f"[bold]opswatch demo[/]: broker {broker.bootstrap}, worker web :{web_port}, metrics -> {target}")
    try:
        ensure_topics(settings.kafka)
    except BaseException:
        broker.stop()  # no broker left behind when the demo cannot even begin
        raise
    (workdir / "worker.log").write_bytes(b"")  # one log per demo run
    feed, stop = Feed(), threading.Event()
    live = console.is_terminal

    def on_record(kind: str, rec: dict) -> None:
        if live or kind == DEADLETTER:
            return
        if kind == INCIDENTS:
            console.print(f"[{'green' if rec['state'] == 'resolved' else 'red'}]incident {rec['state']}[/] "
                          f"{rec['kind']} {rec['entity']}: {rec['summary']}")
        else:
            console.print(f"[cyan]recommendation[/] {rec['action']} (by {rec.get('by')}): {rec['benefit']}")

    follower = threading.Thread(target=_follow, args=(settings, feed, stop, on_record), daemon=True)
    follower.start()
    sim_result: dict = {}
    sim_stop = threading.Event()

    def simulate() -> None:
        try:
            sim_result["stats"] = run_simulation(
                settings.kafka.servers(), seed=seed, speed=speed, duration_s=duration,
                topic_prefix=settings.kafka.topic_prefix, malformed_every=MALFORMED_EVERY, stop_event=sim_stop,
                on_progress=lambda p: sim_result.__setitem__("progress", p))
        except Exception as exc:  # reported by the main thread
            sim_result["error"] = exc
    started = datetime.now(UTC)
    code = 0
    try:
        worker.start()
        sim = threading.Thread(target=simulate, daemon=True)
        sim.start()

        def produced_so_far() -> int:
            st = sim_result.get("stats")
            if st is not None:
                return st.events + st.malformed
            p = sim_result.get("progress")
            return getattr(p, "events", 0) + getattr(p, "malformed", 0) if p is not None else 0

        def step() -> None:
            time.sleep(0.5)
            if not worker.running():
                raise RuntimeError(f"the worker exited with {worker.proc.returncode}; see {workdir / 'worker.log'}")

        if live:
            with Live(_view(feed, 0, None), console=console, refresh_per_second=2) as lv:
                while sim.is_alive():
                    step()
                    lv.update(_view(feed, produced_so_far(), _stats(web_port)))
        else:
            while sim.is_alive():
                step()
        if "error" in sim_result:
            raise RuntimeError(f"the simulator failed: {sim_result['error']!r}") from sim_result["error"]
        stats = sim_result["stats"]
        produced = stats.events + stats.malformed
        # drain: wait until the worker has accounted for every produced event
        deadline = time.monotonic() + 120
        wstats = _stats(web_port) or {}
        while time.monotonic() < deadline:
            wstats = _stats(web_port) or wstats
            if wstats.get("processed", 0) + wstats.get("deadlettered", 0) >= produced:
                break
            step()
        time.sleep(2)  # let the follower read the last records
        points = wstats.get("points_written", 0)
        if not settings.influx.url:
            points = count_points(lp_file)
        with feed.lock:
            incidents = sorted(feed.incidents.values(), key=lambda r: r["opened_at"])
            recs = list(feed.recommendations)
        summary = {
            "started": started.isoformat(),
            "duration_s": duration,
            "broker": broker.bootstrap,
            "metrics_target": target,
            "events_produced": produced,
            "events_valid_produced": stats.events,
            "events_malformed_produced": stats.malformed,
            "events_processed": wstats.get("processed", 0),
            "events_deadlettered": wstats.get("deadlettered", 0),
            "metric_points_written": points,
            "incidents": [{"kind": r["kind"], "entity": r["entity"], "site": r.get("site"),
                           "severity": r["severity"], "opened": r["opened_at"], "resolved": r.get("resolved_at"),
                           "summary": r["summary"]} for r in incidents],
            "recommendations": [{"kind": r["kind"], "entity": r["entity"], "action": r["action"],
                                 "quantity": r["quantity"], "unit": r["unit"], "from": r["from_site"],
                                 "to": r["to_site"], "by": r["by"]} for r in recs],
            "ground_truth": [{"kind": g.kind, "entity": g.entity, "start": g.start.isoformat(),
                              "end": g.end.isoformat() if g.end else None} for g in stats.ground_truth],
        }
        detected = {(i["kind"], i["entity"]) for i in summary["incidents"]}
        summary["disruptions_detected"] = [
            {"kind": g.kind, "entity": g.entity, "detected": (g.kind, g.entity) in detected}
            for g in stats.ground_truth]
        console.print(_view(feed, produced, wstats))
        console.print(f"disruptions detected: "
                      f"{sum(d['detected'] for d in summary['disruptions_detected'])}/{len(stats.ground_truth)}")
        if summary_path:
            summary_path.parent.mkdir(parents=True, exist_ok=True)
            summary_path.write_text(json.dumps(summary, indent=2))
            console.print(f"summary written to {summary_path}")
    except KeyboardInterrupt:
        sim_stop.set()
        code = 130
    except RuntimeError as exc:
        console.print(f"[red]demo failed: {exc}[/red]")
        code = 1
    finally:
        sim_stop.set()
        stop.set()
        worker.stop(15)
        follower.join(5)
        broker.stop()
    return code

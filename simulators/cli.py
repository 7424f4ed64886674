"""``opswatch record``, ``opswatch replay`` and ``opswatch backtest``; ``register(app)`` adds them.

Where this sits in the flow: the edges around the core: recordings are a **source**, backtest
reports a **sink**. Kafka connection settings come from ``OPSWATCH_KAFKA__*`` as everywhere else.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(stderr=True)


class Into(str, Enum):
    kafka = "kafka"
    core = "core"


class CsvFormat(str, Enum):
    nab = "nab"
    pos = "pos"


def _settings():
    from streams.settings import ConfigurationError, load_settings

    try:
        return load_settings()
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), console=console, transient=False)


def record(
    out: Annotated[Path, typer.Argument(help="file to write (.jsonl, or .jsonl.gz for gzip)")],
    topics: Annotated[Optional[list[str]], typer.Option("--topic", "-t", help="topic to record (repeatable; "
                      "default: every input topic under OPSWATCH_KAFKA__TOPIC_PREFIX)")] = None,
    duration: Annotated[Optional[float], typer.Option(help="record for this many seconds, new messages included "
                        "(default: from the beginning until caught up)")] = None,
) -> None:
    """Record Kafka topics to a JSON Lines file, keys and headers kept."""
    from connectors.kafka import client_config
    from simulators.recording import record_topics
    from streams.topics import input_topics

    settings = _settings()
    chosen = topics or input_topics(settings.kafka.topic_prefix)
    with _progress() as progress:
        task = progress.add_task("recording", total=None, info=f"{len(chosen)} topics")
        n = record_topics(client_config(settings.kafka), chosen, out, duration_s=duration,
                          on_record=lambda k: progress.update(task, completed=k))
    console.print(f"recorded {n} messages from {len(chosen)} topics to {out}")


def replay(
    file: Annotated[Path, typer.Argument(help="a recording (.jsonl[.gz]) or a CSV export (with --csv)")],
    into: Annotated[Into, typer.Option(help="kafka (OPSWATCH_KAFKA__*) or the in-process core")] = Into.kafka,
    speed: Annotated[float, typer.Option(help="0: as fast as possible; N: N times real time")] = 0.0,
    shift_to_now: Annotated[bool, typer.Option("--shift-to-now", help="move timestamps so the first "
                            "message is now (record time and the events' own ts)")] = False,
    csv: Annotated[Optional[CsvFormat], typer.Option(help="read FILE as a CSV export: nab (timestamp,value -> "
                   "one fridge's temp_c) or pos (timestamp,store,sku,quantity,unit_price)")] = None,
    fridge: Annotated[str, typer.Option(help="--csv nab: the fridge id the series becomes")] = "nab-fridge-1",
    fahrenheit: Annotated[bool, typer.Option(help="--csv nab: values are °F")] = False,
    limit_c: Annotated[float, typer.Option(help="--csv nab: the goods' limit (80: only anomaly scores)")] = 80.0,
    topic_prefix: Annotated[Optional[str], typer.Option(help="replace the recorded topics' prefix (the part "
                            "before the first dot) with this one")] = None,
    keep_partitions: Annotated[bool, typer.Option(help="kafka: send to the recorded partition instead of by "
                               "key")] = False,
    incidents: Annotated[Optional[Path], typer.Option(help="core: write incident changes here (JSON Lines)")] = None,
) -> None:
    """Play a recording or CSV export into Kafka or straight into the processing core."""
    from simulators.recording import (
        Pacer,
        merged_by_time,
        read_records,
        replay_to_core,
        replay_to_kafka,
        retimed,
    )

    if csv is CsvFormat.nab:
        from simulators.adapters import nab_records

        source = nab_records(file, fridge=fridge, fahrenheit=fahrenheit, limit_c=limit_c)
    elif csv is CsvFormat.pos:
        from simulators.adapters import pos_records

        source = pos_records(file)
    else:
        source = read_records(file)
    try:
        records = merged_by_time(source)
    except (ValueError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    topic_map = None
    if topic_prefix:
        def topic_map(t: str) -> str:
            return f"{topic_prefix}.{t.partition('.')[2] or t}"
    records = list(retimed(records, shift_to=datetime.now(UTC) if shift_to_now else None, topic_map=topic_map))
    pacer = Pacer(speed)
    counts = {"open": 0, "resolved": 0, "recommendations": 0, "deadletters": 0}
    with _progress() as progress:
        task = progress.add_task(f"replay -> {into.value}", total=len(records), info="")

        def advanced(r) -> None:
            progress.advance(task)

        if into is Into.kafka:
            from connectors.kafka import ensure_topics, make_producer

            settings = _settings()
            ensure_topics(settings.kafka, sorted({r.topic for r in records}))
            producer = make_producer(settings.kafka, max_in_flight_requests_per_connection=1)
            try:
                n = replay_to_kafka(records, producer, pacer=pacer, keep_partitions=keep_partitions,
                                    on_record=advanced)
            finally:
                producer.close()
            console.print(f"replayed {n} messages into Kafka")
            return
        from streams.core import OperationsCore

        core = OperationsCore()
        sink = open(incidents, "wb") if incidents else None  # noqa: SIM115 - closed below

        def on_output(out) -> None:
            counts["recommendations"] += len(out.recommendations)
            counts["deadletters"] += len(out.deadletters)
            for ch in out.incidents:
                counts[ch.state] = counts.get(ch.state, 0) + 1
                if sink is not None:
                    sink.write(json.dumps(ch.record()).encode() + b"\n")
            progress.update(task, info=f"{counts['open']} incidents opened")

        try:
            n = replay_to_core(records, core, pacer=pacer, on_output=on_output, on_record=advanced)
        finally:
            if sink is not None:
                sink.close()
    console.print(f"replayed {n} messages into the core: {counts['open']} incidents opened, {counts['resolved']} "
                  f"resolved, {counts['recommendations']} recommendations, {counts['deadletters']} dead letters")


def backtest(
    scenario: Annotated[Optional[list[str]], typer.Option(help="library scenario, 'all', or a scenario YAML file "
                        "(repeatable)")] = None,
    seed: Annotated[int, typer.Option(help="world and disruption seed")] = 7,
    preset: Annotated[str, typer.Option(help="world size: corner_shop, small, chain, regional")] = "small",
    report: Annotated[Optional[Path], typer.Option(help="write the HTML report here")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the figures as JSON here")] = None,
    png: Annotated[Optional[Path], typer.Option(help="also write a PNG of the report (headless Chromium)")] = None,
    recording: Annotated[Optional[Path], typer.Option(help="backtest a recording instead of scenarios")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="with --recording: ground truth as a JSON list of "
                      "{entity, kind, start, end[, disruption]}")] = None,
) -> None:
    """Run labelled scenarios (or a labelled recording) through the core and score the detections."""
    from simulators.backtest import simulate_scenario, summarise, table
    from simulators.library import ScenarioError, resolve
    from streams.core import OperationsCore

    started = time.monotonic()
    runs = []
    if recording is not None:
        runs.append(_backtest_recording(recording, labels))
    else:
        try:
            scenarios = resolve(scenario or ["all"])
        except ScenarioError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        sim_minutes = sum(int(s.end().total_seconds() // 60) for s in scenarios)
        with _progress() as progress:
            task = progress.add_task("backtest", total=sim_minutes, info="")
            for s in scenarios:
                progress.update(task, info=s.name)
                runs.append(simulate_scenario(s, seed=seed, preset=preset,
                                              on_minute=lambda _t: progress.advance(task)))
    summary = summarise(runs, seed=seed, preset=preset if recording is None else None)
    runtime = time.monotonic() - started
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
    if report is not None:
        from simulators.report import screenshot, write_report

        write_report(report, runs, summary, OperationsCore().threshold, runtime_s=runtime)
        if png is not None:
            screenshot(report, png)
    typer.echo(table(summary))
    console.print(f"{len(runs)} runs in {runtime:.1f} s" + (f"; report {report}" if report else "")
                  + (f"; json {json_out}" if json_out else ""))


def _backtest_recording(path: Path, labels: Path | None):
    from simulators.backtest import run_messages
    from simulators.base import GroundTruth
    from simulators.recording import merged_by_time, read_records
    from streams.records import RawMessage

    truths = []
    if labels is not None:
        for i, d in enumerate(json.loads(labels.read_text())):
            try:
                truths.append(GroundTruth(entity=d["entity"], kind=d["kind"],
                                          start=datetime.fromisoformat(d["start"]),
                                          end=datetime.fromisoformat(d["end"]) if d.get("end") else None,
                                          site=d.get("site"), metric=d.get("metric"),
                                          disruption=d.get("disruption", d["kind"])))
            except (KeyError, ValueError) as exc:
                console.print(f"[red]{labels}[{i}]: needs entity, kind, start (ISO) and end: {exc}[/red]")
                raise typer.Exit(2) from None
    records = merged_by_time(read_records(path))
    if not records:
        console.print(f"[red]{path}: no records[/red]")
        raise typer.Exit(2)
    start, end = records[0].ts, records[-1].ts + timedelta(minutes=1)

    def batches():
        minute, batch = None, []
        for r in records:
            m = r.ts.replace(second=0, microsecond=0)
            if minute is not None and m != minute:
                yield minute + timedelta(minutes=1), batch
                batch = []
            minute = m
            batch.append(RawMessage(r.value, r.topic, r.partition, r.offset, r.key, source="replay"))
        if batch:
            yield minute + timedelta(minutes=1), batch

    return run_messages(path.name, f"recording {path}", batches(), truths, None, start, end)


def register(app: typer.Typer) -> None:
    """Add ``record``, ``replay`` and ``backtest`` to the main ``opswatch`` app."""
    app.command("record")(record)
    app.command("replay")(replay)
    app.command("backtest")(backtest)

"""The ``opswatch`` command line (typer). Every option that has a setting shows its variable in --help."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from streams.settings import ConfigurationError, load_settings

app = typer.Typer(help="opswatch: streaming operations monitor for fleets, warehouses, cold rooms and shops.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
bench_app = typer.Typer(help="Benchmarks: detector quality on NAB, detector speed.", no_args_is_help=True)
bridge_app = typer.Typer(help="Ingest edges for devices that do not speak Kafka.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(bridge_app, name="bridge")
app.add_typer(topics_app, name="topics")
console = Console(stderr=True)


def _settings():
    try:
        return load_settings()
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="crit, error, warn, info or debug")] = "info") -> None:
    """Run the Faust worker: input topics -> core -> incidents, recommendations, dead letters, metrics."""
    settings = _settings()
    from faust.worker import Worker

    from streams.app import create_app

    faust_app = create_app(settings)
    from streams.pipeline import tune_gc_for_streaming

    tune_gc_for_streaming()
    Worker(faust_app, loglevel=loglevel, quiet=True).execute_from_commandline()


@app.command()
def demo(
    duration: Annotated[Optional[float], typer.Option(help="stop after this many seconds")] = None,
    summary: Annotated[Optional[Path], typer.Option(help="write a JSON summary here when done")] = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 60.0,
    seed: Annotated[int, typer.Option(help="world and disruption seed")] = 7,
    workdir: Annotated[Path, typer.Option(help="where the demo keeps logs and the local file store")] = Path(
        ".opswatch/demo"),
) -> None:
    """Run everything on this machine: local broker, Faust worker, simulator, live incident view.

    Metrics go to InfluxDB when OPSWATCH_INFLUX__URL is set, otherwise to a local line-protocol file.
    """
    settings = _settings()
    from streams.demo import run_demo

    code = run_demo(settings, duration=duration, summary_path=summary, speed=speed, seed=seed,
                    workdir=workdir, console=Console())
    raise typer.Exit(code)


@app.command()
def simulate(
    duration: Annotated[Optional[float], typer.Option(help="stop after this many wall seconds")] = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 60.0,
    seed: Annotated[int, typer.Option(help="world and disruption seed")] = 7,
    backfill_h: Annotated[float, typer.Option(help="hours of history produced first, as fast as possible")] = 6.0,
    malformed_every: Annotated[int, typer.Option(help="make every Nth message malformed (0: none)")] = 0,
) -> None:
    """Produce a seeded world's events, with injected disruptions, to Kafka (OPSWATCH_KAFKA__*)."""
    from datetime import timedelta

    from connectors.kafka import ensure_topics
    from simulators import run_simulation

    settings = _settings()
    ensure_topics(settings.kafka)
    stats = run_simulation(settings.kafka.servers(), seed=seed, speed=speed, duration_s=duration,
                           backfill=timedelta(hours=backfill_h), topic_prefix=settings.kafka.topic_prefix,
                           malformed_every=malformed_every)
    console.print(f"produced {stats.messages} messages, {stats.events} events, {stats.malformed} malformed")
    for gt in stats.ground_truth:
        console.print(f"  disruption {gt.kind} on {gt.entity}: {gt.start:%H:%M} .. "
                      f"{gt.end:%H:%M}" if gt.end else f"  disruption {gt.kind} on {gt.entity} from {gt.start}")


@topics_app.command("create")
def topics_create() -> None:
    """Create the opswatch topics with OPSWATCH_KAFKA__PARTITIONS partitions (existing ones are kept)."""
    from connectors.kafka import ensure_topics

    created = ensure_topics(_settings().kafka)
    console.print(f"created: {created or 'nothing, all exist'}")


@bridge_app.command("mqtt")
def bridge_mqtt(
    host: Annotated[Optional[str], typer.Option(help="MQTT broker host [env OPSWATCH_MQTT__HOST]")] = None,
    port: Annotated[Optional[int], typer.Option(help="MQTT broker port [env OPSWATCH_MQTT__PORT]")] = None,
    topic: Annotated[Optional[str], typer.Option(help="MQTT subscription [env OPSWATCH_MQTT__TOPIC]")] = None,
    duration: Annotated[Optional[float], typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Bridge MQTT sensor topics into Kafka, validating each message; invalid ones are dead-lettered."""
    from connectors.mqtt import MqttBridge

    settings = _settings()
    _logging("info")
    mq = settings.mqtt.model_copy(update={k: v for k, v in
                                          {"host": host, "port": port, "topic": topic}.items() if v is not None})
    bridge = MqttBridge(settings.kafka, mq)
    bridge.run(duration)
    console.print(f"bridged {bridge.stats}")


@bench_app.command("nab")
def bench_nab(
    data: Annotated[Path, typer.Option(help="NAB-layout corpus: DATA/data/<category>/*.csv, DATA/labels/")],
    out: Annotated[Path, typer.Option(help="where NAB-format results are written")],
    detector: Annotated[Optional[str], typer.Option(help="detector name (default: the default detector)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="per-file table")] = False,
) -> None:
    """Score a detector on a NAB corpus with opswatch's implementation of NAB's scorer."""
    from streams.bench.nab import run_nab_bench

    run_nab_bench(data, out, detector=detector, verbose=verbose, console=Console())


@bench_app.command("detectors")
def bench_detectors(
    points: Annotated[int, typer.Option(help="points in total")] = 200_000,
    series: Annotated[int, typer.Option(help="number of series")] = 100,
) -> None:
    """Points/s per core and pickled bytes per series of the default detector vs river HalfSpaceTrees."""
    from streams.bench.detector_speed import run_detector_bench

    run_detector_bench(n_points=points, n_series=series, console=Console())


@bench_app.command("paging")
def bench_paging(
    fridges: Annotated[int, typer.Option(help="fridges sending normal readings")] = 1000,
    burst: Annotated[int, typer.Option(help="readings in the maximum-rate burst")] = 60_000,
    crossings: Annotated[int, typer.Option(help="fridges made to cross their limit")] = 40,
    out: Annotated[Optional[Path], typer.Option(help="write the figures as JSON here")] = None,
) -> None:
    """Latency from the event that crosses the line to Alertmanager accepting the alert, at half load."""
    from streams.bench.paging import run_paging_bench

    run_paging_bench(fridges=fridges, burst=burst, crossings=crossings, console=Console(), out=out)


@bench_app.command("throughput")
def bench_throughput(
    readings: Annotated[int, typer.Option(help="readings in the fixed stream")] = 200_000,
    entities: Annotated[int, typer.Option(help="distinct entities (fridges)")] = 2_000,
    partitions: Annotated[int, typer.Option(help="partitions of the input topic")] = 4,
    influx_url: Annotated[Optional[str], typer.Option(help="write to this InfluxDB instead of the local file")] = None,
    skip: Annotated[Optional[list[str]], typer.Option(help="faust, quix, aiokafka, core or worker")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write the figures as JSON here")] = None,
) -> None:
    """Worker end to end vs bare Faust, bare Quix Streams, aiokafka+orjson and the in-process core."""
    from streams.bench.throughput import run_throughput_bench

    run_throughput_bench(readings, entities, partitions, influx_url, tuple(skip or ()), Console(), out)


from simulators.cli import register as _register_simulator_commands  # noqa: E402

_register_simulator_commands(app)

try:  # Grafana commands come with the dashboards package
    from streams.grafana_cli import grafana_app

    app.add_typer(grafana_app, name="grafana")
except ImportError:  # pragma: no cover
    pass


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)


if __name__ == "__main__":
    main()

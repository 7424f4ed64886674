"""``opswatch grafana``: regenerate deploy/grafana, or push dashboards and alerting to a Grafana.

Settings come from the environment (``OPSWATCH_GRAFANA__URL``, ``OPSWATCH_GRAFANA__TOKEN``,
``OPSWATCH_GRAFANA__ORG_ID``, ``OPSWATCH_GRAFANA__FOLDER``, ``OPSWATCH_GRAFANA__DATASOURCE_UID``,
``OPSWATCH_INFLUX__URL``, ``OPSWATCH_INFLUX__TOKEN``, ``OPSWATCH_INFLUX__BUCKET``); the phone
contact points read ``ONCALL_*`` variables (see deploy/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

grafana_app = typer.Typer(help="Grafana dashboards and alerting as code.", no_args_is_help=True)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "deploy" / "grafana"


@grafana_app.command()
def push(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; write nothing."),
) -> None:
    """Create or update the data source, folder, dashboards and alerting on a running Grafana.

    Reads OPSWATCH_GRAFANA__URL, OPSWATCH_GRAFANA__TOKEN (service-account token),
    OPSWATCH_GRAFANA__ORG_ID, OPSWATCH_GRAFANA__FOLDER, OPSWATCH_GRAFANA__DATASOURCE_UID and
    OPSWATCH_INFLUX__URL / __TOKEN / __BUCKET; contact points read ONCALL_NTFY_URL (required) and
    the optional ONCALL_PUSHOVER_*, ONCALL_TELEGRAM_*, ONCALL_PAGERDUTY_ROUTING_KEY.
    """
    from grafana_client.client import GrafanaException
    from niquests.exceptions import ConnectionError as HTTPConnectionError

    from connectors.grafana import GrafanaPushError, GrafanaPusher, connect
    from streams.dashboards import desired_state
    from streams.dashboards.alerting import MissingSecret
    from streams.settings import ConfigurationError, load_settings

    try:
        settings = load_settings()
        desired = desired_state(settings, dict(os.environ))
        api = connect(settings.grafana.url, settings.grafana.token.get_secret_value(),
                      settings.grafana.org_id)
        pusher = GrafanaPusher(api, desired)
        plan = pusher.plan()
    except (ConfigurationError, MissingSecret, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (GrafanaException, HTTPConnectionError) as exc:
        detail = getattr(exc, "message", None) or str(exc)
        typer.echo(f"error: reading Grafana at {settings.grafana.url} failed: {detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(plan.render())
    if dry_run:
        typer.echo("dry run: nothing written")
        return
    if not plan.writes:
        typer.echo("Grafana is up to date")
        return
    try:
        pusher.apply(plan)
    except (GrafanaPushError, HTTPConnectionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"pushed: {plan.summary()}")


@grafana_app.command()
def generate(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Directory to write (deploy/grafana)."),
    layout: bool = typer.Option(True, help="Also draw the panel grid of each dashboard to PNG."),
) -> None:
    """Regenerate dashboards JSON, provisioning files and layout pictures under deploy/grafana."""
    from streams.dashboards import write_all
    from streams.dashboards.layout import render_all

    files = write_all(out)
    typer.echo(f"wrote {len(files)} files under {out}")
    if layout:
        try:
            pngs = render_all(out / "dashboards", out / "layout")
        except ImportError as exc:
            typer.echo(f"skipped layout pictures: {exc}", err=True)
        else:
            typer.echo(f"drew {len(pngs)} layout pictures under {out / 'layout'}")
